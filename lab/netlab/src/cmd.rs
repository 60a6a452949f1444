//! Running short-lived commands (`ip`, `nft`, `arping`, `birdc`, …) with a deadline.
//!
//! Every command gets a timeout; on expiry the child is killed by PID and reaped, so a hung tool can
//! neither block a test forever nor leave a zombie. Output is collected by reader threads so a chatty
//! tool cannot dead-lock on a full pipe.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::wait::Backoff;

/// Default deadline for a lab command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A command to run to completion, optionally inside a network namespace (`ip netns exec`).
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    netns: Option<String>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl CmdOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code, if the command exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Turns a non-zero exit into [`LabError::CommandFailed`].
    pub fn ok(self) -> Result<CmdOutput> {
        if self.success() {
            Ok(self)
        } else {
            Err(LabError::CommandFailed {
                command: self.command,
                status: self.status.to_string(),
                stderr: first_lines(&format!("{}{}", self.stderr, self.stdout), 8),
            })
        }
    }
}

impl Cmd {
    /// A command running `program` (a path or a name looked up on PATH).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            netns: None,
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
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

    /// Runs the command inside the named network namespace (via `ip netns exec`).
    pub fn netns(mut self, ns: impl Into<String>) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Feeds `input` to the command's standard input.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Sets the deadline (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line as a human-readable string.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(ns) = &self.netns {
            parts.push(format!("ip netns exec {ns}"));
        }
        parts.push(self.program.to_string_lossy().into_owned());
        parts.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        parts.join(" ")
    }

    fn command(&self) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new(crate::prereq::tool_path("ip"));
                c.arg("netns")
                    .arg("exec")
                    .arg(ns)
                    .arg(&self.program)
                    .args(&self.args);
                c
            }
            None => {
                let mut c = Command::new(&self.program);
                c.args(&self.args);
                c
            }
        }
    }

    /// Runs the command to completion (or kills it at the deadline) and returns its output,
    /// whatever the exit status.
    pub fn output(&self) -> Result<CmdOutput> {
        let command = self.display();
        let mut child = self
            .command()
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: command.clone(),
                source,
            })?;
        if let (Some(input), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // Inputs are small scripts; a writer thread keeps a stuck reader from blocking us.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let out_rx = reader(child.stdout.take());
        let err_rx = reader(child.stderr.take());
        let start = Instant::now();
        let mut backoff = Backoff::new();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(LabError::io(format!("waiting for `{command}`"), e)),
            }
            if start.elapsed() >= self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::CommandTimeout {
                    command,
                    timeout: self.timeout,
                });
            }
            backoff.sleep();
        };
        // The pipes close when the child exits (our tools do not leave children behind); bound the
        // wait anyway so that a grandchild holding a pipe cannot hang us.
        let grace = Duration::from_secs(2);
        let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
        let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
        Ok(CmdOutput {
            command,
            status,
            stdout,
            stderr,
        })
    }

    /// Runs the command and requires exit status 0.
    pub fn run(&self) -> Result<CmdOutput> {
        self.output()?.ok()
    }
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    } else {
        let _ = tx.send(String::new());
    }
    rx
}

/// The first `n` lines of `text`, for error messages.
pub(crate) fn first_lines(text: &str, n: usize) -> String {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n + 1)
        .collect();
    if lines.len() > n {
        lines.truncate(n);
        lines.push("…");
    }
    lines.join(" | ")
}

/// Runs `ip [-n ns] -batch -` with `script` (one `ip` command per line).
pub fn ip_batch(netns: Option<&str>, script: &str) -> Result<()> {
    if script.trim().is_empty() {
        return Ok(());
    }
    let mut cmd = Cmd::new(crate::prereq::tool_path("ip"));
    if let Some(ns) = netns {
        cmd = cmd.arg("-n").arg(ns);
    }
    cmd.args(["-batch", "-"])
        .stdin(script.as_bytes().to_vec())
        .run()
        .map(drop)
}

/// Runs `nft -f -` with `script` inside the namespace.
pub fn nft_script(netns: &str, script: &str) -> Result<()> {
    Cmd::new(crate::prereq::tool_path("nft"))
        .args(["-f", "-"])
        .netns(netns)
        .stdin(script.as_bytes().to_vec())
        .run()
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_collects_stdout_stderr_and_status() {
        let out = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .unwrap();
        assert_eq!(out.stdout.trim(), "out");
        assert_eq!(out.stderr.trim(), "err");
        assert_eq!(out.code(), Some(3));
        let err = out.ok().unwrap_err().to_string();
        assert!(err.contains("err"), "{err}");
    }

    #[test]
    fn stdin_is_fed() {
        let out = Cmd::new("cat").stdin("hello").run().unwrap();
        assert_eq!(out.stdout, "hello");
    }

    #[test]
    fn timeout_kills_the_child() {
        let start = Instant::now();
        let err = Cmd::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(100))
            .output()
            .unwrap_err();
        assert!(matches!(err, LabError::CommandTimeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn missing_program_is_a_spawn_error_naming_it() {
        let err = Cmd::new("/nonexistent/flb-tool").output().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/flb-tool"), "{err}");
    }

    #[test]
    fn first_lines_truncates() {
        assert_eq!(first_lines("a\n\nb\nc\n", 2), "a | b | …");
        assert_eq!(first_lines("a\nb", 2), "a | b");
    }
}
