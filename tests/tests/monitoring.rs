//! The monitoring that ships with ferrolb (`deploy/monitoring`): every alert expression and every dashboard
//! query parses as PromQL (the `promql-parser` crate, GreptimeTeam's Rust port of Prometheus's grammar), and
//! every metric and label they name — in expressions, legends and alert annotations — is one that the real
//! programs export, scraped from their `/metrics` in an end-to-end run, or one that the PodMonitors add.
//!
//! The run drives the system so that each metric family used has series: a layer2 and a bgp pool with a
//! Service each, BIRD peering with every node, a Service asking for a pool that does not exist (an
//! allocation failure, a pending Service), and the API server away for a few seconds (watch errors).
//! The lab test needs root, arping, nft, curl and BIRD (skipped with a reason elsewhere, failing under
//! `CI=true`). About 40 s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferrolb_e2e::manifest::{Manifest, repo_root};
use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{Kind, System, SystemSpec, exclusive, router_config};
use ferrolb_netlab::{BgpRouter, RouterKind, Tool};
use promql_parser::label::Matchers;
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};
use serde_json::Value;

/// Labels Prometheus adds to every series of a target (the PodMonitors' relabelling adds `node`).
const TARGET_LABELS: &[&str] = &[
    "job",
    "instance",
    "namespace",
    "pod",
    "container",
    "endpoint",
    "node",
];
/// Series Prometheus makes itself for each target.
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// One query of the monitoring: where it is, the PromQL, and the labels its text names outside the PromQL
/// (a panel's legend, an alert's annotations).
#[derive(Debug)]
struct Query {
    place: String,
    expr: String,
    labels: BTreeSet<String>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `{{ $labels.x }}` (alert templates) and `{{x}}` (Grafana legends).
fn template_labels(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in text.split("{{").skip(1) {
        let inner = part.split("}}").next().unwrap_or_default().trim();
        let inner = inner.strip_prefix("$labels.").unwrap_or(inner);
        if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(inner.to_owned());
        }
    }
    out
}

fn rules() -> Vec<(Value, Query)> {
    let m = Manifest::parse(
        "prometheusrule.yaml",
        &read("deploy/monitoring/prometheusrule.yaml"),
    )
    .unwrap();
    let rule = m.get("PrometheusRule", "ferrolb").unwrap();
    let mut out = Vec::new();
    for group in rule["spec"]["groups"].as_array().unwrap() {
        for r in group["rules"].as_array().unwrap() {
            let name = r["alert"].as_str().expect("an alert name").to_owned();
            let mut labels = BTreeSet::new();
            for a in r["annotations"].as_object().into_iter().flatten() {
                labels.extend(template_labels(a.1.as_str().unwrap_or_default()));
            }
            let q = Query {
                place: format!("alert {name}"),
                expr: r["expr"].as_str().unwrap().to_owned(),
                labels,
            };
            out.push((r.clone(), q));
        }
    }
    out
}

fn panels() -> Vec<Query> {
    let d: Value = serde_json::from_str(&read("deploy/monitoring/grafana-dashboard.json")).unwrap();
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                place: format!("panel {:?} {}", p["title"], t["refId"]),
                // Grafana's interval variables are durations when the query runs.
                expr: t["expr"].as_str().unwrap().replace("$__rate_interval", "5m"),
                labels: template_labels(t["legendFormat"].as_str().unwrap_or_default()),
            });
        }
    }
    out
}

/// The metric names and label names an expression uses.
#[derive(Debug, Default)]
struct Uses {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

impl Uses {
    fn matchers(&mut self, m: &Matchers) {
        for matcher in m.matchers.iter().chain(m.or_matchers.iter().flatten()) {
            if matcher.name != "__name__" {
                self.labels.insert(matcher.name.clone());
            }
        }
    }

    fn modifier(&mut self, m: &LabelModifier) {
        self.labels.extend(m.labels().labels.iter().cloned());
    }

