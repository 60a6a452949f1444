//! `ferrolb-lab apiserver` as a process: it writes one kubeconfig per user, serves on the address it was
//! given, records the audit log as JSON lines, and stops on SIGINT.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(path: &Path, secs: u64, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("ferrolb-lab exited early: {status}");
        }
        if let Ok(t) = std::fs::read_to_string(path)
            && t.contains("current-context")
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not appear within {secs}s",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http_get(addr: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn serves_writes_kubeconfigs_and_audits() {
    let dir = std::env::temp_dir().join(format!("ferrolb-lab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    let audit = dir.join("audit.jsonl");
    let ctrl = "system:serviceaccount:ferrolb-system:ferrolb-controller";
    let crd = dir.join("crd.yaml");
    let crd_yaml = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.ferrolb.io}
spec:
  group: ferrolb.io
  scope: Namespaced
  names: {plural: things, kind: Thing}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";
    std::fs::write(&crd, crd_yaml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ferrolb-lab"))
        .args([
            "apiserver",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "admin",
            "--user",
            ctrl,
            "--no-anonymous",
        ])
        .arg("--kubeconfig-out")
        .arg(&kc)
        .arg("--kubeconfig-out")
        .arg(format!("speaker={}", dir.join("speaker.kubeconfig").display()))
        .arg("--audit-log")
        .arg(&audit)
        .arg("--crd")
        .arg(&crd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ferrolb-lab");
    let mut guard = Killed(child);
    let admin_kc = wait_for(&kc, 20, &mut guard.0);
    let ctrl_kc = wait_for(
        &dir.join("kubeconfig.system_serviceaccount_ferrolb-system_ferrolb-controller"),
        20,
        &mut guard.0,
    );
    let server = admin_kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: http://"))
        .expect("server line")
        .to_owned();
    let token = |kc: &str| {
        kc.lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .expect("token line")
            .to_owned()
    };
    let version = http_get(&server, "/version", &token(&admin_kc));
    assert!(
        version.starts_with("HTTP/1.0 200") || version.starts_with("HTTP/1.1 200"),
        "{version}"
    );
    assert!(version.contains("\"gitVersion\":\"v1.28.0\""), "{version}");
    let svcs = http_get(&server, "/api/v1/namespaces/default/services", &token(&ctrl_kc));
    assert!(svcs.contains("\"kind\":\"ServiceList\""), "{svcs}");
    let things = http_get(
        &server,
        "/apis/ferrolb.io/v1/namespaces/default/things",
        &token(&admin_kc),
    );
    assert!(things.contains("\"kind\":\"ThingList\""), "{things}");
    let anon = http_get(&server, "/api/v1/services", "");
    assert!(anon.contains(" 401 "), "{anon}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if text.lines().count() >= 4 {
            break text;
        }
        assert!(Instant::now() < deadline, "audit log incomplete: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let list = lines
        .lines()
        .find(|l| l.contains("\"verb\":\"list\""))
        .expect("list entry");
    assert!(
        list.contains(&format!("\"user\":\"{ctrl}\""))
            && list.contains("\"resource\":\"services\"")
            && list.contains("\"code\":200"),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
