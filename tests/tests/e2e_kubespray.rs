//! The kubespray role end to end: the lab's API server, the role run by `ansible-playbook` inside the api
//! host (kubectl and the admin kubeconfig, as on a control-plane node), and the harness playing the
//! kubelets: it starts the real programs as the applied Deployment and DaemonSet say (their arguments,
//! environment and ports, not deploy/ferrolb.yaml's) and writes their status, which the role's rollout wait
//! reads. Then the programs assign and announce what the inventory configured:
//!
//! - a kubespray v2.21 inventory (`metallb_ip_range`, layer2, MetalLB's `metallb_port` and log level): the
//!   Service gets the pool's first IP and the elected node answers `arping` from the client;
//! - a kubespray v2.22 inventory (`metallb_config` with a BGP peer), written as kubespray v2.22 writes it
//!   (metallb.io objects): BIRD on the router learns the Service's /32 from every node.
//!
//! A second run while the programs run reports no change. Needs root, arping, nft, curl, BIRD, kubectl and the
//! virtualenv of `scripts/ansible-venv.sh` (skipped with a reason elsewhere, failing under `CI=true`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

use ferrolb_e2e::ansible::{Ansible, Inventory, PLAYBOOK_TIMEOUT, PlaybookRun};
use ferrolb_e2e::programs::{kubectl, kubectl_or_skip, run_with_deadline, text};
use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{Install, Kind, NS, System, SystemSpec, exclusive};
use ferrolb_netlab::{BgpRouter, RouterKind, Tool};
use ipnet::IpNet;

const WAIT: Duration = Duration::from_secs(20);
const STRICT_ARP: &str = "kube_proxy_mode: ipvs\nkube_proxy_strict_arp: true\n";

const V2_21_LAYER2: &str = "# kubespray <= v2.21
ferrolb_enabled: true
metallb_enabled: false
metallb_speaker_enabled: \"{{ metallb_enabled }}\"
metallb_ip_range:
  - \"192.0.2.100-192.0.2.109\"
metallb_protocol: \"layer2\"
metallb_port: \"7572\"
metallb_log_level: debug
";

const V2_22_BGP: &str = "# kubespray >= v2.22
ferrolb_enabled: true
metallb_enabled: false
metallb_config:
  address_pools:
    lab-bgp:
      ip_range:
        - 203.0.113.10-203.0.113.19
  layer3:
    defaults:
      peer_port: 179
      hold_time: 9s
    metallb_peers:
      router:
        peer_address: 192.0.2.1
        peer_asn: 64512
        my_asn: 64513
        address_pool:
          - lab-bgp
";

/// The system with nothing installed, the ansible tools, and an inventory whose kubeconfig reaches the
/// API server from the api host.
fn start(test: &str, addons: &str, tools: &[Tool]) -> Option<(System, Ansible, Inventory)> {
    kubectl_or_skip(test)?;
    let ansible = Ansible::for_test(test)?;
    let spec = SystemSpec {
        install: Install::External,
        ..SystemSpec::default()
    }
    .tools(tools);
    let sys = System::for_test(spec)?;
    let inventory = Inventory::new(
        &sys.lab().dir().join("inventory"),
        addons,
        STRICT_ARP,
        &kubectl().expect("kubectl"),
        sys.admin_kubeconfig(),
    );
    Some((sys, ansible, inventory))
}

/// Runs the playbook inside the api host while the harness plays the kubelets.
fn play_as_kubelet(sys: &System, ansible: &Ansible, inventory: &Inventory) -> PlaybookRun {
    let argv = ansible.playbook_argv(inventory, &[]);
    let netns = sys.lab().api().expect("an api host").ns().name().to_owned();
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            let out = run_with_deadline(
                Command::new("ip").args(["netns", "exec", &netns]).args(&argv),
                PLAYBOOK_TIMEOUT,
            );
            match out {
                Ok(o) => PlaybookRun::from_parts(o.status.success(), &text(&o.stdout), &text(&o.stderr)),
                Err(e) => PlaybookRun::from_parts(false, "", &e),
            }
        });
        let started = sys.start_as_applied(PLAYBOOK_TIMEOUT);
        let run = run.join().expect("the playbook thread");
        if let Err(e) = started {
            panic!(
                "the programs did not start from what the role applied: {e}\n{}\n{}",
                run.output,
                sys.logs(20)
            );
        }
        run
    })
}

