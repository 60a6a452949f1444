//! The install manifests as data: objects parsed from YAML, and what a container runs with — its command,
//! arguments and environment, with the downward API resolved for one pod — so that tests run the programs
//! exactly as the manifests would.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a manifest could not be read or does not have what a test needs.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("{what}: not YAML: {message}")]
    Yaml {
        /// The file or text described.
        what: String,
        /// The parser's message.
        message: String,
    },
    /// An object the test looks for is not there.
    #[error("no {kind} {name:?} in the manifest")]
    Missing {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
    },
    /// A field has an unexpected shape.
    #[error("{object}: {field}: {message}")]
    Shape {
        /// `Kind/name`.
        object: String,
        /// The field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `deploy/ferrolb.yaml`.
pub fn ferrolb_yaml() -> PathBuf {
    repo_root().join("deploy/ferrolb.yaml")
}

/// `deploy/kustomize`.
pub fn kustomize_dir() -> PathBuf {
    repo_root().join("deploy/kustomize")
}

/// A multi-document manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The objects, in file order (empty documents dropped).
    pub objects: Vec<Value>,
}

impl Manifest {
    /// Parses YAML text of any number of documents (a `kind: List` is flattened).
    pub fn parse(what: &str, text: &str) -> Result<Manifest, ManifestError> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| ManifestError::Yaml {
            what: what.to_owned(),
            message: e.to_string(),
        })?;
        let mut objects = Vec::new();
        for d in docs {
            match d {
                Value::Null => {}
                Value::Object(_) if d["kind"] == "List" => {
                    objects.extend(d["items"].as_array().cloned().unwrap_or_default());
                }
                other => objects.push(other),
            }
        }
        Ok(Manifest { objects })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Manifest::parse(&path.display().to_string(), &text)
    }

    /// `deploy/ferrolb.yaml`.
    pub fn ferrolb() -> Result<Manifest, ManifestError> {
        Manifest::load(&ferrolb_yaml())
    }

    /// The objects of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    /// The object of `kind` named `name`.
    pub fn get(&self, kind: &str, name: &str) -> Result<&Value, ManifestError> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .ok_or_else(|| ManifestError::Missing {
                kind: kind.to_owned(),
                name: name.to_owned(),
            })
    }

    /// The container `container` of the pod template of workload `kind`/`name` (Deployment, DaemonSet).
    pub fn container(&self, kind: &str, name: &str, container: &str) -> Result<Container, ManifestError> {
        let workload = self.get(kind, name)?;
        let object = format!("{kind}/{name}");
        let spec = &workload["spec"]["template"]["spec"];
        let found = spec["containers"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == container))
            .ok_or_else(|| ManifestError::Shape {
                object: object.clone(),
                field: "spec.template.spec.containers".into(),
                message: format!("no container {container:?}"),
            })?;
        let mut c = Container::from_value(&object, found)?;
        c.pod_security_context = spec["securityContext"].clone();
        Ok(c)
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// `value:`.
    Literal(String),
    /// `valueFrom.fieldRef.fieldPath` (the downward API).
    Field(String),
}

/// What a container runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `Kind/name` of the workload.
    pub object: String,
    /// `command`.
    pub command: Vec<String>,
    /// `args`.
    pub args: Vec<String>,
    /// `env`, in order.
    pub env: Vec<(String, EnvSource)>,
    /// The container itself.
    pub raw: Value,
    /// The pod template's `securityContext` (null when absent).
    pub pod_security_context: Value,
}

/// The facts about one pod the downward API exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.nodeName`.
    pub node_name: String,
    /// `status.hostIP`.
    pub host_ip: String,
    /// `status.podIP`.
    pub pod_ip: String,
}

