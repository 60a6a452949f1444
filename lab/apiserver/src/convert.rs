//! events.k8s.io/v1 ↔ core/v1 Event conversion (the real server stores one form and serves both), and
//! the apiVersion rewrite for custom resources served in several versions (`None` conversion).

use serde_json::{Map, Value};

use crate::resources::{ResourceDef, Strategy};

/// `(events.k8s.io/v1 field, core/v1 field)`.
const EVENT_FIELDS: [(&str, &str); 7] = [
    ("note", "message"),
    ("regarding", "involvedObject"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &Value, from_idx: usize, api_version: &str) -> Value {
    let Some(m) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(m.len());
    for (k, v) in m {
        let key = EVENT_FIELDS
            .iter()
            .find(|pair| (if from_idx == 0 { pair.0 } else { pair.1 }) == k)
            .map(|pair| if from_idx == 0 { pair.1 } else { pair.0 })
            .unwrap_or(k);
        out.insert(key.to_owned(), v.clone());
    }
    out.insert("apiVersion".to_owned(), Value::String(api_version.to_owned()));
    Value::Object(out)
}

/// The storage form of an object written through `def`.
pub fn to_storage(def: &ResourceDef, obj: Value) -> Value {
    match def.strategy {
        Strategy::EventV1 => rename(&obj, 0, "v1"),
        _ => obj,
    }
}

/// How `def` presents a stored object.
pub fn to_external(def: &ResourceDef, obj: &Value) -> Value {
    match def.strategy {
        Strategy::EventV1 => rename(obj, 1, "events.k8s.io/v1"),
        Strategy::Custom if obj["apiVersion"].as_str() != Some(&def.api_version()) => {
            let mut o = obj.clone();
            o["apiVersion"] = Value::String(def.api_version());
            o
        }
        _ => obj.clone(),
    }
}

/// Whether `def` presents stored objects unchanged (watch lines can then be shared between watchers).
pub fn is_identity(def: &ResourceDef, storage_api_version: Option<&str>) -> bool {
    match def.strategy {
        Strategy::EventV1 => false,
        Strategy::Custom => storage_api_version.is_none_or(|v| v == def.api_version()),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn event_forms_round_trip() {
        let r = Registry::builtin();
        let v1 = r.get("events.k8s.io", "v1", "events").unwrap();
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                        "note": "assigned", "regarding": {"kind": "Service", "name": "web"}, "reason": "IPAllocated",
                        "reportingController": "ferrolb.io/controller", "deprecatedCount": 2});
        let core = to_storage(v1, ev.clone());
        assert_eq!(core["message"], "assigned");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["reportingComponent"], "ferrolb.io/controller");
        assert_eq!(core["count"], 2);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(to_external(v1, &core), ev);
    }
}
