//! `ferrolb-controller`: assigns load-balancer IPs to Services, writes their status, elects a leader.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use ferrolb_controller::run::{
    DEFAULT_CONFIG_MAP, DEFAULT_LEASE_NAME, DEFAULT_MEMBERLIST_SECRET, DEFAULT_METRICS_ADDR,
    DEFAULT_NAMESPACE, default_identity,
};
use ferrolb_controller::{Config, MetricsListen, Timings};
use ferrolb_k8s::runtime::{self, LogFormat};

/// Assigns load-balancer IPs to Services from the pools of the ferrolb ConfigMap.
#[derive(Debug, Parser)]
#[command(name = "ferrolb-controller", version)]
struct Args {
    /// Kubeconfig file (default: in-cluster config, else $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// ferrolb's namespace: the membership Secret, the Lease, the controller's ConfigurationState.
    #[arg(long, env = "FERROLB_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// Namespace of the configuration: the ConfigMap, the metallb.io resources and their Secrets (default:
    /// `--namespace`). `metallb-system` reads the configuration MetalLB left there.
    #[arg(long, env = "FERROLB_CONFIG_NAMESPACE")]
    config_namespace: Option<String>,
    /// Name of the config ConfigMap (key `config`).
    #[arg(long, default_value = DEFAULT_CONFIG_MAP)]
    config_map: String,
    /// Name of the membership Secret (key `secretkey`), created if absent.
    #[arg(long, default_value = DEFAULT_MEMBERLIST_SECRET)]
    memberlist_secret: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = DEFAULT_LEASE_NAME)]
    lease_name: String,
    /// Lease duration (whole seconds), e.g. 15s.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// How long the leader keeps acting without renewing, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    renew_deadline: Duration,
    /// How often to try to acquire or renew the Lease, e.g. 2s.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    retry_period: Duration,
    /// Serve only Services with this spec.loadBalancerClass (default: Services without a class).
    #[arg(long)]
    load_balancer_class: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = DEFAULT_METRICS_ADDR)]
    metrics_addr: SocketAddr,
    /// Log level of the controller (other crates log warnings and errors), or a tracing filter directive
    /// (e.g. `info,kube=debug`).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Identity in the Lease (default: pod or host name plus a random suffix).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

/// `15s`, `1500ms`, `2m` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (write e.g. 15s or 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

// One thread: the controller waits on the API server almost all the time, and its work per event is
// microseconds (10,000 Services are served in about a second). A multi-threaded runtime measured slower on a
// small node and used more memory (per-thread allocator arenas). The election shares the thread; its fence
// does not depend on it (see `leader`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    runtime::init_logging(&args.log_level, args.log_format, "ferrolb_controller")?;
    let timings = Timings {
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    };
    timings.validate().context("leader election flags")?;
    let config = Config {
        client: runtime::client(args.kubeconfig.as_deref()).await?,
        namespace: args.namespace,
        config_namespace: args.config_namespace.filter(|n| !n.is_empty()),
        config_map: args.config_map,
        memberlist_secret: args.memberlist_secret,
        lease_name: args.lease_name,
        timings,
        load_balancer_class: args.load_balancer_class.filter(|c| !c.is_empty()),
        metrics: MetricsListen::Addr(args.metrics_addr),
        identity: args
            .identity
            .filter(|i| !i.is_empty())
            .unwrap_or_else(default_identity),
    };
    ferrolb_controller::run(config, runtime::shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn flags_parse() {
        let a = Args::try_parse_from([
            "ferrolb-controller",
            "--namespace",
            "lb",
            "--lease-duration",
            "4s",
            "--load-balancer-class",
            "example.com/lb",
            "--log-format",
            "json",
        ])
        .expect("valid flags");
        assert_eq!(a.namespace, "lb");
        assert_eq!(a.lease_duration, Duration::from_secs(4));
        assert_eq!(a.load_balancer_class.as_deref(), Some("example.com/lb"));
        assert!(matches!(a.log_format, LogFormat::Json));
    }
}
