//! The speaker's tasks and the channels between them; [`run`] wires them up and drives the owner loop.
//!
//! ```text
//!  watcher ×5 (k8s::watch) ──mpsc<IndexEvent>──┐
//!  membership (SWIM, UDP 7946) ──watch<View>───┼──▶ owner loop (Owner) ──Protocols::set(Desired)──▶ layer2 task
//!  link monitor (rtnetlink) ──watch<Links>─────┤        │   │   │                             [└─▶ BGP, when enabled]
//!                                              │        │   │   └──mpsc<ServiceEvent>──▶ events task ──▶ API server
//!                    link monitor ─watch<Links>┼────────┼───┼────────────────────────────▶ layer2 task
//!                                              │        │   └──watch<Readiness>──▶ http (/metrics /healthz /readyz)
//!                                              │        └──mpsc<Control>──▶ membership
//!  layer2 task ──watch<OwnedSet> per interface──▶ responder ×interface (AF_PACKET ARP + NDP, GARP/NA)
//! ```
//!
//! The owner loop is the only writer of the index, the election result and the membership commands. It drains
//! whatever is queued, then runs one [`Owner::step`], so a burst of watch events costs one election. Every task
//! is held by a [`crate::task::TaskHandle`] here: when `run` returns, they are all aborted.
//!
//! On shutdown, BGP mode ends its sessions as [`crate::bgp::shutdown::decide`] chooses from `--bgp-shutdown`,
//! the own Node's last known state and, when that Node is staying, whether the own Pod is being deleted (one
//! GET, at most 500 ms: [`crate::k8s::pod`]) — keep the routes through a restart, or withdraw them when the
//! node leaves; layer2 stops answering and the membership is left at once either way.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};

use crate::bgp::{PodSign, ShutdownPolicy, decide_shutdown, needs_pod_sign};
use crate::election::Desired;
use crate::http::{self, HttpError, Readiness};
use crate::index::{IndexEvent, IndexSettings};
use crate::interfaces::InterfaceFilter;
use crate::ipvs;
use crate::k8s;
use crate::layer2;
use crate::membership::{self, Control, MembershipSettings, Timings};
use crate::metrics::Metrics;
use crate::netlink::{self, LinkMonitorError};
use crate::owner::{Input, Owner, OwnerSettings};
use crate::protocols::{BgpAnnouncer, Protocols};

/// Everything the speaker is configured with (from the command line).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// This node's name.
    pub node: String,
    /// ferrolb's namespace.
    pub namespace: String,
    /// What the index watches.
    pub index: IndexSettings,
    /// Membership UDP port.
    pub memberlist_port: u16,
    /// This node's membership address (default: its Node's first InternalIP).
    pub memberlist_addr: Option<IpAddr>,
    /// Membership timings.
    pub timings: Timings,
    /// Interfaces to announce on.
    pub interfaces: InterfaceFilter,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// How BGP sessions end when the speaker stops (`--bgp-shutdown`).
    pub bgp_shutdown: ShutdownPolicy,
    /// The speaker's own Pod (`--pod-name`), in `namespace`: read at shutdown for `--bgp-shutdown=auto`.
    pub pod_name: Option<String>,
}

/// Why the speaker stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics server could not bind.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The link monitor could not start.
    #[error(transparent)]
    Links(#[from] LinkMonitorError),
}

/// Events drained per loop turn before an election runs.
const BATCH: usize = 1024;
/// How long a leaving speaker waits for its goodbye datagrams to go out.
const LEAVE_GRACE: Duration = Duration::from_millis(300);
/// At most this many index events still queued at shutdown are applied before the BGP decision.
const SHUTDOWN_DRAIN: usize = 10_000;

