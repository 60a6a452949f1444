//! The `ferrolb-speaker` program: flags, logging, the Kubernetes client, signals; everything else is the
//! library's [`ferrolb_speaker::run`].

use anyhow::Context as _;
use clap::Parser;
use ferrolb_k8s::runtime;
use ferrolb_speaker::bgp::{BgpMetrics, BgpOptions, BgpSpeaker};
use ferrolb_speaker::cli::Args;

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
    runtime::init_logging(&args.log_level, args.log_format, "ferrolb_speaker")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = runtime::client(args.kubeconfig.as_deref()).await?;
        let settings = args.settings();
        // BGP mode is always on: with no peer selecting this node it has no session and does nothing
        let bgp = BgpSpeaker::new(
            BgpOptions {
                node_name: settings.node.clone(),
                ..BgpOptions::default()
            },
            BgpMetrics::new(),
        );
        ferrolb_speaker::run(settings, client, Some(Box::new(bgp)), runtime::shutdown_signal())
            .await
            .context("speaker")
    })
}