    fn walk(&mut self, e: &Expr) {
        match e {
            Expr::VectorSelector(vs) => {
                self.metrics.extend(vs.name.clone());
                self.matchers(&vs.matchers);
            }
            Expr::MatrixSelector(ms) => {
                self.metrics.extend(ms.vs.name.clone());
                self.matchers(&ms.vs.matchers);
            }
            Expr::Aggregate(a) => {
                if let Some(m) = &a.modifier {
                    self.modifier(m);
                }
                self.walk(&a.expr);
                if let Some(p) = &a.param {
                    self.walk(p);
                }
            }
            Expr::Binary(b) => {
                if let Some(m) = &b.modifier {
                    if let Some(matching) = &m.matching {
                        self.modifier(matching);
                    }
                    if let VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) =
                        &m.card
                    {
                        self.labels.extend(l.labels.iter().cloned());
                    }
                }
                self.walk(&b.lhs);
                self.walk(&b.rhs);
            }
            Expr::Call(c) => c.args.args.iter().for_each(|a| self.walk(a)),
            Expr::Paren(p) => self.walk(&p.expr),
            Expr::Unary(u) => self.walk(&u.expr),
            Expr::Subquery(s) => self.walk(&s.expr),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
}

fn uses(q: &Query) -> Uses {
    let expr =
        parser::parse(&q.expr).unwrap_or_else(|e| panic!("{}: {:?} does not parse: {e}", q.place, q.expr));
    let mut u = Uses::default();
    u.walk(&expr);
    u.labels.extend(q.labels.iter().cloned());
    u
}

#[test]
fn every_alert_and_panel_parses_and_says_what_it_is() {
    let rules = rules();
    let names: BTreeSet<&str> = rules.iter().map(|(r, _)| r["alert"].as_str().unwrap()).collect();
    assert_eq!(names.len(), rules.len(), "alert names are unique");
    for want in [
        "FerrolbBGPSessionDown",
        "FerrolbBFDSessionDown",
        "FerrolbIPConflict",
        "FerrolbConfigStale",
        "FerrolbPoolAlmostFull",
        "FerrolbPoolExhausted",
        "FerrolbServicePending",
        "FerrolbIPNotAnnounced",
        "FerrolbSpeakerNotReady",
        "FerrolbTwoLeaders",
    ] {
        assert!(names.contains(want), "no alert {want}: {names:?}");
    }
    for (r, q) in &rules {
        let u = uses(q);
        assert!(!u.metrics.is_empty(), "{}: uses no metric", q.place);
        assert!(
            ["warning", "critical"].contains(&r["labels"]["severity"].as_str().unwrap_or_default()),
            "{}: a severity",
            q.place
        );
        assert!(r["for"].is_string(), "{}: a `for` duration", q.place);
        assert!(r["annotations"]["summary"].is_string(), "{}: a summary", q.place);
    }
    let session_down = rules
        .iter()
        .find(|(r, _)| r["alert"] == "FerrolbBGPSessionDown")
        .unwrap();
    assert_eq!(session_down.0["for"], "5m");
    let pending = rules
        .iter()
        .find(|(r, _)| r["alert"] == "FerrolbServicePending")
        .unwrap();
    assert_eq!(pending.0["for"], "10m");

    let panels = panels();
    assert!(panels.len() >= 10, "{panels:?}");
    for q in &panels {
        assert!(!uses(q).metrics.is_empty(), "{}: uses no metric", q.place);
    }
    // A broken expression is caught (the parser is not lenient).
    assert!(parser::parse("sum by (pool (ferrolb_controller_pool_addresses)").is_err());
}

/// A scrape, read: each metric family's declared type, and the label names seen per series name.
#[derive(Debug, Default)]
struct Scrape {
    families: BTreeMap<String, String>,
    series: BTreeMap<String, BTreeSet<String>>,
}

impl Scrape {
    fn add(&mut self, text: &str) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                    self.families.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            let labels = self.series.entry(name.to_owned()).or_default();
            if line[name_end..].starts_with('{') {
                labels.extend(label_names(&line[name_end + 1..]));
            }
        }
    }

    /// The label names of `metric`'s series; `None` when the programs export no such metric.
    fn labels_of(&self, metric: &str) -> Option<BTreeSet<String>> {
        if let Some(l) = self.series.get(metric) {
            return Some(l.clone());
        }
        // A family declared without series yet (a counter `x` is exposed as `x_total`).
        let family = metric.strip_suffix("_total").unwrap_or(metric);
        self.families.contains_key(family).then(BTreeSet::new)
    }
}

/// The label names of `a="x",b="y\"z"}` (the rest of a series line after `{`).
fn label_names(mut s: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(eq) = s.find('=') {
        let name = s[..eq].trim_start_matches([',', ' ']);
        if name.starts_with('}') {
            break;
        }
        out.push(name.to_owned());
        // skip the quoted value
        let mut chars = s[eq + 1..].char_indices();
        chars.next(); // opening quote
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        s = &s[end..];
        if s.starts_with('}') {
            break;
        }
    }
    out
}

