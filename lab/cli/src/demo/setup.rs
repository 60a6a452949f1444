//! What the demo needs before it can build its lab: root, the Debian packages of the lab's tools (installed
//! when missing, saying which), the `ferrolb-controller` and `ferrolb-speaker` programs next to
//! `ferrolb-lab` (built with cargo when the demo was started by `cargo run`), and Ctrl-C turned into a flag
//! so that every step can stop and the lab is torn down.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Why the demo cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Not root.
    #[error("the demo builds network namespaces: run it as root (sudo)")]
    NotRoot,
    /// Packages are missing and may not or could not be installed.
    #[error("missing Debian packages {packages}: {reason}")]
    Packages {
        /// The packages.
        packages: String,
        /// Why they are still missing.
        reason: String,
    },
    /// A program could not be run.
    #[error("running {command}: {reason}")]
    Command {
        /// The command line.
        command: String,
        /// What happened.
        reason: String,
    },
    /// The controller or the speaker is not built.
    #[error("{0}")]
    Programs(String),
}

/// The Debian packages of the tools the demo uses: `ip`, Habets' `arping`, `nft`, `curl`, BIRD 2.
pub const PACKAGES: &[&str] = &["iproute2", "arping", "nftables", "curl", "bird2"];

/// The programs the demo runs, built by this workspace.
pub const PROGRAMS: &[&str] = &["ferrolb-controller", "ferrolb-speaker"];

/// Fails unless running as root.
pub fn require_root() -> Result<(), SetupError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(SetupError::NotRoot)
    }
}

fn run(cmd: &mut Command) -> Result<std::process::Output, SetupError> {
    let command = format!("{cmd:?}");
    cmd.output().map_err(|e| SetupError::Command {
        command,
        reason: e.to_string(),
    })
}

/// The packages of [`PACKAGES`] that dpkg does not list as installed (all of them when dpkg is absent).
pub fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect()
}

/// Installs `packages` with apt-get (non-interactive, no recommends), printing what it does.
pub fn install(packages: &[&str]) -> Result<(), SetupError> {
    let list = packages.join(" ");
    let fail = |reason: String| SetupError::Packages {
        packages: list.clone(),
        reason,
    };
    if Command::new("apt-get").arg("--version").output().is_err() {
        return Err(fail(
            "apt-get is not available: install them with your package manager".into(),
        ));
    }
    println!(
        "   installing Debian packages: {list} (apt-get update; apt-get install --no-install-recommends)"
    );
    for args in [
        vec!["update", "-qq"],
        [
            vec!["install", "-y", "-qq", "--no-install-recommends"],
            packages.to_vec(),
        ]
        .concat(),
    ] {
        let out = run(Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        if !out.status.success() {
            return Err(fail(format!(
                "apt-get {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// The directory of the running `ferrolb-lab`, where the programs it runs are built.
pub fn own_dir() -> Result<PathBuf, SetupError> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| SetupError::Programs("cannot find ferrolb-lab's own directory".into()))
}

/// The cargo profile flag that builds into `dir` (`target/debug` → none, `target/release` → `--release`).
pub fn profile_args(dir: &Path) -> Vec<String> {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => Vec::new(),
        Some("release") => vec!["--release".into()],
        Some(other) => vec!["--profile".into(), other.into()],
    }
}

/// Builds [`PROGRAMS`] with `cargo` into the directory of the running `ferrolb-lab` (same profile, same
/// target directory), as `cargo run -p ferrolb-lab` would have built them had it known.
pub fn build_programs(cargo: &Path, workspace: &Path) -> Result<(), SetupError> {
    let dir = own_dir()?;
    let target = dir
        .parent()
        .ok_or_else(|| SetupError::Programs(format!("{} has no parent", dir.display())))?;
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .args(profile_args(&dir))
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"));
    for p in PROGRAMS {
        cmd.args(["-p", p]);
    }
    cmd.env("CARGO_TARGET_DIR", target);
    println!(
        "   building {} next to ferrolb-lab: cargo build {}-p ferrolb-controller -p ferrolb-speaker",
        PROGRAMS.join(" and "),
        profile_args(&dir)
            .iter()
            .map(|a| format!("{a} "))
            .collect::<String>()
    );
    let status = cmd.status().map_err(|e| SetupError::Command {
        command: format!("{cmd:?}"),
        reason: e.to_string(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(SetupError::Programs(format!("cargo build failed ({status})")))
    }
}

/// Raises `flag` on SIGINT or SIGTERM (from a thread of its own). Returns once the handlers are in place.
pub fn interrupt_flag() -> Result<Arc<AtomicBool>, SetupError> {
    let flag = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let f = flag.clone();
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let (mut int, mut term) =
                    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                        (Ok(i), Ok(t)) => (i, t),
                        (Err(e), _) | (_, Err(e)) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                let _ = ready_tx.send(Ok(()));
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if !f.swap(true, Ordering::Relaxed) {
                        eprintln!("\ninterrupted: stopping, then tearing the lab down");
                    }
                }
            });
        })
        .map_err(|e| SetupError::Command {
            command: "the signal thread".into(),
            reason: e.to_string(),
        })?;
    let reason = match ready_rx.recv() {
        Ok(Ok(())) => return Ok(flag),
        Ok(Err(reason)) => reason,
        Err(_) => "the signal thread ended".into(),
    };
    Err(SetupError::Command {
        command: "installing signal handlers".into(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_follows_the_directory() {
        assert!(profile_args(Path::new("/w/target/debug")).is_empty());
        assert_eq!(profile_args(Path::new("/w/target/release")), ["--release"]);
        assert_eq!(profile_args(Path::new("/w/target/bench")), ["--profile", "bench"]);
        assert!(PACKAGES.contains(&"arping") && !PACKAGES.contains(&"iputils-arping"));
    }
}
