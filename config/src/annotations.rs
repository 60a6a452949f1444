//! Service annotations: which pool, which addresses, which sharing key.
//!
//! ferrolb's keys are under `ferrolb.io/`; MetalLB's `metallb.io/…` and (deprecated)
//! `metallb.universe.tf/…` spellings are accepted as aliases, so Services written for MetalLB work
//! unchanged. Every alias key used is listed in [`ServiceAnnotations::deprecated_keys_used`] (for a Warning
//! event). When two spellings of one annotation disagree, that is an error naming both keys. An empty
//! value means "not set", as in MetalLB.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Pins the Service to a pool (by name); also allowed for pools with `auto-assign: false`.
pub const ADDRESS_POOL: &str = "ferrolb.io/address-pool";
/// Requested addresses: a comma-separated list, at most one per family.
pub const LOAD_BALANCER_IPS: &str = "ferrolb.io/loadBalancerIPs";
/// Sharing key: Services with the same key may share an address (ports permitting).
pub const ALLOW_SHARED_IP: &str = "ferrolb.io/allow-shared-ip";
/// Written by the controller: the pool the Service's addresses came from.
pub const IP_ALLOCATED_FROM_POOL: &str = "ferrolb.io/ip-allocated-from-pool";

/// Prefixes accepted as aliases of `ferrolb.io/`, in order of preference.
pub const ALIAS_PREFIXES: [&str; 2] = ["metallb.io/", "metallb.universe.tf/"];

/// The annotations the controller acts on, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceAnnotations {
    /// The requested pool, if any.
    pub pool: Option<String>,
    /// Requested addresses: at most one IPv4 and one IPv6, in the order given.
    pub ips: Vec<IpAddr>,
    /// The sharing key, if any.
    pub sharing_key: Option<String>,
    /// Alias keys (`metallb.io/…`, `metallb.universe.tf/…`) that were used, sorted.
    pub deprecated_keys_used: Vec<String>,
}

/// One problem with a Service's annotations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// Two spellings of one annotation with different values.
    #[error("annotations {key} ({value:?}) and {other_key} ({other_value:?}) disagree")]
    Conflict {
        /// The preferred key.
        key: String,
        /// Its value.
        value: String,
        /// The other key.
        other_key: String,
        /// Its value.
        other_value: String,
    },
    /// An item of the address list that is not an IP address.
    #[error("annotation {key}: {item:?} is not an IP address")]
    InvalidIp {
        /// The annotation key.
        key: String,
        /// The offending item.
        item: String,
    },
    /// An empty item in the address list (`a,,b`).
    #[error("annotation {key}: empty item in {value:?}")]
    EmptyItem {
        /// The annotation key.
        key: String,
        /// The whole value.
        value: String,
    },
    /// Two addresses of one family.
    #[error(
        "annotation {key}: {first} and {second} are both IPv{version}; give at most one address per family"
    )]
    SameFamily {
        /// The annotation key.
        key: String,
        /// The first address of that family.
        first: IpAddr,
        /// The second.
        second: IpAddr,
        /// 4 or 6.
        version: u8,
    },
}

impl AnnotationError {
    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::InvalidIp { .. } => "invalid_ip",
            Self::EmptyItem { .. } => "empty_item",
            Self::SameFamily { .. } => "same_family",
        }
    }
}

/// Every problem found in a Service's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationErrors(pub Vec<AnnotationError>);

impl fmt::Display for AnnotationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for AnnotationErrors {}

/// Parses a Service's annotations (its `metadata.annotations`); unrelated keys are ignored.
pub fn parse_service_annotations(
    annotations: &BTreeMap<String, String>,
) -> Result<ServiceAnnotations, AnnotationErrors> {
    let mut errors = Vec::new();
    let mut used = Vec::new();

    let pool = lookup(
        annotations,
        ADDRESS_POOL,
        &mut used,
        &mut errors,
        |v| v.trim().to_owned(),
        |a, b| a == b,
    );
    let sharing_key = lookup(
        annotations,
        ALLOW_SHARED_IP,
        &mut used,
        &mut errors,
        |v| v.trim().to_owned(),
        |a, b| a == b,
    );
    // Address lists are compared as sets of addresses, so spacing or order differences are not conflicts.
    let ips_text = lookup(
        annotations,
        LOAD_BALANCER_IPS,
        &mut used,
        &mut errors,
        |v| v.to_owned(),
        |a, b| match (parse_ips("", a), parse_ips("", b)) {
            (Ok(mut x), Ok(mut y)) => {
                x.sort();
                y.sort();
                x == y
            }
            _ => a.trim() == b.trim(),
        },
    );
    let ips = match &ips_text {
        Some((key, text)) => parse_ips(key, text).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            Vec::new()
        }),
        None => Vec::new(),
    };
    if !errors.is_empty() {
        return Err(AnnotationErrors(errors));
    }
    used.sort();
    used.dedup();
    Ok(ServiceAnnotations {
        pool: pool.map(|(_, v)| v),
        ips,
        sharing_key: sharing_key.map(|(_, v)| v),
        deprecated_keys_used: used,
    })
}

