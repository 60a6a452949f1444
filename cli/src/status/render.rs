//! The views as text (`-o text`, `-o wide`) and JSON (`-o json`). Pure.
//!
//! Text is a `Key: value` header, the table, then the sections that apply: `Pending`, `Problems` (why the
//! exit status is 1), `Not read` (why it is 2), `Notes`. In the table `-` means "does not apply", `none`
//! "applies, but there is none" (an IP no node announces), `?` "could not be read" (see `Not read`).

use std::fmt::Write as _;

use serde::Serialize;

use super::config::Configuration;
use super::pools::{PoolRow, PoolsView};
use super::services::{ComponentLine, Leader, PeerCell, Row, StatusView};
use super::snapshot::age;
use super::table::Table;

/// The JSON document of a view.
pub fn json<T: Serialize>(view: &T) -> String {
    let mut s = serde_json::to_string_pretty(view).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// `ferrolb status` as text; `wide` adds the layer2 interfaces.
pub fn status(v: &StatusView, wide: bool) -> String {
    let mut out = String::new();
    let mut header = Header::default();
    let mut ns = v.namespace.clone();
    if v.config_namespace != v.namespace {
        let _ = write!(ns, " (configuration in {})", v.config_namespace);
    }
    header.line("Namespace", ns);
    header.line("Leader", leader(&v.leader));
    header.line("Configuration", configuration(v.configuration.as_ref()));
    if let Some(c) = &v.configuration {
        header.more(c.errors.iter().take(5).cloned());
        if c.errors.len() > 5 {
            header.more([format!(
                "… {} more (ferrolb status pools lists them all)",
                c.errors.len() - 5
            )]);
        }
    }
    match &v.components {
        None => header.line("Components", "?".to_owned()),
        Some(list) => {
            header.line("Components", components(list));
            header.more(list.iter().filter(|c| c.result != "Valid").map(|c| {
                format!("{} {}: {}", c.component, c.result, c.error)
                    .trim_end()
                    .to_owned()
            }));
        }
    }
    if !v.sessions.is_empty() {
        let up = v.sessions.iter().filter(|s| s.established).count();
        header.line(
            "BGP sessions",
            format!("{up} of {} Established", v.sessions.len()),
        );
        header.more(v.sessions.iter().filter(|s| !s.established).map(|s| {
            let mut line = format!("{} to {}: {}", s.node, s.peer, s.state);
            if !s.message.is_empty() {
                let _ = write!(line, " ({})", s.message);
            }
            line
        }));
    }
    let c = &v.counts;
    let mut services = format!(
        "{} LoadBalancer: {} with an IP ({} IP{}), {} pending",
        c.services,
        c.with_ip,
        c.ips,
        if c.ips == 1 { "" } else { "s" },
        c.pending
    );
    if c.other_class > 0 {
        let _ = write!(
            services,
            "; {} of another load-balancer class not shown",
            c.other_class
        );
    }
    header.line("Services", services);
    out.push_str(&header.text);
    if !v.rows.is_empty() {
        out.push('\n');
        let mut names = vec!["SERVICE", "IP", "POOL", "MODE", "NODES"];
        if wide {
            names.push("INTERFACES");
        }
        names.push("PEERS");
        let mut t = Table::new(&names);
        for r in &v.rows {
            t.row(row_cells(r, wide));
        }
        out.push_str(&t.render());
    }
    let pending: Vec<String> = v
        .rows
        .iter()
        .filter(|r| r.ip.is_none())
        .map(|r| {
            let why = r.note.as_deref().unwrap_or("no AllocationFailed Event");
            format!("{}/{}: {why}", r.namespace, r.name)
        })
        .collect();
    section(&mut out, "Pending", &pending);
    trailer(&mut out, &v.problems, &v.gaps, &v.notes);
    out
}

/// `ferrolb status pools` as text; `wide` adds the address ranges.
pub fn pools(v: &PoolsView, wide: bool) -> String {
    let mut out = String::new();
    let mut header = Header::default();
    header.line("Namespace", v.config_namespace.clone());
    header.line("Configuration", configuration(v.configuration.as_ref()));
    if let Some(c) = &v.configuration {
        header.more(c.errors.iter().cloned());
    }
    out.push_str(&header.text);
    if !v.rows.is_empty() {
        out.push('\n');
        let mut names = vec![
            "NAME",
            "SOURCE",
            "FAMILY",
            "SIZE",
            "ASSIGNED",
            "AVAILABLE",
            "COUNTED",
            "AUTO-ASSIGN",
            "MODES",
            "SERVICES",
        ];
        if wide {
            names.push("ADDRESSES");
        }
        names.push("ALLOCATION");
        let mut t = Table::new(&names);
        for r in &v.rows {
            t.row(pool_cells(r, wide));
        }
        out.push_str(&t.render());
        out.push_str(
            "\nSIZE: addresses the pool may hand out. COUNTED: status = IPAddressPool.status, written by the \
             leading controller; services = counted here from the Services' IPs.\n",
        );
    }
    trailer(&mut out, &v.problems, &v.gaps, &v.notes);
    out
}

/// `Key:` lines with their values aligned, and indented continuation lines.
#[derive(Default)]
struct Header {
    text: String,
}

impl Header {
    const WIDTH: usize = 16;

    fn line(&mut self, key: &str, value: String) {
        let key = format!("{key}:");
        let _ = writeln!(self.text, "{key:<w$}{value}", w = Self::WIDTH);
    }

    fn more(&mut self, lines: impl IntoIterator<Item = String>) {
        for l in lines {
            let _ = writeln!(self.text, "{:w$}{l}", "", w = Self::WIDTH);
        }
    }
}

fn leader(l: &Leader) -> String {
    match l {
        Leader::Held {
            holder,
            renewed_ago: Some(ago),
        } => format!("{holder} (renewed {} ago)", age(*ago)),
        Leader::Held { holder, .. } => holder.clone(),
        Leader::Expired { holder, expired_ago } => {
            format!(
                "none: the Lease held by {holder} expired {} ago",
                age(*expired_ago)
            )
        }
        Leader::Vacant => "none: the Lease has no holder".to_owned(),
        Leader::NoLease => "none: no Lease".to_owned(),
        Leader::Unknown => "?".to_owned(),
    }
}

fn configuration(c: Option<&Configuration>) -> String {
    match c {
        None => "?".to_owned(),
        Some(c) => match c.result {
            "valid" => format!(
                "{}: valid, {} pool{}",
                c.objects,
                c.pools,
                if c.pools == 1 { "" } else { "s" }
            ),
            "invalid" => format!(
                "{}: invalid ({} error{})",
                c.objects,
                c.errors.len(),
                if c.errors.len() == 1 { "" } else { "s" }
            ),
            _ => "none".to_owned(),
        },
    }
}

fn components(list: &[ComponentLine]) -> String {
    let mut parts = Vec::new();
    if let Some(c) = list.iter().find(|c| c.component == "controller") {
        parts.push(format!("controller {}", c.result));
    } else {
        parts.push("controller not reported".to_owned());
    }
    let speakers: Vec<&ComponentLine> = list
        .iter()
        .filter(|c| c.component.starts_with("speaker "))
        .collect();
    let valid = speakers.iter().filter(|c| c.result == "Valid").count();
    parts.push(match speakers.len() {
        0 => "no speaker reported".to_owned(),
        n => format!(
            "speakers Valid on {valid} of {n} node{}",
            if n == 1 { "" } else { "s" }
        ),
    });
    parts.join(", ")
}

fn row_cells(r: &Row, wide: bool) -> Vec<String> {
    let mut cells = vec![format!("{}/{}", r.namespace, r.name)];
    let Some(ip) = r.ip else {
        cells.push("<pending>".to_owned());
        cells.push(r.pool.clone().unwrap_or_else(|| "-".to_owned()));
        cells.extend(std::iter::repeat_n("-".to_owned(), if wide { 4 } else { 3 }));
        return cells;
    };
    cells.push(ip.to_string());
    cells.push(r.pool.clone().unwrap_or_else(|| "-".to_owned()));
    cells.push(list(
        r.modes
            .as_ref()
            .map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
    ));
    cells.push(list(r.nodes.clone()));
    if wide {
        cells.push(if r.interfaces.is_empty() {
            "-".to_owned()
        } else {
            r.interfaces.join(",")
        });
    }
    let bgp = r.modes.as_ref().is_some_and(|m| m.contains(&"bgp"));
    cells.push(match &r.peers {
        None => "?".to_owned(),
        Some(p) if p.is_empty() => (if bgp { "none" } else { "-" }).to_owned(),
        Some(p) => p.iter().map(peer).collect::<Vec<_>>().join(", "),
    });
    cells
}

/// `?` unknown, `none` empty, else the items joined by commas.
fn list(items: Option<Vec<String>>) -> String {
    match items {
        None => "?".to_owned(),
        Some(v) if v.is_empty() => "none".to_owned(),
        Some(v) => v.join(","),
    }
}

/// `router(Established)` when every node says the same, else `router(node1=Established,node2=Active)`.
fn peer(p: &PeerCell) -> String {
    let first = p.sessions.first().map(|s| s.state.as_str());
    if p.sessions.iter().all(|s| Some(s.state.as_str()) == first) {
        return format!("{}({})", p.peer, first.unwrap_or("unknown"));
    }
    let each: Vec<String> = p
        .sessions
        .iter()
        .map(|s| format!("{}={}", s.node, s.state))
        .collect();
    format!("{}({})", p.peer, each.join(","))
}

fn pool_cells(r: &PoolRow, wide: bool) -> Vec<String> {
    let mut cells = vec![
        r.name.clone(),
        r.source.as_ref().map_or_else(
            || "?".to_owned(),
            |s| format!("{}/{}", s.kind.to_ascii_lowercase(), s.name),
        ),
        r.family.clone(),
        r.size.to_string(),
        r.assigned.to_string(),
        r.available.to_string(),
        r.counted.to_owned(),
        (if r.auto_assign { "yes" } else { "no" }).to_owned(),
        if r.modes.is_empty() {
            "none".to_owned()
        } else {
            r.modes.join(",")
        },
        r.services.to_string(),
    ];
    if wide {
        cells.push(r.addresses.join(","));
    }
    cells.push(r.allocation.clone().unwrap_or_else(|| "-".to_owned()));
    cells
}

fn section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for l in lines {
        let _ = writeln!(out, "  {l}");
    }
}

fn trailer(out: &mut String, problems: &[String], gaps: &[String], notes: &[String]) {
    section(out, "Problems", problems);
    section(out, "Not read (the output is incomplete)", gaps);
    section(out, "Notes", notes);
}
