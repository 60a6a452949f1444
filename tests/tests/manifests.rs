//! The install manifests: `deploy/ferrolb.yaml` is exactly what the kustomize base renders; every object
//! matches its Kubernetes schema; the objects say what the install needs; kubectl applies both forms to the
//! embedded API server and the objects are stored as written; the containers' flags and environment are the
//! programs' own.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferrolb_apiserver::{ApiServer, ServerConfig};
use ferrolb_e2e::cluster::{self, check_schema, install_kinds};
use ferrolb_e2e::manifest::{EnvSource, Manifest, ferrolb_yaml, kustomize_dir, repo_root};
use ferrolb_e2e::programs::{kubectl_or_skip, program, run_with_deadline, text};
use serde_json::Value;

fn kubectl(bin: &Path, args: &[&str], kubeconfig: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_remove("KUBECONFIG");
    if let Some(k) = kubeconfig {
        cmd.arg("--kubeconfig").arg(k);
        cmd.arg("--cache-dir").arg(k.with_extension("cache"));
    }
    let out = run_with_deadline(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn ferrolb_yaml_is_what_the_kustomize_base_renders() {
    let Some(bin) = kubectl_or_skip("ferrolb_yaml_is_what_the_kustomize_base_renders") else {
        return;
    };
    let dir = kustomize_dir();
    let (ok, rendered) = kubectl(&bin, &["kustomize", &dir.display().to_string()], None);
    assert!(ok, "kubectl kustomize failed:\n{rendered}");
    let file = std::fs::read_to_string(ferrolb_yaml()).expect("read deploy/ferrolb.yaml");
    // deploy/generate.sh writes a comment header, then the render.
    let body: String = file
        .split_inclusive('\n')
        .skip_while(|l| l.starts_with('#'))
        .collect();
    assert!(
        body.trim_end() == rendered.trim_end(),
        "deploy/ferrolb.yaml differs from `kubectl kustomize deploy/kustomize`: run deploy/generate.sh"
    );
    assert_eq!(
        Manifest::parse("render", &rendered).unwrap(),
        Manifest::ferrolb().unwrap()
    );
}

#[test]
fn every_object_matches_its_kubernetes_schema() {
    let m = Manifest::ferrolb().unwrap();
    let kinds: Vec<&str> = m
        .objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("?"))
        .collect();
    for want in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "DaemonSet",
        "CustomResourceDefinition",
    ] {
        assert!(kinds.contains(&want), "no {want} in {kinds:?}");
    }
    for o in &m.objects {
        let unknown =
            check_schema(o).unwrap_or_else(|e| panic!("{} {}: {e}", o["kind"], o["metadata"]["name"]));
        assert!(
            unknown.is_empty(),
            "{} {}: fields the API server would drop: {unknown:?}",
            o["kind"],
            o["metadata"]["name"]
        );
        let cluster_scoped = ["Namespace", "CustomResourceDefinition"]
            .contains(&o["kind"].as_str().unwrap_or_default())
            || o["kind"].as_str().unwrap_or_default().starts_with("Cluster");
        if !cluster_scoped {
            assert_eq!(o["metadata"]["namespace"], "ferrolb-system", "{o}");
        }
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn the_objects_say_what_the_install_needs() {
    let m = Manifest::ferrolb().unwrap();
    let ns = m.get("Namespace", "ferrolb-system").unwrap();
    for mode in ["enforce", "audit", "warn"] {
        assert_eq!(
            ns["metadata"]["labels"][format!("pod-security.kubernetes.io/{mode}")],
            "privileged"
        );
    }

    let ctl = m.get("Deployment", "ferrolb-controller").unwrap();
    assert_eq!(ctl["spec"]["replicas"], 2, "two replicas, one leading");
    let pod = &ctl["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "ferrolb-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = m
        .container("Deployment", "ferrolb-controller", "controller")
        .unwrap();
    assert_eq!(c.program_name(), Some("ferrolb-controller"));
    assert_eq!(c.http_probe("livenessProbe"), Some(("/healthz".into(), 7472)));
    assert_eq!(c.http_probe("readinessProbe"), Some(("/readyz".into(), 7472)));
    assert_eq!(
        strings(&c.raw["securityContext"]["capabilities"]["drop"]),
        ["ALL"]
    );
    assert_eq!(c.raw["securityContext"]["allowPrivilegeEscalation"], false);

    let ds = m.get("DaemonSet", "ferrolb-speaker").unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "ferrolb-speaker");
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace <= 5, "a short grace period: {grace}");
    let tolerated: Vec<&str> = pod["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["operator"] == "Exists" && t["effect"] == "NoSchedule")
        .filter_map(|t| t["key"].as_str())
        .collect();
    assert!(
        tolerated.contains(&"node-role.kubernetes.io/control-plane"),
        "{tolerated:?}"
    );
    let s = m.container("DaemonSet", "ferrolb-speaker", "speaker").unwrap();
    assert_eq!(s.program_name(), Some("ferrolb-speaker"));
    let caps = &s.raw["securityContext"]["capabilities"];
    assert_eq!(strings(&caps["drop"]), ["ALL"]);
    let mut added = strings(&caps["add"]);
    added.sort_unstable();
    assert_eq!(
        added,
        ["BPF", "NET_ADMIN", "NET_RAW"],
        "NET_RAW, NET_ADMIN and BPF only"
    );
    assert_eq!(s.raw["securityContext"]["allowPrivilegeEscalation"], false);
    assert!(
        s.env
            .contains(&("NODE_NAME".into(), EnvSource::Field("spec.nodeName".into()))),
        "{:?}",
        s.env
    );
    assert_eq!(s.port("memberlist"), Some(7946));
    assert_eq!(s.http_probe("livenessProbe"), Some(("/healthz".into(), 7473)));
    assert_eq!(s.http_probe("readinessProbe"), Some(("/readyz".into(), 7473)));

    for c in [&c, &s] {
        let res = &c.raw["resources"];
        assert!(res["requests"]["cpu"].is_string(), "{}: a CPU request", c.object);
        assert!(
            res["requests"]["memory"].is_string(),
            "{}: a memory request",
            c.object
        );
        assert!(
            res["limits"]["cpu"].is_null(),
            "{}: no CPU limit (throttling)",
            c.object
        );
        assert_eq!(
            c.env
                .iter()
                .find(|(n, _)| n == "FERROLB_NAMESPACE")
                .map(|(_, s)| s),
            Some(&EnvSource::Field("metadata.namespace".into())),
            "{}: the namespace from the downward API",
            c.object
        );
    }

    // No configuration: re-applying the manifest (an upgrade) never overwrites the operator's.
    for o in &m.objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let group = o["apiVersion"].as_str().unwrap_or_default();
        assert!(
            kind != "ConfigMap" && !(group.starts_with("metallb.io/") && kind != "CustomResourceDefinition"),
            "the install manifest carries configuration: {kind} {}",
            o["metadata"]["name"]
        );
    }
}

/// `<program> <manifest args> --help` exits 0 only when every flag of the manifest exists; the help text
/// names every environment variable the program reads.
#[test]
fn the_manifest_flags_and_env_are_the_programs_own() {
    let m = Manifest::ferrolb().unwrap();
    for (kind, name, container) in [
        ("Deployment", "ferrolb-controller", "controller"),
        ("DaemonSet", "ferrolb-speaker", "speaker"),
    ] {
        let c = m.container(kind, name, container).unwrap();
        let prog = program(c.program_name().unwrap());
        let out = run_with_deadline(
            Command::new(&prog).args(&c.args).arg("--help").env_clear(),
            Duration::from_secs(20),
        )
        .unwrap();
        let help = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {} rejects the manifest's flags {:?}:\n{}",
            c.object,
            prog.display(),
            c.args,
            text(&out.stderr)
        );
        for arg in &c.args {
            let flag = arg.split('=').next().unwrap();
            assert!(help.contains(flag), "{}: {flag} is not in --help", c.object);
        }
        for (var, _) in &c.env {
            // POD_NAME and NODE_NAME feed flags too; every variable must be one the program reads.
            assert!(
                help.contains(&format!("[env: {var}=")) || help.contains(&format!("[env: {var}]")),
                "{}: {var} is set by the manifest but not read by {}",
                c.object,
                prog.display()
            );
        }
    }
}

