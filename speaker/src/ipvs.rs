//! The kube-proxy IPVS check: with IPVS, kube-proxy binds every service IP to `kube-ipvs0`, and unless ARP is
//! strict every node's kernel answers ARP for them too, so clients would see every node claim every IP.

use crate::interfaces::Interfaces;

/// The interface kube-proxy's IPVS mode creates.
pub const IPVS_INTERFACE: &str = "kube-ipvs0";

/// The problem, if kube-proxy runs in IPVS mode without strict ARP (`arp_ignore` ≥ 1 and `arp_announce` ≥ 2,
/// what kube-proxy's `ipvs.strictARP: true` sets). Values that could not be read count as 0.
pub fn strict_arp_problem(
    interfaces: &Interfaces,
    arp_ignore: Option<u32>,
    arp_announce: Option<u32>,
) -> Option<String> {
    if !interfaces.values().any(|i| i.name == IPVS_INTERFACE) {
        return None;
    }
    let (ignore, announce) = (arp_ignore.unwrap_or(0), arp_announce.unwrap_or(0));
    if ignore >= 1 && announce >= 2 {
        return None;
    }
    Some(format!(
        "kube-proxy runs in IPVS mode ({IPVS_INTERFACE} exists) but ARP is not strict \
         (net.ipv4.conf.all.arp_ignore={ignore}, arp_announce={announce}): every node's kernel answers ARP for \
         every service IP bound to {IPVS_INTERFACE}, so clients reach random nodes and failover does not work. \
         Set `strictARP: true` in kube-proxy's IPVS configuration (kubeadm: the kube-proxy ConfigMap, \
         `ipvs.strictARP`; kubespray: `kube_proxy_strict_arp: true`), which sets arp_ignore=1 and arp_announce=2"
    ))
}

/// Reads an integer sysctl under `/proc/sys` (e.g. `net/ipv4/conf/all/arp_ignore`).
pub fn read_sysctl(path: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::Interface;

    fn with(names: &[&str]) -> Interfaces {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let index = u32::try_from(i).unwrap();
                (
                    index,
                    Interface {
                        index,
                        name: n.to_string(),
                        mac: None,
                        up: true,
                        running: true,
                        broadcast: true,
                        noarp: true,
                        loopback: false,
                        master: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn only_ipvs_without_strict_arp_is_a_problem() {
        assert_eq!(strict_arp_problem(&with(&["eth0"]), Some(0), Some(0)), None);
        let ipvs = with(&["eth0", "kube-ipvs0"]);
        assert_eq!(strict_arp_problem(&ipvs, Some(1), Some(2)), None);
        let msg = strict_arp_problem(&ipvs, Some(0), Some(0)).unwrap();
        assert!(msg.contains("strictARP") && msg.contains("arp_ignore=0"));
        assert!(strict_arp_problem(&ipvs, Some(1), Some(0)).is_some());
        assert!(strict_arp_problem(&ipvs, None, None).is_some());
    }
}
