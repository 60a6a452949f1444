//! Running the real kubectl against a test server.

use std::path::{Path, PathBuf};

/// kubectl from PATH, if installed.
pub fn kubectl_path() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubectl"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates.into_iter().find(|p| p.is_file())
}

/// kubectl with its own kubeconfig and cache directory.
pub struct Kubectl {
    /// The kubectl binary.
    pub bin: PathBuf,
    /// The directory of the kubeconfig and the cache.
    pub dir: PathBuf,
}

impl Kubectl {
    /// Runs kubectl with `args` (60 s at most); success and stdout + stderr.
    pub async fn run(&self, args: &[&str]) -> (bool, String) {
        let out = tokio::process::Command::new(&self.bin)
            .args(args)
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output();
        let out = super::within(60, "kubectl", out).await.expect("run kubectl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs kubectl and expects success.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{text}");
        text
    }
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p.to_string_lossy().into_owned()
}

/// kubectl, or `None` when it is not installed outside CI (under CI a missing kubectl fails the test).
pub fn kubectl_or_skip() -> Option<PathBuf> {
    let bin = kubectl_path();
    if bin.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kubectl is not installed (required under CI)"
        );
        eprintln!("SKIPPED: kubectl is not installed");
    }
    bin
}
