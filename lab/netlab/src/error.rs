//! The lab's error type: every variant names the culprit (command, host, file, daemon).

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while building, driving or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A prerequisite (root, a tool) is missing; the message says what and how to get it.
    #[error("lab prerequisites missing: {0}")]
    Prerequisites(String),
    /// A program could not be started at all.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A command ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },
    /// A command did not finish in time and was killed.
    #[error("`{command}` did not finish within {timeout:?} (killed)")]
    CommandTimeout { command: String, timeout: Duration },
    /// A condition was not met before its deadline.
    #[error("timed out after {timeout:?} waiting for {what}{}", detail_suffix(.detail))]
    Timeout {
        what: String,
        timeout: Duration,
        detail: String,
    },
    /// A supervised process exited while something was waiting for it to become ready.
    #[error(
        "process `{}` (pid {}) exited ({}) while waiting for {}; log {}: {}",
        .0.name, .0.pid, .0.status, .0.what, .0.log.display(), .0.tail
    )]
    ProcessExited(Box<ProcessExit>),
    /// File-system or socket error on a named path or object.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Entering a network namespace failed.
    #[error("cannot enter network namespace `{ns}`: {reason}")]
    Netns { ns: String, reason: String },
    /// A tool's output could not be understood.
    #[error("cannot parse output of {tool}: {reason}")]
    Parse { tool: String, reason: String },
    /// The request does not make sense for this lab or daemon (unknown host, unsupported option).
    #[error("invalid lab request: {0}")]
    Invalid(String),
    /// Teardown could not remove everything; each entry names what was left.
    #[error("teardown left things behind: {}", .0.join("; "))]
    Teardown(Vec<String>),
}

/// Details of [`LabError::ProcessExited`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExit {
    /// The process's name (its log file's stem).
    pub name: String,
    /// Its PID.
    pub pid: u32,
    /// How it exited.
    pub status: String,
    /// What was being waited for.
    pub what: String,
    /// Its log file.
    pub log: PathBuf,
    /// The last lines of its log.
    pub tail: String,
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" (last seen: {detail})")
    }
}

impl LabError {
    /// An I/O error with the name of the object it concerns.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            what: what.into(),
            source,
        }
    }

    /// A parse error for the named tool.
    pub fn parse(tool: impl Into<String>, reason: impl Into<String>) -> Self {
        LabError::Parse {
            tool: tool.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
