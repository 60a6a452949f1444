//! core/v1 Services: defaulting, IP families, cluster IP and node port allocation, validation and status
//! validation ([`crate::defaults::service`]), the printer kubectl shows (EXTERNAL-IP, PORT(S)).

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use crate::defaults::{Target, service};
use crate::error::Cause;
use crate::meta::meta_str;
use crate::patch::ListStrategy;
use crate::prune::{DecodeError, prune_as};
use crate::store::Txn;
use crate::strategy::{
    Strategy, age_cell, age_col, builtin_list_strategy, builtin_prepare_update, col, name_cell, name_col,
};

/// The Service strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceStrategy;

/// The allocator's owner key of a Service.
fn owner(obj: &Value) -> String {
    format!("{}/{}", meta_str(obj, "namespace"), meta_str(obj, "name"))
}

fn none_if_empty(x: String) -> String {
    if x.is_empty() { "<none>".to_owned() } else { x }
}

fn ports(obj: &Value) -> String {
    let ports: Vec<String> = obj["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64().filter(|n| *n > 0) {
                Some(np) => format!("{}:{np}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    none_if_empty(ports.join(","))
}

fn external_ip(obj: &Value) -> String {
    let external: Vec<&str> = obj["spec"]["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match obj["spec"]["type"].as_str().unwrap_or_default() {
        "ExternalName" => obj["spec"]["externalName"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        "LoadBalancer" => {
            let mut ips: Vec<&str> = obj["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .filter(|x| !x.is_empty())
                        .or(i["hostname"].as_str())
                })
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".to_owned()
            } else {
                ips.join(",")
            }
        }
        _ => none_if_empty(external.join(",")),
    }
}

fn selector(obj: &Value) -> String {
    let parts: Vec<String> = obj["spec"]["selector"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    none_if_empty(parts.join(","))
}

impl Strategy for ServiceStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Service>(obj)
    }

    fn drop_disabled_fields(&self, obj: &mut Value, minor: u32) -> Vec<String> {
        service::drop_disabled_fields(obj, minor)
    }

    fn set_defaults(&self, obj: &mut Value) {
        service::set_defaults(obj);
    }

    fn prepare_create(&self, obj: &mut Value, _status: bool) {
        obj["status"] = json!({"loadBalancer": {}});
    }

    fn prepare_update(&self, new: &mut Value, old: &Value, target: Target, status: bool) {
        builtin_prepare_update(new, old, target, status);
        if target == Target::Main {
            service::prepare_update(new, old);
        }
    }

    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validate::dns1035_label(name)
    }

    fn before_validate(
        &self,
        obj: &mut Value,
        old: Option<&Value>,
        target: Target,
        txn: &mut Txn<'_>,
        minor: u32,
    ) -> Vec<Cause> {
        match target {
            Target::Main => service::init_ip_families(obj, old, &txn.alloc_families()),
            Target::Status => {
                service::default_status(obj, minor);
                Vec::new()
            }
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, target: Target, minor: u32) -> Vec<Cause> {
        match target {
            Target::Main => {
                let mut errs = service::validate(obj);
                if let Some(old) = old {
                    errs.extend(service::validate_update(obj, old));
                }
                errs
            }
            Target::Status => service::validate_status(obj, minor),
        }
    }

    fn allocate(
        &self,
        obj: &mut Value,
        old: Option<&Value>,
        target: Target,
        txn: &mut Txn<'_>,
        dry_run: bool,
    ) -> Vec<Cause> {
        if target == Target::Status {
            return Vec::new();
        }
        let who = owner(old.unwrap_or(obj));
        if dry_run {
            txn.alloc().begin();
        }
        let causes = service::allocate(obj, old, txn.alloc(), &who);
        if dry_run {
            txn.alloc().rollback();
        }
        causes
    }

    fn on_removed(&self, last: &Value, txn: &mut Txn<'_>) {
        service::release(last, txn.alloc(), &owner(last));
    }

    fn has_generation(&self) -> bool {
        true
    }

    fn spec_changed(&self, new: &Value, old: &Value, _status: bool) -> bool {
        new["spec"] != old["spec"]
    }

    fn field_labels(&self) -> Vec<String> {
        vec!["spec.clusterIP".to_owned(), "spec.type".to_owned()]
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col(
                "Type",
                "string",
                "",
                0,
                "type determines how the Service is exposed.",
            ),
            col(
                "Cluster-IP",
                "string",
                "",
                0,
                "clusterIP is the IP address of the service.",
            ),
            col(
                "External-IP",
                "string",
                "",
                0,
                "externalIPs and load balancer ingress addresses.",
            ),
            col(
                "Port(s)",
                "string",
                "",
                0,
                "The list of ports that are exposed by this service.",
            ),
            age_col(),
            col(
                "Selector",
                "string",
                "",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        vec![
            name_cell(obj),
            json!(obj["spec"]["type"].as_str().unwrap_or_default()),
            json!(none_if_empty(
                obj["spec"]["clusterIP"].as_str().unwrap_or_default().to_owned()
            )),
            json!(external_ip(obj)),
            json!(ports(obj)),
            age_cell(obj, now),
            json!(selector(obj)),
        ]
    }

    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        match path {
            ["spec", "ports"] => ListStrategy::key("port"),
            ["status", "conditions"] => ListStrategy::key("type"),
            _ => builtin_list_strategy(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_external_ip_like_kubectl() {
        let now = SystemTime::now();
        let mut svc = json!({"metadata": {"name": "web", "creationTimestamp": crate::time::rfc3339(now)},
                             "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                                      "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]},
                             "status": {"loadBalancer": {}}});
        let c = ServiceStrategy.cells(&svc, now);
        assert_eq!(
            c,
            vec![
                json!("web"),
                json!("LoadBalancer"),
                json!("10.96.0.10"),
                json!("<pending>"),
                json!("80:30080/TCP"),
                json!("0s"),
                json!("app=web")
            ]
        );
        svc["status"]["loadBalancer"]["ingress"] = json!([{"ip": "192.0.2.100"}, {"ip": "2001:db8::100"}]);
        assert_eq!(ServiceStrategy.cells(&svc, now)[3], "192.0.2.100,2001:db8::100");
        assert_eq!(ServiceStrategy.columns().len(), c.len());
    }
}
