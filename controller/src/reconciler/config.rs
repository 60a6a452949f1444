//! The reconciler's side of the configuration: watch events of the configuration objects in, the shared
//! [`ferrolb_config::ConfigState`] decides what is in force, and the reconciler acts on what changed —
//! switching the allocator's pools, or reporting (logs, a Warning Event per object while leading, metrics).

use ferrolb_config::{Config, ConfigError, ObjectRef, Update};
use ferrolb_k8s::config::ConfigEvent;

use super::{Mode, Reconciler};
use crate::allocator::PoolDef;
use crate::events::{EventRecord, Reason};

/// The allocator's pools for a config, in config order.
pub fn pool_defs(config: &Config) -> Vec<PoolDef> {
    config
        .pools
        .iter()
        .map(|p| PoolDef {
            name: p.name.clone(),
            auto_assign: p.auto_assign,
            avoid_buggy_ips: p.avoid_buggy_ips,
            ranges: p.addresses.iter().map(|r| r.start()..=r.end()).collect(),
            restricted: p.service_allocation.is_some(),
        })
        .collect()
}

/// At most this many errors are listed in one Event (the rest are counted; `ferrolb check-config` and the
/// logs list them all).
const ERRORS_PER_EVENT: usize = 8;

impl Reconciler {
    /// A watch event of a configuration object, of `epoch`.
    pub fn on_config(&mut self, epoch: u64, ev: ConfigEvent) {
        if epoch != self.epoch {
            return;
        }
        let changed = self.sources.handle(ev);
        if let Mode::Syncing { config_listed, .. } = &mut self.mode {
            *config_listed = self.sources.relisted();
        }
        self.ever_synced |= self.sources.synced() && self.index.listed();
        if changed && self.sources.synced() {
            self.config_changed();
        }
        if self.sources.relisted() {
            self.report_config();
        }
        self.maybe_serve();
    }

    fn config_changed(&mut self) {
        match self.config.update(&self.sources.sources()) {
            Update::Unchanged => {}
            Update::Switched(config) => {
                tracing::info!(
                    pools = config.pools.len(),
                    peers = config.peers.len(),
                    "configuration loaded"
                );
                self.reported_config = false;
                if self.serving() {
                    self.switch_pools(&config);
                }
            }
            Update::Restored => {
                tracing::info!("the configuration is valid again; the configuration in force is unchanged");
                self.reported_config = false;
            }
            Update::Invalid | Update::Deleted => {
                for e in self.config.errors() {
                    tracing::warn!("configuration: {e}");
                }
                tracing::warn!("the configuration is {}", self.config.summary());
                self.reported_config = false;
            }
        }
        self.update_config_metrics();
    }

    /// While leading, reports a stale configuration once per term and per problem: one Warning Event per
    /// object.
    fn report_config(&mut self) {
        if !self.config.stale() || self.mode.term().is_none() || self.reported_config {
            return;
        }
        self.reported_config = true;
        let summary = self.config.summary();
        let mut by_object: Vec<(Option<&ObjectRef>, Vec<&ConfigError>)> = Vec::new();
        for e in self.config.errors() {
            match by_object.iter_mut().find(|(o, _)| *o == e.object.as_ref()) {
                Some((_, list)) => list.push(e),
                None => by_object.push((e.object.as_ref(), vec![e])),
            }
        }
        let deleted = matches!(self.config.status(), ferrolb_config::Status::Deleted(_));
        for (object, errors) in by_object {
            let Some(object) = object else { continue };
            let note = event_note(object, &summary, &errors);
            self.events.push(EventRecord {
                regarding: self.sources.regarding(object),
                reason: if deleted {
                    Reason::ConfigDeleted
                } else {
                    Reason::InvalidConfig
                },
                note,
            });
        }
    }

    pub(super) fn update_config_metrics(&self) {
        self.metrics.config_loaded.set(i64::from(self.config.loaded()));
        self.metrics.config_stale.set(i64::from(self.config.stale()));
    }
}

/// `<object> is <summary>. N errors:` and the first errors, one per line (without the object: the Event
/// regards it).
fn event_note(object: &ObjectRef, summary: &str, errors: &[&ConfigError]) -> String {
    let n = errors.len();
    let mut note = format!("{object}: the configuration is {summary}.");
    if errors
        .iter()
        .any(|e| e.kind != ferrolb_config::ErrorKind::SourceDeleted)
    {
        note.push_str(&format!(" {n} error{}:", if n == 1 { "" } else { "s" }));
        for e in errors.iter().take(ERRORS_PER_EVENT) {
            let mut e = (*e).clone();
            e.object = None;
            note.push_str(&format!("\n- {e}"));
        }
        if n > ERRORS_PER_EVENT {
            note.push_str(&format!(
                "\n- … and {} more (ferrolb check-config lists them all)",
                n - ERRORS_PER_EVENT
            ));
        }
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_map_in_config_order() {
        let text = "address-pools:\n- name: b\n  protocol: bgp\n  auto-assign: false\n  avoid-buggy-ips: true\n  \
                    addresses: [198.51.100.0/24, 2001:db8::/120]\n- name: a\n  protocol: layer2\n  \
                    addresses: [192.0.2.10-192.0.2.20]\n";
        let config = ferrolb_config::parse(text).expect("valid");
        let defs = pool_defs(&config);
        assert_eq!(
            defs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert!(!defs[0].auto_assign && defs[0].avoid_buggy_ips);
        assert_eq!(defs[0].ranges.len(), 2);
        assert_eq!(
            defs[1].ranges[0],
            "192.0.2.10".parse().expect("ip")..="192.0.2.20".parse().expect("ip")
        );
    }

    #[test]
    fn event_notes_list_the_first_errors() {
        let object = ObjectRef::new("ConfigMap", "ferrolb-system", "config");
        let errors: Vec<ConfigError> = (0..10)
            .map(|i| ConfigError {
                object: Some(object.clone()),
                path: format!("address-pools[{i}].name"),
                value: None,
                line: Some(i + 1),
                kind: ferrolb_config::ErrorKind::MissingKey,
            })
            .collect();
        let refs: Vec<&ConfigError> = errors.iter().collect();
        let note = event_note(&object, "invalid (10 errors); x", &refs);
        assert!(note.starts_with(
            "ConfigMap ferrolb-system/config: the configuration is invalid (10 errors); x. 10 errors:"
        ));
        assert_eq!(note.lines().count(), 1 + ERRORS_PER_EVENT + 1);
        assert!(
            note.contains("\n- address-pools[0].name: missing required key (line 1)"),
            "{note}"
        );
        assert!(note.ends_with("and 2 more (ferrolb check-config lists them all)"));
    }
}
