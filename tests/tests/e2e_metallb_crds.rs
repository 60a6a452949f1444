//! ferrolb on a cluster whose metallb.io CRDs are MetalLB's own (v0.14's Helm chart, `tests/data/`), not the
//! ones ferrolb installs, configured with MetalLB's documented examples:
//!
//! - the API server serves MetalLB's CRDs as kube-apiserver would: `BGPPeer` v1beta2, the storage version of a
//!   CRD with a `Webhook` conversion, works (ferrolb reads it; kubectl shows MetalLB's printer columns);
//!   v1beta1 needs MetalLB's conversion webhook, so reading or writing it fails as on a real cluster without
//!   MetalLB's webhook — ferrolb never asks for it;
//! - the examples of MetalLB's documentation (`website/content/configuration/_index.md`, "Layer 2
//!   configuration" and "BGP configuration") assign and announce: a Service gets the layer2 pool's first IP,
//!   which the elected node alone answers for; a Service asking for the BGP pool with MetalLB's own
//!   annotation is routed by BIRD through every node;
//! - ferrolb's status objects live with MetalLB's schema: a `ServiceL2Status` keeps the node (MetalLB v0.14's
//!   schema has no `serviceName`, so the server prunes it) and is not rewritten over and over; the kinds
//!   MetalLB v0.14 lacks (`ServiceBGPStatus`, `ConfigurationState`) are simply not written.
//!
//! Needs root, arping, nft, curl, BIRD and kubectl (skipped with a reason elsewhere, failing under
//! `CI=true`). About 10 s.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_e2e::cluster::SPEAKER_USER;
use ferrolb_e2e::programs::kubectl_or_skip;
use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{NS, System, SystemError, SystemSpec, exclusive};
use ferrolb_netlab::{BgpRouter, Family, RouterKind, Tool};
use ipnet::IpNet;
use serde_json::json;

const METALLB_CRDS: &str = include_str!("data/metallb-v0.14-crds.yaml");

/// MetalLB's documented examples (`website/content/configuration/_index.md`: the `IPAddressPool`
/// `first-pool` and `L2Advertisement` `example` of "Layer 2 configuration", the `BGPPeer` `sample`, the
/// pool and the `BGPAdvertisement` `example` of "BGP configuration"), with the lab's addresses (documentation
/// prefixes) and ASNs, in ferrolb's namespace (the objects name none: the harness puts them there). The BGP
/// example's pool, also called `first-pool` on the page, is `second-pool` here, so both examples live side by
/// side.
const MAIN_EXAMPLES: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
spec:
  addresses:
  - 192.0.2.240-192.0.2.250
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
spec:
  ipAddressPools:
  - first-pool
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: sample
spec:
  myASN: 64513
  peerASN: 64512
  peerAddress: 192.0.2.1
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: second-pool
spec:
  addresses:
  - 203.0.113.240-203.0.113.250
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: example
spec:
  ipAddressPools:
  - second-pool
";

const WAIT: Duration = Duration::from_secs(20);
const SESSIONS: Duration = Duration::from_secs(30);

/// The node the speakers' election picks for `ip` among every node.
fn elected(ip: Ipv4Addr) -> String {
    ferrolb_speaker::election::rendezvous::owner(IpAddr::V4(ip), ["node1", "node2", "node3"])
        .expect("a candidate")
        .to_owned()
}

/// The speakers' writes of `resource` accepted so far.
fn speaker_writes(sys: &System, resource: &str) -> usize {
    sys.server().audit().count(|e| {
        e.user == SPEAKER_USER
            && e.resource == resource
            && matches!(e.verb.as_str(), "create" | "patch" | "update")
            && e.code < 300
    })
}

