//! Finds the `config` text in what an operator hands to `ferrolb check-config`: a ConfigMap manifest
//! (possibly one document of several, possibly inside a `kind: List`, as `kubectl get -o yaml` prints)
//! or the raw `config` text itself.
//!
//! A text is a manifest when one of its documents has `apiVersion` or `kind`; otherwise it is raw config
//! text and is returned unchanged (then [`crate::parse`] checks it).

use std::fmt;

use crate::yaml::{self, Kind, Node};

/// Where the config text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The input was the config text itself.
    Raw,
    /// The `data.config` of a ConfigMap.
    ConfigMap {
        /// `metadata.namespace`, if given.
        namespace: Option<String>,
        /// `metadata.name`, if given.
        name: Option<String>,
        /// 1-based document number in the input.
        document: usize,
    },
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Raw => f.write_str("raw config text"),
            Self::ConfigMap {
                namespace,
                name,
                document,
            } => {
                f.write_str("ConfigMap ")?;
                if let Some(ns) = namespace {
                    write!(f, "{ns}/")?;
                }
                write!(
                    f,
                    "{} (document {document})",
                    name.as_deref().unwrap_or("<unnamed>")
                )
            }
        }
    }
}

/// The config text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigText {
    /// The `config` value (the input itself for raw text).
    pub text: String,
    /// Its source.
    pub source: ConfigSource,
    /// Add this to a line of `text` to get the line in the input, when the value is a literal block
    /// (`config: |`) whose lines map one to one (always `Some(0)` for raw text).
    pub line_offset: Option<u64>,
}

/// Why no config text could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The input is not YAML.
    #[error("not YAML: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    NotYaml {
        /// The YAML parser's message.
        message: String,
        /// Its line, when known.
        line: Option<u64>,
    },
    /// A manifest without any ConfigMap.
    #[error("no ConfigMap found (kinds present: {}){}", list(kinds), crd_hint(kinds))]
    NoConfigMap {
        /// The `kind`s of the documents.
        kinds: Vec<String>,
    },
    /// ConfigMaps, but none with a `config` key in `data`.
    #[error("no ConfigMap has a \"config\" key in data ({})", describe(config_maps))]
    NoConfigKey {
        /// Each ConfigMap's name and its data keys.
        config_maps: Vec<(String, Vec<String>)>,
    },
    /// Several ConfigMaps with a `config` key, none of them named `config`.
    #[error(
        "several ConfigMaps have a \"config\" key ({}); keep one in the file",
        list(names)
    )]
    Ambiguous {
        /// Their names.
        names: Vec<String>,
    },
    /// `data.config` is not a string.
    #[error("ConfigMap {name}: data.config must be a string (a `|` block), found {found}")]
    ConfigNotText {
        /// The ConfigMap's name.
        name: String,
        /// What it is instead.
        found: &'static str,
    },
    /// Several documents, none a manifest.
    #[error(
        "{documents} YAML documents and none is a Kubernetes object; give the ConfigMap or the config text"
    )]
    SeveralDocuments {
        /// How many documents.
        documents: usize,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn describe(maps: &[(String, Vec<String>)]) -> String {
    let parts: Vec<String> = maps
        .iter()
        .map(|(name, keys)| format!("{name} has keys: {}", list(keys)))
        .collect();
    parts.join("; ")
}

fn crd_hint(kinds: &[String]) -> &'static str {
    const CRDS: [&str; 6] = [
        "IPAddressPool",
        "L2Advertisement",
        "BGPAdvertisement",
        "BGPPeer",
        "BFDProfile",
        "Community",
    ];
    if kinds.iter().any(|k| CRDS.contains(&k.as_str())) {
        "; MetalLB custom resources are read as resources (`ferrolb_config::resources::load_file`), not as \
         the legacy ConfigMap"
    } else {
        ""
    }
}

