//! What both programs' `main` needs: the Kubernetes client, logging, and the shutdown signal.

use std::path::Path;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Why the program could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `--log-level` is neither a level nor a filter directive.
    #[error("--log-level {level:?}: {message}")]
    LogLevel {
        /// What was given.
        level: String,
        /// The parser's message.
        message: String,
    },
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// Its path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No kubeconfig was given and the in-cluster configuration (or `$KUBECONFIG`) is unusable.
    #[error("no kubeconfig given and no usable in-cluster configuration: {0}")]
    Infer(String),
    /// The client could not be built.
    #[error("building the Kubernetes client: {0}")]
    Client(String),
}

/// The filter for `--log-level`: a bare level applies to the program's own crate (`crate_name`), other
/// crates log warnings and errors only; anything else is a tracing filter directive used as given.
pub fn log_filter(level: &str, crate_name: &str) -> String {
    let level = level.trim();
    if ["error", "warn", "info", "debug", "trace"].contains(&level) {
        format!("warn,{crate_name}={level},ferrolb_k8s={level}")
    } else {
        level.to_owned()
    }
}

/// Installs the global subscriber: `--log-level` (see [`log_filter`]) and `--log-format`, to standard error.
pub fn init_logging(level: &str, format: LogFormat, crate_name: &str) -> Result<(), StartError> {
    let directives = log_filter(level, crate_name);
    let filter = EnvFilter::try_new(&directives).map_err(|e| StartError::LogLevel {
        level: level.to_owned(),
        message: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// The client: from `kubeconfig` when given, else `$KUBECONFIG` or `~/.kube/config`, else the in-cluster
/// configuration.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, StartError> {
    let config = client_config(kubeconfig, None).await?;
    kube::Client::try_from(config).map_err(|e| StartError::Client(e.to_string()))
}

/// The client configuration as kubectl finds it: `kubeconfig` when given, else `$KUBECONFIG` or
/// `~/.kube/config`, else (without a `context`) the in-cluster configuration; `context` selects a context of
/// the kubeconfig instead of its current one.
pub async fn client_config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Config, StartError> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    match (kubeconfig, context) {
        (Some(path), _) => {
            let fail = |message: String| StartError::Kubeconfig {
                path: path.display().to_string(),
                message,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| fail(e.to_string()))
        }
        // A context exists only in a kubeconfig: no in-cluster fallback.
        (None, Some(_)) => {
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| StartError::Kubeconfig {
                    path: "$KUBECONFIG or ~/.kube/config".to_owned(),
                    message: e.to_string(),
                })
        }
        (None, None) => kube::Config::infer()
            .await
            .map_err(|e| StartError::Infer(e.to_string())),
    }
}

/// Completes on SIGTERM or SIGINT (saying which).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_quiets_other_crates() {
        assert_eq!(
            log_filter("debug", "ferrolb_controller"),
            "warn,ferrolb_controller=debug,ferrolb_k8s=debug"
        );
        assert_eq!(
            log_filter(" info ", "ferrolb_speaker"),
            "warn,ferrolb_speaker=info,ferrolb_k8s=info"
        );
        assert_eq!(log_filter("kube=debug,info", "x"), "kube=debug,info");
    }
}
