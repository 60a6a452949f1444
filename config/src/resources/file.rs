//! The configuration objects of a file, as `ferrolb check-config` reads them: any number of YAML documents
//! (a `kind: List` included, as `kubectl get -o yaml` prints) holding `metallb.io` resources, Secrets (for
//! `BGPPeer.spec.passwordSecret`) and at most one legacy ConfigMap (the one with a `config` key; named
//! `config` when several have one). Errors carry the line in the file. Other objects are listed as ignored.

use std::collections::BTreeMap;

use super::{Input, Legacy, Secrets, load_inputs};
use crate::error::{ConfigErrors, ErrorKind, ObjectRef};
use crate::manifest::block_offset;
use crate::reader::Ctx;
use crate::state::SecretSource;
use crate::validate::Parsed;
use crate::yaml::{self, Kind, Node};

/// Kinds of `metallb.io` that hold status, not configuration.
const STATUS_KINDS: [&str; 3] = ["ServiceL2Status", "ServiceBGPStatus", "ConfigurationState"];

/// What a file holds and the configuration it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLoad {
    /// The configuration, or every error found (lines are the file's).
    pub result: Result<Parsed, ConfigErrors>,
    /// The configuration objects read (the ConfigMap and the resources), in file order.
    pub objects: Vec<ObjectRef>,
    /// The Secrets read.
    pub secrets: Vec<ObjectRef>,
    /// Objects that are not configuration (`Kind namespace/name`), in file order.
    pub ignored: Vec<String>,
}

/// Reads a file holding `metallb.io` resources. `None` when it holds none (and no Secret): then it is a
/// legacy ConfigMap or raw config text, for [`crate::manifest::extract_config`]; also `None` when the text
/// is not YAML, which that path reports.
pub fn load_file(input: &str) -> Option<FileLoad> {
    let docs = yaml::load_all(input).ok()?;
    let mut objects: Vec<&Node> = Vec::new();
    for doc in &docs {
        match text(get(doc, "kind")).as_deref() {
            Some("List") => {
                if let Some(Kind::Seq(items)) = get(doc, "items").map(|n| &n.kind) {
                    objects.extend(items);
                }
            }
            _ => objects.push(doc),
        }
    }
    let is_resource = |o: &&Node| {
        let group = text(get(o, "apiVersion")).unwrap_or_default();
        group.starts_with("metallb.io/")
            || (group == "v1" && text(get(o, "kind")).as_deref() == Some("Secret"))
    };
    if !objects.iter().any(is_resource) {
        return None;
    }

    let mut ctx = Ctx::default();
    let mut inputs = Vec::new();
    let mut secrets: Secrets = BTreeMap::new();
    let mut load = FileLoad {
        result: Err(ConfigErrors::new(Vec::new())),
        objects: Vec::new(),
        secrets: Vec::new(),
        ignored: Vec::new(),
    };
    let mut config_maps: Vec<(ObjectRef, &Node)> = Vec::new();
    for o in objects {
        let api_version = text(get(o, "apiVersion")).unwrap_or_default();
        let kind = text(get(o, "kind")).unwrap_or_else(|| "<no kind>".to_owned());
        let metadata = get(o, "metadata");
        let name = text(metadata.and_then(|m| get(m, "name"))).unwrap_or_default();
        let namespace = text(metadata.and_then(|m| get(m, "namespace"))).unwrap_or_default();
        let object = ObjectRef::new(kind.clone(), namespace, name.clone());
        let metallb = api_version.starts_with("metallb.io/");
        if metallb && STATUS_KINDS.contains(&kind.as_str())
            || !metallb && !matches!(kind.as_str(), "Secret" | "ConfigMap")
        {
            load.ignored.push(object.to_string());
            continue;
        }
        if let Err(reason) = check_object_name(&name) {
            let line = metadata.and_then(|m| get(m, "name")).map_or(o.line, |n| n.line);
            ctx.error_at(
                "metadata.name",
                Some(name.clone()),
                line,
                ErrorKind::InvalidName { reason },
            );
            tag_last(&mut ctx, &object);
        }
        match kind.as_str() {
            "ConfigMap" => {
                if get(o, "data").and_then(|d| get(d, "config")).is_some() {
                    config_maps.push((object, o));
                } else {
                    load.ignored.push(object.to_string());
                }
            }
            "Secret" => {
                let before = ctx.errors.len();
                let secret = read_secret(&mut ctx, o);
                for e in &mut ctx.errors[before..] {
                    e.object = Some(object.clone());
                }
                load.secrets.push(object.clone());
                secrets.insert((object.namespace.clone(), object.name.clone()), secret);
            }
            _ => {
                let labels = metadata
                    .and_then(|m| get(m, "labels"))
                    .map(|l| labels(&mut ctx, l, &object))
                    .unwrap_or_default();
                load.objects.push(object.clone());
                inputs.push(Input {
                    object,
                    api_version,
                    labels,
                    spec: get(o, "spec").cloned().unwrap_or(Node {
                        kind: Kind::Null,
                        line: o.line,
                        raw: None,
                    }),
                    line: metadata.and_then(|m| get(m, "name")).map_or(o.line, |n| n.line),
                });
            }
        }
    }
    let legacy = match config_maps.as_slice() {
        [] => None,
        [one] => Some(one),
        several => several.iter().find(|(o, _)| o.name == "config").or_else(|| {
            for (object, node) in several {
                let kind = ErrorKind::DuplicateName {
                    first: "another ConfigMap with a \"config\" key; keep one in the file".to_owned(),
                };
                ctx.error_at("data.config", None, node.line, kind);
                tag_last(&mut ctx, object);
            }
            None
        }),
    };
    let legacy = legacy.map(|(object, node)| {
        load.objects.insert(0, object.clone());
        let value = get(node, "data")
            .and_then(|d| get(d, "config"))
            .filter(|v| !v.is_null());
        let text = match value.map(|v| &v.kind) {
            None => Some(String::new()),
            Some(Kind::Str(s)) => Some(s.clone()),
            Some(_) => {
                let found = value.map_or("nothing", Node::type_name);
                let kind = ErrorKind::WrongType {
                    expected: "a string (a `|` block)",
                    found,
                };
                ctx.error_at("data.config", None, value.and_then(|v| v.line), kind);
                tag_last(&mut ctx, object);
                None
            }
        };
        let line_offset = value
            .and_then(|v| Some((v.line?, text.as_deref()?)))
            .and_then(|(line, t)| block_offset(input, line, t));
        Legacy {
            object: object.clone(),
            key: "config".to_owned(),
            text,
            line_offset,
        }
    });
    let invalid_config_text = legacy.as_ref().is_some_and(|l| l.text.is_none());
    let result = if invalid_config_text {
        Err(ConfigErrors::new(Vec::new()))
    } else {
        load_inputs(legacy, inputs, &secrets)
    };
    load.result = match result {
        Ok(parsed) if ctx.errors.is_empty() => Ok(parsed),
        Ok(_) => Err(ConfigErrors::new(ctx.errors)),
        Err(errors) => {
            let mut all = ctx.errors;
            all.extend(errors);
            Err(ConfigErrors::new(all))
        }
    };
    Some(load)
}