/// A later run while the programs run: nothing to change, the waits pass at once.
fn play_again(sys: &System, ansible: &Ansible, inventory: &Inventory) -> PlaybookRun {
    let argv = ansible.playbook_argv(inventory, &[]);
    let netns = sys.lab().api().expect("an api host").ns().name().to_owned();
    let out = run_with_deadline(
        Command::new("ip").args(["netns", "exec", &netns]).args(&argv),
        PLAYBOOK_TIMEOUT,
    )
    .unwrap();
    PlaybookRun::from_parts(out.status.success(), &text(&out.stdout), &text(&out.stderr))
}

#[test]
fn a_v2_21_inventory_gives_layer2_services() {
    let _serial = exclusive();
    let Some((sys, ansible, inventory)) = start("a_v2_21_inventory_gives_layer2_services", V2_21_LAYER2, &[])
    else {
        return;
    };
    let run = play_as_kubelet(&sys, &ansible, &inventory);
    run.expect_success("the role");
    assert!(run.changed() > 0);
    assert!(
        run.output.contains("Wait for the controller to be ready"),
        "the role waited for the rollout:\n{}",
        run.output
    );
    // The programs run as the role configured them: MetalLB's port and log level.
    for info in sys.programs() {
        assert!(info.exited.is_none(), "{info:?}");
    }
    let controller = sys.metrics_text(Kind::Controller, "node1").unwrap();
    assert!(
        controller.contains("ferrolb_controller_"),
        "metrics on MetalLB's port 7572"
    );
    for info in sys.programs() {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", info.pid)).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert!(
            args.iter().any(|a| a == "--log-level=debug"),
            "{info:?} runs with metallb_log_level: debug: {args:?}"
        );
    }

    sys.create_service(&ServiceSpec::new("web"), &["node2"]).unwrap();
    let ip = sys.wait_ingress("default", "web", WAIT).unwrap();
    assert_eq!(ip, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)));
    let nodes = sys.node_names();
    let owner = ferrolb_speaker::election::rendezvous::owner(ip, nodes.iter().map(String::as_str))
        .expect("a candidate")
        .to_owned();
    let (node, mac) = sys.wait_arp_owner(Ipv4Addr::new(192, 0, 2, 100), WAIT).unwrap();
    assert_eq!(node, owner, "ARP for {ip} answered by {node} ({mac})");
    eprintln!("arping {ip}: {mac} = {node}'s eth0");

    let again = play_again(&sys, &ansible, &inventory);
    again.expect_success("second run");
    assert_eq!(again.changed(), 0, "{}", again.output);
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
}

#[test]
fn a_v2_22_inventory_gives_bgp_services() {
    let _serial = exclusive();
    let Some((sys, ansible, inventory)) =
        start("a_v2_22_inventory_gives_bgp_services", V2_22_BGP, &[Tool::Bird])
    else {
        return;
    };
    play_as_kubelet(&sys, &ansible, &inventory).expect_success("the role");
    // The configuration as kubespray v2.22 wrote it: metallb.io objects, no ConfigMap.
    for (kind, name) in [
        ("IPAddressPool", "lab-bgp"),
        ("BGPPeer", "router"),
        ("BGPAdvertisement", "router-external"),
    ] {
        assert!(sys.admin().get(kind, NS, name).is_some(), "{kind} {name}");
    }
    assert!(sys.admin().get("ConfigMap", NS, "config").is_none());
    sys.create_service(&ServiceSpec::new("web"), &["node2"]).unwrap();
    let ip = sys.wait_ingress("default", "web", WAIT).unwrap();
    assert_eq!(ip, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)));

    let bird = sys
        .start_router(RouterKind::Bird, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(20)));
    let want: BTreeSet<IpAddr> = sys.lab().nodes().map(|n| IpAddr::V4(n.ipv4())).collect();
    bird.wait_route(IpNet::from(ip), WAIT, |paths| {
        paths.iter().filter_map(|p| p.next_hop).collect::<BTreeSet<_>>() == want
    })
    .unwrap_or_else(|e| panic!("BIRD: {e}\n{}", sys.logs(20)));
    eprintln!("BIRD: {ip}/32 via {want:?}");

    let again = play_again(&sys, &ansible, &inventory);
    again.expect_success("second run");
    assert_eq!(again.changed(), 0, "{}", again.output);
    bird.stop().unwrap();
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
}
