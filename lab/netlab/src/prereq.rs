//! Prerequisites of lab tests: root and the real tools (Debian packages), found once per process.
//!
//! A lab test that cannot run must say why: under CI (`CI=true`) it fails with the list of what is
//! missing; elsewhere it is skipped with a reason printed past the test harness's output capture.
//! Use [`crate::require!`] or [`crate::Lab::for_test`] at the top of every lab test.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A tool (and the Debian package that ships it) a lab test may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    /// `ip` (iproute2): namespaces, links, addresses, routes. Every lab needs it.
    Ip,
    /// `nft` (nftables): kube-proxy stand-in, fault injection.
    Nft,
    /// Habets `arping` (package `arping`, not `iputils-arping`).
    Arping,
    /// `ndisc6`.
    Ndisc6,
    /// `tcpdump`.
    Tcpdump,
    /// `curl`.
    Curl,
    /// `gobgpd` and its CLI `gobgp`.
    Gobgp,
    /// BIRD 2: `bird` and `birdc`.
    Bird,
    /// FRR: `zebra`, `bgpd` (in /usr/lib/frr), `vtysh` and the `frr` user.
    Frr,
}

impl Tool {
    /// Every tool the lab knows.
    pub const ALL: [Tool; 9] = [
        Tool::Ip,
        Tool::Nft,
        Tool::Arping,
        Tool::Ndisc6,
        Tool::Tcpdump,
        Tool::Curl,
        Tool::Gobgp,
        Tool::Bird,
        Tool::Frr,
    ];

    /// The Debian package that provides the tool.
    pub fn package(self) -> &'static str {
        match self {
            Tool::Ip => "iproute2",
            Tool::Nft => "nftables",
            Tool::Arping => "arping",
            Tool::Ndisc6 => "ndisc6",
            Tool::Tcpdump => "tcpdump",
            Tool::Curl => "curl",
            Tool::Gobgp => "gobgpd",
            Tool::Bird => "bird2",
            Tool::Frr => "frr",
        }
    }

    /// The programs that must be present.
    pub fn binaries(self) -> &'static [&'static str] {
        match self {
            Tool::Ip => &["ip"],
            Tool::Nft => &["nft"],
            Tool::Arping => &["arping"],
            Tool::Ndisc6 => &["ndisc6"],
            Tool::Tcpdump => &["tcpdump"],
            Tool::Curl => &["curl"],
            Tool::Gobgp => &["gobgpd", "gobgp"],
            Tool::Bird => &["bird", "birdc"],
            Tool::Frr => &["zebra", "bgpd", "vtysh"],
        }
    }

    /// Why the tool is unusable, or `None` when it is ready.
    fn problem(self) -> Option<String> {
        let missing: Vec<&str> = self
            .binaries()
            .iter()
            .copied()
            .filter(|b| find_tool(b).is_none())
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "{} (Debian package {})",
                missing.join(", "),
                self.package()
            ));
        }
        match self {
            Tool::Arping if !arping_is_habets() => Some(
                "arping is not Habets' arping (install Debian package arping, not iputils-arping)".into(),
            ),
            Tool::Frr if frr_user().is_none() => Some("user `frr` (Debian package frr)".into()),
            _ => None,
        }
    }
}

const EXTRA_DIRS: [&str; 5] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/lib/frr"];

fn cache() -> &'static Mutex<HashMap<String, Option<PathBuf>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Finds a program on PATH or in the usual system directories (/usr/sbin, /usr/lib/frr, …).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(name) {
        return found.clone();
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path_var)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    cache.insert(name.to_string(), found.clone());
    found
}

/// The absolute path of a program if found, else its bare name (so that a spawn error names it).
pub fn tool_path(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| PathBuf::from(name))
}

