//! A Service as the controller sees it: a compact projection of the `Service` object (what decides its IPs,
//! what its status says, and what Events need to name it). Pure: no I/O.
//!
//! The projection keeps the controller's memory proportional to what it needs (a few hundred bytes per
//! Service), not to the size of the objects the API server sends.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_config::annotations::{
    self, ALIAS_PREFIXES, ALLOW_SHARED_IP, AnnotationErrors, IP_ALLOCATED_FROM_POOL,
};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use k8s_openapi::jiff::Timestamp;

use crate::allocator::{BackendKey, IpFamily, IpFamilyPolicy, Port, Protocol, ServiceKey, ServiceRequest};

/// What decides a Service's IPs, without its key (see [`ServiceRequest`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestSpec {
    /// `(protocol, port)` of `spec.ports`.
    pub ports: Vec<Port>,
    /// Sharing key (`allow-shared-ip` annotation).
    pub sharing_key: Option<String>,
    /// External traffic policy (and selector for `Local`).
    pub backend: BackendKey,
    /// `spec.ipFamilyPolicy`.
    pub family_policy: IpFamilyPolicy,
    /// `spec.ipFamilies`.
    pub families: Vec<IpFamily>,
    /// Requested IPs (`loadBalancerIPs` annotation or `spec.loadBalancerIP`).
    pub requested_ips: Vec<IpAddr>,
    /// Pinned pool (`address-pool` annotation).
    pub requested_pool: Option<String>,
}

impl RequestSpec {
    /// The allocator's request for Service `key`.
    pub fn to_request(&self, key: &ServiceKey) -> ServiceRequest {
        ServiceRequest {
            key: key.clone(),
            ports: self.ports.clone(),
            sharing_key: self.sharing_key.clone(),
            backend: self.backend.clone(),
            family_policy: self.family_policy,
            families: self.families.clone(),
            requested_ips: self.requested_ips.clone(),
            requested_pool: self.requested_pool.clone(),
            access: Default::default(),
        }
    }
}

/// Why a Service's request cannot be built: its annotations or `spec.loadBalancerIP` are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecProblem {
    /// The annotations do not parse (every problem listed).
    #[error("invalid annotations: {0}")]
    Annotations(AnnotationErrors),
    /// `spec.loadBalancerIP` is not an IP address.
    #[error("spec.loadBalancerIP {0:?} is not an IP address")]
    BadLoadBalancerIp(String),
    /// `spec.loadBalancerIP` and the `loadBalancerIPs` annotation ask for different addresses.
    #[error(
        "spec.loadBalancerIP {spec} is not among the addresses of the loadBalancerIPs annotation ({annotation})"
    )]
    LoadBalancerIpConflict {
        /// `spec.loadBalancerIP`.
        spec: IpAddr,
        /// The annotation's addresses.
        annotation: String,
    },
}

impl SpecProblem {
    /// A stable label for failure counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SpecProblem::Annotations(_) => "invalid_annotation",
            SpecProblem::BadLoadBalancerIp(_) | SpecProblem::LoadBalancerIpConflict { .. } => {
                "invalid_load_balancer_ip"
            }
        }
    }
}

