//! Objects a program owns and keeps equal to what it decides — ferrolb's status objects (`ServiceL2Status`
//! and `ServiceBGPStatus` per node and Service, `ConfigurationState` per component).
//!
//! ```text
//!  owner task ── watch<Arc<DesiredSet>> ──▶ sync task ◀── watch of the owned objects (label selector)
//!                                            │ plan: create / patch status / patch labels+spec / delete
//!                                            └──▶ API server, one write at a time, at most `per_second`
//! ```
//!
//! The program hands over the whole desired set (keyed by a logical key it also finds in the objects, e.g. the
//! Service's namespace and name in labels) and never waits; the sync task converges: it creates what is
//! missing (then writes its status through the status subresource), patches what differs, deletes what is not
//! desired (and duplicates of one key). It acts only once its watch has listed the owned objects, records its
//! own writes at once (so a create is never repeated while the watch lags), and retries failures with backoff.
//! Writes are bounded in rate: a burst of changes (a failover of many IPs) is written after the fact, spread
//! over time, and never delays the decisions.
//!
//! The server may keep less than was written: a CRD's schema prunes the fields it does not know (MetalLB's own
//! CRDs lack some of ferrolb's status fields, e.g. v0.14's `ServiceL2Status` has no `serviceName`). The sync
//! remembers, per object, what it asked for and what the server kept; an object equal to what the server kept
//! of the current desired value counts as converged, so a pruned field is never rewritten in a loop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kube::{Api, Client};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::task::TaskHandle;
use crate::watch::WatchEvent;

/// How an object is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectName {
    /// Exactly this name (`controller`, `speaker-node1`).
    Fixed(String),
    /// A name the API server generates from this prefix (`l2-`).
    Generate(String),
}

/// One object as the program wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Its name.
    pub name: ObjectName,
    /// Its labels (the sync's selector labels included).
    pub labels: BTreeMap<String, String>,
    /// Its `spec` (`Null`: none).
    pub spec: Value,
    /// Its `status`, written through the status subresource.
    pub status: Value,
}

/// The whole desired set, by logical key.
pub type DesiredSet = BTreeMap<String, Desired>;

/// How the owned objects are selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// By label.
    Labels(String),
    /// By field (a fixed name).
    Fields(String),
}

/// What one sync manages.
#[derive(Clone)]
pub struct SyncSpec {
    /// The kind (group, version, plural).
    pub resource: ApiResource,
    /// The namespace of the objects.
    pub namespace: String,
    /// Which objects are owned: a label selector (`metallb.io/node=node1`) or a field selector
    /// (`metadata.name=controller`).
    pub selector: Selector,
    /// The logical key of an owned object (`None`: not one of ours; left alone).
    pub key_of: fn(&DynamicObject) -> Option<String>,
    /// Writes started per second at most.
    pub per_second: u32,
}

impl std::fmt::Debug for SyncSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncSpec")
            .field("kind", &self.resource.kind)
            .field("namespace", &self.namespace)
            .field("selector", &self.selector)
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

/// `kind` and `op` labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WriteLabels {
    /// The object kind.
    pub kind: String,
    /// `create`, `status`, `update`, `delete`.
    pub op: &'static str,
    /// `ok`, `error`, or `not_found` (the object went meanwhile).
    pub result: &'static str,
}

/// The syncs' metrics. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct ObjectMetrics {
    /// `k8s_object_writes_total{kind, op, result}`.
    pub writes: Family<WriteLabels, Counter>,
}

impl ObjectMetrics {
    /// Registers `k8s_object_writes_total` in `registry`.
    pub fn register(registry: &mut Registry) -> ObjectMetrics {
        let m = ObjectMetrics::default();
        registry.sub_registry_with_prefix("k8s").register(
            "object_writes",
            "Writes of the objects ferrolb owns (status objects), by kind, operation and result",
            m.writes.clone(),
        );
        m
    }
}

