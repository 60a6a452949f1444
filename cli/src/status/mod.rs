//! `ferrolb status` (every LoadBalancer Service with its IPs, pool, mode, announcing nodes and BGP peers,
//! under a header: leader, configuration, components, sessions, counts) and `ferrolb status pools` (each
//! pool's size and usage). Read-only: `list` and `get` requests, with the kubeconfig kubectl would use.
//!
//! ```text
//!  fetch (the only I/O) ──▶ Snapshot ──▶ config::load (as the programs load it)
//!                              │                  │
//!                              ▼                  ▼
//!                    services::view / pools::view (pure) ──▶ render: text, wide, json (pure)
//! ```
//!
//! Exit status: 0 all is well; 1 something is wrong (no leader, a component or the configuration objects
//! not valid, a Service pending, a BGP session not Established; the `Problems` section says what);
//! 2 the status could not be read, wholly (the API server unreachable, credentials or RBAC refused, ferrolb
//! not installed: one line on standard error) or partly (the `Not read` section).

mod config;
mod fetch;
mod objects;
mod pools;
mod render;
mod services;
mod snapshot;
mod table;
#[cfg(test)]
mod tests;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

/// `ferrolb status [pools]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(subcommand)]
    what: Option<What>,
    #[command(flatten)]
    options: Options,
}

/// What to show instead of the Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
enum What {
    /// One row per pool and address family: where it is defined, its size, the addresses assigned and
    /// available, auto-assign, the modes announcing it, the Services using it, its service allocation.
    Pools,
}

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// A header and a table.
    Text,
    /// The same with more columns (layer2 interfaces; pool address ranges).
    Wide,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
struct Options {
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster configuration).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    context: Option<String>,
    /// ferrolb's namespace: its Lease and status objects (ConfigurationState, ServiceL2Status,
    /// ServiceBGPStatus).
    #[arg(short = 'n', long, global = true, default_value = "ferrolb-system", value_parser = crate::dns_label)]
    namespace: String,
    /// Namespace of the configuration (ConfigMap, metallb.io resources; default: --namespace), as given to
    /// the programs.
    #[arg(long, global = true, value_parser = crate::dns_label)]
    config_namespace: Option<String>,
    /// Name of the legacy ConfigMap, as given to the programs.
    #[arg(long, global = true, default_value = "config")]
    config_map: String,
    /// Name of the controller's Lease, as given to the controller.
    #[arg(long, global = true, default_value = "ferrolb-controller")]
    lease_name: String,
    /// The load-balancer class ferrolb serves, as given to the programs (default: Services without one).
    #[arg(long, global = true)]
    load_balancer_class: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value = "text")]
    output: Output,
    /// Give up after this many seconds without the API server's answers.
    #[arg(long, global = true, default_value_t = 30)]
    timeout: u64,
}

/// Runs the command; an error (exit status 2) when nothing can be shown.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let o = &args.options;
    let target = fetch::Target {
        namespace: o.namespace.clone(),
        config_namespace: o.config_namespace.clone().unwrap_or_else(|| o.namespace.clone()),
        config_map: o.config_map.clone(),
        lease_name: o.lease_name.clone(),
        load_balancer_class: o.load_balancer_class.clone().filter(|c| !c.is_empty()),
    };
    let timeout = Duration::from_secs(o.timeout.max(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let snap = runtime.block_on(async {
        let mut config =
            ferrolb_k8s::runtime::client_config(o.kubeconfig.as_deref(), o.context.as_deref()).await?;
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
        let snap = tokio::time::timeout(timeout, fetch::snapshot(&client, &target))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "API server {url}: no answer within {}s (--timeout)",
                    timeout.as_secs()
                )
            })?;
        snap.map_err(|e| match e {
            fetch::FetchError::Services(gap) => anyhow::anyhow!("API server {url}: {gap}"),
            e => e.into(),
        })
    })?;
    let loaded = snap.config.as_ref().ok().map(config::load);
    let wide = o.output == Output::Wide;
    let (text, gaps, problems) = match args.what {
        None => {
            let v = services::view(&snap, loaded.as_ref());
            let text = match o.output {
                Output::Json => render::json(&v),
                _ => render::status(&v, wide),
            };
            (text, v.gaps.len(), v.problems.len())
        }
        Some(What::Pools) => {
            let v = pools::view(&snap, loaded.as_ref());
            let text = match o.output {
                Output::Json => render::json(&v),
                _ => render::pools(&v, wide),
            };
            (text, v.gaps.len(), v.problems.len())
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::from(exit_status(gaps, problems)))
}

/// 2 when something could not be read, else 1 when something is wrong, else 0.
fn exit_status(gaps: usize, problems: usize) -> u8 {
    match (gaps, problems) {
        (0, 0) => 0,
        (0, _) => 1,
        _ => 2,
    }
}