fn arping_is_habets() -> bool {
    static HABETS: OnceLock<bool> = OnceLock::new();
    *HABETS.get_or_init(|| {
        crate::cmd::Cmd::new(tool_path("arping"))
            .arg("--help")
            .timeout(std::time::Duration::from_secs(5))
            .output()
            .map(|o| format!("{}{}", o.stdout, o.stderr).contains("Habets"))
            .unwrap_or(false)
    })
}

/// The uid and gid of the `frr` user, from /etc/passwd.
pub fn frr_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != "frr" {
            return None;
        }
        let uid = f.nth(1)?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// Checks root and the given tools (plus `ip`, which every lab needs). `Err` says what is missing.
pub fn check(tools: &[Tool]) -> Result<(), String> {
    let mut problems = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        problems.push(format!("root (running as uid {})", nix::unistd::geteuid()));
    }
    let mut wanted: Vec<Tool> = std::iter::once(Tool::Ip).chain(tools.iter().copied()).collect();
    wanted.sort();
    wanted.dedup();
    problems.extend(wanted.into_iter().filter_map(Tool::problem));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing {}; run ./scripts/test.sh as root, which installs the lab's Debian packages",
            problems.join(", ")
        ))
    }
}

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    ci_value_means_ci(std::env::var("CI").ok().as_deref())
}

fn ci_value_means_ci(value: Option<&str>) -> bool {
    matches!(value, Some(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Under CI: panics with `reason`. Elsewhere: prints `SKIPPED <test>: <reason>` on the real stderr
/// (past the test harness's capture, so the skip is visible) and returns.
pub fn skip_or_panic(reason: &str) {
    // `writeln!` on the stderr handle bypasses libtest's capture of `eprintln!`.
    skip_or_panic_in(in_ci(), reason, &mut std::io::stderr().lock());
}

fn skip_or_panic_in(ci: bool, reason: &str, out: &mut dyn Write) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("lab test");
    if ci {
        panic!("{test}: cannot run under CI: {reason}");
    }
    // one write, so the line is not interleaved with libtest's own output
    let _ = out.write_all(format!("SKIPPED {test}: {reason}\n").as_bytes());
}

/// Skips (outside CI) or fails (under CI) the current test unless root and the given tools are
/// available. Use as the first statement of a lab test:
///
/// ```no_run
/// use ferrolb_netlab::Tool;
/// # fn t() {
/// ferrolb_netlab::require!(Tool::Bird, Tool::Gobgp);
/// # }
/// ```
#[macro_export]
macro_rules! require {
    ($($tool:expr),* $(,)?) => {
        if let Err(reason) = $crate::prereq::check(&[$($tool),*]) {
            $crate::prereq::skip_or_panic(&reason);
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_detection() {
        assert!(ci_value_means_ci(Some("true")));
        assert!(ci_value_means_ci(Some("1")));
        assert!(!ci_value_means_ci(Some("false")));
        assert!(!ci_value_means_ci(Some("0")));
        assert!(!ci_value_means_ci(Some("")));
        assert!(!ci_value_means_ci(None));
    }

    #[test]
    fn under_ci_a_missing_prerequisite_fails_the_test() {
        let panic = std::panic::catch_unwind(|| {
            skip_or_panic_in(true, "missing bird (Debian package bird2)", &mut Vec::new())
        });
        let msg = panic.unwrap_err().downcast::<String>().unwrap();
        assert!(
            msg.contains("cannot run under CI") && msg.contains("bird2"),
            "{msg}"
        );
        let mut out = Vec::new();
        skip_or_panic_in(false, "missing root", &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with("SKIPPED ") && line.ends_with(": missing root\n"),
            "{line}"
        );
    }

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find_tool("sh").is_some());
        assert!(find_tool("flb-no-such-tool").is_none());
        assert_eq!(tool_path("flb-no-such-tool"), PathBuf::from("flb-no-such-tool"));
    }

    #[test]
    fn every_tool_names_its_package() {
        for t in Tool::ALL {
            assert!(!t.package().is_empty() && !t.binaries().is_empty(), "{t:?}");
        }
    }
}
