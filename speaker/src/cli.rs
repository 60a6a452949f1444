//! Command-line flags (names shared with the controller and the manifests: docs/architecture.md).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use ferrolb_k8s::config::ConfigNames;
pub use ferrolb_k8s::runtime::LogFormat;

use crate::bgp::ShutdownPolicy;
use crate::index::IndexSettings;
use crate::interfaces::{DEFAULT_EXCLUDES, InterfaceFilter};
use crate::membership::Timings;
use crate::tasks::RunSettings;

/// The ferrolb speaker: announces load-balancer IPs from this node (layer2: ARP/NDP).
#[derive(Debug, Clone, Parser)]
#[command(name = "ferrolb-speaker", version, about)]
pub struct Args {
    /// This node's name (the DaemonSet sets it from `spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// A kubeconfig file; without it, the in-cluster configuration (or $KUBECONFIG) is used.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// ferrolb's namespace (membership Secret, this speaker's Pod, its status objects).
    #[arg(long, env = "FERROLB_NAMESPACE", default_value = "ferrolb-system")]
    pub namespace: String,
    /// Namespace of the configuration: the ConfigMap, the metallb.io resources and their Secrets (default:
    /// `--namespace`). `metallb-system` reads the configuration MetalLB left there.
    #[arg(long, env = "FERROLB_CONFIG_NAMESPACE")]
    pub config_namespace: Option<String>,
    /// Name of the config ConfigMap (key `config`).
    #[arg(long, default_value = "config")]
    pub config_map: String,
    /// Name of the membership Secret (key `secretkey`).
    #[arg(long, default_value = "ferrolb-memberlist")]
    pub memberlist_secret: String,
    /// UDP port of the membership protocol (the same on every node).
    #[arg(long, default_value_t = 7946)]
    pub memberlist_port: u16,
    /// This node's membership address (default: its Node's first InternalIP).
    #[arg(long, env = "FERROLB_MEMBERLIST_ADDR")]
    pub memberlist_addr: Option<IpAddr>,
    /// Only Services with this `spec.loadBalancerClass` (default: only Services without one).
    #[arg(long)]
    pub load_balancer_class: Option<String>,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:7473")]
    pub metrics_addr: SocketAddr,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`) or a tracing filter directive.
    #[arg(long, env = "FERROLB_LOG", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Interfaces to announce on, as glob patterns (comma-separated or repeated); default: every eligible one.
    #[arg(long = "interfaces", value_delimiter = ',')]
    pub interfaces: Vec<String>,
    /// Interfaces never to announce on, as glob patterns; replaces the default list (see `--help`).
    #[arg(long = "exclude-interfaces", value_delimiter = ',', default_values_t = DEFAULT_EXCLUDES.iter().map(|s| s.to_string()))]
    pub exclude_interfaces: Vec<String>,
    /// How BGP sessions end on SIGTERM: `auto` (default) keeps the routes at graceful-restart peers when this
    /// Node is schedulable, Ready and not leaving and this pod (`--pod-name`) is being deleted through the API
    /// (a restart or upgrade), and withdraws them otherwise (a node shutdown, reboot, drain or kill);
    /// `withdraw` always withdraws at once; `graceful` always keeps them.
    #[arg(long, env = "FERROLB_BGP_SHUTDOWN", value_enum, default_value_t = ShutdownPolicy::Auto)]
    pub bgp_shutdown: ShutdownPolicy,
    /// This speaker's Pod (the DaemonSet sets it from `metadata.name`), in `--namespace`: `auto` keeps the
    /// routes only when it is being deleted. Without it, `auto` always withdraws.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
}

impl Args {
    /// The speaker's settings.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            node: self.node_name.clone(),
            index: IndexSettings {
                namespace: self.namespace.clone(),
                config: ConfigNames {
                    namespace: self
                        .config_namespace
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| self.namespace.clone()),
                    config_map: self.config_map.clone(),
                    ..ConfigNames::default()
                },
                secret: self.memberlist_secret.clone(),
                lb_class: self.load_balancer_class.clone(),
                ..IndexSettings::default()
            },
            memberlist_port: self.memberlist_port,
            memberlist_addr: self.memberlist_addr,
            timings: Timings::default(),
            interfaces: InterfaceFilter {
                include: self.interfaces.clone(),
                exclude: self.exclude_interfaces.clone(),
            },
            metrics_addr: self.metrics_addr,
            bgp_shutdown: self.bgp_shutdown,
            pod_name: self.pod_name.clone().filter(|n| !n.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_shared_names() {
        let a = Args::try_parse_from(["ferrolb-speaker", "--node-name", "n1"]).unwrap();
        let s = a.settings();
        assert_eq!(s.index.config.namespace, "ferrolb-system");
        assert_eq!(s.index.namespace, "ferrolb-system");
        let other = Args::try_parse_from([
            "ferrolb-speaker",
            "--node-name",
            "n1",
            "--config-namespace",
            "metallb-system",
        ])
        .unwrap()
        .settings();
        assert_eq!(
            (
                other.index.namespace.as_str(),
                other.index.config.namespace.as_str()
            ),
            ("ferrolb-system", "metallb-system")
        );
        assert_eq!(s.index.config.config_map, "config");
        assert_eq!(s.index.config.config_key, "config");
        assert_eq!(s.index.secret, "ferrolb-memberlist");
        assert_eq!(s.index.secret_key, "secretkey");
        assert_eq!(s.memberlist_port, 7946);
        assert_eq!(s.metrics_addr.port(), 7473);
        assert_eq!(s.index.lb_class, None);
        assert_eq!(s.interfaces, InterfaceFilter::default());
        assert_eq!(s.bgp_shutdown, ShutdownPolicy::Auto);
        assert_eq!(s.pod_name, None);
        let a = Args::try_parse_from([
            "ferrolb-speaker",
            "--node-name",
            "n1",
            "--load-balancer-class",
            "example.com/lb",
            "--interfaces",
            "eth*,bond0",
            "--exclude-interfaces",
            "eth9",
            "--log-format",
            "json",
            "--bgp-shutdown",
            "withdraw",
            "--pod-name",
            "ferrolb-speaker-x7k2p",
        ])
        .unwrap();
        let s = a.settings();
        assert_eq!(s.index.lb_class.as_deref(), Some("example.com/lb"));
        assert_eq!(s.interfaces.include, ["eth*", "bond0"]);
        assert_eq!(s.interfaces.exclude, ["eth9"]);
        assert_eq!(a.log_format, LogFormat::Json);
        assert_eq!(s.bgp_shutdown, ShutdownPolicy::Withdraw);
        assert_eq!(s.pod_name.as_deref(), Some("ferrolb-speaker-x7k2p"));
    }
}