impl Container {
    fn from_value(object: &str, c: &Value) -> Result<Container, ManifestError> {
        let strings = |field: &str| -> Result<Vec<String>, ManifestError> {
            match &c[field] {
                Value::Null => Ok(Vec::new()),
                Value::Array(a) => a
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| ManifestError::Shape {
                            object: object.to_owned(),
                            field: field.to_owned(),
                            message: format!("{v} is not a string"),
                        })
                    })
                    .collect(),
                other => Err(ManifestError::Shape {
                    object: object.to_owned(),
                    field: field.to_owned(),
                    message: format!("{other} is not a list"),
                }),
            }
        };
        let mut env = Vec::new();
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default().to_owned();
            let source = if let Some(v) = e["value"].as_str() {
                EnvSource::Literal(v.to_owned())
            } else if let Some(p) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                EnvSource::Field(p.to_owned())
            } else {
                return Err(ManifestError::Shape {
                    object: object.to_owned(),
                    field: format!("env[{name}]"),
                    message: "neither a value nor a fieldRef (the tests know no other source)".into(),
                });
            };
            env.push((name, source));
        }
        Ok(Container {
            object: object.to_owned(),
            command: strings("command")?,
            args: strings("args")?,
            env,
            raw: c.clone(),
            pod_security_context: Value::Null,
        })
    }

    /// The environment as the kubelet would set it for `pod`.
    pub fn resolved_env(&self, pod: &PodFacts) -> Result<Vec<(String, String)>, ManifestError> {
        self.env
            .iter()
            .map(|(name, source)| {
                let value = match source {
                    EnvSource::Literal(v) => v.clone(),
                    EnvSource::Field(path) => match path.as_str() {
                        "metadata.namespace" => pod.namespace.clone(),
                        "metadata.name" => pod.name.clone(),
                        "spec.nodeName" => pod.node_name.clone(),
                        "status.hostIP" => pod.host_ip.clone(),
                        "status.podIP" => pod.pod_ip.clone(),
                        other => {
                            return Err(ManifestError::Shape {
                                object: self.object.clone(),
                                field: format!("env[{name}].valueFrom.fieldRef.fieldPath"),
                                message: format!("{other:?} is not modelled by the tests"),
                            });
                        }
                    },
                };
                Ok((name.clone(), value))
            })
            .collect()
    }

    /// The program's file name (the last path component of `command[0]`).
    pub fn program_name(&self) -> Option<&str> {
        self.command.first().map(|c| c.rsplit('/').next().unwrap_or(c))
    }

    /// The `containerPort` of the port named `name`.
    pub fn port(&self, name: &str) -> Option<u16> {
        self.raw["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
    }

    /// The HTTP path and port of a probe (`livenessProbe`, `readinessProbe`), named ports resolved.
    pub fn http_probe(&self, probe: &str) -> Option<(String, u16)> {
        let get = &self.raw[probe]["httpGet"];
        let path = get["path"].as_str()?.to_owned();
        let port = match &get["port"] {
            Value::String(name) => self.port(name)?,
            Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
            _ => return None,
        };
        Some((path, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: s, namespace: x}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        command: [/usr/local/bin/prog]\n        args: [--a=1]\n        env:\n        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n        - {name: LIT, value: lit}\n        ports: [{name: metrics, containerPort: 7473}]\n        readinessProbe: {httpGet: {path: /readyz, port: metrics}}\n        livenessProbe: {httpGet: {path: /healthz, port: 7000}}\n---\n---\nkind: List\nitems: [{kind: ConfigMap, metadata: {name: a}}]\n";

    #[test]
    fn containers_resolve_like_the_kubelet() {
        let m = Manifest::parse("t", TEXT).unwrap();
        assert_eq!(m.objects.len(), 2, "empty documents dropped, lists flattened");
        assert!(m.get("ConfigMap", "a").is_ok());
        assert!(matches!(
            m.get("ConfigMap", "b"),
            Err(ManifestError::Missing { .. })
        ));
        let c = m.container("DaemonSet", "s", "c").unwrap();
        assert_eq!(c.program_name(), Some("prog"));
        assert_eq!(c.args, ["--a=1"]);
        let pod = PodFacts {
            namespace: "x".into(),
            name: "s-1".into(),
            node_name: "node1".into(),
            host_ip: "192.0.2.11".into(),
            pod_ip: "192.0.2.11".into(),
        };
        assert_eq!(
            c.resolved_env(&pod).unwrap(),
            [
                ("NODE".to_owned(), "node1".to_owned()),
                ("LIT".to_owned(), "lit".to_owned())
            ]
        );
        assert_eq!(c.http_probe("readinessProbe"), Some(("/readyz".into(), 7473)));
        assert_eq!(c.http_probe("livenessProbe"), Some(("/healthz".into(), 7000)));
        assert!(m.container("DaemonSet", "s", "other").is_err());
    }

    #[test]
    fn unknown_downward_fields_are_refused() {
        let text = TEXT.replace("spec.nodeName", "metadata.uid");
        let m = Manifest::parse("t", &text).unwrap();
        let c = m.container("DaemonSet", "s", "c").unwrap();
        let pod = PodFacts {
            namespace: String::new(),
            name: String::new(),
            node_name: String::new(),
            host_ip: String::new(),
            pod_ip: String::new(),
        };
        assert!(c.resolved_env(&pod).is_err());
        assert!(Manifest::parse("t", "a: [").is_err());
    }
}
