//! Errors as kube-apiserver reports them: a `Status` object with `reason`, `code`, `message` and `details`,
//! built by constructors that mirror `k8s.io/apimachinery/pkg/api/errors` (`NewNotFound`, `NewConflict`, …).

use serde_json::{Value, json};

/// One field error inside an `Invalid` status (`details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueDuplicate`, `FieldValueForbidden`, …
    pub reason: &'static str,
    /// The JSON path of the field, e.g. `spec.ports[0].port`.
    pub field: String,
    /// The full message, e.g. `spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`.
    pub message: String,
}

impl Cause {
    /// `field: Invalid value: <value>: detail`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Self {
        let field = field.into();
        let message = format!("{field}: Invalid value: {}: {}", show(value), detail.as_ref());
        Cause {
            reason: "FieldValueInvalid",
            field,
            message,
        }
    }

    /// `field: Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: impl AsRef<str>) -> Self {
        let field = field.into();
        let detail = detail.as_ref();
        let message = if detail.is_empty() {
            format!("{field}: Required value")
        } else {
            format!("{field}: Required value: {detail}")
        };
        Cause {
            reason: "FieldValueRequired",
            field,
            message,
        }
    }

    /// `field: Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let field = field.into();
        let list = supported
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "{field}: Unsupported value: {}: supported values: {list}",
            show(value)
        );
        Cause {
            reason: "FieldValueNotSupported",
            field,
            message,
        }
    }

    /// `field: Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        let field = field.into();
        let message = format!("{field}: Duplicate value: {}", show(value));
        Cause {
            reason: "FieldValueDuplicate",
            field,
            message,
        }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: impl AsRef<str>) -> Self {
        let field = field.into();
        let message = format!("{field}: Forbidden: {}", detail.as_ref());
        Cause {
            reason: "FieldValueForbidden",
            field,
            message,
        }
    }

    /// `field: Invalid value: <value>: detail` with reason `FieldValueTypeInvalid` (`field.TypeInvalid`).
    pub fn type_invalid(field: impl Into<String>, value: &Value, detail: impl AsRef<str>) -> Self {
        let field = field.into();
        let message = format!("{field}: Invalid value: {}: {}", show(value), detail.as_ref());
        Cause {
            reason: "FieldValueTypeInvalid",
            field,
            message,
        }
    }

    /// `field: Too many: <actual>: must have at most N items` (`field.TooMany`).
    pub fn too_many(field: impl Into<String>, actual: i64, max: i64) -> Self {
        let field = field.into();
        let what = if max == 1 { "item" } else { "items" };
        let message = format!("{field}: Too many: {actual}: must have at most {max} {what}");
        Cause {
            reason: "FieldValueTooMany",
            field,
            message,
        }
    }

    /// `field: Too long: may not be longer than N` (`field.TooLongMaxLength`, 1.28).
    pub fn too_long_max_length(field: impl Into<String>, max: i64) -> Self {
        let field = field.into();
        let message = format!("{field}: Too long: may not be longer than {max}");
        Cause {
            reason: "FieldValueTooLong",
            field,
            message,
        }
    }

    /// `field: Too long: may not be more than N bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let field = field.into();
        let message = format!("{field}: Too long: may not be more than {max} bytes");
        Cause {
            reason: "FieldValueTooLong",
            field,
            message,
        }
    }
}

/// How Go's `%v`-ish rendering in field errors shows a value: strings quoted, numbers bare.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// An API error, rendered as a `Status` with the matching HTTP code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`, …).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `Status.details` (name, group, kind, causes), when the real server sends one.
    pub details: Option<Value>,
}

/// The `group` and `kind` (lower-case plural resource, as the real server puts it) an error is about.
#[derive(Debug, Clone, Copy)]
pub struct Qualified<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// Plural resource name (`services`).
    pub resource: &'a str,
}

impl Qualified<'_> {
    fn display(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": self.resource});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 `services "x" not found`.
    pub fn not_found(q: Qualified<'_>, name: &str) -> Self {
        let mut e = Self::new(404, "NotFound", format!("{} {name:?} not found", q.display()));
        e.details = Some(q.details(name));
        e
    }

    /// 404 for a path that names no resource: `the server could not find the requested resource`.
    pub fn no_route() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// 409 `services "x" already exists`.
    pub fn already_exists(q: Qualified<'_>, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", q.display()),
        );
        e.details = Some(q.details(name));
        e
    }

    /// 409 Conflict: `Operation cannot be fulfilled on services "x": <msg>`.
    pub fn conflict(q: Qualified<'_>, name: &str, msg: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} {name:?}: {msg}", q.display()),
        );
        e.details = Some(q.details(name));
        e
    }

    /// The conflict an update with a stale resourceVersion gets.
    pub fn stale(q: Qualified<'_>, name: &str) -> Self {
        Self::conflict(
            q,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 `Service "x" is invalid: [cause, cause]`; the kind is group-qualified for other groups
    /// (`Lease.coordination.k8s.io "x" is invalid`), as `NewInvalid` prints a GroupKind.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list = causes.iter().map(|c| c.message.clone()).collect::<Vec<_>>();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified} {name:?} is invalid: {joined}"),
        );
        // a cause's message is the error's body, without the field (`ErrorBody`)
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| {
                let body = c
                    .message
                    .strip_prefix(&format!("{}: ", c.field))
                    .unwrap_or(&c.message);
                json!({"reason": c.reason, "message": body, "field": c.field})
            })
            .collect();
        let mut d = json!({"name": name, "kind": kind, "causes": causes});
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        e.details = Some(d);
        e
    }

    /// 400 BadRequest with a message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_supported(q: Qualified<'_>, action: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("{action} is not supported on resources of kind {:?}", q.display()),
        )
    }

    /// 410 Expired: a compacted resourceVersion or continue token.
    pub fn expired(msg: impl Into<String>) -> Self {
        Self::new(410, "Expired", msg)
    }

    /// 410 Gone as the watch cache reports a too old resourceVersion.
    pub fn gone(msg: impl Into<String>) -> Self {
        Self::new(410, "Gone", msg)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden with a message.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", msg)
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(msg: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", msg)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(msg: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", msg)
    }

    /// 500 InternalError.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", msg.into()),
        )
    }

    /// 504 Timeout for a resourceVersion newer than the store has.
    pub fn too_large_resource_version(rv: u64) -> Self {
        let mut e = Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {rv}, current: less"),
        );
        e.details = Some(
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
        );
        e
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_kube_apiserver() {
        let q = Qualified {
            group: "",
            resource: "services",
        };
        let e = ApiError::stale(q, "web");
        assert_eq!(e.code, 409);
        assert_eq!(
            e.status()["message"],
            "Operation cannot be fulfilled on services \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let q = Qualified {
            group: "coordination.k8s.io",
            resource: "leases",
        };
        let e = ApiError::not_found(q, "lb");
        assert_eq!(
            e.status()["message"],
            "leases.coordination.k8s.io \"lb\" not found"
        );
        assert_eq!(e.status()["details"]["group"], "coordination.k8s.io");
        let e = ApiError::invalid(
            "",
            "Service",
            "web",
            vec![Cause::invalid(
                "spec.ports[0].port",
                &json!(0),
                "must be between 1 and 65535, inclusive",
            )],
        );
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Service \"web\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        );
        assert_eq!(e.status()["details"]["causes"][0]["field"], "spec.ports[0].port");
        assert_eq!(
            e.status()["details"]["causes"][0]["message"],
            "Invalid value: 0: must be between 1 and 65535, inclusive"
        );
    }
}
