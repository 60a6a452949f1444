//! `ferrolb check-config`: validate a file of `metallb.io` resources (with Secrets, and a legacy ConfigMap
//! alongside if any), or a legacy ConfigMap manifest, or raw `config` text; report every error with its
//! object, path and line, or a short normalised summary. Pure: text in, report out.
//!
//! Fields a real API server would prune under MetalLB's CRDs (kubespray's `localpref`) are **errors**: under
//! kubectl's default strict field validation `kubectl apply` refuses the object, and where it is accepted
//! (`--validate=false`, Ansible's `k8s` module) the field is dropped, so what was meant never takes effect.

use std::fmt::Write as _;

use ferrolb_config::manifest::{ConfigText, extract_config};
use ferrolb_config::resources::{FileLoad, load_file};
use ferrolb_config::{
    AddressFamily, BgpAdvertisement, Config, ConfigError, ConfigWarning, DEFAULT_PEER_PORT, Peer, Pool,
};

/// The outcome of a check: what to print and whether the config is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// True when the config is valid.
    pub valid: bool,
    /// The summary (valid) — printed on stdout.
    pub stdout: String,
    /// The errors (invalid) — printed on stderr.
    pub stderr: String,
}

/// Checks `input` (the content of `label`, a file name or `-`).
pub fn check(label: &str, input: &str) -> Report {
    if let Some(load) = load_file(input) {
        return check_resources(label, load);
    }
    let text = match extract_config(input) {
        Ok(text) => text,
        Err(e) => return invalid(format!("{label}: {e}\n")),
    };
    match ferrolb_config::parse_with_warnings(&text.text) {
        Ok(parsed) => {
            let mut out = format!("{label}: valid ({})\n", text.source);
            out.push_str(&summary(&parsed.config));
            if !parsed.warnings.is_empty() {
                let _ = writeln!(out, "warnings ({}):", parsed.warnings.len());
                for w in &parsed.warnings {
                    let _ = writeln!(out, "  {}", warning_line(w, &text));
                }
            }
            Report {
                valid: true,
                stdout: out,
                stderr: String::new(),
            }
        }
        Err(errors) => {
            let n = errors.len();
            let mut err = format!(
                "{label}: {n} error{} in the config ({}):\n",
                if n == 1 { "" } else { "s" },
                text.source
            );
            for e in &errors {
                let _ = writeln!(err, "  {}", error_line(e, &text));
            }
            invalid(err)
        }
    }
}

/// The report for a file of `metallb.io` resources (and Secrets, and maybe the legacy ConfigMap).
fn check_resources(label: &str, load: FileLoad) -> Report {
    let what = describe_objects(&load);
    match load.result {
        Ok(parsed) => {
            let mut out = format!("{label}: valid ({what})\n");
            out.push_str(&summary(&parsed.config));
            if !parsed.warnings.is_empty() {
                let _ = writeln!(out, "warnings ({}):", parsed.warnings.len());
                for w in &parsed.warnings {
                    let _ = writeln!(out, "  {w}");
                }
            }
            if !load.ignored.is_empty() {
                let _ = writeln!(out, "ignored (not configuration): {}", load.ignored.join(", "));
            }
            Report {
                valid: true,
                stdout: out,
                stderr: String::new(),
            }
        }
        Err(errors) => {
            let n = errors.len();
            let mut err = format!(
                "{label}: {n} error{} in the configuration ({what}):\n",
                if n == 1 { "" } else { "s" }
            );
            for e in &errors {
                let _ = writeln!(err, "  {e}");
            }
            invalid(err)
        }
    }
}

fn describe_objects(load: &FileLoad) -> String {
    let n = load.objects.len();
    let mut s = format!("{n} configuration object{}", if n == 1 { "" } else { "s" });
    if !load.secrets.is_empty() {
        let _ = write!(
            s,
            ", {} Secret{}",
            load.secrets.len(),
            if load.secrets.len() == 1 { "" } else { "s" }
        );
    }
    s
}

/// The report for input that is not UTF-8 (so not YAML).
pub fn not_text(label: &str, valid_up_to: usize) -> Report {
    invalid(format!(
        "{label}: not YAML: not UTF-8 text (invalid byte at offset {valid_up_to})\n"
    ))
}