/// One Service, projected.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// `namespace/name`.
    pub key: ServiceKey,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.creationTimestamp` (oldest Services win conflicts at restart).
    pub created: Option<Timestamp>,
    /// `spec.type == LoadBalancer`.
    pub load_balancer: bool,
    /// `spec.loadBalancerClass`.
    pub class: Option<String>,
    /// The request as far as it could be built: complete when `problem` is `None`; otherwise everything but
    /// the annotations' requested IPs and pool (the sharing key read leniently, so that restoring the Service's
    /// IPs at start-up still honours it).
    pub spec: RequestSpec,
    /// Why the request is invalid, if it is.
    pub problem: Option<SpecProblem>,
    /// MetalLB spellings of our annotations that the Service uses, sorted.
    pub deprecated_keys: Vec<String>,
    /// `status.loadBalancer.ingress`.
    pub ingress: Vec<LoadBalancerIngress>,
    /// The `ferrolb.io/ip-allocated-from-pool` annotation: set when ferrolb wrote the status.
    pub allocated_from_pool: Option<String>,
    /// `metadata.labels` (pools' `serviceAllocation.serviceSelectors` match them).
    pub labels: BTreeMap<String, String>,
}

impl ServiceView {
    /// Projects a Service. `None` when it has no name or namespace (never from an API server).
    pub fn from_service(svc: Service) -> Option<Self> {
        let meta = svc.metadata;
        let key = ServiceKey::new(meta.namespace?, meta.name?);
        let annotations = meta.annotations.unwrap_or_default();
        let spec = svc.spec.unwrap_or_default();
        let ports = spec
            .ports
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let protocol = match p.protocol.as_deref() {
                    None | Some("TCP") => Protocol::Tcp,
                    Some("UDP") => Protocol::Udp,
                    Some("SCTP") => Protocol::Sctp,
                    Some(_) => return None,
                };
                Some(Port {
                    protocol,
                    port: u16::try_from(p.port).ok()?,
                })
            })
            .collect();
        let backend = if spec.external_traffic_policy.as_deref() == Some("Local") {
            BackendKey::Local {
                selector: canonical_selector(&spec.selector.unwrap_or_default()),
            }
        } else {
            BackendKey::Cluster
        };
        let family_policy = match spec.ip_family_policy.as_deref() {
            Some("PreferDualStack") => IpFamilyPolicy::PreferDualStack,
            Some("RequireDualStack") => IpFamilyPolicy::RequireDualStack,
            _ => IpFamilyPolicy::SingleStack,
        };
        let families = spec
            .ip_families
            .unwrap_or_default()
            .iter()
            .filter_map(|f| match f.as_str() {
                "IPv4" => Some(IpFamily::V4),
                "IPv6" => Some(IpFamily::V6),
                _ => None,
            })
            .collect();
        let mut request = RequestSpec {
            ports,
            backend,
            family_policy,
            families,
            ..RequestSpec::default()
        };
        let lb_ip = spec.load_balancer_ip.filter(|s| !s.trim().is_empty());
        let (problem, deprecated_keys) = match annotations::parse_service_annotations(&annotations) {
            Ok(parsed) => {
                request.sharing_key = parsed.sharing_key;
                request.requested_pool = parsed.pool;
                let problem = match requested_ips(lb_ip.as_deref(), parsed.ips) {
                    Ok(ips) => {
                        request.requested_ips = ips;
                        None
                    }
                    Err(p) => Some(p),
                };
                (problem, parsed.deprecated_keys_used)
            }
            Err(errors) => {
                request.sharing_key = lenient_sharing_key(&annotations);
                (
                    Some(SpecProblem::Annotations(errors)),
                    deprecated_keys(&annotations),
                )
            }
        };
        let allocated_from_pool = annotations.get(IP_ALLOCATED_FROM_POOL).cloned();
        Some(Self {
            key,
            uid: meta.uid.unwrap_or_default(),
            resource_version: meta.resource_version.unwrap_or_default(),
            created: meta.creation_timestamp.map(|t| t.0),
            load_balancer: spec.type_.as_deref() == Some("LoadBalancer"),
            class: spec.load_balancer_class,
            spec: request,
            problem,
            deprecated_keys,
            ingress: {
                // serde reserves room for four entries; a Service has one or two.
                let mut ingress = svc
                    .status
                    .and_then(|s| s.load_balancer)
                    .and_then(|lb| lb.ingress)
                    .unwrap_or_default();
                ingress.shrink_to_fit();
                ingress
            },
            allocated_from_pool,
            labels: meta.labels.unwrap_or_default(),
        })
    }

    /// Whether ferrolb assigns this Service's IPs: `type: LoadBalancer` with the class ferrolb serves (no
    /// class, unless the controller was given one).
    pub fn qualifies(&self, class: Option<&str>) -> bool {
        self.load_balancer && self.class.as_deref() == class
    }

    /// Whether the controller must track the Service: it qualifies, or ferrolb wrote its status.
    pub fn relevant(&self, class: Option<&str>) -> bool {
        self.qualifies(class) || self.allocated_from_pool.is_some()
    }

    /// The allocator's request, or why there is none.
    pub fn request(&self) -> Result<ServiceRequest, &SpecProblem> {
        match &self.problem {
            Some(p) => Err(p),
            None => Ok(self.spec.to_request(&self.key)),
        }
    }

    /// The request used to restore the Service's current IPs (complete or not, see [`ServiceView::spec`]).
    pub fn restore_request(&self) -> ServiceRequest {
        self.spec.to_request(&self.key)
    }

    /// The IPs in `status.loadBalancer.ingress`, in order (entries without a valid `ip` are skipped).
    pub fn ingress_ips(&self) -> Vec<IpAddr> {
        self.ingress
            .iter()
            .filter_map(|i| i.ip.as_deref()?.parse().ok())
            .collect()
    }
}

/// `app=web,tier=front`: the selector with keys sorted.
fn canonical_selector(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The requested IPs from the annotation and `spec.loadBalancerIP` (deprecated by Kubernetes, still honoured:
/// alone, or agreeing with the annotation).
fn requested_ips(lb_ip: Option<&str>, annotation: Vec<IpAddr>) -> Result<Vec<IpAddr>, SpecProblem> {
    let Some(text) = lb_ip else {
        return Ok(annotation);
    };
    let ip: IpAddr = text
        .trim()
        .parse()
        .map_err(|_| SpecProblem::BadLoadBalancerIp(text.to_owned()))?;
    if annotation.is_empty() {
        return Ok(vec![ip]);
    }
    if annotation.contains(&ip) {
        return Ok(annotation);
    }
    Err(SpecProblem::LoadBalancerIpConflict {
        spec: ip,
        annotation: annotation
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    })
}

/// The sharing key under any spelling, first non-empty one (used only when the annotations do not parse).
fn lenient_sharing_key(annotations: &BTreeMap<String, String>) -> Option<String> {
    let name = ALLOW_SHARED_IP.trim_start_matches("ferrolb.io/");
    std::iter::once(ALLOW_SHARED_IP.to_owned())
        .chain(ALIAS_PREFIXES.iter().map(|p| format!("{p}{name}")))
        .filter_map(|k| annotations.get(&k))
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

/// MetalLB spellings of our annotations present (used only when the annotations do not parse).
fn deprecated_keys(annotations: &BTreeMap<String, String>) -> Vec<String> {
    let ours = [
        annotations::ADDRESS_POOL,
        annotations::LOAD_BALANCER_IPS,
        ALLOW_SHARED_IP,
    ];
    let mut keys: Vec<String> = ours
        .iter()
        .flat_map(|k| {
            let name = k.trim_start_matches("ferrolb.io/");
            ALIAS_PREFIXES.iter().map(move |p| format!("{p}{name}"))
        })
        .filter(|k| annotations.get(k).is_some_and(|v| !v.trim().is_empty()))
        .collect();
    keys.sort();
    keys
}

/// The ferrolb spelling of a MetalLB annotation key (`metallb.io/address-pool` → `ferrolb.io/address-pool`).
pub fn ferrolb_spelling(key: &str) -> String {
    ALIAS_PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .map_or_else(|| key.to_owned(), |name| format!("ferrolb.io/{name}"))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Builders for Services in tests.

    use k8s_openapi::api::core::v1::{LoadBalancerStatus, ServicePort, ServiceSpec, ServiceStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    /// A builder for a `Service`.
    #[derive(Debug, Clone)]
    pub(crate) struct Svc(pub(crate) Service);

    /// A single-stack IPv4 `LoadBalancer` Service `ns/name` with TCP port 80, resourceVersion "1".
    pub(crate) fn svc(ns: &str, name: &str) -> Svc {
        Svc(Service {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{ns}-{name}")),
                resource_version: Some("1".into()),
                creation_timestamp: Some(Time(Timestamp::UNIX_EPOCH)),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ports: Some(vec![ServicePort {
                    port: 80,
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ip_families: Some(vec!["IPv4".into()]),
                ip_family_policy: Some("SingleStack".into()),
                ..ServiceSpec::default()
            }),
            status: None,
        })
    }

    impl Svc {
        pub(crate) fn rv(mut self, rv: u64) -> Self {
            self.0.metadata.resource_version = Some(rv.to_string());
            self
        }
        pub(crate) fn created(mut self, secs: i64) -> Self {
            let t = Timestamp::from_second(secs).expect("valid time");
            self.0.metadata.creation_timestamp = Some(Time(t));
            self
        }
        pub(crate) fn annotation(mut self, k: &str, v: &str) -> Self {
            self.0
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(k.into(), v.into());
            self
        }
        pub(crate) fn label(mut self, k: &str, v: &str) -> Self {
            self.0
                .metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(k.into(), v.into());
            self
        }
        pub(crate) fn spec(mut self, f: impl FnOnce(&mut ServiceSpec)) -> Self {
            f(self.0.spec.get_or_insert_with(ServiceSpec::default));
            self
        }
        pub(crate) fn ingress(mut self, ips: &[&str]) -> Self {
            let ingress = ips
                .iter()
                .map(|ip| LoadBalancerIngress {
                    ip: Some((*ip).into()),
                    ..LoadBalancerIngress::default()
                })
                .collect();
            self.0.status = Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(ingress),
                }),
                ..ServiceStatus::default()
            });
            self
        }
        pub(crate) fn view(self) -> Box<ServiceView> {
            Box::new(ServiceView::from_service(self.0).expect("named"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::svc;
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn projection_of_a_plain_service() {
        let v = svc("ns", "web").rv(7).view();
        assert_eq!(v.key, ServiceKey::new("ns", "web"));
        assert_eq!(v.resource_version, "7");
        assert!(v.qualifies(None));
        assert!(!v.qualifies(Some("x")));
        let req = v.request().expect("valid");
        assert_eq!(req.ports, [Port::tcp(80)]);
        assert_eq!(req.families, [IpFamily::V4]);
        assert_eq!(req.backend, BackendKey::Cluster);
        assert!(v.ingress_ips().is_empty());
        assert_eq!(v.allocated_from_pool, None);
    }

    #[test]
    fn classes_types_and_relevance() {
        let other = svc("ns", "a")
            .spec(|s| s.load_balancer_class = Some("example.com/lb".into()))
            .view();
        assert!(!other.qualifies(None) && other.qualifies(Some("example.com/lb")));
        assert!(!other.relevant(None));
        let cluster_ip = svc("ns", "b").spec(|s| s.type_ = Some("ClusterIP".into())).view();
        assert!(!cluster_ip.qualifies(None) && !cluster_ip.relevant(None));
        let ours_before = cluster_ip.clone();
        let marked = svc("ns", "b")
            .spec(|s| s.type_ = Some("ClusterIP".into()))
            .annotation(IP_ALLOCATED_FROM_POOL, "default")
            .view();
        assert!(!marked.qualifies(None) && marked.relevant(None));
        assert_ne!(ours_before, marked);
    }

    #[test]
    fn annotations_and_load_balancer_ip() {
        let v = svc("ns", "a")
            .annotation("metallb.universe.tf/address-pool", "gold")
            .annotation("metallb.io/allow-shared-ip", "k")
            .spec(|s| s.load_balancer_ip = Some("192.0.2.7".into()))
            .view();
        let req = v.request().expect("valid");
        assert_eq!(req.requested_pool.as_deref(), Some("gold"));
        assert_eq!(req.sharing_key.as_deref(), Some("k"));
        assert_eq!(req.requested_ips, [ip("192.0.2.7")]);
        assert_eq!(
            v.deprecated_keys,
            ["metallb.io/allow-shared-ip", "metallb.universe.tf/address-pool"]
        );
        assert_eq!(
            ferrolb_spelling("metallb.io/allow-shared-ip"),
            "ferrolb.io/allow-shared-ip"
        );

        let both = svc("ns", "a")
            .annotation("ferrolb.io/loadBalancerIPs", "192.0.2.7,2001:db8::7")
            .spec(|s| s.load_balancer_ip = Some("192.0.2.7".into()))
            .view();
        assert_eq!(both.request().expect("agreeing").requested_ips.len(), 2);
        let conflict = svc("ns", "a")
            .annotation("ferrolb.io/loadBalancerIPs", "192.0.2.8")
            .spec(|s| s.load_balancer_ip = Some("192.0.2.7".into()))
            .view();
        assert!(matches!(
            conflict.request(),
            Err(SpecProblem::LoadBalancerIpConflict { .. })
        ));
        let bad = svc("ns", "a")
            .spec(|s| s.load_balancer_ip = Some("nope".into()))
            .view();
        assert_eq!(
            bad.request().unwrap_err().metric_label(),
            "invalid_load_balancer_ip"
        );
    }

    #[test]
    fn invalid_annotations_keep_a_lenient_sharing_key() {
        let v = svc("ns", "a")
            .annotation("metallb.io/allow-shared-ip", "k1")
            .annotation("ferrolb.io/address-pool", "gold")
            .annotation("metallb.io/address-pool", "silver")
            .view();
        let err = v.request().unwrap_err();
        assert_eq!(err.metric_label(), "invalid_annotation");
        assert!(err.to_string().contains("metallb.io/address-pool"), "{err}");
        assert_eq!(v.restore_request().sharing_key.as_deref(), Some("k1"));
        assert_eq!(v.restore_request().requested_pool, None);
        assert_eq!(
            v.deprecated_keys,
            ["metallb.io/address-pool", "metallb.io/allow-shared-ip"]
        );
    }

    #[test]
    fn dual_stack_local_and_ports() {
        let mut selector = BTreeMap::new();
        selector.insert("tier".to_string(), "front".to_string());
        selector.insert("app".to_string(), "web".to_string());
        let v = svc("ns", "a")
            .spec(|s| {
                s.ip_family_policy = Some("PreferDualStack".into());
                s.ip_families = Some(vec!["IPv6".into(), "IPv4".into()]);
                s.external_traffic_policy = Some("Local".into());
                s.selector = Some(selector);
                if let Some(p) = s.ports.as_mut() {
                    p.push(k8s_openapi::api::core::v1::ServicePort {
                        port: 53,
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    });
                }
            })
            .ingress(&["2001:db8::1", "192.0.2.1"])
            .view();
        let req = v.request().expect("valid");
        assert_eq!(req.family_policy, IpFamilyPolicy::PreferDualStack);
        assert_eq!(req.families, [IpFamily::V6, IpFamily::V4]);
        assert_eq!(
            req.backend,
            BackendKey::Local {
                selector: "app=web,tier=front".into()
            }
        );
        assert_eq!(req.ports, [Port::tcp(80), Port::udp(53)]);
        assert_eq!(v.ingress_ips(), [ip("2001:db8::1"), ip("192.0.2.1")]);
    }
}