/// Runs the speaker until `shutdown` completes. `bgp` is BGP mode's announcer, when enabled.
pub async fn run(
    settings: RunSettings,
    client: kube::Client,
    bgp: Option<Box<dyn BgpAnnouncer>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    if let Some(bgp) = &bgp {
        bgp.register_metrics(registry.sub_registry_with_prefix("ferrolb_speaker"));
    }
    let (ready_tx, ready_rx) = watch::channel::<Readiness>(Err("start-up".into()));
    let _http = http::serve(settings.metrics_addr, Arc::new(registry), ready_rx).await?;

    let (links_rx, _link_tasks) = netlink::spawn()?;
    let (layer2, _layer2_task) =
        layer2::spawn(settings.interfaces.clone(), links_rx.clone(), metrics.clone());
    let mut protocols = Protocols {
        layer2: Box::new(layer2),
        bgp,
    };
    let (ml_ctl, mut ml_view, ml_task) = membership::spawn(
        MembershipSettings {
            node: settings.node.clone(),
            port: settings.memberlist_port,
            bind: None,
            timings: settings.timings,
        },
        metrics.clone(),
    );
    let (index_tx, mut index_rx) = mpsc::channel::<IndexEvent>(BATCH);
    let _watchers = k8s::watch::spawn(&client, &settings.namespace, &settings.index, &index_tx, &metrics);
    let (events, _events_task) = k8s::events::spawn(client.clone(), &settings.node, metrics.clone());

    let mut owner = Owner::new(
        OwnerSettings {
            node: settings.node.clone(),
            filter: settings.interfaces.clone(),
            memberlist_port: settings.memberlist_port,
            memberlist_addr: settings.memberlist_addr,
        },
        settings.index.clone(),
        metrics.clone(),
    );
    let mut links_rx = links_rx;
    let mut ipvs_checked = false;
    tokio::pin!(shutdown);
    tracing::info!(node = %settings.node, namespace = %settings.namespace, "speaker started");
    loop {
        tokio::select! {
            ev = index_rx.recv() => {
                let Some(ev) = ev else { break };
                owner.input(Input::Index(ev));
                for _ in 0..BATCH {
                    match index_rx.try_recv() {
                        Ok(ev) => { owner.input(Input::Index(ev)); }
                        Err(_) => break,
                    }
                }
            }
            r = ml_view.changed() => {
                if r.is_err() {
                    tracing::error!("the membership task stopped");
                    break;
                }
                owner.input(Input::Membership(ml_view.borrow_and_update().clone()));
            }
            r = links_rx.changed() => {
                if r.is_err() {
                    tracing::error!("the link monitor stopped");
                    break;
                }
                let links = links_rx.borrow_and_update().clone();
                if links.known && !ipvs_checked {
                    ipvs_checked = true;
                    let problem = ipvs::strict_arp_problem(
                        &links.interfaces,
                        ipvs::read_sysctl("net/ipv4/conf/all/arp_ignore"),
                        ipvs::read_sysctl("net/ipv4/conf/all/arp_announce"),
                    );
                    if let Some(p) = problem {
                        tracing::error!("{p}");
                    }
                }
                owner.input(Input::Links(links));
            }
            () = &mut shutdown => break,
        }
        let step = owner.step();
        for c in step.membership {
            // the membership task drains its queue continuously; a full queue means it is gone
            if ml_ctl.try_send(c).is_err() {
                tracing::warn!("membership command dropped");
            }
        }
        if let Some(d) = step.desired {
            protocols.set(&d);
        }
        for ev in step.events {
            events.send(ev);
        }
        let readiness: Readiness = if owner.ready() {
            Ok(())
        } else {
            Err(owner.waiting_for().join(", "))
        };
        ready_tx.send_if_modified(|r| {
            if *r == readiness {
                false
            } else {
                *r = readiness;
                true
            }
        });
    }
    // What the watches delivered just before the signal (a cordon, NotReady) counts for the decision.
    for _ in 0..SHUTDOWN_DRAIN {
        match index_rx.try_recv() {
            Ok(ev) => {
                owner.input(Input::Index(ev));
            }
            Err(_) => break,
        }
    }
    // Layer2 first, and at once: stop answering and tell the other speakers, so they take the IPs over
    // while the BGP sessions close (bounded well inside the DaemonSet's grace period).
    let bgp = protocols.bgp.take();
    protocols.set(&Desired::default());
    let _ = ml_ctl.try_send(Control::Leave);
    if let Some(bgp) = bgp {
        let node = owner.index().nodes().get(&settings.node);
        let announcing = bgp.announcing();
        let pod = if needs_pod_sign(settings.bgp_shutdown, node, announcing) {
            k8s::pod::pod_sign(&client, &settings.namespace, settings.pod_name.as_deref()).await
        } else {
            PodSign::Unknown("not read: the Node decides".into())
        };
        let decision = decide_shutdown(settings.bgp_shutdown, &settings.node, node, announcing, &pod);
        tracing::info!(
            bgp_shutdown = %settings.bgp_shutdown,
            "shutting down: left layer2 and the speaker cluster; BGP {decision}"
        );
        bgp.shutdown(decision.mode).await;
    } else {
        tracing::info!("shutting down: withdrawing and leaving the speaker cluster");
    }
    let _ = tokio::time::timeout(LEAVE_GRACE, ml_task.join()).await;
    Ok(())
}