fn invalid(stderr: String) -> Report {
    Report {
        valid: false,
        stdout: String::new(),
        stderr,
    }
}

/// `path = "value": message (line N)`, with the line in the file when the config is a literal block.
fn error_line(e: &ConfigError, text: &ConfigText) -> String {
    entry(&e.path, e.value.as_deref(), e.line, &e.kind, text)
}

fn warning_line(w: &ConfigWarning, text: &ConfigText) -> String {
    entry(&w.path, w.value.as_deref(), w.line, &w.kind, text)
}

fn entry(
    path: &str,
    value: Option<&str>,
    line: Option<u64>,
    what: &dyn std::fmt::Display,
    text: &ConfigText,
) -> String {
    let mut s = if path.is_empty() {
        "config".to_owned()
    } else {
        path.to_owned()
    };
    if let Some(v) = value {
        let _ = write!(s, " = {v:?}");
    }
    let _ = write!(s, ": {what}");
    match (line, text.line_offset) {
        (Some(l), Some(offset)) => {
            let _ = write!(s, " (line {})", l + offset);
        }
        (Some(l), None) => {
            let _ = write!(s, " (line {l} of the config value)");
        }
        (None, _) => {}
    }
    s
}

/// A short normalised description of a valid config.
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pools ({}):", config.pools.len());
    for pool in &config.pools {
        pool_summary(&mut out, config, pool);
    }
    let _ = writeln!(out, "peers ({}):", config.peers.len());
    for peer in &config.peers {
        let _ = writeln!(out, "  {}", peer_summary(peer));
    }
    if !config.bfd_profiles.is_empty() {
        let names: Vec<&str> = config.bfd_profiles.iter().map(|b| b.name.as_str()).collect();
        let _ = writeln!(out, "bfd-profiles ({}): {}", names.len(), names.join(", "));
    }
    if !config.communities.is_empty() {
        let aliases: Vec<String> = config
            .communities
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "community aliases: {}", aliases.join(", "));
    }
    let notes = unreached_families(config);
    if !notes.is_empty() {
        let _ = writeln!(out, "notes ({}):", notes.len());
        for n in notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    out
}

/// BGP advertisements whose pool has addresses of a family that none of the advertisement's peers carries: a
/// session carries its own address's family, and the other one too only with `dualStackAddressFamily`. A
/// (dual-stack) Service's address of that family would reach no router. Configs without peers are left
/// alone (nothing reaches a router then, which the peer list already shows).
fn unreached_families(config: &Config) -> Vec<String> {
    if config.peers.is_empty() {
        return Vec::new();
    }
    let mut notes = Vec::new();
    for pool in &config.pools {
        for adv in config.bgp_advertisements_for(&pool.name) {
            let peers: Vec<&Peer> = config
                .peers
                .iter()
                .filter(|p| adv.peers.is_empty() || adv.peers.contains(&p.name))
                .collect();
            for family in [AddressFamily::V4, AddressFamily::V6] {
                let carries = |p: &&Peer| {
                    p.dual_stack_address_family || (p.address.is_ipv6() == (family == AddressFamily::V6))
                };
                if pool.has_family(family) && !peers.iter().any(carries) {
                    notes.push(format!(
                        "pool {}: its {family} addresses reach no BGP router through {}: every peer it \
                         advertises to is of the other family, without dualStackAddressFamily",
                        pool.name, adv.name
                    ));
                }
            }
        }
    }
    notes
}