/// The stored object has every field the manifest gave, with the value given.
fn assert_stored_as_written(manifest: &Value, stored: &Value, path: &str) {
    match (manifest, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                let w = b.get(k).unwrap_or_else(|| panic!("{p} was not stored"));
                assert_stored_as_written(v, w, &p);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: list length");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_stored_as_written(v, w, &format!("{path}[{i}]"));
            }
        }
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}

/// Everything applied to `handle`, by kind and name, without the fields the server sets.
fn stored_objects(handle: &ferrolb_apiserver::ServerHandle, m: &Manifest) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for o in &m.objects {
        let kind = o["kind"].as_str().unwrap();
        let (g, v, plural) = cluster::gvr(kind).unwrap();
        let ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = o["metadata"]["name"].as_str().unwrap();
        let mut stored = handle
            .get(g, v, plural, ns, name)
            .unwrap_or_else(|| panic!("{kind} {ns}/{name} is not stored"));
        assert_stored_as_written(o, &stored, &format!("{kind} {name}"));
        if let Some(meta) = stored["metadata"].as_object_mut() {
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "managedFields",
                "generation",
            ] {
                meta.remove(k);
            }
        }
        if kind == "CustomResourceDefinition" {
            // the API server's conditions carry the time they were set
            if let Some(obj) = stored.as_object_mut() {
                obj.remove("status");
            }
        }
        out.insert(format!("{kind} {ns}/{name}"), stored);
    }
    out
}

