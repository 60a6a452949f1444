//! Supervising long-running programs (routers, speakers, controllers) inside lab namespaces.
//!
//! Every program runs in the foreground as a direct child of the test process (`ip netns exec`
//! execs the program, so the child's PID is the program's PID), with stdout and stderr in
//! `<work dir>/<name>.log`. PID 1 here is not a reaping init: a process is only ever signalled while
//! we still hold its unreaped `Child` (so its PID cannot have been reused), and every stop ends with
//! a bounded `wait` — no zombies. Dropping a [`Process`] kills and reaps it; the lab's registry does
//! the same at teardown for handles still alive.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{LabError, Result};
use crate::wait::Backoff;

/// How long a killed process may take to be reaped before we give up on it.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// A program to supervise.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    name: String,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl ProcessSpec {
    /// `name` names the log file (`<name>.log`) and appears in messages; `program` is a path or a
    /// name on PATH.
    pub fn new(name: impl Into<String>, program: impl AsRef<OsStr>) -> Self {
        ProcessSpec {
            name: name.into(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug)]
enum State {
    Running(Child),
    Exited(ExitStatus),
    /// Killed but not reaped within [`REAP_TIMEOUT`] (uninterruptible sleep); never signalled again.
    Lost,
}

#[derive(Debug)]
struct Inner {
    name: String,
    pid: u32,
    netns: Option<String>,
    log: PathBuf,
    state: Mutex<State>,
}

/// A supervised program. Dropping the handle kills (SIGKILL) and reaps the program.
#[derive(Debug)]
pub struct Process {
    inner: Arc<Inner>,
}

/// Keeps track of every process a lab started, so teardown can stop those whose handles live on.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    procs: Mutex<Vec<Weak<Inner>>>,
}

impl Registry {
    fn add(&self, inner: &Arc<Inner>) {
        let mut procs = self.procs.lock().unwrap_or_else(|e| e.into_inner());
        procs.retain(|w| w.strong_count() > 0);
        procs.push(Arc::downgrade(inner));
    }

    /// Kills and reaps every live process; returns the PIDs handled and problems met.
    pub(crate) fn kill_all(&self) -> (Vec<u32>, Vec<String>) {
        let procs: Vec<Arc<Inner>> = {
            let mut guard = self.procs.lock().unwrap_or_else(|e| e.into_inner());
            guard.drain(..).filter_map(|w| w.upgrade()).collect()
        };
        let mut pids = Vec::new();
        let mut problems = Vec::new();
        for p in procs {
            pids.push(p.pid);
            if let Err(e) = p.kill() {
                problems.push(e.to_string());
            }
        }
        (pids, problems)
    }
}

/// Starts `spec` (inside `netns` when given) with its output in `<log_dir>/<name>.log`.
pub(crate) fn spawn(
    registry: &Registry,
    netns: Option<&str>,
    log_dir: &Path,
    spec: &ProcessSpec,
) -> Result<Process> {
    let log = log_dir.join(format!("{}.log", spec.name));
    let out = File::create(&log).map_err(|e| LabError::io(format!("creating log {}", log.display()), e))?;
    let err = out
        .try_clone()
        .map_err(|e| LabError::io(format!("log {}", log.display()), e))?;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new(crate::prereq::tool_path("ip"));
            c.args([
                OsStr::new("netns"),
                OsStr::new("exec"),
                OsStr::new(ns),
                &spec.program,
            ]);
            c
        }
        None => Command::new(&spec.program),
    };
    cmd.args(&spec.args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let command = std::iter::once(&spec.program)
        .chain(&spec.args)
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let child = cmd
        .spawn()
        .map_err(|source| LabError::Spawn { command, source })?;
    let inner = Arc::new(Inner {
        name: spec.name.clone(),
        pid: child.id(),
        netns: netns.map(str::to_string),
        log,
        state: Mutex::new(State::Running(child)),
    });
    registry.add(&inner);
    let process = Process { inner };
    if let Some(ns) = netns {
        process.wait_entered(ns)?;
    }
    Ok(process)
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the exit if the child has exited; returns the status if so.
    fn poll(state: &mut State) -> Option<ExitStatus> {
        match state {
            State::Running(child) => match child.try_wait() {
                Ok(Some(status)) => {
                    *state = State::Exited(status);
                    Some(status)
                }
                _ => None,
            },
            State::Exited(status) => Some(*status),
            State::Lost => None,
        }
    }

    fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        let mut backoff = Backoff::new();
        loop {
            {
                let mut state = self.state();
                if let Some(status) = Inner::poll(&mut state) {
                    return Ok(status);
                }
                if matches!(*state, State::Lost) {
                    return Err(self.lost());
                }
            }
            if start.elapsed() >= timeout {
                return Err(LabError::Timeout {
                    what: format!("process {} (pid {}) to exit", self.name, self.pid),
                    timeout,
                    detail: String::new(),
                });
            }
            backoff.sleep();
        }
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        let mut state = self.state();
        if Inner::poll(&mut state).is_some() || matches!(*state, State::Lost) {
            return Ok(()); // already gone: never signal a PID we no longer own
        }
        let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        nix::sys::signal::kill(pid, signal).map_err(|e| {
            LabError::io(
                format!("sending {signal} to {} (pid {})", self.name, self.pid),
                e.into(),
            )
        })
    }

    fn kill(&self) -> Result<ExitStatus> {
        self.signal(Signal::SIGKILL)?;
        match self.wait_exit(REAP_TIMEOUT) {
            Ok(status) => Ok(status),
            Err(e) => {
                let mut state = self.state();
                if matches!(*state, State::Running(_)) {
                    *state = State::Lost;
                }
                Err(e)
            }
        }
    }

    fn lost(&self) -> LabError {
        LabError::Invalid(format!(
            "process {} (pid {}) did not die after SIGKILL",
            self.name, self.pid
        ))
    }
}

