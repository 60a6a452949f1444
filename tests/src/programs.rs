//! The programs under test and the tools the tests drive: where the built `ferrolb-controller`,
//! `ferrolb-speaker` and `ferrolb` are, kubectl, and running a command with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A program built by this workspace (`ferrolb-controller`, `ferrolb-speaker`, `ferrolb`, `ferrolb-lab`), next
/// to the running executable: in its own directory (a program such as `ferrolb-lab` in `target/<profile>/`) or
/// the one above (a test binary in `target/<profile>/deps/`).
///
/// `cargo test --workspace` builds every package's programs before it runs any test. Run alone
/// (`cargo test -p ferrolb-e2e`), the tests need them built first: the panic says how.
pub fn program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|e| panic!("{e}"))
}

/// [`program`], or why it is not there (with the command that builds it).
pub fn find_program(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the running program's own path: {e}"))?;
    let dirs: Vec<&Path> = exe.ancestors().skip(1).take(2).collect();
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{name} is not built next to {}: run the workspace's tests (`cargo test --workspace`), or \
                 build it first (`cargo build -p {}`, with `--release` for a release build)",
                exe.display(),
                package_of(name)
            )
        })
}

fn package_of(program: &str) -> &str {
    match program {
        "ferrolb-controller" => "ferrolb-controller",
        "ferrolb-speaker" => "ferrolb-speaker",
        "ferrolb-lab" => "ferrolb-lab",
        _ => "ferrolb",
    }
}

/// kubectl on PATH; `None` when it is not installed (tests then skip, and fail under `CI=true`).
pub fn kubectl() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// kubectl, or `None` after printing why the test is skipped; under `CI=true` a missing kubectl panics.
pub fn kubectl_or_skip(test: &str) -> Option<PathBuf> {
    match kubectl() {
        Some(k) => Some(k),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: kubectl is not installed (required under CI)")
        }
        None => {
            eprintln!("SKIPPED {test}: kubectl is not installed");
            None
        }
    }
}

/// Runs `cmd` to completion within `timeout` (killed and reaped when it takes longer).
pub fn run_with_deadline(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    // Read the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_all(out.as_mut()));
    let err_reader = std::thread::spawn(move || read_all(err.as_mut()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: still running after {timeout:?}: killed"));
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

fn read_all(r: Option<&mut impl std::io::Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(r) = r {
        let _ = r.read_to_end(&mut buf);
    }
    buf
}

/// The text of `bytes`, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
