//! core/v1 Events and events.k8s.io/v1 Events: one storage form (core), served in both APIs (the real server
//! converts between them the same way, as kube-runtime's `Recorder` writes the new API), validation of both.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::events::v1::Event as EventV1;
use serde_json::{Map, Value, json};

use crate::defaults::Target;
use crate::error::{ApiError, Cause};
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{Strategy, col, generic_field_value};
use crate::time::age_of;
use crate::validate;

/// The core/v1 Event strategy (the storage form of both Event APIs).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventStrategy;

/// The events.k8s.io/v1 Event strategy, converted to and from the core form.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventV1Strategy;

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

fn columns() -> Vec<Value> {
    vec![
        col("Last Seen", "string", "", 0, "Time when last event was observed."),
        col("Type", "string", "", 0, "Type of this event."),
        col("Reason", "string", "", 0, "Short, machine understandable string."),
        col("Object", "string", "", 0, "The object this event is about."),
        col("Source", "string", "", 1, "The component reporting this event."),
        col(
            "Message",
            "string",
            "",
            0,
            "A human-readable description of the status of this operation.",
        ),
        col(
            "Count",
            "integer",
            "",
            1,
            "The number of times this event has occurred.",
        ),
        col("Name", "string", "name", 1, "Name of the event."),
    ]
}

/// A row for the stored (core) form.
fn cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let last = obj["series"]["lastObservedTime"]
        .as_str()
        .or(obj["lastTimestamp"].as_str())
        .or(obj["eventTime"].as_str())
        .or(obj["metadata"]["creationTimestamp"].as_str());
    let inv = &obj["involvedObject"];
    let source = obj["source"]["component"]
        .as_str()
        .filter(|c| !c.is_empty())
        .or(obj["reportingComponent"].as_str())
        .unwrap_or_default();
    let count = obj["series"]["count"]
        .as_i64()
        .or(obj["count"].as_i64())
        .unwrap_or(1);
    vec![
        json!(age_of(last, now)),
        json!(s(&obj["type"])),
        json!(s(&obj["reason"])),
        json!(format!(
            "{}/{}",
            s(&inv["kind"]).to_ascii_lowercase(),
            s(&inv["name"])
        )),
        json!(source),
        json!(s(&obj["message"])),
        json!(count),
        json!(s(&obj["metadata"]["name"])),
    ]
}

impl Strategy for EventStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Event>(obj)
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        validate_event(obj, false)
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn field_labels(&self) -> Vec<String> {
        [
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn field_value(&self, obj: &Value, field: &str) -> String {
        match field {
            "source" => generic_field_value(obj, "source.component"),
            f => generic_field_value(obj, f),
        }
    }

    fn columns(&self) -> Vec<Value> {
        columns()
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        cells(obj, now)
    }
}

impl Strategy for EventV1Strategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<EventV1>(obj)
    }

    fn to_storage(&self, obj: Value) -> Result<Value, ApiError> {
        Ok(rename(&obj, 0, "v1"))
    }

    fn to_external(&self, obj: &Value) -> Result<Value, ApiError> {
        Ok(rename(obj, 1, "events.k8s.io/v1"))
    }

    fn is_identity(&self) -> bool {
        false
    }

    /// Validation runs on the storage (core) form, naming the events.k8s.io/v1 fields.
    fn validate(&self, obj: &Value, _old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        validate_event(obj, true)
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn columns(&self) -> Vec<Value> {
        columns()
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        cells(obj, now)
    }
}

fn validate_event(obj: &Value, strict: bool) -> Vec<Cause> {
    let mut errs = Vec::new();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let (regarding, note) = if strict {
        ("regarding", "note")
    } else {
        ("involvedObject", "message")
    };
    let (inv, core_msg) = (&obj["involvedObject"], &obj["message"]);
    if let Some(ins) = inv["namespace"].as_str().filter(|s| !s.is_empty() && *s != ns) {
        errs.push(Cause::invalid(
            format!("{regarding}.namespace"),
            &json!(ins),
            "does not match event.namespace",
        ));
    }
    let new_style = strict || !obj["eventTime"].is_null();
    if new_style {
        if obj["eventTime"].is_null() {
            errs.push(Cause::required("eventTime", ""));
        }
        for (field, core) in [
            ("reportingController", "reportingComponent"),
            ("reportingInstance", "reportingInstance"),
            ("action", "action"),
            ("reason", "reason"),
        ] {
            let v = obj[core].as_str().unwrap_or_default();
            if v.is_empty() {
                errs.push(Cause::required(if strict { field } else { core }, ""));
            } else if v.len() > 128 {
                errs.push(Cause::too_long(if strict { field } else { core }, 128));
            }
        }
        if let Some(rc) = obj["reportingComponent"].as_str().filter(|s| !s.is_empty()) {
            for e in validate::qualified_name(rc) {
                errs.push(Cause::invalid(
                    if strict {
                        "reportingController"
                    } else {
                        "reportingComponent"
                    },
                    &json!(rc),
                    e,
                ));
            }
        }
        if let Some(t) = obj["type"]
            .as_str()
            .filter(|t| !["Normal", "Warning"].contains(t))
        {
            errs.push(Cause::not_supported("type", &json!(t), &["Normal", "Warning"]));
        }
        if core_msg.as_str().is_some_and(|m| m.len() > 1024) {
            errs.push(Cause::too_long(note, 1024));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_forms_round_trip() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                        "note": "assigned", "regarding": {"kind": "Service", "name": "web"}, "reason": "IPAllocated",
                        "reportingController": "ferrolb.io/controller", "deprecatedCount": 2});
        let core = EventV1Strategy.to_storage(ev.clone()).unwrap();
        assert_eq!(core["message"], "assigned");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["reportingComponent"], "ferrolb.io/controller");
        assert_eq!(core["count"], 2);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(EventV1Strategy.to_external(&core).unwrap(), ev);
    }
}