#[test]
fn metallbs_own_crds_and_documented_examples() {
    let _serial = exclusive();
    if kubectl_or_skip("metallbs_own_crds_and_documented_examples").is_none() {
        return;
    }
    let spec = SystemSpec::with_objects(MAIN_EXAMPLES)
        .crds(METALLB_CRDS)
        .tools(&[Tool::Bird]);
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    let started = Instant::now();

    // MetalLB's CRDs are served: v1beta2 BGPPeers (the storage version) with MetalLB's printer columns …
    let table = sys.kubectl(&["get", "bgppeers", "-n", NS]).unwrap();
    eprintln!("$ kubectl get bgppeers\n{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("sample "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("192.0.2.1") && row.contains("64512"), "{row}");
    // … while v1beta1 needs MetalLB's conversion webhook, which a cluster without MetalLB does not run
    let v1beta1 = sys.kubectl(&["get", "bgppeers.v1beta1.metallb.io", "-n", NS]);
    match v1beta1 {
        Err(SystemError::Lab(e)) => {
            let e = e.to_string();
            assert!(e.contains("conversion webhook"), "{e}");
            eprintln!(
                "$ kubectl get bgppeers.v1beta1.metallb.io: {}",
                e.lines().last().unwrap_or_default()
            );
        }
        other => panic!("reading v1beta1 BGPPeers without MetalLB's webhook: {other:?}"),
    }
    let v1beta1 = sys.lab().dir().join("v1beta1-peer.yaml");
    std::fs::write(
        &v1beta1,
        format!(
            "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata:\n  name: old\n  namespace: {NS}\n\
             spec:\n  myASN: 64513\n  peerASN: 64512\n  peerAddress: 192.0.2.9\n"
        ),
    )
    .unwrap();
    let created = sys.kubectl(&["apply", "-f", v1beta1.to_str().unwrap()]);
    assert!(
        matches!(&created, Err(e) if e.to_string().contains("conversion webhook")),
        "{created:?}"
    );

    // layer2: the documented pool and advertisement
    sys.create_service(&ServiceSpec::new("web"), &["node1", "node2", "node3"])
        .unwrap();
    let ip = match sys.wait_ingress("default", "web", WAIT).unwrap() {
        IpAddr::V4(ip) => ip,
        other => panic!("{other}"),
    };
    assert_eq!(ip, Ipv4Addr::new(192, 0, 2, 240));
    let svc = sys.service("default", "web").unwrap();
    assert_eq!(
        svc["metadata"]["annotations"]["ferrolb.io/ip-allocated-from-pool"],
        "first-pool"
    );
    let owner = elected(ip);
    assert_eq!(sys.wait_arp_owner(ip, WAIT).unwrap().0, owner);
    // ServiceL2Status as MetalLB v0.14 stores it: the node (serviceName is not in its schema: pruned)
    let statuses = sys
        .wait_until(
            "web's ServiceL2Status",
            WAIT,
            || Ok(sys.service_statuses("ServiceL2Status", "default", "web")),
            |s| s.len() == 1 && s[0].1["node"] == owner.as_str(),
        )
        .unwrap();
    assert!(statuses[0].1.get("serviceName").is_none(), "{statuses:?}");
    // and its writes stop once it is there, although the server dropped a field (a sync comparing what it
    // wants with what is stored rewrote it 50 times a second for ever): a whole second without a write
    sys.wait_until(
        "a second without a ServiceL2Status write",
        WAIT,
        || {
            let before = speaker_writes(&sys, "servicel2statuses");
            std::thread::sleep(Duration::from_secs(1));
            Ok(speaker_writes(&sys, "servicel2statuses") - before)
        },
        |writes| *writes == 0,
    )
    .unwrap_or_else(|e| panic!("{e} (writes per second)"));

    // BGP: the documented peer and advertisement; MetalLB's own annotation asks for the pool
    let mut web_bgp = ServiceSpec::new("web-bgp").object();
    web_bgp["metadata"]["annotations"] = json!({"metallb.universe.tf/address-pool": "second-pool"});
    sys.admin().create(&web_bgp).unwrap();
    sys.set_endpoints("default", "web-bgp", &["node1", "node2", "node3"])
        .unwrap();
    let bgp_ip = sys.wait_ingress("default", "web-bgp", WAIT).unwrap();
    assert_eq!(bgp_ip, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 240)));
    let bird = sys.start_router(RouterKind::Bird, SESSIONS).unwrap();
    let prefix = IpNet::from(bgp_ip);
    let nodes: std::collections::BTreeSet<IpAddr> = sys.lab().nodes().map(|n| IpAddr::V4(n.ipv4())).collect();
    bird.wait_route(prefix, WAIT, |paths| {
        paths
            .iter()
            .filter_map(|p| p.next_hop)
            .collect::<std::collections::BTreeSet<_>>()
            == nodes
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(10)));
    assert!(
        !bird
            .rib(Family::Ipv4)
            .unwrap()
            .contains(&IpNet::from(IpAddr::V4(ip))),
        "the layer2 IP is not routed"
    );
    // the kinds MetalLB v0.14 lacks are not written (and nothing fails for it)
    assert!(sys.configuration_states().is_empty());
    assert_eq!(speaker_writes(&sys, "servicebgpstatuses"), 0);
    eprintln!(
        "web {ip} answered by {owner}; web-bgp {bgp_ip} routed by BIRD via {nodes:?} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    bird.stop().unwrap();
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}
