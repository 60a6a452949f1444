//! Lab self-tests: topology, reachability, pinned sysctls, in-namespace sockets, link cuts, switch
//! faults, supervised processes, and teardown that leaves nothing (also after a panic).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{timing, udp_reaches};
use ferrolb_netlab::{Fault, Lab, ProcessSpec, Tool, TopologySpec, require};

const WAIT: Duration = Duration::from_secs(2);

fn root_links() -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-j", "link", "show"])
        .output()
        .expect("ip link");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j link");
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.get("ifname")?.as_str().map(str::to_string))
        .collect()
}

fn netns_list() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

fn read_root_sysctl(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .unwrap()
        .trim()
        .to_string()
}

fn pid_exists(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

#[test]
fn lab_is_reachable_pinned_and_leaves_nothing_behind() {
    require!();
    let links_before = root_links();
    let keep_before = read_root_sysctl("net/ipv6/conf/all/keep_addr_on_down");
    let start = Instant::now();
    let lab = Lab::new(TopologySpec::new(3).with_api_host()).expect("lab");
    timing("lab set-up (3 nodes + router, api, client, ext)", start.elapsed());
    let prefix = lab.prefix().to_string();
    let dir = lab.dir().to_path_buf();
    assert_eq!(lab.hosts().len(), 7);
    assert!(
        netns_list().iter().filter(|n| n.starts_with(&prefix)).count() == 8,
        "7 hosts + switch"
    );

    // every segment host reaches every other one, both families; ext is reached through the router
    for (from, to) in [
        ("client", "node1"),
        ("node3", "api"),
        ("api", "node2"),
        ("node1", "router"),
    ] {
        for v6 in [false, true] {
            assert!(
                udp_reaches(&lab, from, to, 7000, v6, WAIT),
                "{from} -> {to} (v6: {v6})"
            );
        }
    }
    for v6 in [false, true] {
        assert!(
            udp_reaches(&lab, "ext", "node2", 7001, v6, WAIT),
            "ext -> node2 via router (v6: {v6})"
        );
    }

    // sysctls pinned, and `default` reached the interfaces created afterwards
    let node1 = lab.node(1).ns();
    for (key, want) in [
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.eth0.rp_filter", "0"),
        ("net.ipv4.conf.all.arp_ignore", "0"),
        ("net.ipv6.conf.eth0.accept_dad", "0"),
        ("net.ipv6.conf.eth0.keep_addr_on_down", "1"),
        ("net.ipv4.ip_forward", "0"),
    ] {
        assert_eq!(node1.read_sysctl(key).unwrap(), want, "node1 {key}");
    }
    let router = lab.router().ns();
    assert_eq!(router.read_sysctl("net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(
        router.read_sysctl("net.ipv4.fib_multipath_hash_policy").unwrap(),
        "1"
    );
    assert_eq!(
        lab.switch()
            .read_sysctl("net.bridge.bridge-nf-call-iptables")
            .unwrap(),
        "0"
    );
    // seen by an independent tool inside the namespace, while the test's own namespace is untouched
    let out = lab
        .cmd("node1", "sysctl")
        .unwrap()
        .args(["-n", "net.ipv6.conf.all.keep_addr_on_down"])
        .run()
        .unwrap();
    assert_eq!(out.stdout.trim(), "1");
    assert_eq!(
        read_root_sysctl("net/ipv6/conf/all/keep_addr_on_down"),
        keep_before
    );

    // a supervised program and a stray process started behind the supervisor's back
    let sleeper = lab
        .spawn("node1", &ProcessSpec::new("sleeper", "sleep").arg("60"))
        .unwrap();
    let inode = lab.node(1).ns().inode().unwrap();
    let link = std::fs::read_link(format!("/proc/{}/ns/net", sleeper.pid())).unwrap();
    assert_eq!(
        link.to_string_lossy(),
        format!("net:[{inode}]"),
        "runs inside node1"
    );
    let mut stray = Command::new("ip")
        .args(["netns", "exec", lab.node(2).ns().name(), "sleep", "60"])
        .spawn()
        .expect("stray");
    let node2 = format!("net:[{}]", lab.node(2).ns().inode().unwrap());
    ferrolb_netlab::wait::wait_for("the stray process to enter node2", WAIT, || {
        let link = std::fs::read_link(format!("/proc/{}/ns/net", stray.id())).unwrap_or_default();
        Ok((link.to_string_lossy() == node2).then_some(()))
    })
    .unwrap();
    let sleeper_pid = sleeper.pid();
    std::mem::forget(sleeper); // its handle never drops: teardown must still kill it

    let start = Instant::now();
    lab.teardown().expect("teardown");
    timing("lab teardown", start.elapsed());

    assert!(
        netns_list().iter().all(|n| !n.starts_with(&prefix)),
        "namespaces left: {:?}",
        netns_list()
    );
    assert_eq!(root_links(), links_before, "links in the root namespace changed");
    assert!(!pid_exists(sleeper_pid), "supervised process killed and reaped");
    let status = stray.wait().expect("stray reaped");
    assert!(!status.success(), "stray process was killed: {status}");
    assert!(!dir.exists(), "work directory removed");
}

#[test]
fn teardown_happens_on_panic_and_keeps_the_logs() {
    require!();
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let lab = Lab::new(TopologySpec::new(1)).expect("lab");
        let p = lab
            .spawn(
                "node1",
                &ProcessSpec::new("chatty", "sh").args(["-c", "echo hello-log; sleep 60"]),
            )
            .unwrap();
        p.wait_for_log("hello-log", WAIT).unwrap();
        tx.send((lab.prefix().to_string(), lab.dir().to_path_buf(), p.pid()))
            .unwrap();
        std::mem::forget(p);
        panic!("deliberate panic inside a lab test");
    })
    .join();
    assert!(result.is_err(), "the thread panicked");
    let (prefix, dir, pid) = rx.recv().unwrap();
    assert!(netns_list().iter().all(|n| !n.starts_with(&prefix)));
    assert!(!pid_exists(pid));
    let log = std::fs::read_to_string(dir.join("chatty.log")).expect("logs kept after a panic");
    assert!(log.contains("hello-log"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn labs_run_side_by_side() {
    require!();
    let start = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Lab::new(TopologySpec::new(2)).expect("lab a"));
        let b = s.spawn(|| Lab::new(TopologySpec::new(2)).expect("lab b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    timing("two labs set up in parallel", start.elapsed());
    assert_ne!(a.prefix(), b.prefix());
    assert!(udp_reaches(&a, "client", "node2", 7100, false, WAIT));
    assert!(udp_reaches(&b, "client", "node2", 7100, false, WAIT));
    // same addresses, separate segments: a's client is not on b's bridge
    assert_ne!(a.mac("node2").unwrap(), b.mac("node2").unwrap());
}

#[test]
fn sockets_made_from_the_test_process_live_in_the_namespace() {
    require!();
    let lab = Lab::new(TopologySpec::new(1).with_api_host()).expect("lab");
    let api = lab.api().expect("api host");
    let addr = SocketAddr::new(api.addr(false), 6443);
    let listener = api.ns().tcp_listener(addr).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(peer.ip().to_string().as_bytes()).unwrap();
        buf
    });
    let mut conn = lab.node(1).ns().tcp_connect(addr, WAIT).unwrap();
    conn.write_all(b"hello").unwrap();
    let mut seen = String::new();
    conn.read_to_string(&mut seen).unwrap();
    assert_eq!(&server.join().unwrap(), b"hello");
    assert_eq!(seen, "192.0.2.11", "the API server saw node1's address");

    // readiness: a listener is "ready" as soon as it is bound, a closed port never is
    let other = SocketAddr::new(api.addr(true), 8443);
    let _listener = api.ns().tcp_listener(other).unwrap();
    lab.node(1).ns().wait_tcp(other, WAIT).unwrap();
    let closed = SocketAddr::new(api.addr(true), 8444);
    assert!(
        lab.node(1)
            .ns()
            .wait_tcp(closed, Duration::from_millis(300))
            .is_err()
    );
}

#[test]
fn cut_link_isolates_a_node_until_restored() {
    require!();
    let lab = Lab::new(TopologySpec::new(2)).expect("lab");
    assert!(udp_reaches(&lab, "client", "node1", 7200, false, WAIT));
    lab.cut_link("node1").unwrap();
    assert!(!udp_reaches(
        &lab,
        "client",
        "node1",
        7201,
        false,
        Duration::from_millis(300)
    ));
    assert!(
        udp_reaches(&lab, "client", "node2", 7202, false, WAIT),
        "others unaffected"
    );
    lab.restore_link("node1").unwrap();
    for v6 in [false, true] {
        assert!(
            udp_reaches(&lab, "client", "node1", 7203, v6, WAIT),
            "restored (v6: {v6})"
        );
        assert!(
            udp_reaches(&lab, "node1", "ext", 7204, v6, WAIT),
            "default route restored (v6: {v6})"
        );
    }
}

#[test]
fn switch_faults_drop_datagrams() {
    require!(Tool::Nft);
    let lab = Lab::new(TopologySpec::new(2)).expect("lab");
    lab.set_faults(&[Fault::DropUdp {
        port: 7946,
        percent: 100,
        from: Some("node1".into()),
    }])
    .unwrap();
    assert!(!udp_reaches(
        &lab,
        "node1",
        "node2",
        7946,
        false,
        Duration::from_millis(300)
    ));
    assert!(
        udp_reaches(&lab, "node2", "node1", 7946, false, WAIT),
        "only node1's datagrams are dropped"
    );
    assert!(
        udp_reaches(&lab, "node1", "node2", 7947, false, WAIT),
        "other ports pass"
    );

    // 50 % random loss: count what arrives out of 200 datagrams
    lab.set_faults(&[Fault::DropUdp {
        port: 7946,
        percent: 50,
        from: None,
    }])
    .unwrap();
    let dst = SocketAddr::new(lab.node(2).addr(false), 7946);
    let rx = lab.node(2).ns().udp_socket(dst).unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let tx = lab.node(1).ns().udp_socket("0.0.0.0:0".parse().unwrap()).unwrap();
    assert!(
        udp_reaches(&lab, "node1", "node2", 7000, false, WAIT),
        "ARP resolved before counting"
    );
    for _ in 0..200 {
        tx.send_to(b"x", dst).unwrap();
    }
    let mut got = 0;
    let mut buf = [0u8; 8];
    while rx.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    assert!((40..=160).contains(&got), "about half of 200 arrived: {got}");

    drop(rx);
    lab.clear_faults().unwrap();
    assert!(udp_reaches(&lab, "node1", "node2", 7946, false, WAIT));
    assert!(
        lab.set_faults(&[Fault::DropArp { from: "node9".into() }])
            .is_err(),
        "unknown host"
    );
}

#[test]
fn supervised_process_is_killed_by_pid_and_reaped() {
    require!();
    let lab = Lab::new(TopologySpec::new(1)).expect("lab");
    let p = lab
        .spawn(
            "node1",
            &ProcessSpec::new("looper", "sh").args(["-c", "echo up; exec sleep 60"]),
        )
        .unwrap();
    p.wait_for_log("up", WAIT).unwrap();
    assert!(p.is_running());
    let status = p.kill().unwrap();
    assert!(!status.success());
    assert!(!pid_exists(p.pid()), "no zombie");
    let err = p.ensure_running("serving").unwrap_err();
    assert!(err.to_string().contains("looper"), "{err}");
    let bad = lab.spawn("nodeX", &ProcessSpec::new("x", "true")).unwrap_err();
    assert!(bad.to_string().contains("nodeX"), "{bad}");
}