/// Extracts the `config` text from a ConfigMap manifest, or returns raw config text unchanged.
pub fn extract_config(input: &str) -> Result<ConfigText, ManifestError> {
    let docs = yaml::load_all(input).map_err(|e| ManifestError::NotYaml {
        message: e.message,
        line: e.line,
    })?;
    let is_object = |d: &Node| get(d, "apiVersion").is_some() || get(d, "kind").is_some();
    if !docs.iter().any(is_object) {
        return match docs.len() {
            0 | 1 => Ok(ConfigText {
                text: input.to_owned(),
                source: ConfigSource::Raw,
                line_offset: Some(0),
            }),
            n => Err(ManifestError::SeveralDocuments { documents: n }),
        };
    }

    let mut kinds = Vec::new();
    let mut config_maps: Vec<(usize, &Node)> = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let objects: Vec<&Node> = match text(get(doc, "kind")).as_deref() {
            Some("List") => match get(doc, "items").map(|n| &n.kind) {
                Some(Kind::Seq(items)) => items.iter().collect(),
                _ => Vec::new(),
            },
            _ => vec![doc],
        };
        for obj in objects {
            let kind = text(get(obj, "kind")).unwrap_or_else(|| "<no kind>".to_owned());
            if kind == "ConfigMap" {
                config_maps.push((i + 1, obj));
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    if config_maps.is_empty() {
        return Err(ManifestError::NoConfigMap { kinds });
    }

    let name_of = |cm: &Node| text(get(cm, "metadata").and_then(|m| get(m, "name")));
    let with_config: Vec<&(usize, &Node)> = config_maps
        .iter()
        .filter(|(_, cm)| get(cm, "data").and_then(|d| get(d, "config")).is_some())
        .collect();
    let (document, cm) = match with_config.as_slice() {
        [] => {
            let described = config_maps
                .iter()
                .map(|(_, cm)| {
                    let keys = match get(cm, "data").map(|d| &d.kind) {
                        Some(Kind::Map(entries)) => {
                            entries.iter().filter_map(|(k, _)| k.scalar_text()).collect()
                        }
                        _ => Vec::new(),
                    };
                    (name_of(cm).unwrap_or_else(|| "<unnamed>".to_owned()), keys)
                })
                .collect();
            return Err(ManifestError::NoConfigKey {
                config_maps: described,
            });
        }
        [one] => **one,
        several => match several
            .iter()
            .filter(|(_, cm)| name_of(cm).as_deref() == Some("config"))
            .collect::<Vec<_>>()[..]
        {
            [one] => **one,
            _ => {
                let names = several
                    .iter()
                    .map(|(_, cm)| name_of(cm).unwrap_or_else(|| "<unnamed>".to_owned()));
                return Err(ManifestError::Ambiguous {
                    names: names.collect(),
                });
            }
        },
    };
    let name = name_of(cm);
    let namespace = text(get(cm, "metadata").and_then(|m| get(m, "namespace")));
    let value = get(cm, "data")
        .and_then(|d| get(d, "config"))
        .filter(|v| !v.is_null());
    let config = match value.map(|v| &v.kind) {
        None => String::new(),
        Some(Kind::Str(s)) => s.clone(),
        Some(_) => {
            let found = value.map_or("nothing", Node::type_name);
            return Err(ManifestError::ConfigNotText {
                name: name.unwrap_or_else(|| "<unnamed>".into()),
                found,
            });
        }
    };
    let line_offset = value.and_then(|v| block_offset(input, v.line?, &config));
    Ok(ConfigText {
        text: config,
        source: ConfigSource::ConfigMap {
            namespace,
            name,
            document,
        },
        line_offset,
    })
}

/// The value of a key of a mapping node.
fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        Kind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn text(node: Option<&Node>) -> Option<String> {
    node.and_then(Node::scalar_text)
}

/// If the value's lines appear one to one in the input from `first_line` on (a literal block), the
/// offset from value lines to input lines.
pub(crate) fn block_offset(input: &str, first_line: u64, value: &str) -> Option<u64> {
    let start = usize::try_from(first_line.checked_sub(1)?).ok()?;
    let mut source = input.lines().skip(start);
    for line in value.lines() {
        if source.next()?.trim() != line.trim() {
            return None;
        }
    }
    Some(first_line - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_is_returned_unchanged() {
        let got = extract_config("address-pools: []\n").unwrap();
        assert_eq!(got.text, "address-pools: []\n");
        assert_eq!(got.source, ConfigSource::Raw);
        assert_eq!(extract_config("").unwrap().source, ConfigSource::Raw);
    }

    #[test]
    fn config_map_among_other_documents() {
        let input = "apiVersion: v1\nkind: Namespace\nmetadata: {name: metallb-system}\n---\n\
                     apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: metallb-system\n  name: config\n\
                     data:\n  config: |\n    address-pools:\n    - name: a\n";
        let got = extract_config(input).unwrap();
        assert_eq!(got.text, "address-pools:\n- name: a\n");
        assert_eq!(
            got.source,
            ConfigSource::ConfigMap {
                namespace: Some("metallb-system".into()),
                name: Some("config".into()),
                document: 2
            }
        );
        // "address-pools:" is line 1 of the value and line 12 of the input.
        assert_eq!(got.line_offset, Some(11));
    }

    #[test]
    fn list_of_objects() {
        let input = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: config}\n  data: {config: \"peers: []\"}\n";
        let got = extract_config(input).unwrap();
        assert_eq!(got.text, "peers: []");
        assert_eq!(got.line_offset, None);
    }

    #[test]
    fn clear_errors() {
        assert!(matches!(
            extract_config("a: [1\n"),
            Err(ManifestError::NotYaml { .. })
        ));
        let err = extract_config("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n").unwrap_err();
        assert!(
            err.to_string().contains("IPAddressPool") && err.to_string().contains("custom resources"),
            "{err}"
        );
        let err = extract_config("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {other: y}\n")
            .unwrap_err();
        assert_eq!(
            err,
            ManifestError::NoConfigKey {
                config_maps: vec![("x".into(), vec!["other".into()])]
            }
        );
        assert!(err.to_string().contains("\"config\""));
        let err = extract_config("kind: ConfigMap\ndata: {config: {peers: []}}\n").unwrap_err();
        assert!(matches!(
            err,
            ManifestError::ConfigNotText {
                found: "a mapping",
                ..
            }
        ));
        assert!(matches!(
            extract_config("a: 1\n---\nb: 2\n"),
            Err(ManifestError::SeveralDocuments { documents: 2 })
        ));
        let two = "kind: ConfigMap\nmetadata: {name: a}\ndata: {config: x}\n---\nkind: ConfigMap\nmetadata: {name: b}\ndata: {config: y}\n";
        assert!(matches!(
            extract_config(two),
            Err(ManifestError::Ambiguous { .. })
        ));
        let preferred =
            format!("{two}---\nkind: ConfigMap\nmetadata: {{name: config}}\ndata: {{config: z}}\n");
        assert_eq!(extract_config(&preferred).unwrap().text, "z");
    }
}
