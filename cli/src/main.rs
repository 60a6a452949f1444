//! `ferrolb`: the operator's command-line tool.
//!
//! Exit codes: 0 success; 1 the input is invalid (every error printed), or `status` found something wrong;
//! 2 the tool could not run (usage, unreadable file; `status`: the cluster could not be read).

#![forbid(unsafe_code)]

mod check;
mod import;
mod status;

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// ferrolb: a bare-metal LoadBalancer for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "ferrolb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file: MetalLB's `metallb.io` resources (IPAddressPool, L2Advertisement,
    /// BGPAdvertisement, BGPPeer, BFDProfile, Community, with the Secrets peers name and, if any, the legacy
    /// ConfigMap alongside), a legacy ConfigMap manifest, or the raw `config` text; any number of YAML
    /// documents, `kind: List` included. Prints every error with its object, path and line and exits 1, or
    /// prints a summary.
    CheckConfig {
        /// The file to check; `-` reads standard input.
        file: PathBuf,
    },
    /// Convert a legacy MetalLB ConfigMap (what MetalLB <= v0.12 read and kubespray <= v2.21 renders) to the
    /// equivalent metallb.io resources on stdout, as MetalLB's configmaptocrs does (same object names);
    /// notes (renamed objects) on stderr. Exits 1 when no resources result.
    ImportMetallb {
        /// The ConfigMap manifest or its `config` text; `-` reads standard input.
        file: PathBuf,
        /// Namespace of the resources.
        #[arg(long, default_value = "ferrolb-system", value_parser = dns_label)]
        namespace: String,
    },
    /// Show ferrolb's state in a cluster (kubeconfig as kubectl finds it): the controller leader, what the
    /// controller and each speaker make of the configuration, BGP sessions, then one row per Service and IP
    /// with its pool, mode (layer2/bgp), announcing nodes and BGP peers with their session state.
    /// `ferrolb status pools` shows each pool's size and usage. Read-only. Exits 1 when something is wrong
    /// (listed under "Problems"), 2 when the cluster could not be read (ferrolb not installed, API server
    /// unreachable, access refused).
    Status(status::StatusArgs),
}

/// A Kubernetes object name that is also a DNS label (namespaces here).
fn dns_label(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a DNS label (lower-case letters, digits and '-', at most 63)"
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferrolb: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::ImportMetallb { file, namespace } => import_metallb(&file, &namespace),
        Command::Status(args) => status::run(args),
        Command::CheckConfig { file } => {
            let (label, bytes) = read_input(&file)?;
            let report = match String::from_utf8(bytes) {
                Ok(input) => check::check(&label, &input),
                Err(e) => check::not_text(&label, e.utf8_error().valid_up_to()),
            };
            std::io::stdout()
                .write_all(report.stdout.as_bytes())
                .context("writing to stdout")?;
            std::io::stderr()
                .write_all(report.stderr.as_bytes())
                .context("writing to stderr")?;
            Ok(if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn import_metallb(file: &PathBuf, namespace: &str) -> anyhow::Result<ExitCode> {
    let (label, bytes) = read_input(file)?;
    let Ok(input) = String::from_utf8(bytes) else {
        eprintln!("{label}: not YAML: not UTF-8 text");
        return Ok(ExitCode::from(1));
    };
    let result = import::import(&input, namespace);
    std::io::stdout()
        .write_all(result.manifest.as_bytes())
        .context("writing to stdout")?;
    std::io::stderr()
        .write_all(result.report(&label).as_bytes())
        .context("writing to stderr")?;
    Ok(if result.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_input(file: &PathBuf) -> anyhow::Result<(String, Vec<u8>)> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    Ok((file.display().to_string(), bytes))
}
