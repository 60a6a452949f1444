//! [`BfdEngine`]: the owner's handle on the BFD task, which runs on its own OS thread.
//!
//! [`BfdEngine::set`] takes the whole desired set of sessions and converges to it without waiting: it hands
//! new, changed and removed sessions to the task as commands, and keeps a receiver of each session's
//! [`BfdStatus`] for the BGP sessions that depend on it ([`BfdEngine::watch`]). Dropping the engine stops the
//! task and its thread at once, sending nothing (as a crash would); [`BfdEngine::admin_down`] first tells
//! every router the sessions are going down on purpose.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrolb_proto::bfd::{DownReason, State};
use tokio::sync::{mpsc, oneshot, watch};

use super::metrics::BfdMetrics;
use super::settings::{BfdKey, BfdSettings};
use super::task::{Command, EngineTask};
use crate::bgp::SocketFactory;
use crate::k8s::events::SpeakerEvent;
use crate::task::{DedicatedRuntime, TaskHandle};

/// A BFD session as its task reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdStatus {
    /// Which session.
    pub key: BfdKey,
    /// bfd.SessionState.
    pub state: State,
    /// How many times the session came Up.
    pub ups: u64,
    /// How many times it left Up because the path failed (detection time expired, or the router reported
    /// Down): each one takes the BGP sessions to the router down.
    pub failures: u64,
    /// Why it last left Up.
    pub last_down: Option<DownReason>,
    /// Why the session cannot run right now (its sockets), retried every second.
    pub error: Option<String>,
}

impl BfdStatus {
    /// A session that has not run yet.
    pub fn new(key: BfdKey) -> BfdStatus {
        BfdStatus {
            key,
            state: State::Down,
            ups: 0,
            failures: 0,
            last_down: None,
            error: None,
        }
    }

    /// Whether the session is Up: the forwarding path to the router works both ways.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }
}

/// What the BFD task needs besides the sessions.
#[derive(Debug, Clone)]
pub struct BfdEngineOptions {
    /// This node's name (jitter seeds, Events).
    pub node: String,
    /// Where the UDP sockets come from.
    pub socket_factory: SocketFactory,
    /// Metrics.
    pub metrics: BfdMetrics,
    /// Where Events about this Node go (a session to a router went down).
    pub events: Option<mpsc::Sender<SpeakerEvent>>,
}

/// The BFD sessions of this speaker, run by one task on a dedicated single-threaded runtime.
#[derive(Debug)]
pub struct BfdEngine {
    commands: mpsc::UnboundedSender<Command>,
    sessions: BTreeMap<BfdKey, (BfdSettings, watch::Receiver<BfdStatus>)>,
    // dropped in this order: the task is aborted, then its thread stops
    task: TaskHandle,
    _runtime: DedicatedRuntime,
}

impl BfdEngine {
    /// Starts the task on a new thread named `ferrolb-bfd`.
    pub fn start(options: BfdEngineOptions) -> std::io::Result<BfdEngine> {
        let runtime = DedicatedRuntime::start("ferrolb-bfd")?;
        let (commands, rx) = mpsc::unbounded_channel();
        let task = TaskHandle::spawn_on(runtime.handle(), "bfd", EngineTask::new(options, rx).run());
        Ok(BfdEngine {
            commands,
            sessions: BTreeMap::new(),
            task,
            _runtime: runtime,
        })
    }

    /// Converges on `desired` (see the module docs).
    pub fn set(&mut self, desired: BTreeMap<BfdKey, BfdSettings>) {
        let gone: Vec<BfdKey> = self
            .sessions
            .keys()
            .filter(|k| !desired.contains_key(k))
            .copied()
            .collect();
        for key in gone {
            self.sessions.remove(&key);
            tracing::info!(peer = %key, "BFD session removed");
            let _ = self.commands.send(Command::Remove(key));
        }
        for (key, settings) in desired {
            match self.sessions.get_mut(&key) {
                Some((current, _)) if *current == settings => {}
                Some((current, _)) => {
                    *current = settings.clone();
                    let _ = self.commands.send(Command::Update(Box::new(settings)));
                }
                None => {
                    tracing::info!(peer = %key, profile = %settings.profile, "BFD session added");
                    let (tx, rx) = watch::channel(BfdStatus::new(key));
                    self.sessions.insert(key, (settings.clone(), rx));
                    let _ = self.commands.send(Command::Add(Box::new(settings), tx));
                }
            }
        }
    }

    /// A receiver of the status of session `key`, if it is configured.
    pub fn watch(&self, key: &BfdKey) -> Option<watch::Receiver<BfdStatus>> {
        self.sessions.get(key).map(|(_, rx)| rx.clone())
    }

    /// The status of every session.
    pub fn status(&self) -> BTreeMap<BfdKey, BfdStatus> {
        self.sessions
            .iter()
            .map(|(k, (_, rx))| (*k, rx.borrow().clone()))
            .collect()
    }

    /// Takes every session administratively down, so that routers see a shutdown rather than a failure
    /// (RFC 5880 §6.8.16), and waits (at most `within`) until the packets are sent.
    pub async fn admin_down(&self, within: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::AdminDown(tx)).is_ok()
            && tokio::time::timeout(within, rx).await.is_err()
        {
            tracing::warn!("BFD AdminDown not confirmed in time");
        }
    }

    /// Whether the task is still running.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}
