//! `ferrolb-lab demo`, run as a newcomer runs it (the built program, as root), passes: every step of the
//! story shows its evidence, the exit status is 0, and nothing of its lab is left behind.
//!
//! `--no-build` because the test's cargo has built the programs already; `--no-install` because the test
//! command installs the packages (a missing one fails the demo loudly). Needs root and the lab's tools
//! (skipped with a reason elsewhere, failing under `CI=true`). About 10 s.

use std::process::Command;
use std::time::Duration;

use ferrolb_e2e::programs::{program, run_with_deadline, text};
use ferrolb_netlab::Tool;

#[test]
fn the_demo_tells_the_whole_story_and_cleans_up() {
    ferrolb_netlab::require!(Tool::Arping, Tool::Nft, Tool::Curl, Tool::Bird);
    let out = run_with_deadline(
        Command::new(program("ferrolb-lab")).args(["demo", "--no-build", "--no-install"]),
        Duration::from_secs(300),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    eprintln!("{stdout}");
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    for evidence in [
        "[1/8] prerequisites",
        "leader: ferrolb-controller-node",
        "web got 192.0.2.100 from pool layer2",
        "client$ arping -c 3 192.0.2.100",
        "alone answers ARP for 192.0.2.100",
        "client$ curl http://192.0.2.100/",
        "web-bgp got 203.0.113.10 from pool bgp",
        "router$ ip route show 203.0.113.10",
        "one next hop per node: 192.0.2.11 (node1), 192.0.2.12 (node2), 192.0.2.13 (node3)",
        "the client saw an outage of ",
        "[8/8] teardown",
        "demo passed in ",
    ] {
        assert!(stdout.contains(evidence), "no {evidence:?} in the demo's output");
    }
    // The lab's namespaces are gone.
    let prefix = stdout
        .split("namespaces ")
        .nth(1)
        .and_then(|rest| rest.split('*').next())
        .expect("the teardown line names the lab's namespaces");
    assert!(prefix.starts_with("flb-"), "{prefix}");
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}