#[test]
fn kubectl_applies_both_forms_to_the_api_server() {
    let Some(bin) = kubectl_or_skip("kubectl_applies_both_forms_to_the_api_server") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("ferrolb-e2e-apply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = Manifest::ferrolb().unwrap();
    let mut stored = Vec::new();
    let forms = [
        vec![
            "apply".to_owned(),
            "-f".to_owned(),
            ferrolb_yaml().display().to_string(),
        ],
        vec![
            "apply".to_owned(),
            "-k".to_owned(),
            kustomize_dir().display().to_string(),
        ],
    ];
    for (i, form) in forms.iter().enumerate() {
        let handle = rt.block_on(async {
            let config = ServerConfig {
                crds: install_kinds(),
                ..ServerConfig::default()
            };
            ApiServer::new(config)
                .unwrap()
                .bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap()
        });
        let kubeconfig = dir.join(format!("kubeconfig-{i}"));
        std::fs::write(&kubeconfig, handle.kubeconfig(ferrolb_apiserver::ADMIN)).unwrap();
        let args: Vec<&str> = form.iter().map(String::as_str).collect();
        let (ok, out) = kubectl(&bin, &args, Some(&kubeconfig));
        assert!(ok, "kubectl {}:\n{out}", form.join(" "));
        assert_eq!(
            out.lines().filter(|l| l.ends_with(" created")).count(),
            m.objects.len(),
            "every object created:\n{out}"
        );
        // Applying again changes nothing.
        let (ok, again) = kubectl(&bin, &args, Some(&kubeconfig));
        assert!(ok, "{again}");
        assert_eq!(
            again.lines().filter(|l| l.ends_with(" unchanged")).count(),
            m.objects.len(),
            "a second apply changes nothing:\n{again}"
        );
        let (ok, listed) = kubectl(
            &bin,
            &[
                "get",
                "deployments,daemonsets,customresourcedefinitions",
                "-n",
                "ferrolb-system",
                "-o",
                "name",
            ],
            Some(&kubeconfig),
        );
        assert!(ok, "{listed}");
        for want in [
            "deployment.apps/ferrolb-controller",
            "daemonset.apps/ferrolb-speaker",
            "customresourcedefinition.apiextensions.k8s.io/ipaddresspools.metallb.io",
        ] {
            assert!(listed.lines().any(|l| l == want), "{want} not listed:\n{listed}");
        }
        stored.push(stored_objects(&handle, &m));
        rt.block_on(handle.shutdown());
    }
    // kubectl apply -f and -k store the same objects (the last-applied annotation aside: it records the
    // text sent, which differs only in formatting).
    let strip = |mut objs: BTreeMap<String, Value>| {
        for o in objs.values_mut() {
            if let Some(a) = o["metadata"]["annotations"].as_object_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
                if a.is_empty() {
                    o["metadata"].as_object_mut().unwrap().remove("annotations");
                }
            }
        }
        objs
    };
    let kustomized = strip(stored.pop().unwrap());
    let single = strip(stored.pop().unwrap());
    assert_eq!(single, kustomized);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(repo_root().join("deploy/generate.sh").is_file());
}