fn tag_last(ctx: &mut Ctx, object: &ObjectRef) {
    if let Some(e) = ctx.errors.last_mut() {
        e.object = Some(object.clone());
    }
}

/// Kubernetes object names of these kinds: a DNS-1123 subdomain.
fn check_object_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("metadata.name is missing");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err("not a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253)");
    }
    Ok(())
}

fn labels(ctx: &mut Ctx, node: &Node, object: &ObjectRef) -> BTreeMap<String, String> {
    let before = ctx.errors.len();
    let out = crate::reader::string_map(ctx, node, "metadata.labels")
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.scalar_text()?)))
        .collect();
    for e in &mut ctx.errors[before..] {
        e.object = Some(object.clone());
    }
    out
}

/// A Secret's `type` and its `data` (base64, decoded) and `stringData`.
fn read_secret(ctx: &mut Ctx, o: &Node) -> SecretSource {
    let mut data = BTreeMap::new();
    if let Some(d) = get(o, "data") {
        for (key, value) in crate::reader::string_map(ctx, d, "data") {
            let path = crate::reader::child("data", &key);
            match value.scalar_text().as_deref().map(base64) {
                Some(Some(bytes)) => {
                    data.insert(key, bytes);
                }
                _ => ctx.error_at(
                    &path,
                    None,
                    value.line,
                    ErrorKind::WrongType {
                        expected: "base64 text",
                        found: value.type_name(),
                    },
                ),
            }
        }
    }
    if let Some(d) = get(o, "stringData") {
        for (key, value) in crate::reader::string_map(ctx, d, "stringData") {
            if let Some(v) = value.scalar_text() {
                data.insert(key, v.into_bytes());
            }
        }
    }
    SecretSource {
        type_: text(get(o, "type")).unwrap_or_else(|| "Opaque".to_owned()),
        data,
    }
}

/// Standard base64 (padding optional, whitespace ignored); `None` when malformed.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(base64("czNjcmV0").as_deref(), Some(&b"s3cret"[..]));
        assert_eq!(base64("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64("a*b"), None);
    }

    #[test]
    fn object_names() {
        assert!(check_object_name("pool-1.example").is_ok());
        assert!(check_object_name("Pool").is_err());
        assert!(check_object_name("extra_pool").is_err());
        assert!(check_object_name("").is_err());
    }

    #[test]
    fn only_files_with_resources_are_read_here() {
        assert!(load_file("address-pools: []\n").is_none());
        assert!(
            load_file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata: {config: ''}\n")
                .is_none()
        );
        assert!(load_file("a: [").is_none());
        let load = load_file("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: x}\nspec: {addresses: [192.0.2.0/24]}\n").unwrap();
        assert_eq!(load.objects, [ObjectRef::new("IPAddressPool", "x", "a")]);
        let config = load.result.unwrap().config;
        assert_eq!(config.pools[0].name, "a");
    }

    #[test]
    fn config_text_that_is_not_text() {
        let input = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: a}\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: config}\ndata: {config: {a: 1}}\n";
        let errors = load_file(input).unwrap().result.unwrap_err();
        let e: &crate::error::ConfigError = &errors.as_slice()[0];
        assert_eq!(e.path, "data.config");
        assert_eq!(e.object.as_ref().unwrap().kind, "ConfigMap");
    }
}
