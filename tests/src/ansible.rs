//! The kubespray role under `ansible-playbook`, as an operator runs it: an inventory laid out as kubespray's
//! (`hosts.yaml`, `group_vars/k8s_cluster/{addons,k8s-cluster}.yml`), the role's own playbook
//! (`deploy/kubespray/ferrolb.yml`), a local connection to the "first control-plane node" (this machine), and
//! the play recap read back.
//!
//! ansible-core and ansible-lint come from the virtualenv `scripts/ansible-venv.sh` makes
//! (`target/ansible-venv`, or `FERROLB_ANSIBLE_VENV`); the role's modules run on the target with the system's
//! own `/usr/bin/python3`, outside that virtualenv, which proves they need no Python package there.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::manifest::repo_root;
use crate::programs::{run_with_deadline, text};

/// How long one playbook run may take.
pub const PLAYBOOK_TIMEOUT: Duration = Duration::from_secs(240);

/// The virtualenv's tools.
#[derive(Debug, Clone)]
pub struct Ansible {
    bin: PathBuf,
}

impl Ansible {
    /// The virtualenv `scripts/ansible-venv.sh` made, or why there is none.
    pub fn find() -> Result<Ansible, String> {
        let venv = std::env::var_os("FERROLB_ANSIBLE_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/ansible-venv"));
        let bin = venv.join("bin");
        if bin.join("ansible-playbook").is_file() {
            Ok(Ansible { bin })
        } else {
            Err(format!(
                "no ansible-playbook in {}: run scripts/ansible-venv.sh (scripts/test.sh does)",
                bin.display()
            ))
        }
    }

    /// For tests: the tools, or `None` after saying why the test is skipped; under `CI=true` a missing
    /// virtualenv fails the test.
    pub fn for_test(test: &str) -> Option<Ansible> {
        match Ansible::find() {
            Ok(a) => Some(a),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{test}: {e}"),
            Err(e) => {
                eprintln!("SKIPPED {test}: {e}");
                None
            }
        }
    }

    /// A tool of the virtualenv (`ansible-playbook`, `ansible-lint`).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// `ansible-playbook -i <inventory> deploy/kubespray/ferrolb.yml <args>`, as a command line with its
    /// environment (`env` first), to run directly or inside a network namespace.
    pub fn playbook_argv(&self, inventory: &Inventory, args: &[&str]) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec!["env".into()];
        for (k, v) in self.environment(inventory) {
            argv.push(format!("{k}={}", v.to_string_lossy()).into());
        }
        argv.push(self.tool("ansible-playbook").into());
        argv.push("-i".into());
        argv.push(inventory.hosts().into());
        argv.push(playbook().into());
        argv.extend(args.iter().map(OsString::from));
        argv
    }

    fn environment(&self, inventory: &Inventory) -> Vec<(&'static str, OsString)> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.bin.clone()];
        dirs.extend(std::env::split_paths(&path));
        vec![
            ("PATH", std::env::join_paths(dirs).unwrap_or(path)),
            ("ANSIBLE_HOME", inventory.dir.join(".ansible").into()),
            ("ANSIBLE_LOCAL_TEMP", inventory.dir.join(".ansible/tmp").into()),
            (
                "ANSIBLE_REMOTE_TEMP",
                inventory.dir.join(".ansible/remote").into(),
            ),
            ("ANSIBLE_NOCOLOR", "1".into()),
            ("ANSIBLE_FORCE_COLOR", "0".into()),
            ("ANSIBLE_RETRY_FILES_ENABLED", "0".into()),
            ("ANSIBLE_STDOUT_CALLBACK", "default".into()),
            // kubectl's discovery cache, inside the test's directory
            ("HOME", inventory.dir.join("home").into()),
        ]
    }

    /// Runs the role's playbook against `inventory` with `args` (`--check`, `-e ...`) on this machine.
    pub fn playbook(&self, inventory: &Inventory, args: &[&str]) -> PlaybookRun {
        let argv = self.playbook_argv(inventory, args);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        PlaybookRun::of(run_with_deadline(&mut cmd, PLAYBOOK_TIMEOUT))
    }
}

/// The role's playbook.
pub fn playbook() -> PathBuf {
    repo_root().join("deploy/kubespray/ferrolb.yml")
}

/// The role.
pub fn role_dir() -> PathBuf {
    repo_root().join("deploy/kubespray/roles/kubernetes-apps/ferrolb")
}

/// A kubespray inventory in a directory of its own: one control-plane host `cp1` reached by a local
/// connection, kubectl and the kubeconfig given as the role's variables, the group vars as written.
#[derive(Debug)]
pub struct Inventory {
    dir: PathBuf,
}