/// The overlay docs/install.md shows: the base from a relative path, the image renamed, the operator's
/// ConfigMap added.
#[test]
fn an_overlay_replaces_the_image_and_the_config() {
    let Some(bin) = kubectl_or_skip("an_overlay_replaces_the_image_and_the_config") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ferrolb-e2e-overlay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let depth = dir.components().count() - 1;
    let base = kustomize_dir();
    let relative = format!(
        "{}{}",
        "../".repeat(depth),
        base.strip_prefix("/").unwrap().display()
    );
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- {relative}\n- config.yaml\n\
             images:\n- name: ghcr.io/ferrolb/ferrolb\n  newName: registry.example.com/ferrolb\n  newTag: v0.1.0-site\n\
"
        ),
    )
    .unwrap();
    let config = "address-pools:\n- name: production\n  protocol: layer2\n  addresses: [192.0.2.64/26]\n";
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: ferrolb-system\ndata:\n  config: |\n{}",
            config.lines().map(|l| format!("    {l}\n")).collect::<String>()
        ),
    )
    .unwrap();
    let (ok, rendered) = kubectl(&bin, &["kustomize", &dir.display().to_string()], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "{rendered}");
    let m = Manifest::parse("overlay", &rendered).unwrap();
    assert_eq!(m.objects.len(), Manifest::ferrolb().unwrap().objects.len() + 1);
    assert_eq!(m.get("ConfigMap", "config").unwrap()["data"]["config"], config);
    for (kind, name, container) in [
        ("Deployment", "ferrolb-controller", "controller"),
        ("DaemonSet", "ferrolb-speaker", "speaker"),
    ] {
        let c = m.container(kind, name, container).unwrap();
        assert_eq!(c.raw["image"], "registry.example.com/ferrolb:v0.1.0-site");
    }
}

/// `deploy/overlays/read-metallb-system`: the base's objects, both programs told to read the configuration in
/// `metallb-system`, and a Role there granting both exactly the configuration reads of their own Roles.
#[test]
fn the_read_metallb_system_overlay_points_both_programs_at_metallbs_namespace() {
    let Some(bin) =
        kubectl_or_skip("the_read_metallb_system_overlay_points_both_programs_at_metallbs_namespace")
    else {
        return;
    };
    let dir = repo_root().join("deploy/overlays/read-metallb-system");
    let (ok, rendered) = kubectl(&bin, &["kustomize", &dir.display().to_string()], None);
    assert!(ok, "{rendered}");
    let m = Manifest::parse("read-metallb-system overlay", &rendered).unwrap();
    let base = Manifest::ferrolb().unwrap();
    assert_eq!(
        m.objects.len(),
        base.objects.len() + 4,
        "the base, two Roles and their RoleBindings"
    );
    for (kind, name, container) in [
        ("Deployment", "ferrolb-controller", "controller"),
        ("DaemonSet", "ferrolb-speaker", "speaker"),
    ] {
        let c = m.container(kind, name, container).unwrap();
        assert!(
            c.env
                .iter()
                .any(|(n, s)| n == "FERROLB_CONFIG_NAMESPACE"
                    && *s == EnvSource::Literal("metallb-system".into())),
            "{kind} {name}: {:?}",
            c.env
        );
    }
    let role = m.get("Role", "ferrolb-config-reader").unwrap();
    assert_eq!(role["metadata"]["namespace"], "metallb-system");
    let binding = m.get("RoleBinding", "ferrolb-config-reader").unwrap();
    let subjects: Vec<&str> = binding["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["ferrolb-controller", "ferrolb-speaker"]);
    // The reader's rules are each program's configuration rules (those naming configuration resources).
    let config_rule = |r: &&serde_json::Value| {
        let resources = r["resources"].as_array().unwrap();
        resources.iter().any(|x| {
            matches!(x.as_str(), Some("ipaddresspools"))
                || (x == "configmaps")
                || (x == "secrets"
                    && r.get("resourceNames").is_none()
                    && r["verbs"] == serde_json::json!(["list", "watch"]))
        })
    };
    let reader: Vec<&serde_json::Value> = role["rules"].as_array().unwrap().iter().collect();
    for program in ["ferrolb-controller", "ferrolb-speaker"] {
        let own = base.get("Role", program).unwrap();
        let own: Vec<&serde_json::Value> = own["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(config_rule)
            .collect();
        assert_eq!(own, reader, "{program}'s configuration rules");
    }
}

/// The kubespray role's copy of the install (deploy/kubespray/roles/kubernetes-apps/ferrolb/files/ferrolb.yaml)
/// is the base, as deploy/generate.sh renders it.
#[test]
fn the_kubespray_role_applies_the_base() {
    if kubectl_or_skip("the_kubespray_role_applies_the_base").is_none() {
        return;
    }
    let out = run_with_deadline(
        Command::new(repo_root().join("deploy/generate.sh")).arg("--check"),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "deploy/generate.sh --check:\n{}",
        text(&out.stderr)
    );
    let role = std::fs::read_to_string(
        repo_root().join("deploy/kubespray/roles/kubernetes-apps/ferrolb/files/ferrolb.yaml"),
    )
    .unwrap();
    let role = Manifest::parse("role", &role).unwrap();
    assert_eq!(role.objects, Manifest::ferrolb().unwrap().objects);
}