/// Finds an annotation under its ferrolb key or an alias; records aliases used and disagreements.
/// Returns the key the value came from and the normalized value; empty values count as absent.
fn lookup(
    annotations: &BTreeMap<String, String>,
    key: &str,
    used: &mut Vec<String>,
    errors: &mut Vec<AnnotationError>,
    normalize: impl Fn(&str) -> String,
    same: impl Fn(&str, &str) -> bool,
) -> Option<(String, String)> {
    let name = key.strip_prefix("ferrolb.io/").unwrap_or(key);
    let keys = std::iter::once(key.to_owned()).chain(ALIAS_PREFIXES.iter().map(|p| format!("{p}{name}")));
    let mut found: Option<(String, String)> = None;
    for (i, k) in keys.enumerate() {
        let Some(value) = annotations.get(&k) else {
            continue;
        };
        let value = normalize(value);
        if value.trim().is_empty() {
            continue;
        }
        if i > 0 {
            used.push(k.clone());
        }
        match &found {
            None => found = Some((k, value)),
            Some((first_key, first_value)) => {
                if !same(first_value, &value) {
                    errors.push(AnnotationError::Conflict {
                        key: first_key.clone(),
                        value: first_value.clone(),
                        other_key: k,
                        other_value: value,
                    });
                }
            }
        }
    }
    found
}

fn parse_ips(key: &str, text: &str) -> Result<Vec<IpAddr>, Vec<AnnotationError>> {
    let mut errors = Vec::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            errors.push(AnnotationError::EmptyItem {
                key: key.to_owned(),
                value: text.to_owned(),
            });
            continue;
        }
        match IpAddr::from_str(item) {
            Ok(ip) => {
                if let Some(first) = ips.iter().find(|x| x.is_ipv4() == ip.is_ipv4()) {
                    errors.push(AnnotationError::SameFamily {
                        key: key.to_owned(),
                        first: *first,
                        second: ip,
                        version: if ip.is_ipv4() { 4 } else { 6 },
                    });
                } else {
                    ips.push(ip);
                }
            }
            Err(_) => errors.push(AnnotationError::InvalidIp {
                key: key.to_owned(),
                item: item.to_owned(),
            }),
        }
    }
    if errors.is_empty() { Ok(ips) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ours_and_aliases() {
        let got = parse_service_annotations(&ann(&[
            (ADDRESS_POOL, "gold"),
            ("metallb.universe.tf/allow-shared-ip", "k1"),
            ("metallb.io/loadBalancerIPs", "192.0.2.10, 2001:db8::10"),
            ("unrelated/thing", "x"),
        ]))
        .unwrap();
        assert_eq!(got.pool.as_deref(), Some("gold"));
        assert_eq!(got.sharing_key.as_deref(), Some("k1"));
        assert_eq!(
            got.ips,
            [
                "192.0.2.10".parse::<IpAddr>().unwrap(),
                "2001:db8::10".parse().unwrap()
            ]
        );
        assert_eq!(
            got.deprecated_keys_used,
            [
                "metallb.io/loadBalancerIPs",
                "metallb.universe.tf/allow-shared-ip"
            ]
        );
        assert_eq!(
            parse_service_annotations(&BTreeMap::new()).unwrap(),
            ServiceAnnotations::default()
        );
    }

    #[test]
    fn agreeing_spellings_are_fine_and_disagreeing_ones_name_both_keys() {
        let ok = parse_service_annotations(&ann(&[
            (LOAD_BALANCER_IPS, "192.0.2.10,2001:db8::10"),
            ("metallb.io/loadBalancerIPs", "2001:db8::10, 192.0.2.10"),
            (ADDRESS_POOL, "gold"),
            ("metallb.universe.tf/address-pool", " gold "),
        ]))
        .unwrap();
        assert_eq!(ok.ips.len(), 2);
        let err = parse_service_annotations(&ann(&[
            (ADDRESS_POOL, "gold"),
            ("metallb.io/address-pool", "silver"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.0,
            [AnnotationError::Conflict {
                key: ADDRESS_POOL.into(),
                value: "gold".into(),
                other_key: "metallb.io/address-pool".into(),
                other_value: "silver".into(),
            }]
        );
        assert!(
            err.to_string().contains("ferrolb.io/address-pool")
                && err.to_string().contains("metallb.io/address-pool")
        );
    }

    #[test]
    fn address_list_errors() {
        let err = |v: &str| {
            parse_service_annotations(&ann(&[(LOAD_BALANCER_IPS, v)]))
                .unwrap_err()
                .0
        };
        assert!(matches!(
            err("192.0.2.1,192.0.2.2")[..],
            [AnnotationError::SameFamily { version: 4, .. }]
        ));
        assert!(matches!(
            err("2001:db8::1,2001:db8::2")[..],
            [AnnotationError::SameFamily { version: 6, .. }]
        ));
        assert!(
            matches!(&err("192.0.2.1,nope")[..], [AnnotationError::InvalidIp { item, .. }] if item == "nope")
        );
        assert!(matches!(
            err("192.0.2.1,,2001:db8::1")[..],
            [AnnotationError::EmptyItem { .. }]
        ));
        let empty = parse_service_annotations(&ann(&[(LOAD_BALANCER_IPS, "  ")])).unwrap();
        assert!(empty.ips.is_empty());
    }
}