/// An owned object as last seen (or as written).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    labels: BTreeMap<String, String>,
    spec: Value,
    status: Value,
}

impl Seen {
    fn of(obj: &DynamicObject) -> Option<Seen> {
        Some(Seen {
            name: obj.metadata.name.clone()?,
            labels: obj.metadata.labels.clone().unwrap_or_default(),
            spec: obj.data.get("spec").cloned().unwrap_or(Value::Null),
            status: obj.data.get("status").cloned().unwrap_or(Value::Null),
        })
    }
}

/// What the sync last asked of an object and what the server kept of it (`spec`, `status`), so that fields
/// the server prunes do not count as a difference.
#[derive(Debug, Clone, Default, PartialEq)]
struct Written {
    /// `(asked, kept)` of the last spec write.
    spec: Option<(Value, Value)>,
    /// `(asked, kept)` of the last status write.
    status: Option<(Value, Value)>,
}

/// Whether `have` is what the server keeps of `want`: equal, or what it kept of the same value written last.
fn converged(want: &Value, have: &Value, written: Option<&(Value, Value)>) -> bool {
    want == have || written.is_some_and(|(asked, kept)| asked == want && kept == have)
}

/// One write to carry out.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// Create an object for this key.
    Create(String),
    /// Write this key's status to object `name`.
    Status(String, String),
    /// Write this key's labels and spec to object `name`.
    Update(String, String),
    /// Delete object `name`.
    Delete(String),
}

/// The writes that bring `seen` (name → object, with its key) to `desired` (pure), `written` telling what
/// the server kept of the sync's own writes.
fn plan(
    desired: &DesiredSet,
    seen: &BTreeMap<String, (String, Seen)>,
    written: &BTreeMap<String, Written>,
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut by_key: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for (key, s) in seen.values() {
        by_key.entry(key.as_str()).or_default().push(s);
    }
    for (key, d) in desired {
        match by_key.get(key.as_str()).map(Vec::as_slice) {
            None | Some([]) => ops.push(Op::Create(key.clone())),
            Some([first, rest @ ..]) => {
                let w = written.get(&first.name);
                let spec_kept =
                    d.spec.is_null() || converged(&d.spec, &first.spec, w.and_then(|w| w.spec.as_ref()));
                if !labels_match(&d.labels, &first.labels) || !spec_kept {
                    ops.push(Op::Update(key.clone(), first.name.clone()));
                }
                if !converged(&d.status, &first.status, w.and_then(|w| w.status.as_ref())) {
                    ops.push(Op::Status(key.clone(), first.name.clone()));
                }
                ops.extend(rest.iter().map(|s| Op::Delete(s.name.clone())));
            }
        }
    }
    for (key, objects) in &by_key {
        if !desired.contains_key(*key) {
            ops.extend(objects.iter().map(|s| Op::Delete(s.name.clone())));
        }
    }
    ops
}

