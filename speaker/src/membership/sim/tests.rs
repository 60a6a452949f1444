use super::scenarios::{detection, ips_moved, restart, stalls, steady};
use super::*;

/// A small cluster with 30 service IPs (as the failover bench has).
fn small(nodes: usize, seed: u64) -> SimParams {
    SimParams {
        ips: 30,
        ..SimParams::lan(nodes, seed)
    }
}

#[test]
fn ranking_agrees_with_the_election() {
    let names: Vec<String> = (0..7).map(node_name).collect();
    for (k, (o, s)) in rank(&names, 50).into_iter().enumerate() {
        let ip = service_ip(k);
        let owner = rendezvous::owner(ip, names.iter().map(String::as_str)).unwrap();
        assert_eq!(names[o], owner);
        let rest = names.iter().filter(|n| **n != owner).map(String::as_str);
        assert_eq!(names[s], rendezvous::owner(ip, rest).unwrap());
    }
}

#[test]
fn a_cluster_joins_converges_and_stays_quiet() {
    let mut sim = Sim::new(small(5, 1));
    assert!(sim.converge(Duration::from_secs(5)), "5 nodes converge");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.stats().false_drops, 0, "{:?}", sim.stats().false_log);
    // every node watches the owners of the IPs it is successor to
    for i in 0..5 {
        let want: BTreeSet<&str> = sim
            .ranking()
            .iter()
            .filter(|(_, s)| *s == i)
            .map(|(o, _)| sim.names[*o].as_str())
            .collect();
        let got: BTreeSet<&str> = sim.engine(i).watched().collect();
        assert_eq!(got, want, "node {i}");
    }
}

#[test]
fn a_lost_owner_is_dropped_by_its_successors_and_then_by_everyone() {
    let p = small(10, 2);
    let d = detection(&p, 3, 1, Duration::from_secs(3));
    assert!(!d.successor.is_empty());
    let limit = p.timings.heartbeat_timeout + p.timings.heartbeat_interval * 3;
    for s in &d.successor {
        let s = s.expect("every successor drops the lost owner");
        // the watch, not SWIM: within the heartbeat timeout plus a few intervals
        assert!(s <= limit, "{s:?}");
    }
    assert!(
        d.everyone.iter().all(Option::is_some),
        "SWIM confirms every loss: {d:?}"
    );
}

#[test]
fn a_stalled_owner_is_taken_over_and_back_but_nobody_else_is() {
    let s = stalls(&small(10, 3), 3, Duration::from_millis(300));
    assert_eq!(
        s.of_stalled, 3,
        "a 300 ms stall outlasts the heartbeat timeout: {s:?}"
    );
    assert_eq!(
        s.of_others, 0,
        "the stalled node's own watch judged nobody: {s:?}"
    );
}

#[test]
fn restarted_nodes_rejoin_and_the_cluster_converges() {
    let r = restart(
        &small(20, 4),
        0.1,
        Duration::from_secs(1),
        Duration::from_secs(20),
    );
    assert_eq!(r.restarted, 2);
    assert!(r.converged_after.is_some(), "{r:?}");
    assert_eq!(r.false_episodes, 0, "{r:?}");
}

#[test]
fn five_percent_loss_fails_nobody_over() {
    let s = steady(&small(10, 5), 0.05, Duration::from_secs(20));
    assert!(s.suspicions > 0, "loss is felt: {s:?}");
    assert_eq!(s.false_episodes, 0, "{s:?}");
}

#[test]
fn only_the_dead_nodes_ips_move() {
    for m in ips_moved(20, 200, &[0, 7, 19]) {
        assert!(m.held > 0);
        assert_eq!(m.moved, m.held);
        assert_eq!(m.moved_not_held, 0);
    }
}