impl Inventory {
    /// Writes the inventory into `dir` (created): `addons` is `group_vars/k8s_cluster/addons.yml` as a
    /// kubespray user has it, `k8s_cluster` is `k8s-cluster.yml`.
    pub fn new(dir: &Path, addons: &str, k8s_cluster: &str, kubectl: &Path, kubeconfig: &Path) -> Inventory {
        let vars = dir.join("group_vars/k8s_cluster");
        std::fs::create_dir_all(&vars).unwrap_or_else(|e| panic!("{}: {e}", vars.display()));
        std::fs::create_dir_all(dir.join("home")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let python = if Path::new("/usr/bin/python3").is_file() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let hosts = format!(
            "all:\n  hosts:\n    cp1:\n      ansible_connection: local\n      ansible_python_interpreter: {python}\n\
             \x20     ansible_become: false\n      ferrolb_kubectl: {}\n      ferrolb_kubeconfig: {}\n\
             \x20 children:\n    kube_control_plane:\n      hosts:\n        cp1: {{}}\n    kube_node:\n      hosts:\n\
             \x20       cp1: {{}}\n    k8s_cluster:\n      children:\n        kube_control_plane: {{}}\n        kube_node: {{}}\n",
            json_str(&kubectl.display().to_string()),
            json_str(&kubeconfig.display().to_string()),
        );
        write(&dir.join("hosts.yaml"), &hosts);
        write(&vars.join("addons.yml"), addons);
        write(&vars.join("k8s-cluster.yml"), k8s_cluster);
        Inventory { dir: dir.to_owned() }
    }

    /// `hosts.yaml`.
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts.yaml")
    }

    /// Replaces `group_vars/k8s_cluster/addons.yml`.
    pub fn set_addons(&self, addons: &str) {
        write(&self.dir.join("group_vars/k8s_cluster/addons.yml"), addons);
    }

    /// The inventory's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// One run's outcome: its exit status, the recap of host `cp1`, and everything it printed.
#[derive(Debug, Clone)]
pub struct PlaybookRun {
    /// Exit status 0.
    pub success: bool,
    /// The recap line's counters, when the play got that far.
    pub recap: Option<Recap>,
    /// Standard output and error.
    pub output: String,
}

/// `cp1 : ok=… changed=… unreachable=… failed=… skipped=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recap {
    /// Tasks that ran.
    pub ok: u32,
    /// Tasks that changed something (or, in check mode, would).
    pub changed: u32,
    /// Failed tasks.
    pub failed: u32,
    /// Skipped tasks.
    pub skipped: u32,
}

impl PlaybookRun {
    fn of(out: Result<std::process::Output, String>) -> PlaybookRun {
        match out {
            Ok(out) => {
                let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
                PlaybookRun {
                    success: out.status.success(),
                    recap: Recap::parse(&output),
                    output,
                }
            }
            Err(e) => PlaybookRun {
                success: false,
                recap: None,
                output: e,
            },
        }
    }

    /// From a finished command's standard output and error and status.
    pub fn from_parts(success: bool, stdout: &str, stderr: &str) -> PlaybookRun {
        let output = format!("{stdout}{stderr}");
        PlaybookRun {
            success,
            recap: Recap::parse(&output),
            output,
        }
    }

    /// The recap's `changed=`; panics with the output when the play did not finish.
    pub fn changed(&self) -> u32 {
        self.recap
            .unwrap_or_else(|| panic!("no play recap in:\n{}", self.output))
            .changed
    }

    /// Panics with the output unless the run succeeded.
    pub fn expect_success(&self, what: &str) -> &Self {
        assert!(self.success, "{what}: ansible-playbook failed:\n{}", self.output);
        self
    }
}

impl Recap {
    /// The counters of the recap line of host `cp1` in `output`.
    pub fn parse(output: &str) -> Option<Recap> {
        let line = output
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with("cp1") && l.contains("changed="))?;
        let field = |name: &str| -> Option<u32> {
            let rest = line.split(&format!("{name}=")).nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        };
        Some(Recap {
            ok: field("ok")?,
            changed: field("changed")?,
            failed: field("failed")?,
            skipped: field("skipped")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recap_line_is_read() {
        let out = "PLAY RECAP ****\ncp1                        : ok=12   changed=3    unreachable=0    \
                   failed=1    skipped=4    rescued=0    ignored=0   \n";
        assert_eq!(
            Recap::parse(out),
            Some(Recap {
                ok: 12,
                changed: 3,
                failed: 1,
                skipped: 4
            })
        );
        assert_eq!(Recap::parse("ERROR! no play"), None);
    }
}