#[test]
fn label_names_are_read_from_series_lines() {
    assert_eq!(label_names(r#"pool="a,b",family="ipv4"} 3"#), ["pool", "family"]);
    assert_eq!(label_names(r#"reason="say \"hi\"",x="}"} 1"#), ["reason", "x"]);
    let mut s = Scrape::default();
    s.add("# TYPE ferrolb_controller_allocations counter\nferrolb_speaker_announced{ip=\"192.0.2.1\",protocol=\"layer2\"} 1\n");
    assert_eq!(
        s.labels_of("ferrolb_controller_allocations_total"),
        Some(BTreeSet::new())
    );
    assert_eq!(
        s.labels_of("ferrolb_speaker_announced"),
        Some(["ip".to_owned(), "protocol".to_owned()].into())
    );
    assert_eq!(s.labels_of("ferrolb_nothing"), None);
}

const CONFIG: &str = "bfd-profiles:
- name: lab
peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
  hold-time: 9s
  bfd-profile: lab
address-pools:
- name: lab-l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.109
- name: lab-bgp
  protocol: bgp
  addresses:
  - 203.0.113.10-203.0.113.19
";
const WAIT: Duration = Duration::from_secs(30);

fn scrape_all(sys: &System, into: &mut Scrape) {
    for node in sys.node_names() {
        into.add(&sys.metrics_text(Kind::Speaker, &node).unwrap());
    }
    for node in ["node1", "node2"] {
        into.add(&sys.metrics_text(Kind::Controller, node).unwrap());
    }
}

#[test]
fn every_metric_and_label_the_monitoring_uses_is_exported() {
    let _serial = exclusive();
    let spec = SystemSpec::with_config(CONFIG).tools(&[Tool::Bird]);
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    sys.create_service(&ServiceSpec::new("web-l2").pool("lab-l2"), &["node2"])
        .unwrap();
    sys.create_service(&ServiceSpec::new("web-bgp").pool("lab-bgp"), &["node2"])
        .unwrap();
    sys.create_service(&ServiceSpec::new("lost").pool("nowhere"), &["node2"])
        .unwrap();
    sys.wait_ingress("default", "web-l2", WAIT).unwrap();
    let bgp_ip = sys.wait_ingress("default", "web-bgp", WAIT).unwrap();
    sys.wait_event("default", "lost", "AllocationFailed", WAIT)
        .unwrap();
    // BIRD with BFD for every node (the speakers' BGP sessions wait for it: the BFD series exist)
    let mut router = router_config(sys.lab());
    for p in &mut router.peers {
        p.bfd = true;
    }
    let bird = sys.start_router_with(RouterKind::Bird, WAIT, router).unwrap();
    bird.wait_route(ipnet::IpNet::from(bgp_ip), WAIT, |paths| paths.len() == 3)
        .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(20)));

    // The API server away for a moment: the watches break and count their errors.
    sys.stop_api().unwrap();
    std::thread::sleep(Duration::from_secs(8));
    sys.resume_api().unwrap();
    let mut scrape = Scrape::default();
    sys.wait(
        "watch errors in both programs' metrics",
        Duration::from_secs(60),
        || {
            let mut s = Scrape::default();
            scrape_all(&sys, &mut s);
            Ok(
                (s.series.contains_key("ferrolb_controller_k8s_watch_errors_total")
                    && s.series.contains_key("ferrolb_k8s_watch_errors_total"))
                .then_some(()),
            )
        },
    )
    .unwrap();
    sys.wait_ready(WAIT).unwrap();
    scrape_all(&sys, &mut scrape);
    bird.stop().unwrap();

    let mut problems = Vec::new();
    let queries: Vec<Query> = rules().into_iter().map(|(_, q)| q).chain(panels()).collect();
    for q in &queries {
        let u = uses(q);
        let mut known: BTreeSet<String> = TARGET_LABELS.iter().map(|l| (*l).to_owned()).collect();
        for metric in &u.metrics {
            if PROMETHEUS_SERIES.contains(&metric.as_str()) {
                continue;
            }
            match scrape.labels_of(metric) {
                Some(labels) if scrape.series.contains_key(metric) => known.extend(labels),
                Some(_) => problems.push(format!("{}: {metric} has no series in the run", q.place)),
                None => problems.push(format!("{}: no metric {metric} is exported", q.place)),
            }
        }
        for label in u.labels.difference(&known) {
            problems.push(format!(
                "{}: label {label} is on none of {:?} nor a target label",
                q.place, u.metrics
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the monitoring names what the programs do not export:\n{}\n\nexported: {:#?}",
        problems.join("\n"),
        scrape.series
    );
    eprintln!(
        "{} queries checked against {} series names",
        queries.len(),
        scrape.series.len()
    );
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
}
