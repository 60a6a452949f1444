//! The IP ledger: every Service state a watcher saw, in resourceVersion order, checked for the two promises
//! of the controller — an IP once given stays with its Service until the Service goes, and no IP is held by
//! two Services at the same time. Pure (no I/O); [`System::watch_ledger`] feeds it from a real watch.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::watcher;

use super::{Result, System};
use crate::system::objects::ingress_of;

/// What the ledger saw, and what it found wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The Services as last seen (`namespace/name` → ingress IPs).
    pub current: BTreeMap<String, Vec<IpAddr>>,
    /// The first IPs each Service was seen with.
    pub first: BTreeMap<String, Vec<IpAddr>>,
    /// How many events were applied.
    pub events: usize,
    /// Broken promises, in the order found.
    pub violations: Vec<String>,
    /// Objects listed since a re-list began (`None` outside a re-list).
    relist: Option<BTreeMap<String, Vec<IpAddr>>>,
}

impl Ledger {
    /// A Service was created or changed.
    pub fn apply(&mut self, name: &str, ips: Vec<IpAddr>) {
        self.events += 1;
        if let Some(listed) = &mut self.relist {
            listed.insert(name.to_owned(), ips);
            return;
        }
        self.record(name, ips);
    }

    fn record(&mut self, name: &str, ips: Vec<IpAddr>) {
        if let Some(before) = self.current.get(name)
            && !before.is_empty()
            && *before != ips
        {
            self.violations
                .push(format!("{name}: IPs changed from {before:?} to {ips:?}"));
        }
        for ip in &ips {
            for (other, held) in &self.current {
                if other != name && held.contains(ip) {
                    self.violations
                        .push(format!("{ip} given to {name} while {other} holds it"));
                }
            }
        }
        if !ips.is_empty() {
            self.first.entry(name.to_owned()).or_insert_with(|| ips.clone());
        }
        self.current.insert(name.to_owned(), ips);
    }

    /// A Service was deleted.
    pub fn delete(&mut self, name: &str) {
        self.events += 1;
        self.current.remove(name);
    }

    /// The watch restarted: a full list follows.
    pub fn relist_begins(&mut self) {
        self.relist = Some(BTreeMap::new());
    }

    /// The list is complete: Services not listed are gone; the listed ones are checked as changes.
    pub fn relist_done(&mut self) {
        let Some(listed) = self.relist.take() else {
            return;
        };
        self.current.retain(|name, _| listed.contains_key(name));
        for (name, ips) in listed {
            self.record(&name, ips);
        }
    }
}

fn key(svc: &Service) -> String {
    format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or_default(),
        svc.metadata.name.as_deref().unwrap_or_default()
    )
}

fn ips(svc: &Service) -> Vec<IpAddr> {
    serde_json::to_value(svc)
        .map(|v| ingress_of(&v))
        .unwrap_or_default()
}

/// A ledger fed by a running watch; the watch stops when this is dropped.
#[derive(Debug)]
pub struct LedgerWatch {
    ledger: Arc<Mutex<Ledger>>,
    task: tokio::task::JoinHandle<()>,
}

impl LedgerWatch {
    /// The ledger so far.
    pub fn snapshot(&self) -> Ledger {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for LedgerWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl System {
    /// Starts watching every Service over HTTP, as a client of the API server would, into a [`Ledger`].
    /// Returns once the initial list is in.
    pub fn watch_ledger(&self) -> Result<LedgerWatch> {
        let client = self.client()?;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let l = ledger.clone();
        let task = self.runtime().spawn(async move {
            let api = kube::Api::<Service>::all(client);
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                let mut ledger = l.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        ledger.apply(&key(&s), ips(&s))
                    }
                    Ok(watcher::Event::Delete(s)) => ledger.delete(&key(&s)),
                    Ok(watcher::Event::Init) => ledger.relist_begins(),
                    Ok(watcher::Event::InitDone) => {
                        ledger.relist_done();
                        let _ = ready_tx.send(());
                    }
                    // the watcher retries by itself; its errors show as a stale ledger
                    Err(e) => ledger.violations.push(format!("watch error: {e}")),
                }
            }
        });
        let watch = LedgerWatch { ledger, task };
        self.wait("the Service watch's initial list", super::READY_TIMEOUT, || {
            Ok(ready_rx.try_recv().ok())
        })?;
        Ok(watch)
    }

    /// Waits until the ledger shows exactly the Services (and IPs) the store holds.
    pub fn wait_ledger_caught_up(&self, watch: &LedgerWatch) -> Result<Ledger> {
        self.wait(
            "the Service watch to catch up with the store",
            super::READY_TIMEOUT,
            || {
                let ledger = watch.snapshot();
                let stored: BTreeMap<String, Vec<IpAddr>> = self.all_ingress().into_iter().collect();
                Ok((ledger.current == stored).then_some(ledger))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_reused_ip_after_a_delete_is_fine() {
        let mut l = Ledger::default();
        l.apply("a", vec![]);
        l.apply("a", vec![ip("192.0.2.100")]);
        l.apply("a", vec![ip("192.0.2.100")]);
        l.delete("a");
        l.apply("b", vec![ip("192.0.2.100")]);
        assert!(l.violations.is_empty(), "{:?}", l.violations);
        assert_eq!(l.first["a"], [ip("192.0.2.100")]);
        assert_eq!(l.events, 5);
    }

    #[test]
    fn changes_and_doubles_are_violations() {
        let mut l = Ledger::default();
        l.apply("a", vec![ip("192.0.2.100")]);
        l.apply("b", vec![ip("192.0.2.100")]);
        l.apply("a", vec![ip("192.0.2.101")]);
        assert_eq!(l.violations.len(), 2, "{:?}", l.violations);
        assert!(l.violations[0].contains("given to b while a holds it"));
        assert!(l.violations[1].contains("a: IPs changed"));
    }

    #[test]
    fn a_relist_is_checked_when_complete() {
        let mut l = Ledger::default();
        l.apply("a", vec![ip("192.0.2.100")]);
        l.relist_begins();
        // a was deleted and b got its IP while the watch was down: no violation, a is gone
        l.apply("b", vec![ip("192.0.2.100")]);
        assert!(l.current.contains_key("a"));
        l.relist_done();
        assert!(l.violations.is_empty(), "{:?}", l.violations);
        assert_eq!(l.current.keys().collect::<Vec<_>>(), ["b"]);
    }
}
