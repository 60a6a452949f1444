//! Name, label and address checks with the messages of `k8s.io/apimachinery/pkg/util/validation`.
//! Each returns the list of problems (empty when valid).

use std::net::IpAddr;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            (if first_alpha {
                f.is_ascii_lowercase()
            } else {
                ok(f)
            }) && ok(l)
                && b.iter().all(|c| ok(c) || *c == b'-')
        }
        _ => false,
    }
}

/// RFC 1123 label (Namespace names, port names): at most 63 characters.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    if !is_label(s, false) {
        errs.push(DNS1123_LABEL_MSG.to_owned());
    }
    errs
}

/// RFC 1123 subdomain (most object names): at most 253 characters.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_owned());
    }
    if !s.split('.').all(|l| is_label(l, false)) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_owned());
    }
    errs
}

/// RFC 1035 label (Service names): at most 63 characters, starting with a letter.
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    if !is_label(s, true) {
        errs.push(DNS1035_LABEL_MSG.to_owned());
    }
    errs
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let an = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(an)
        && b.last().is_some_and(an)
        && b.iter().all(|c| an(c) || matches!(c, b'-' | b'_' | b'.'))
}

/// Qualified name (label and annotation keys, `loadBalancerClass`): `[prefix/]name`, the prefix a DNS subdomain.
pub fn qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_owned());
        } else {
            errs.extend(
                dns1123_subdomain(p)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_owned());
    } else if !is_name_part(name) || name.contains('/') {
        errs.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_owned());
    }
    errs
}

/// Label value: empty, or a name part of at most 63 characters.
pub fn label_value(s: &str) -> Vec<String> {
    if s.is_empty() || is_name_part(s) {
        Vec::new()
    } else if s.len() > 63 {
        vec!["must be no more than 63 characters".to_owned()]
    } else {
        vec!["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_owned()]
    }
}

/// ConfigMap and Secret data keys: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
pub fn config_map_key(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_owned());
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_owned());
    }
    if s == "." || s == ".." || s.starts_with("..") {
        errs.push("must not be '.' or '..' or start with '..'".to_owned());
    }
    errs
}

/// An IP address in canonical-enough form (leading zeros in IPv4 octets are rejected, as Go's parser does).
pub fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>()
        .map_err(|_| "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_owned())
}

/// A CIDR such as `192.0.2.0/24`.
pub fn cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .map_err(|_| "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1035_label("web-1").is_empty());
        assert!(!dns1035_label("1web").is_empty());
        assert!(dns1123_label("1web").is_empty());
        assert!(!dns1123_label("Web").is_empty());
        assert!(dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!dns1123_subdomain("a..b").is_empty());
        assert!(!dns1123_subdomain("").is_empty());
        assert!(!dns1035_label(&"a".repeat(64)).is_empty());
    }

    #[test]
    fn keys_and_values() {
        assert!(qualified_name("ferrolb.io/ip-allocated-from-pool").is_empty());
        assert!(qualified_name("app").is_empty());
        assert!(!qualified_name("/app").is_empty());
        assert!(!qualified_name("Bad_Prefix/app").is_empty());
        assert!(!qualified_name("a/b/c").is_empty());
        assert!(label_value("").is_empty());
        assert!(label_value("v1.2_x").is_empty());
        assert!(!label_value("-x").is_empty());
        assert!(config_map_key("config").is_empty());
        assert!(!config_map_key("a/b").is_empty());
        assert!(ip("192.0.2.1").is_ok());
        assert!(ip("192.0.2.01").is_err());
        assert!(ip("host.example").is_err());
        assert!(cidr("2001:db8::/64").is_ok());
    }
}