fn labels_match(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// The desired set as the program hands it over: `None` until the program has decided (the sync then
/// touches nothing — an empty set would mean "delete every owned object").
pub type DesiredHandle = Option<Arc<DesiredSet>>;

/// Starts the sync of `spec`'s objects towards `desired`.
pub fn spawn(
    client: Client,
    spec: SyncSpec,
    desired: watch::Receiver<DesiredHandle>,
    metrics: ObjectMetrics,
) -> TaskHandle {
    TaskHandle::spawn("object sync", run(client, spec, desired, metrics))
}

async fn run(
    client: Client,
    spec: SyncSpec,
    mut desired: watch::Receiver<DesiredHandle>,
    metrics: ObjectMetrics,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(client, &spec.namespace, &spec.resource);
    let config = match &spec.selector {
        Selector::Labels(l) => watcher::Config::default().labels(l),
        Selector::Fields(f) => watcher::Config::default().fields(f),
    };
    let mut stream = watcher::watcher(api.clone(), config).default_backoff().boxed();
    let mut seen: BTreeMap<String, (String, Seen)> = BTreeMap::new();
    let mut written: BTreeMap<String, Written> = BTreeMap::new();
    let mut relist: Option<BTreeMap<String, (String, Seen)>> = None;
    let mut synced = false;
    let mut pace = tokio::time::interval(Duration::from_millis(1000 / u64::from(spec.per_second.max(1))));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Duration::from_millis(500);
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let work = match (&*desired.borrow(), synced && retry_at.is_none()) {
            (Some(d), true) => plan(d, &seen, &written).into_iter().next(),
            _ => None,
        };
        tokio::select! {
            item = stream.next() => {
                let Some(item) = item else { return };
                match item {
                    Ok(ev) => {
                        let ev = WatchEvent::from_watcher(ev);
                        apply(&spec, &mut seen, &mut relist, &mut synced, ev);
                        written.retain(|name, _| seen.contains_key(name));
                    }
                    Err(e) => tracing::debug!(kind = %spec.resource.kind, error = %e, "owned objects' watch failed; retrying"),
                }
            }
            r = desired.changed() => if r.is_err() { return },
            () = sleep_until(retry_at), if retry_at.is_some() => retry_at = None,
            _ = pace.tick(), if work.is_some() => {
                let (Some(op), Some(d)) = (work, desired.borrow().clone()) else { continue };
                match execute(&api, &spec, &d, &mut seen, &mut written, &op).await {
                    Ok(()) => {
                        count(&metrics, &spec, &op, "ok");
                        backoff = Duration::from_millis(500);
                    }
                    Err(e) => {
                        count(&metrics, &spec, &op, "error");
                        if backoff == Duration::from_millis(500) {
                            tracing::warn!(kind = %spec.resource.kind, ?op, error = %e,
                                "writing an owned object failed; retrying with backoff");
                        } else {
                            tracing::debug!(kind = %spec.resource.kind, ?op, error = %e, ?backoff,
                                "writing an owned object failed again");
                        }
                        retry_at = Some(tokio::time::Instant::now() + backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

fn count(metrics: &ObjectMetrics, spec: &SyncSpec, op: &Op, result: &'static str) {
    let op = match op {
        Op::Create(_) => "create",
        Op::Status(..) => "status",
        Op::Update(..) => "update",
        Op::Delete(_) => "delete",
    };
    let labels = WriteLabels {
        kind: spec.resource.kind.clone(),
        op,
        result,
    };
    metrics.writes.get_or_create(&labels).inc();
}

/// Folds one watch event into what is seen (a relist replaces it at its end).
fn apply(
    spec: &SyncSpec,
    seen: &mut BTreeMap<String, (String, Seen)>,
    relist: &mut Option<BTreeMap<String, (String, Seen)>>,
    synced: &mut bool,
    ev: WatchEvent<DynamicObject>,
) {
    let entry = |obj: &DynamicObject| Some(((spec.key_of)(obj)?, Seen::of(obj)?));
    match ev {
        WatchEvent::Init => *relist = Some(BTreeMap::new()),
        WatchEvent::InitApply(obj) => {
            if let (Some(buf), Some((key, s))) = (relist.as_mut(), entry(&obj)) {
                buf.insert(s.name.clone(), (key, s));
            }
        }
        WatchEvent::InitDone => {
            *seen = relist.take().unwrap_or_default();
            *synced = true;
        }
        WatchEvent::Apply(obj) => {
            if let Some((key, s)) = entry(&obj) {
                seen.insert(s.name.clone(), (key, s));
            }
        }
        WatchEvent::Delete(obj) => {
            if let Some(name) = &obj.metadata.name {
                seen.remove(name);
            }
        }
    }
}

/// Carries out one write and records its result in `seen`, and in `written` what the server kept of it.
async fn execute(
    api: &Api<DynamicObject>,
    spec: &SyncSpec,
    desired: &DesiredSet,
    seen: &mut BTreeMap<String, (String, Seen)>,
    written: &mut BTreeMap<String, Written>,
    op: &Op,
) -> Result<(), kube::Error> {
    let record = |seen: &mut BTreeMap<String, (String, Seen)>, key: &str, obj: &DynamicObject| {
        let s = Seen::of(obj)?;
        let kept = (s.spec.clone(), s.status.clone());
        seen.insert(s.name.clone(), (key.to_owned(), s.clone()));
        Some((s.name, kept))
    };
    match op {
        Op::Create(key) => {
            let Some(d) = desired.get(key) else { return Ok(()) };
            let mut obj = DynamicObject::new("", &spec.resource).within(&spec.namespace);
            match &d.name {
                ObjectName::Fixed(n) => obj.metadata.name = Some(n.clone()),
                ObjectName::Generate(p) => {
                    obj.metadata.name = None;
                    obj.metadata.generate_name = Some(p.clone());
                }
            }
            obj.metadata.labels = Some(d.labels.clone());
            if !d.spec.is_null() {
                obj.data = json!({ "spec": d.spec });
            }
            let created = match api.create(&PostParams::default(), &obj).await {
                Ok(o) => o,
                // a fixed name the watch has not shown yet (a previous leader's object): take it over
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    api.get(obj.metadata.name.as_deref().unwrap_or("")).await?
                }
                Err(e) => return Err(e),
            };
            if let Some((name, (kept, _))) = record(seen, key, &created)
                && !d.spec.is_null()
            {
                written.entry(name).or_default().spec = Some((d.spec.clone(), kept));
            }
            Ok(())
        }
        Op::Status(key, name) => {
            let Some(d) = desired.get(key) else { return Ok(()) };
            let patch = json!({ "status": d.status });
            let result = api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            match result {
                Ok(o) => {
                    if let Some((name, (_, kept))) = record(seen, key, &o) {
                        written.entry(name).or_default().status = Some((d.status.clone(), kept));
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    seen.remove(name);
                    written.remove(name);
                }
                Err(e) => return Err(e),
            }
            Ok(())
        }
        Op::Update(key, name) => {
            let Some(d) = desired.get(key) else { return Ok(()) };
            let mut patch = json!({ "metadata": { "labels": d.labels } });
            if !d.spec.is_null() {
                patch["spec"] = d.spec.clone();
            }
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(o) => {
                    if let Some((name, (kept, _))) = record(seen, key, &o)
                        && !d.spec.is_null()
                    {
                        written.entry(name).or_default().spec = Some((d.spec.clone(), kept));
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    seen.remove(name);
                    written.remove(name);
                }
                Err(e) => return Err(e),
            }
            Ok(())
        }
        Op::Delete(name) => {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
            seen.remove(name);
            written.remove(name);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(name: ObjectName, status: Value) -> Desired {
        Desired {
            name,
            labels: BTreeMap::from([("metallb.io/node".to_owned(), "n1".to_owned())]),
            spec: Value::Null,
            status,
        }
    }

    fn seen(name: &str, key: &str, status: Value) -> (String, (String, Seen)) {
        (
            name.to_owned(),
            (
                key.to_owned(),
                Seen {
                    name: name.to_owned(),
                    labels: BTreeMap::from([("metallb.io/node".to_owned(), "n1".to_owned())]),
                    spec: Value::Null,
                    status,
                },
            ),
        )
    }

    #[test]
    fn the_plan_creates_patches_and_deletes_what_differs() {
        let g = || ObjectName::Generate("l2-".into());
        let want: DesiredSet = BTreeMap::from([
            ("ns/a".to_owned(), desired(g(), json!({"node": "n1"}))),
            (
                "ns/b".to_owned(),
                desired(g(), json!({"node": "n1", "interfaces": [{"name": "eth0"}]})),
            ),
            ("ns/c".to_owned(), desired(g(), json!({"node": "n1"}))),
        ]);
        let have: BTreeMap<String, (String, Seen)> = [
            seen("l2-aaa", "ns/a", json!({"node": "n1"})),
            seen("l2-bbb", "ns/b", json!({"node": "n1"})),
            seen("l2-bb2", "ns/b", json!({"node": "n1"})),
            seen("l2-ddd", "ns/d", json!({"node": "n1"})),
        ]
        .into_iter()
        .collect();
        let ops = plan(&want, &have, &BTreeMap::new());
        assert_eq!(
            ops,
            [
                Op::Status("ns/b".into(), "l2-bb2".into()),
                Op::Delete("l2-bbb".into()),
                Op::Create("ns/c".into()),
                Op::Delete("l2-ddd".into()),
            ],
            "a: in order; b: its status, and one object per key; c: missing; d: not wanted"
        );
        assert!(plan(&BTreeMap::new(), &BTreeMap::new(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn labels_and_spec_changes_are_updates() {
        let mut d = desired(ObjectName::Fixed("speaker-n1".into()), json!({"result": "Valid"}));
        d.spec = json!({"type": "Speaker", "nodeName": "n1"});
        let want = BTreeMap::from([("k".to_owned(), d)]);
        let have = [seen("speaker-n1", "k", json!({"result": "Valid"}))]
            .into_iter()
            .collect();
        assert_eq!(
            plan(&want, &have, &BTreeMap::new()),
            [Op::Update("k".into(), "speaker-n1".into())]
        );
    }

    #[test]
    fn what_the_server_prunes_is_not_rewritten() {
        // MetalLB v0.14's ServiceL2Status schema has no serviceName: the server keeps only the node
        let asked = json!({"node": "n1", "serviceName": "web"});
        let kept = json!({"node": "n1"});
        let want = BTreeMap::from([(
            "ns/web".to_owned(),
            desired(ObjectName::Generate("l2-".into()), asked.clone()),
        )]);
        let have: BTreeMap<String, (String, Seen)> =
            [seen("l2-a", "ns/web", kept.clone())].into_iter().collect();
        let status = [Op::Status("ns/web".into(), "l2-a".into())];
        // never written by this sync (or the object changed by someone else): write
        assert_eq!(plan(&want, &have, &BTreeMap::new()), status);
        // written, and the server kept less: converged
        let written = BTreeMap::from([(
            "l2-a".to_owned(),
            Written {
                spec: None,
                status: Some((asked.clone(), kept.clone())),
            },
        )]);
        assert!(plan(&want, &have, &written).is_empty());
        // the desired status changes: written again
        let mut moved = want.clone();
        moved.get_mut("ns/web").unwrap().status = json!({"node": "n2", "serviceName": "web"});
        assert_eq!(plan(&moved, &have, &written), status);
        // someone else changed the object since: written again
        let changed: BTreeMap<String, (String, Seen)> = [seen("l2-a", "ns/web", json!({"node": "n9"}))]
            .into_iter()
            .collect();
        assert_eq!(plan(&want, &changed, &written), status);
        // the same for a spec the server prunes
        let mut d = desired(ObjectName::Fixed("speaker-n1".into()), kept.clone());
        d.spec = json!({"type": "Speaker", "extra": 1});
        let want = BTreeMap::from([("k".to_owned(), d)]);
        let mut s = seen("speaker-n1", "k", kept.clone());
        s.1.1.spec = json!({"type": "Speaker"});
        let have: BTreeMap<String, (String, Seen)> = [s].into_iter().collect();
        assert_eq!(
            plan(&want, &have, &BTreeMap::new()),
            [Op::Update("k".into(), "speaker-n1".into())]
        );
        let written = BTreeMap::from([(
            "speaker-n1".to_owned(),
            Written {
                spec: Some((json!({"type": "Speaker", "extra": 1}), json!({"type": "Speaker"}))),
                status: None,
            },
        )]);
        assert!(plan(&want, &have, &written).is_empty());
    }
}
