//! `ValidateCustomResourceDefinition` and `…Update` for apiextensions.k8s.io/v1 objects (after v1 defaulting):
//! names, group, scope, versions (exactly one storage version, schemas required and structural, printer
//! columns, deprecation warnings), conversion, stored versions, API approval of protected groups, and what an
//! update may not change.
//!
//! Paths follow kube-apiserver, which validates its internal form: per-version schemas, subresources or printer
//! columns that are identical in every version are validated (and reported) as the top-level `spec.validation`,
//! `spec.subresources`, `spec.additionalPrinterColumns`.

use serde_json::{Value, json};

use crate::error::Cause;
use crate::schema::{Path, structural};
use crate::validate::{dns1035_label, dns1123_subdomain};

const APPROVAL: &str = "api-approved.kubernetes.io";

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

/// All versions set `field` and to the same value (`hasIdenticalPerVersion…`, lifted to the top level).
fn identical(versions: &[Value], field: &str) -> bool {
    let present = |v: &Value| match &v[field] {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        _ => true,
    };
    !versions.is_empty()
        && versions
            .iter()
            .all(|v| present(v) && v[field] == versions[0][field])
}

/// The problems of a new (`old` `None`) or updated CRD.
pub fn validate(crd: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    let spec = &crd["spec"];
    let (group, plural) = (s(spec, "group"), s(&spec["names"], "plural"));
    let name = s(&crd["metadata"], "name");
    if name != format!("{plural}.{group}") {
        errs.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    errs.extend(validate_spec(spec));
    if let Some(old) = old {
        let old_spec = &old["spec"];
        if crate::kinds::crd::condition_true(old, "Established") {
            for (field, path) in [("scope", "spec.scope"), ("kind", "spec.names.kind")] {
                let (new_v, old_v) = if field == "scope" {
                    (&spec["scope"], &old_spec["scope"])
                } else {
                    (&spec["names"]["kind"], &old_spec["names"]["kind"])
                };
                if new_v != old_v {
                    errs.push(Cause::invalid(path, new_v, "field is immutable"));
                }
            }
        }
        if spec["group"] != old_spec["group"] {
            errs.push(Cause::invalid("spec.group", &spec["group"], "field is immutable"));
        }
        if spec["names"]["plural"] != old_spec["names"]["plural"] {
            errs.push(Cause::invalid(
                "spec.names.plural",
                &spec["names"]["plural"],
                "field is immutable",
            ));
        }
    }
    errs.extend(validate_names(
        &crd["status"]["acceptedNames"],
        "status.acceptedNames",
    ));
    errs.extend(stored_versions(crd));
    errs.extend(api_approval(crd, old));
    if spec["preserveUnknownFields"] == json!(true)
        && old.is_none_or(|o| o["spec"]["preserveUnknownFields"] != json!(true))
    {
        errs.push(Cause::invalid(
            "spec.preserveUnknownFields",
            &json!(true),
            "cannot set to true, set x-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs
}

fn validate_spec(spec: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let group = s(spec, "group");
    if group.is_empty() {
        errs.push(Cause::required("spec.group", ""));
    } else if let problems @ [_, ..] = dns1123_subdomain(group).as_slice() {
        errs.push(Cause::invalid("spec.group", &json!(group), problems.join(",")));
    } else if !group.contains('.') {
        errs.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    match s(spec, "scope") {
        "" => errs.push(Cause::required("spec.scope", "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(Cause::not_supported(
            "spec.scope",
            &json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let lift_schema = identical(&versions, "schema");
    let lift_subresources = identical(&versions, "subresources");
    let lift_columns = identical(&versions, "additionalPrinterColumns");
    for (i, v) in versions.iter().enumerate() {
        if v["schema"]["openAPIV3Schema"].is_null() {
            errs.push(Cause::required(
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "schemas are required",
            ));
        }
    }
    let any_status = versions.iter().any(|v| !v["subresources"]["status"].is_null());
    let mut names = Vec::new();
    let mut storage = 0;
    for (i, v) in versions.iter().enumerate() {
        let at = Path::new("spec.versions").index(i);
        let vname = s(v, "name");
        if v["storage"] == json!(true) {
            storage += 1;
        }
        names.push(vname);
        let problems = dns1035_label(vname);
        if !problems.is_empty() {
            errs.push(Cause::invalid(
                at.child("name").0,
                &json!(vname),
                problems.join(","),
            ));
        }
        errs.extend(deprecation(v, &at));
        if !lift_schema && !v["schema"]["openAPIV3Schema"].is_null() {
            let status = !v["subresources"]["status"].is_null();
            errs.extend(structural::check(
                &v["schema"]["openAPIV3Schema"],
                &at.child("schema"),
                status,
            ));
        }
        if !lift_subresources {
            errs.extend(subresources(&v["subresources"], &at.child("subresources")));
        }
        if !lift_columns {
            errs.extend(columns(v, &at.child("additionalPrinterColumns")));
        }
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != names.len() {
        errs.push(Cause::invalid(
            "spec.versions",
            &spec["versions"],
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(Cause::invalid(
            "spec.versions",
            &spec["versions"],
            "must have exactly one version marked as storage version",
        ));
    }
    let names_v = &spec["names"];
    for field in ["plural", "singular", "kind", "listKind"] {
        if s(names_v, field).is_empty() {
            errs.push(Cause::required(format!("spec.names.{field}"), ""));
        }
    }
    errs.extend(validate_names(names_v, "spec.names"));
    if lift_schema {
        errs.extend(structural::check(
            &versions[0]["schema"]["openAPIV3Schema"],
            &Path::new("spec.validation"),
            any_status,
        ));
    }
    if lift_subresources {
        errs.extend(subresources(
            &versions[0]["subresources"],
            &Path::new("spec.subresources"),
        ));
    }
    if lift_columns {
        errs.extend(columns(&versions[0], &Path::new("spec.additionalPrinterColumns")));
    }
    errs.extend(conversion(&spec["conversion"]));
    errs
}

fn deprecation(v: &Value, at: &Path) -> Vec<Cause> {
    let Some(w) = v["deprecationWarning"].as_str() else {
        return Vec::new();
    };
    let path = at.child("deprecationWarning").0;
    let mut errs = Vec::new();
    if v["deprecated"] != json!(true) {
        errs.push(Cause::invalid(
            &path,
            &json!(w),
            "can only be set for deprecated versions",
        ));
    }
    if w.len() > 256 {
        errs.push(Cause::invalid(&path, &json!(w), "must be <= 256 characters long"));
    }
    if w.is_empty() {
        errs.push(Cause::invalid(&path, &json!(w), "must not be an empty string"));
    }
    errs
}

/// `ValidateCustomResourceDefinitionNames`.
fn validate_names(names: &Value, at: &str) -> Vec<Cause> {
    let mut errs = Vec::new();
    let label = |field: &str, value: &str, errs: &mut Vec<Cause>, mixed: bool| {
        if value.is_empty() {
            return;
        }
        let problems = dns1035_label(&value.to_ascii_lowercase());
        if !problems.is_empty() {
            let detail = if mixed {
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    problems.join(",")
                )
            } else {
                problems.join(",")
            };
            errs.push(Cause::invalid(format!("{at}.{field}"), &json!(value), detail));
        }
    };
    label("plural", s(names, "plural"), &mut errs, false);
    label("singular", s(names, "singular"), &mut errs, false);
    label("kind", s(names, "kind"), &mut errs, true);
    label("listKind", s(names, "listKind"), &mut errs, true);
    for (i, n) in names["shortNames"].as_array().into_iter().flatten().enumerate() {
        label(
            &format!("shortNames[{i}]"),
            n.as_str().unwrap_or_default(),
            &mut errs,
            false,
        );
    }
    if !s(names, "kind").is_empty() && names["kind"] == names["listKind"] {
        errs.push(Cause::invalid(
            format!("{at}.listKind"),
            &names["listKind"],
            "kind and listKind may not be the same",
        ));
    }
    for (i, c) in names["categories"].as_array().into_iter().flatten().enumerate() {
        label(
            &format!("categories[{i}]"),
            c.as_str().unwrap_or_default(),
            &mut errs,
            false,
        );
    }
    errs
}

fn simple_json_path(p: &str, path: &str) -> Option<Cause> {
    if p.is_empty() {
        Some(Cause::invalid(path, &json!(p), "must not be empty"))
    } else if !p.starts_with('.') {
        Some(Cause::invalid(
            path,
            &json!(p),
            "must be a simple json path starting with .",
        ))
    } else {
        None
    }
}

fn subresources(sub: &Value, at: &Path) -> Vec<Cause> {
    let mut errs = Vec::new();
    let scale = &sub["scale"];
    if scale.is_null() {
        return errs;
    }
    for (field, prefix) in [("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")] {
        let path = at.child(&format!("scale.{field}")).0;
        let v = s(scale, field);
        if v.is_empty() {
            errs.push(Cause::required(path, ""));
        } else if let Some(e) = simple_json_path(v, &path) {
            errs.push(e);
        } else if !v.starts_with(prefix) {
            let under = prefix.trim_end_matches('.');
            errs.push(Cause::invalid(
                path,
                &json!(v),
                format!("should be a json path under {under}"),
            ));
        }
    }
    errs
}

fn columns(v: &Value, at: &Path) -> Vec<Cause> {
    const TYPES: &str = "boolean,date,integer,number,string";
    const FORMATS: [&str; 8] = [
        "byte",
        "date",
        "date-time",
        "double",
        "float",
        "int32",
        "int64",
        "password",
    ];
    let mut errs = Vec::new();
    for (i, c) in v["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let here = at.index(i);
        if s(c, "name").is_empty() {
            errs.push(Cause::required(here.child("name").0, ""));
        }
        match s(c, "type") {
            "" => errs.push(Cause::required(
                here.child("type").0,
                format!("must be one of {TYPES}"),
            )),
            t if !TYPES.split(',').any(|x| x == t) => errs.push(Cause::invalid(
                here.child("type").0,
                &json!(t),
                format!("must be one of {TYPES}"),
            )),
            _ => {}
        }
        let format = s(c, "format");
        if !format.is_empty() && !FORMATS.contains(&format) {
            errs.push(Cause::invalid(
                here.child("format").0,
                &json!(format),
                format!("must be one of {}", FORMATS.join(",")),
            ));
        }
        let jp = s(c, "jsonPath");
        if jp.is_empty() {
            errs.push(Cause::required(here.child("JSONPath").0, ""));
        } else if let Some(e) = simple_json_path(jp, &here.child("JSONPath").0) {
            errs.push(e);
        }
    }
    errs
}

fn conversion(c: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let strategy = s(c, "strategy");
    let hook = &c["webhook"];
    let client = &hook["clientConfig"];
    let review = hook["conversionReviewVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match strategy {
        "" => errs.push(Cause::required("spec.conversion.strategy", "")),
        "None" => {
            if !client.is_null() {
                errs.push(Cause::forbidden(
                    "spec.conversion.webhookClientConfig",
                    "should not be set when strategy is not set to Webhook",
                ));
            }
            if !review.is_empty() {
                errs.push(Cause::forbidden(
                    "spec.conversion.conversionReviewVersions",
                    "should not be set when strategy is not set to Webhook",
                ));
            }
        }
        "Webhook" => {
            if client.is_null() {
                errs.push(Cause::required(
                    "spec.conversion.webhookClientConfig",
                    "required when strategy is set to Webhook",
                ));
            } else if client["url"].is_null() == client["service"].is_null() {
                errs.push(Cause::required(
                    "spec.conversion.webhookClientConfig",
                    "exactly one of url or service is required",
                ));
            } else if !client["service"].is_null() {
                let svc = &client["service"];
                for f in ["name", "namespace"] {
                    if s(svc, f).is_empty() {
                        errs.push(Cause::required(
                            format!("spec.conversion.webhookClientConfig.service.{f}"),
                            format!("service {f} is required"),
                        ));
                    }
                }
            }
            if review.is_empty() {
                errs.push(Cause::required("spec.conversion.conversionReviewVersions", ""));
            } else if !review.iter().any(|v| v == "v1" || v == "v1beta1") {
                errs.push(Cause::invalid(
                    "spec.conversion.conversionReviewVersions",
                    &json!(review),
                    "must include at least one of v1, v1beta1",
                ));
            }
        }
        other => errs.push(Cause::not_supported(
            "spec.conversion.strategy",
            &json!(other),
            &["None", "Webhook"],
        )),
    }
    errs
}

fn stored_versions(crd: &Value) -> Vec<Cause> {
    let stored: Vec<&str> = crd["status"]["storedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if stored.is_empty() {
        return vec![Cause::invalid(
            "status.storedVersions",
            &json!(stored),
            "must have at least one stored version",
        )];
    }
    let mut errs = Vec::new();
    let versions = crd["spec"]["versions"].as_array().cloned().unwrap_or_default();
    for v in &versions {
        if v["storage"] == json!(true) && !stored.contains(&s(v, "name")) {
            errs.push(Cause::invalid(
                "status.storedVersions",
                v,
                format!("must have the storage version {}", s(v, "name")),
            ));
        }
    }
    for (i, sv) in stored.iter().enumerate() {
        if !versions.iter().any(|v| s(v, "name") == *sv) {
            errs.push(Cause::invalid(
                format!("status.storedVersions[{i}]"),
                &json!(sv),
                "must appear in spec.versions",
            ));
        }
    }
    errs
}

/// `IsProtectedCommunityGroup`.
fn protected(group: &str) -> bool {
    let g = group.to_ascii_lowercase();
    g == "k8s.io" || g.ends_with(".k8s.io") || g == "kubernetes.io" || g.ends_with(".kubernetes.io")
}

/// The approval state of a CRD's annotations: `Ok` when approved or bypassed.
fn approval(crd: &Value) -> Result<(), Cause> {
    let path = format!("metadata.annotations[{APPROVAL}]");
    let see = "see https://github.com/kubernetes/enhancements/pull/1111";
    match crd["metadata"]["annotations"][APPROVAL].as_str() {
        None | Some("") => Err(Cause::required(
            path,
            format!("protected groups must have approval annotation {APPROVAL:?}, {see}"),
        )),
        Some(a) if a.starts_with("unapproved") => Ok(()),
        Some(a) if a.starts_with("https://") || a.starts_with("http://") => Ok(()),
        Some(a) => Err(Cause::invalid(
            path,
            &json!(a),
            format!(
                "protected groups must have approval annotation {APPROVAL:?} with either a URL or a reason starting with \"unapproved\", {see}"
            ),
        )),
    }
}

fn api_approval(crd: &Value, old: Option<&Value>) -> Vec<Cause> {
    if !protected(s(&crd["spec"], "group")) {
        return Vec::new();
    }
    let unchanged = old
        .is_some_and(|o| o["metadata"]["annotations"][APPROVAL] == crd["metadata"]["annotations"][APPROVAL]);
    match approval(crd) {
        Err(c) if !unchanged => vec![c],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