impl Process {
    /// Waits until `ip netns exec` has moved the child into `ns` (or the child has exited), so
    /// that whatever the caller does next sees the program inside its namespace.
    fn wait_entered(&self, ns: &str) -> Result<()> {
        let want = match crate::netns::Netns::new(ns).inode() {
            Ok(inode) => format!("net:[{inode}]"),
            Err(_) => return Ok(()), // `ip netns exec` will fail and say why in the log
        };
        let link = format!("/proc/{}/ns/net", self.inner.pid);
        crate::wait::wait_for(
            &format!("{} to enter {ns}", self.inner.name),
            Duration::from_secs(5),
            || {
                let entered = std::fs::read_link(&link).is_ok_and(|l| l.to_string_lossy() == want);
                Ok((entered || !self.is_running()).then_some(()))
            },
        )
    }

    /// The name given in the spec.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The program's PID.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> Option<&str> {
        self.inner.netns.as_deref()
    }

    /// Where its stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.inner.log
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.inner.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether it is still running (reaps it if it has exited).
    pub fn is_running(&self) -> bool {
        let mut state = self.inner.state();
        Inner::poll(&mut state).is_none() && matches!(*state, State::Running(_))
    }

    /// Its exit status, once it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        Inner::poll(&mut self.inner.state())
    }

    /// Sends a signal by PID (nothing if it has already exited).
    pub fn signal(&self, signal: Signal) -> Result<()> {
        self.inner.signal(signal)
    }

    /// SIGKILL by PID and reap (bounded).
    pub fn kill(&self) -> Result<ExitStatus> {
        self.inner.kill()
    }

    /// SIGTERM, wait up to `grace` for it to exit, then SIGKILL; always reaps.
    pub fn stop(&self, grace: Duration) -> Result<ExitStatus> {
        self.inner.signal(Signal::SIGTERM)?;
        match self.inner.wait_exit(grace) {
            Ok(status) => Ok(status),
            Err(_) => self.inner.kill(),
        }
    }

    /// Waits (bounded) for the program to exit by itself.
    pub fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus> {
        self.inner.wait_exit(timeout)
    }

    /// `Err(ProcessExited)` if the program has exited, naming `what` was expected of it.
    pub fn ensure_running(&self, what: &str) -> Result<()> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(LabError::ProcessExited(Box::new(crate::error::ProcessExit {
                name: self.inner.name.clone(),
                pid: self.inner.pid,
                status: status.to_string(),
                what: what.to_string(),
                log: self.inner.log.clone(),
                tail: self.log_tail(6).replace('\n', " | "),
            }))),
        }
    }

    /// Polls `check` until it returns true, failing early if the program exits, and at `timeout`.
    pub fn wait_ready(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Result<()> {
        crate::wait::wait_for(what, timeout, || {
            self.ensure_running(what)?;
            Ok(check().then_some(()))
        })
    }

    /// Waits until the log contains `needle` (or the program exits, or `timeout` passes).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        let what = format!("`{needle}` in the log of {}", self.inner.name);
        crate::wait::wait_for(&what, timeout, || {
            if self.log().contains(needle) {
                return Ok(Some(()));
            }
            self.ensure_running(&what)?;
            Ok(None)
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.inner.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("flb-sup-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn gone(pid: u32) -> bool {
        // reaped children vanish from /proc; a zombie would still show (state Z)
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err()
    }

    #[test]
    fn logs_output_and_reports_exit() {
        let reg = Registry::default();
        let p = spawn(
            &reg,
            None,
            &dir(),
            &ProcessSpec::new("echoer", "sh").args(["-c", "echo ready; exit 4"]),
        )
        .unwrap();
        let status = p.wait_exit(Duration::from_secs(5)).unwrap();
        assert_eq!(status.code(), Some(4));
        assert!(p.log().contains("ready"));
        let err = p.ensure_running("serving").unwrap_err().to_string();
        assert!(err.contains("echoer") && err.contains("ready"), "{err}");
        assert!(gone(p.pid()));
    }

    #[test]
    fn stop_terminates_and_reaps() {
        let reg = Registry::default();
        let p = spawn(
            &reg,
            None,
            &dir(),
            &ProcessSpec::new("sleeper", "sleep").arg("30"),
        )
        .unwrap();
        assert!(p.is_running());
        let status = p.stop(Duration::from_secs(5)).unwrap();
        assert_eq!(status.code(), None, "killed by a signal");
        assert!(gone(p.pid()), "no zombie left");
        p.signal(Signal::SIGKILL).unwrap(); // signalling an exited process is a no-op
    }

    #[test]
    fn wait_for_log_fails_early_when_the_program_dies() {
        let reg = Registry::default();
        let p = spawn(
            &reg,
            None,
            &dir(),
            &ProcessSpec::new("dies", "sh").args(["-c", "echo boom; exit 1"]),
        )
        .unwrap();
        let start = Instant::now();
        let err = p
            .wait_for_log("never printed", Duration::from_secs(20))
            .unwrap_err();
        assert!(matches!(err, LabError::ProcessExited(_)), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn registry_and_drop_kill_what_is_left() {
        let reg = Registry::default();
        let a = spawn(&reg, None, &dir(), &ProcessSpec::new("a", "sleep").arg("30")).unwrap();
        let b = spawn(&reg, None, &dir(), &ProcessSpec::new("b", "sleep").arg("30")).unwrap();
        let (pa, pb) = (a.pid(), b.pid());
        drop(a);
        assert!(gone(pa));
        let (pids, problems) = reg.kill_all();
        assert_eq!(pids, vec![pb]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(gone(pb) && !b.is_running());
    }
}
