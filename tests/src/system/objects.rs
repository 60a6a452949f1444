//! Kubernetes objects of the system: builders for the objects the harness writes (Nodes, Services,
//! EndpointSlices), applying manifests (such as `examples/`), and reading back what the programs wrote
//! (Service IPs, Events).

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_netlab::Lab;
use serde_json::{Value, json};

use super::{Result, System, SystemError};
use crate::cluster::{CONTROLLER_USER, SPEAKER_USER};
use crate::manifest::Manifest;
use crate::rbac::{Policy, Request};

/// The Node object of lab host `name`: labels as a kubelet sets them, InternalIPs (IPv4 first), Ready.
pub fn node(lab: &Lab, name: &str) -> Value {
    let h = lab.host(name);
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": h.ipv4().to_string()},
                {"type": "InternalIP", "address": h.ipv6().to_string()},
                {"type": "Hostname", "address": name}
            ],
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

/// A Service of type LoadBalancer, as an application would declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Namespace.
    pub namespace: String,
    /// Name (also the pods' `app` label).
    pub name: String,
    /// `externalTrafficPolicy: Local` (else `Cluster`).
    pub local: bool,
    /// `ferrolb.io/address-pool`, when set.
    pub pool: Option<String>,
    /// The Service port (HTTP; the pods listen on 8080).
    pub port: u16,
    /// Labels besides `app` (none by default).
    pub labels: Vec<(String, String)>,
    /// The IPs it asks for (`ferrolb.io/loadBalancerIPs`), when any.
    pub ips: Vec<IpAddr>,
}

impl ServiceSpec {
    /// `default/<name>`, Cluster policy, port 80, any pool.
    pub fn new(name: &str) -> Self {
        ServiceSpec {
            namespace: "default".into(),
            name: name.into(),
            local: false,
            pool: None,
            port: 80,
            labels: Vec::new(),
            ips: Vec::new(),
        }
    }

    /// In namespace `namespace`.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// With label `key: value`.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// Asking for `ip`.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ips.push(ip);
        self
    }

    /// With `externalTrafficPolicy: Local`.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Asking for pool `pool`.
    pub fn pool(mut self, pool: &str) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// The object.
    pub fn object(&self) -> Value {
        let mut svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": if self.local { "Local" } else { "Cluster" },
                "selector": {"app": self.name},
                "ports": [{"name": "http", "port": self.port, "targetPort": 8080, "protocol": "TCP"}]
            }
        });
        if let Some(pool) = &self.pool {
            svc["metadata"]["annotations"]["ferrolb.io/address-pool"] = json!(pool);
        }
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
            svc["metadata"]["annotations"]["ferrolb.io/loadBalancerIPs"] = json!(ips.join(","));
        }
        if !self.labels.is_empty() {
            let mut labels = serde_json::Map::new();
            labels.insert("app".into(), json!(self.name));
            for (k, v) in &self.labels {
                labels.insert(k.clone(), json!(v));
            }
            svc["metadata"]["labels"] = Value::Object(labels);
        }
        svc
    }
}

