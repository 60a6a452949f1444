//! The `ferrolb-speaker` program: flags, logging, the Kubernetes client, signals; everything else is the
//! library's [`ferrolb_speaker::run`].

use anyhow::Context as _;
use clap::Parser;
use ferrolb_speaker::bgp::{BgpMetrics, BgpOptions, BgpSpeaker};
use ferrolb_speaker::cli::{Args, LogFormat};
use tracing_subscriber::EnvFilter;

fn init_logging(args: &Args) -> anyhow::Result<()> {
    let level = args.log_level.trim();
    // a bare level applies to the speaker; other crates log warnings and errors only
    let directives = if ["error", "warn", "info", "debug", "trace"].contains(&level) {
        format!("warn,ferrolb_speaker={level}")
    } else {
        level.to_owned()
    };
    let filter = EnvFilter::try_new(&directives).with_context(|| format!("--log-level {level:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

async fn client(args: &Args) -> anyhow::Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig given and no in-cluster configuration")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// glibc gives every thread that allocates its own malloc arena; for a daemon that allocates little, the
/// arenas' free pages are most of its private memory. One arena is plenty, but glibc reads the setting only
/// at start-up, so the speaker re-executes itself once with it (same PID, same arguments) unless the
/// environment already chose a value.
fn single_malloc_arena() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    // exec only returns on failure; then carry on with the default arenas
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(VAR, "1")
        .exec();
    eprintln!("ferrolb-speaker: re-executing with {VAR}=1 failed ({err}); continuing");
}

fn main() -> anyhow::Result<()> {
    single_malloc_arena();
    let args = Args::parse();
    init_logging(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = client(&args).await?;
        let settings = args.settings();
        // BGP mode is always on: with no peer selecting this node it has no session and does nothing
        let bgp = BgpSpeaker::new(
            BgpOptions {
                node_name: settings.node.clone(),
                ..BgpOptions::default()
            },
            BgpMetrics::new(),
        );
        ferrolb_speaker::run(settings, client, Some(Box::new(bgp)), shutdown_signal())
            .await
            .context("speaker")
    })
}