fn pool_summary(out: &mut String, config: &Config, pool: &Pool) {
    let mut sizes = Vec::new();
    for family in [AddressFamily::V4, AddressFamily::V6] {
        if pool.has_family(family) {
            let (len, assignable) = (pool.len(family), pool.assignable_len(family));
            let mut size = format!(
                "{family} {} address{}",
                count(len),
                if len == 1 { "" } else { "es" }
            );
            if assignable != len {
                let _ = write!(size, " ({} assignable)", count(assignable));
            }
            sizes.push(size);
        }
    }
    let mut flags = Vec::new();
    if !pool.auto_assign {
        flags.push("auto-assign off".to_owned());
    }
    if pool.avoid_buggy_ips {
        flags.push("avoid-buggy-ips".to_owned());
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(", {}", flags.join(", "))
    };
    let protocols: Vec<&str> = config.protocols(&pool.name).iter().map(|p| p.as_str()).collect();
    let protocols = if protocols.is_empty() {
        "not announced: no advertisement selects it".to_owned()
    } else {
        protocols.join(" + ")
    };
    let _ = writeln!(out, "  {} ({protocols}): {}{flags}", pool.name, sizes.join(" + "));
    let ranges: Vec<String> = pool.addresses.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "    addresses: {}", ranges.join(", "));
    if let Some(a) = &pool.service_allocation {
        let mut parts = vec![match a.priority {
            0 => "no priority".to_owned(),
            p => format!("priority {p}"),
        }];
        if !a.namespaces.is_empty() {
            parts.push(format!("namespaces {}", a.namespaces.join(" ")));
        }
        if !a.namespace_selectors.is_empty() {
            parts.push(format!("namespace selectors: {}", a.namespace_selectors.len()));
        }
        if !a.service_selectors.is_empty() {
            parts.push(format!("service selectors: {}", a.service_selectors.len()));
        }
        let _ = writeln!(out, "    service allocation: {}", parts.join(", "));
    }
    for adv in config.l2_advertisements_for(&pool.name) {
        if !adv.interfaces.is_empty() {
            let _ = writeln!(out, "    interfaces: {}", adv.interfaces.join(", "));
        }
        if !adv.node_selectors.is_empty() {
            let _ = writeln!(out, "    nodes: {}", selectors(adv.node_selectors.len()));
        }
    }
    for adv in config.l2_advertisements_for(&pool.name) {
        if !adv.service_selectors.is_empty() || !adv.preferred_node_selectors.is_empty() {
            let _ = writeln!(
                out,
                "    layer2 {}: Services: {}, preferred nodes: {}",
                adv.name,
                selectors(adv.service_selectors.len()),
                adv.preferred_node_selectors.len()
            );
        }
    }
    for adv in config.bgp_advertisements_for(&pool.name) {
        let _ = writeln!(out, "    advertisement: {}", advertisement_summary(pool, adv));
    }
}

fn advertisement_summary(pool: &Pool, adv: &BgpAdvertisement) -> String {
    let lengths: Vec<String> = [AddressFamily::V4, AddressFamily::V6]
        .into_iter()
        .filter(|f| pool.has_family(*f))
        .map(|f| format!("/{} ({f})", adv.aggregation_length_for(f)))
        .collect();
    let mut s = format!("aggregation {}", lengths.join(" "));
    if let Some(lp) = adv.local_pref {
        let _ = write!(s, ", localpref {lp}");
    }
    if !adv.communities.is_empty() {
        let list: Vec<String> = adv.communities.iter().map(ToString::to_string).collect();
        let _ = write!(s, ", communities {}", list.join(" "));
    }
    if !adv.peers.is_empty() {
        let _ = write!(s, ", peers {}", adv.peers.join(" "));
    }
    if !adv.node_selectors.is_empty() {
        let _ = write!(s, ", nodes: {}", selectors(adv.node_selectors.len()));
    }
    if !adv.service_selectors.is_empty() {
        let _ = write!(s, ", Services: {}", selectors(adv.service_selectors.len()));
    }
    s
}