/// The EndpointSlice the endpoint controller would write for Service `namespace/service` with one ready
/// pod on each of `nodes` (pod IPs 10.244.<node index>.<n>).
pub fn endpoint_slice(namespace: &str, service: &str, nodes: &[&str]) -> Value {
    let endpoints: Vec<Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let index: String = node.chars().filter(char::is_ascii_digit).collect();
            json!({
                "addresses": [format!("10.244.{}.{}", if index.is_empty() { "0" } else { &index }, i + 10)],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": node,
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": format!("{service}-{node}")}
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(service), "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    })
}

fn slice_name(service: &str) -> String {
    format!("{service}-e2e")
}

/// `(kind, namespace, name)` of an object.
pub type ObjectRef = (String, String, String);

impl System {
    /// Applies every object of a YAML manifest (one or more documents): created when absent, else merged in
    /// ([`System::apply`]; like `kubectl apply` for those fields).
    /// Namespaced objects without a namespace go to `default_namespace`.
    pub fn apply_yaml(&self, what: &str, text: &str, default_namespace: &str) -> Result<Vec<ObjectRef>> {
        let manifest = Manifest::parse(what, text)?;
        let mut applied = Vec::new();
        for mut object in manifest.objects {
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            let cluster_scoped = matches!(kind.as_str(), "Namespace" | "Node");
            if !cluster_scoped && object["metadata"]["namespace"].is_null() {
                object["metadata"]["namespace"] = json!(default_namespace);
            }
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.apply(&object)?;
            applied.push((kind, namespace, name));
        }
        Ok(applied)
    }

    /// Creates `object`, or merges its labels, annotations, `data` and `spec` (an EndpointSlice's `endpoints`
    /// and `ports`) into the stored one.
    pub fn apply(&self, object: &Value) -> Result<()> {
        let admin = self.admin();
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        if admin.get(kind, namespace, name).is_none() {
            return admin.create(object).map(drop).map_err(SystemError::Api);
        }
        let mut patch = json!({"metadata": {}});
        for field in ["labels", "annotations"] {
            if !object["metadata"][field].is_null() {
                patch["metadata"][field] = object["metadata"][field].clone();
            }
        }
        for field in ["data", "spec", "endpoints", "ports"] {
            if !object[field].is_null() {
                patch[field] = object[field].clone();
            }
        }
        admin
            .merge(kind, namespace, name, &patch, false)
            .map(drop)
            .map_err(SystemError::Api)
    }

    /// Replaces the config ConfigMap's `config` text.
    pub fn set_config(&self, text: &str) -> Result<()> {
        self.admin()
            .merge(
                "ConfigMap",
                super::NS,
                "config",
                &json!({"data": {"config": text}}),
                false,
            )
            .map(drop)
            .map_err(SystemError::Api)
    }

    /// Creates a Service and, as its pods would make the endpoint controller do, its EndpointSlice with
    /// ready endpoints on `endpoint_nodes`.
    pub fn create_service(&self, svc: &ServiceSpec, endpoint_nodes: &[&str]) -> Result<()> {
        self.admin().create(&svc.object()).map_err(SystemError::Api)?;
        self.set_endpoints(&svc.namespace, &svc.name, endpoint_nodes)
    }

    /// Replaces the endpoints of Service `namespace/name` (ready pods on `nodes`).
    pub fn set_endpoints(&self, namespace: &str, name: &str, nodes: &[&str]) -> Result<()> {
        self.apply(&endpoint_slice(namespace, name, nodes))
    }

    /// The nodes with a ready endpoint of Service `namespace/name`.
    pub fn endpoint_nodes(&self, namespace: &str, name: &str) -> Vec<String> {
        self.admin()
            .get("EndpointSlice", namespace, &slice_name(name))
            .and_then(|s| s["endpoints"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|e| e["conditions"]["ready"] != json!(false))
            .filter_map(|e| e["nodeName"].as_str().map(str::to_owned))
            .collect()
    }

    /// Deletes Service `namespace/name` and its EndpointSlice.
    pub fn delete_service(&self, namespace: &str, name: &str) -> Result<()> {
        let admin = self.admin();
        admin
            .delete("Service", namespace, name)
            .map_err(SystemError::Api)?;
        if admin.get("EndpointSlice", namespace, &slice_name(name)).is_some() {
            admin
                .delete("EndpointSlice", namespace, &slice_name(name))
                .map_err(SystemError::Api)?;
        }
        Ok(())
    }

    /// The stored Service.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Value> {
        self.admin().get("Service", namespace, name)
    }

    /// `status.loadBalancer.ingress[].ip` of Service `namespace/name` (empty while pending or absent).
    pub fn ingress_ips(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
        self.service(namespace, name)
            .map(|s| ingress_of(&s))
            .unwrap_or_default()
    }

    /// Waits until Service `namespace/name` has an ingress IP; returns the first.
    pub fn wait_ingress(&self, namespace: &str, name: &str, timeout: Duration) -> Result<IpAddr> {
        self.wait(
            &format!("Service {namespace}/{name} to get an IP"),
            timeout,
            || Ok(self.ingress_ips(namespace, name).first().copied()),
        )
    }

    /// Every Service in the store with its ingress IPs (`namespace/name` → IPs).
    pub fn all_ingress(&self) -> Vec<(String, Vec<IpAddr>)> {
        self.server()
            .ops()
            .store
            .objects("services", None)
            .iter()
            .map(|s| {
                (
                    format!(
                        "{}/{}",
                        s["metadata"]["namespace"].as_str().unwrap_or_default(),
                        s["metadata"]["name"].as_str().unwrap_or_default()
                    ),
                    ingress_of(s),
                )
            })
            .collect()
    }

    /// Events in `namespace` (core/v1 form: `reason`, `type`, `message`, `involvedObject`).
    pub fn events(&self, namespace: &str) -> Vec<Value> {
        self.server()
            .ops()
            .store
            .objects("events", Some(namespace))
            .iter()
            .map(|e| (**e).clone())
            .collect()
    }

    /// Events about object `name` in `namespace`, as `(type, reason, message)`.
    pub fn events_about(&self, namespace: &str, name: &str) -> Vec<(String, String, String)> {
        self.events(namespace)
            .iter()
            .filter(|e| e["involvedObject"]["name"] == name || e["regarding"]["name"] == name)
            .map(|e| {
                let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    s(&e["type"]),
                    s(&e["reason"]),
                    if e["message"].is_string() {
                        s(&e["message"])
                    } else {
                        s(&e["note"])
                    },
                )
            })
            .collect()
    }

    /// Waits until an Event with `reason` is recorded about object `name` in `namespace`; returns its type and
    /// message.
    pub fn wait_event(
        &self,
        namespace: &str,
        name: &str,
        reason: &str,
        timeout: Duration,
    ) -> Result<(String, String)> {
        self.wait_until(
            &format!("an Event {reason} about {namespace}/{name}"),
            timeout,
            || Ok(self.events_about(namespace, name)),
            |events| events.iter().any(|(_, r, _)| r == reason),
        )
        .map(|events| {
            events
                .into_iter()
                .find(|(_, r, _)| r == reason)
                .map(|(t, _, m)| (t, m))
                .unwrap_or_default()
        })
    }

    /// The status objects of `kind` (`ServiceL2Status`, `ServiceBGPStatus`) that the speakers keep in ferrolb's
    /// namespace for Service `namespace/name` (found by their `metallb.io/service-*` labels), as
    /// `(node, status)` sorted by node.
    pub fn service_statuses(&self, kind: &str, namespace: &str, name: &str) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = self
            .admin()
            .list(kind, super::NS)
            .into_iter()
            .filter(|o| {
                let labels = &o["metadata"]["labels"];
                labels["metallb.io/service-namespace"] == namespace
                    && labels["metallb.io/service-name"] == name
            })
            .map(|o| {
                let node = o["metadata"]["labels"]["metallb.io/node"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (node, o["status"].clone())
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The `ConfigurationState` objects in ferrolb's namespace, by name (`controller`, `speaker-<node>`), with
    /// their `spec` and `status`.
    pub fn configuration_states(&self) -> std::collections::BTreeMap<String, Value> {
        self.admin()
            .list("ConfigurationState", super::NS)
            .into_iter()
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                    json!({"spec": o["spec"], "status": o["status"]}),
                )
            })
            .collect()
    }

    /// The programs' requests so far that the install manifest's RBAC would deny, each distinct request
    /// once. Every end-to-end test checks it is empty at its end, so the manifest's RBAC is proven for what
    /// the whole system does — BGP mode, outages and failovers included — not only for `tests/tests/rbac.rs`'s
    /// scenario (which also proves that nothing granted goes unused).
    pub fn rbac_denied(&self) -> Vec<String> {
        let policy = match Policy::from_objects(&self.manifest.objects) {
            Ok(p) => p,
            Err(e) => return vec![format!("the manifest's RBAC does not parse: {e}")],
        };
        let requests: Vec<Request> = self
            .server()
            .audit()
            .entries()
            .iter()
            .filter(|e| e.user == CONTROLLER_USER || e.user == SPEAKER_USER)
            .filter_map(Request::from_audit)
            .collect();
        policy
            .audit(&requests)
            .denied
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// How many status writes (`patch`/`update` of `services/status`) the controllers have had accepted.
    pub fn status_writes(&self) -> usize {
        self.server().audit().count(|e| {
            e.user == CONTROLLER_USER
                && e.resource == "services"
                && e.subresource == "status"
                && matches!(e.verb.as_str(), "patch" | "update")
                && e.code < 300
        })
    }

    /// Waits until the controllers have had at least `n` status writes accepted (an accepted write is in the
    /// audit log only once its response is on its way, a moment after the store shows it); returns the count.
    pub fn wait_status_writes(&self, n: usize, timeout: Duration) -> Result<usize> {
        self.wait_until(
            &format!("{n} status writes"),
            timeout,
            || Ok(self.status_writes()),
            |w| *w >= n,
        )
    }

    /// kubectl with the administrator's kubeconfig, run inside the api host; its standard output.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        let cache = self.lab().dir().join("kubectl-cache");
        let out = self
            .lab()
            .cmd("api", "kubectl")?
            .arg("--kubeconfig")
            .arg(self.admin_kubeconfig())
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .timeout(Duration::from_secs(30))
            .run()?;
        Ok(out.stdout)
    }
}

/// The ingress IPs of a Service object.
pub fn ingress_of(svc: &Value) -> Vec<IpAddr> {
    svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip"].as_str()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_slices_look_like_kubernetes_ones() {
        let svc = ServiceSpec::new("web").local().pool("bgp").object();
        assert_eq!(svc["spec"]["externalTrafficPolicy"], "Local");
        assert_eq!(svc["metadata"]["annotations"]["ferrolb.io/address-pool"], "bgp");
        assert_eq!(svc["metadata"]["namespace"], "default");
        assert!(svc["metadata"]["labels"].is_null());
        let svc = ServiceSpec::new("shop")
            .namespace("blue")
            .label("tier", "premium")
            .ip("192.0.2.7".parse().unwrap())
            .ip("2001:db8::7".parse().unwrap())
            .object();
        assert_eq!(svc["metadata"]["namespace"], "blue");
        assert_eq!(
            svc["metadata"]["labels"],
            json!({"app": "shop", "tier": "premium"})
        );
        assert_eq!(
            svc["metadata"]["annotations"]["ferrolb.io/loadBalancerIPs"],
            "192.0.2.7,2001:db8::7"
        );
        let check = crate::cluster::unknown_fields::<k8s_openapi::api::core::v1::Service>(&svc).unwrap();
        assert!(check.is_empty(), "{check:?}");
        let svc = ServiceSpec::new("web").local().pool("bgp").object();
        let check = crate::cluster::unknown_fields::<k8s_openapi::api::core::v1::Service>(&svc).unwrap();
        assert!(check.is_empty(), "{check:?}");
        let slice = endpoint_slice("default", "web", &["node1", "node3"]);
        assert_eq!(slice["endpoints"][1]["nodeName"], "node3");
        assert_eq!(slice["endpoints"][1]["addresses"][0], "10.244.3.11");
        assert_eq!(slice["metadata"]["labels"]["kubernetes.io/service-name"], "web");
        let check =
            crate::cluster::unknown_fields::<k8s_openapi::api::discovery::v1::EndpointSlice>(&slice).unwrap();
        assert!(check.is_empty(), "{check:?}");
        let with_status =
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.100"}, {"hostname": "x"}]}}});
        assert_eq!(
            ingress_of(&with_status),
            ["192.0.2.100".parse::<IpAddr>().unwrap()]
        );
        assert!(ingress_of(&json!({})).is_empty());
    }
}
