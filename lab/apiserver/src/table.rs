//! Server-side printing: `meta.k8s.io/v1` Table responses with the columns each kind's strategy defines
//! (`kubectl get` asks for them and has no client-side printer for most kinds).

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// What each row carries in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// One table row for a stored object; `external` is what `includeObject=Object` returns.
pub fn row(
    def: &ResourceDef,
    stored: &Value,
    external: &Value,
    include: IncludeObject,
    now: SystemTime,
) -> Value {
    let mut r = json!({"cells": def.strategy.cells(stored, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(external),
        IncludeObject::Object => r["object"] = external.clone(),
    }
    r
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(external: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": external["metadata"]})
}

/// A whole Table.
pub fn table(def: &ResourceDef, api_version: &str, rows: Vec<Value>, list_meta: Value) -> Value {
    json!({"kind": "Table", "apiVersion": api_version, "metadata": list_meta,
           "columnDefinitions": def.strategy.columns(), "rows": rows})
}