fn peer_summary(peer: &Peer) -> String {
    let address = match peer.address {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let mut s = format!(
        "{address}:{} peer-asn {} my-asn {}",
        peer.port, peer.asn, peer.my_asn
    );
    if peer.port == DEFAULT_PEER_PORT {
        s = format!("{address} peer-asn {} my-asn {}", peer.asn, peer.my_asn);
    }
    let _ = write!(
        s,
        ", hold {}s keepalive {}s",
        peer.hold_time.as_secs(),
        peer.keepalive_time.as_secs()
    );
    if let Some(src) = peer.source_address {
        let _ = write!(s, ", source {src}");
    }
    if let Some(id) = peer.router_id {
        let _ = write!(s, ", router-id {id}");
    }
    match peer.password.as_ref().map(|p| &p.source) {
        Some(ferrolb_config::PasswordSource::Secret { name }) => {
            let _ = write!(s, ", TCP MD5 from Secret {name}");
        }
        Some(_) => s.push_str(", TCP MD5"),
        None => {}
    }
    if let Some(bfd) = &peer.bfd_profile {
        let _ = write!(s, ", bfd-profile {bfd}");
    }
    if peer.ebgp_multihop {
        s.push_str(", ebgp-multihop");
    }
    if let Some(c) = peer.connect_time {
        let _ = write!(s, ", connect {}s", c.as_secs());
    }
    if !peer.graceful_restart {
        s.push_str(", no graceful restart");
    }
    if peer.dual_stack_address_family {
        s.push_str(", both families");
    }
    let _ = write!(s, ", nodes: {}", selectors(peer.node_selectors.len()));
    s
}

fn selectors(n: usize) -> String {
    match n {
        0 => "all".to_owned(),
        1 => "1 selector".to_owned(),
        n => format!("{n} selectors (any)"),
    }
}

fn count(n: u128) -> String {
    if n == u128::MAX {
        "2^128".to_owned()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_raw_text_gets_a_summary() {
        let r = check(
            "x.yaml",
            "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/24, 2001:db8::/126]\n  avoid-buggy-ips: true\n",
        );
        assert!(r.valid, "{r:?}");
        assert!(
            r.stdout.contains("x.yaml: valid (raw config text)"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("a (layer2): IPv4 256 addresses (254 assignable) + IPv6 4 addresses"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("peers (0):"));
    }

    #[test]
    fn errors_carry_file_lines_for_a_block_value() {
        let input = "kind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: |\n    address-pools:\n    - name: a\n      protocol: l2\n      addresses: [192.0.2.0/24]\n";
        let r = check("cm.yaml", input);
        assert!(!r.valid);
        assert!(
            r.stderr
                .starts_with("cm.yaml: 1 error in the config (ConfigMap config (document 1)):"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("address-pools[0].protocol = \"l2\": unknown protocol, expected layer2 or bgp; did you mean \"layer2\"? (line 7)"),
            "{}",
            r.stderr
        );
    }

    #[test]
    fn peers_are_summarised() {
        let r = check(
            "p",
            "peers:\n- {peer-address: 2001:db8::1, peer-asn: 65001, my-asn: 65000, peer-port: 1179, password: x}\n",
        );
        assert!(
            r.stdout.contains(
                "[2001:db8::1]:1179 peer-asn 65001 my-asn 65000, hold 90s keepalive 30s, TCP MD5, nodes: all"
            ),
            "{}",
            r.stdout
        );
        assert!(!r.stdout.contains("password: x"));
    }

    #[test]
    fn a_family_no_peer_carries_is_noted() {
        let config = "peers:\n- {peer-address: 192.0.2.1, peer-asn: 65001, my-asn: 65000}\n\
                      address-pools:\n- name: dual\n  protocol: bgp\n  addresses: [203.0.113.0/28, 2001:db8::/124]\n\
                      - name: v4\n  protocol: bgp\n  addresses: [198.51.100.0/28]\n";
        let r = check("c", config);
        assert!(r.valid, "{r:?}");
        assert!(r.stdout.contains("notes (1):"), "{}", r.stdout);
        assert!(
            r.stdout.contains(
                "pool dual: its IPv6 addresses reach no BGP router through bgpadvertisement1: every peer it \
                 advertises to is of the other family, without dualStackAddressFamily"
            ),
            "{}",
            r.stdout
        );
        // one IPv6 peer more: both families reach a router
        let both = config.replace(
            "peers:\n",
            "peers:\n- {peer-address: 2001:db8::1, peer-asn: 65001, my-asn: 65000}\n",
        );
        assert!(!check("c", &both).stdout.contains("notes"));
        // a dual-stack session carries both (dualStackAddressFamily comes from BGPPeer resources)
        let mut parsed = ferrolb_config::parse(config).unwrap();
        parsed.peers[0].dual_stack_address_family = true;
        assert!(unreached_families(&parsed).is_empty());
        assert!(summary(&parsed).contains(", both families, nodes: all"));
    }
}
