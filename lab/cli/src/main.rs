//! `ferrolb-lab`: lab tooling. `ferrolb-lab apiserver` runs the embedded Kubernetes API server and writes
//! kubeconfigs that `kube` and `kubectl` accept; `ferrolb-lab demo` (as root) runs the whole system in a
//! network-namespace lab and shows that it works.

#![forbid(unsafe_code)]

mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrolb_apiserver::{ApiServer, ServerConfig, TlsConfig};

#[derive(Debug, Parser)]
#[command(name = "ferrolb-lab", version, about = "ferrolb lab tooling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded Kubernetes API server (plain HTTP) until interrupted.
    Apiserver(ApiserverArgs),
    /// As root: build a lab, run ferrolb in it (the examples/ manifests), show that it works, tear it down.
    Demo(demo::DemoArgs),
}

#[derive(Debug, clap::Args)]
struct ApiserverArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write kubeconfigs; repeatable. `FILE` writes FILE for the first `--user` and FILE.<user>
    /// (`:` → `_`) for each other one; `USER=FILE` writes FILE for USER (who gets a token).
    #[arg(long)]
    kubeconfig_out: Vec<String>,
    /// A user to issue a token for; repeatable.
    #[arg(long = "user", default_value = "admin")]
    users: Vec<String>,
    /// Node port range, `FIRST-LAST` (kube-apiserver's `--service-node-port-range`).
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    service_node_port_range: std::ops::RangeInclusive<u16>,
    /// Server URL to put in kubeconfigs (default: the listen address).
    #[arg(long)]
    advertise_url: Option<String>,
    /// Append one JSON line per API request (user, verb, resource, code) to this file.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Emulated Kubernetes minor version (1.N).
    #[arg(long, default_value_t = 28)]
    version_minor: u32,
    /// Reject requests without a token.
    #[arg(long)]
    no_anonymous: bool,
    /// Serve HTTPS with a CA generated at start (kubeconfigs carry it). kubectl sends its token only
    /// over HTTPS, so only then are its requests audited under their user.
    #[arg(long)]
    tls: bool,
    /// An extra name or address for the serving certificate (besides localhost, 127.0.0.1, ::1, the
    /// listen address and the `--advertise-url` host); repeatable.
    #[arg(long = "tls-san")]
    tls_sans: Vec<String>,
    /// Serve the custom resources of the CustomResourceDefinitions in this YAML file; repeatable.
    #[arg(long = "crd")]
    crds: Vec<PathBuf>,
}

fn parse_port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?}: expected FIRST-LAST"))?;
    let (a, b): (u16, u16) = (
        a.parse().map_err(|e| format!("{a:?}: {e}"))?,
        b.parse().map_err(|e| format!("{b:?}: {e}"))?,
    );
    if a > b {
        return Err(format!("{s:?}: first port after last"));
    }
    Ok(a..=b)
}

/// The host of `scheme://host[:port][/…]` (IPv6 without brackets).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// `USER=FILE` (the part before `=` has no `/`) or a plain path.
fn split_target(arg: &str) -> (Option<&str>, &str) {
    match arg.split_once('=') {
        Some((user, file)) if !user.is_empty() && !user.contains('/') && !file.is_empty() => {
            (Some(user), file)
        }
        _ => (None, arg),
    }
}

fn kubeconfig_path(base: &std::path::Path, index: usize, user: &str) -> PathBuf {
    if index == 0 {
        return base.to_path_buf();
    }
    let safe: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut p = base.as_os_str().to_owned();
    p.push(format!(".{safe}"));
    PathBuf::from(p)
}

async fn apiserver(args: ApiserverArgs) -> anyhow::Result<()> {
    let mut crds = Vec::new();
    for path in &args.crds {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        crds.extend(
            ferrolb_apiserver::resources::crds_from_yaml(&text)
                .with_context(|| format!("in {}", path.display()))?,
        );
    }
    let mut tls_sans = args.tls_sans.clone();
    if let Some(host) = args.advertise_url.as_deref().and_then(url_host) {
        tls_sans.push(host);
    }
    let config = ServerConfig {
        tls: args.tls.then_some(TlsConfig { extra_sans: tls_sans }),
        crds,
        version_minor: args.version_minor,
        node_port_range: args.service_node_port_range.clone(),
        users: args.users.clone(),
        allow_anonymous: !args.no_anonymous,
        audit_file: args.audit_log.clone(),
        ..ServerConfig::default()
    };
    let server = ApiServer::new(config).context("configuring the API server")?;
    let handle = server
        .bind(args.listen)
        .await
        .context("starting the API server")?;
    let url = args
        .advertise_url
        .clone()
        .unwrap_or_else(|| handle.url().to_owned());
    let mut targets: Vec<(String, PathBuf)> = Vec::new();
    for arg in &args.kubeconfig_out {
        match split_target(arg) {
            (Some(user), file) => targets.push((user.to_owned(), PathBuf::from(file))),
            (None, base) => {
                for (i, user) in args.users.iter().enumerate() {
                    targets.push((user.clone(), kubeconfig_path(std::path::Path::new(base), i, user)));
                }
            }
        }
    }
    for (user, path) in targets {
        std::fs::write(&path, handle.kubeconfig_for(&user, &url))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("kubeconfig for {user}: {}", path.display());
    }
    println!("API server listening on {url}");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    // The demo's own API server logs nothing below warnings: its output is the story.
    let default_filter = match cli.command {
        Command::Demo(_) => "warn",
        Command::Apiserver(_) => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Apiserver(a) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(apiserver(a))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        // The demo runs its own runtime inside the lab's api namespace; it blocks on the lab's tools.
        Command::Demo(a) => Ok(demo::run(&a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_paths_per_user() {
        let base = std::path::Path::new("/tmp/kc");
        assert_eq!(kubeconfig_path(base, 0, "admin"), PathBuf::from("/tmp/kc"));
        assert_eq!(
            kubeconfig_path(base, 1, "system:serviceaccount:ferrolb-system:ferrolb-controller"),
            PathBuf::from("/tmp/kc.system_serviceaccount_ferrolb-system_ferrolb-controller")
        );
        Cli::try_parse_from([
            "ferrolb-lab",
            "apiserver",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "a",
            "--user",
            "b",
        ])
        .unwrap();
    }
}
