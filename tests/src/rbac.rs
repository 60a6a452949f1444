//! A small RBAC evaluator over parsed ClusterRoles, Roles and their bindings, following kube-apiserver's
//! authorizer (`rbac/validation` `RuleAllows`): verbs, apiGroups, resources with subresources (`services/status`,
//! `*/status`), resourceNames, and the namespace a binding applies in. Pure: objects and requests in, verdicts
//! out.
//!
//! [`Policy::audit`] checks a recorded run both ways: every request is allowed, and every permission the
//! roles grant — each verb × group × resource × resourceName of each rule of each binding — was used by at
//! least one request, so the roles grant nothing unused.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

/// A request as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request {
    /// The user (`system:serviceaccount:<ns>:<name>` for a service account).
    pub user: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// API group, `""` for core.
    pub api_group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource or `""`.
    pub subresource: String,
    /// Namespace or `""` (cluster-scoped, or across all namespaces).
    pub namespace: String,
    /// Object name or `""`. For list and watch, the name a `metadata.name=` field selector pins, as
    /// kube-apiserver's request info derives it (so `resourceNames` can restrict them).
    pub name: String,
}

impl Request {
    /// The request an audit entry records; `None` for non-resource requests (discovery, `/version`).
    pub fn from_audit(e: &ferrolb_apiserver::AuditEntry) -> Option<Request> {
        if !e.resource_request {
            return None;
        }
        let mut name = e.name.clone();
        if name.is_empty() && matches!(e.verb.as_str(), "list" | "watch") {
            name = field_selector_name(&e.uri).unwrap_or_default();
        }
        Some(Request {
            user: e.user.clone(),
            verb: e.verb.clone(),
            api_group: e.api_group.clone(),
            resource: e.resource.clone(),
            subresource: e.subresource.clone(),
            namespace: e.namespace.clone(),
            name,
        })
    }

    /// `resource` or `resource/subresource`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(
            f,
            "{} {} {group}/{}",
            self.user,
            self.verb,
            self.combined_resource()
        )?;
        if !self.namespace.is_empty() {
            write!(f, " in {}", self.namespace)?;
        }
        if !self.name.is_empty() {
            write!(f, " name {}", self.name)?;
        }
        Ok(())
    }
}

/// The name pinned by `fieldSelector=metadata.name=<name>` in a request URI (exact match only).
pub fn field_selector_name(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    let selector = ferrolb_apiserver::request_info::parse_query(Some(query)).remove("fieldSelector")?;
    let mut name = None;
    for term in selector.split(',') {
        let (key, value) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .filter(|(k, _)| !k.ends_with('!'))?;
        if key.trim() == "metadata.name" {
            name = Some(value.trim().to_owned());
        }
    }
    name
}

/// Why a policy could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RbacError {
    /// A role or binding has an unexpected shape.
    #[error("{object}: {message}")]
    Shape {
        /// `Kind namespace/name`.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// A binding refers to a role that is not there.
    #[error("{binding}: roleRef {role} does not exist")]
    MissingRole {
        /// The binding.
        binding: String,
        /// The role it names.
        role: String,
    },
}

/// One rule of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// API groups (`*` for all).
    pub api_groups: Vec<String>,
    /// Resources, possibly `resource/subresource`, `*`, `*/subresource`.
    pub resources: Vec<String>,
    /// Object names; empty means any.
    pub resource_names: Vec<String>,
    /// Non-resource URLs (reported, never matched: the programs make no such requests).
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    fn from_value(object: &str, v: &Value) -> Result<PolicyRule, RbacError> {
        let list = |field: &str| -> Result<Vec<String>, RbacError> {
            match &v[field] {
                Value::Null => Ok(Vec::new()),
                Value::Array(a) => a
                    .iter()
                    .map(|s| {
                        s.as_str().map(str::to_owned).ok_or_else(|| RbacError::Shape {
                            object: object.to_owned(),
                            message: format!("{field}: {s} is not a string"),
                        })
                    })
                    .collect(),
                other => Err(RbacError::Shape {
                    object: object.to_owned(),
                    message: format!("{field}: {other} is not a list"),
                }),
            }
        };
        Ok(PolicyRule {
            verbs: list("verbs")?,
            api_groups: list("apiGroups")?,
            resources: list("resources")?,
            resource_names: list("resourceNames")?,
            non_resource_urls: list("nonResourceURLs")?,
        })
    }

    /// Whether the rule allows `req` (kube-apiserver's `RuleAllows` for resource requests).
    pub fn allows(&self, req: &Request) -> bool {
        let any = |set: &[String], v: &str| set.iter().any(|s| s == "*" || s == v);
        any(&self.verbs, &req.verb)
            && any(&self.api_groups, &req.api_group)
            && self.resource_matches(req)
            && (self.resource_names.is_empty()
                || (!req.name.is_empty() && self.resource_names.contains(&req.name)))
    }

    fn resource_matches(&self, req: &Request) -> bool {
        let combined = req.combined_resource();
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!req.subresource.is_empty() && r.strip_prefix("*/") == Some(req.subresource.as_str()))
        })
    }

    /// Whether the rule uses a wildcard anywhere (a least-privilege manifest never does).
    pub fn has_wildcard(&self) -> bool {
        self.verbs
            .iter()
            .chain(&self.api_groups)
            .chain(&self.resources)
            .any(|s| s.contains('*'))
    }
}

/// A role: its kind, namespace (`""` for a ClusterRole), name and rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// Namespace of a Role.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Rules, in order.
    pub rules: Vec<PolicyRule>,
}

impl Role {
    /// `Kind namespace/name` or `Kind name`.
    pub fn id(&self) -> String {
        object_id(&self.kind, &self.namespace, &self.name)
    }
}

fn object_id(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    }
}

/// A binding's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user name.
    User(String),
    /// A group name.
    Group(String),
    /// A service account.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl Subject {
    /// Whether `user` is, or belongs to, this subject. Service-account users belong to the groups
    /// `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn matches(&self, user: &str) -> bool {
        match self {
            Subject::User(u) => u == user,
            Subject::ServiceAccount { namespace, name } => {
                user == format!("system:serviceaccount:{namespace}:{name}")
            }
            Subject::Group(g) => {
                let sa_ns = user
                    .strip_prefix("system:serviceaccount:")
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(ns, _)| ns);
                match g.as_str() {
                    "system:authenticated" => user != "system:anonymous",
                    "system:unauthenticated" => user == "system:anonymous",
                    "system:serviceaccounts" => sa_ns.is_some(),
                    other => other
                        .strip_prefix("system:serviceaccounts:")
                        .is_some_and(|ns| Some(ns) == sa_ns),
                }
            }
        }
    }
}

/// A binding resolved to its role: who, where (`None`: cluster-wide), and which rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `ClusterRoleBinding name` or `RoleBinding ns/name`.
    pub binding: String,
    /// The subjects.
    pub subjects: Vec<Subject>,
    /// The namespace a RoleBinding applies in; `None` for a ClusterRoleBinding.
    pub namespace: Option<String>,
    /// The role bound.
    pub role: Role,
}

impl Grant {
    /// Whether this grant covers `req`'s user and namespace.
    pub fn applies_to(&self, req: &Request) -> bool {
        self.subjects.iter().any(|s| s.matches(&req.user))
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| !req.namespace.is_empty() && *ns == req.namespace)
    }

    /// The index of the first rule allowing `req`, when the grant applies.
    pub fn allowing_rule(&self, req: &Request) -> Option<usize> {
        if !self.applies_to(req) {
            return None;
        }
        self.role.rules.iter().position(|r| r.allows(req))
    }
}

/// All grants of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Every binding, resolved.
    pub grants: Vec<Grant>,
    /// Roles no binding refers to.
    pub unbound_roles: Vec<String>,
}

/// A permission that no request used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unused {
    /// The binding.
    pub binding: String,
    /// The role.
    pub role: String,
    /// The rule's index in the role.
    pub rule: usize,
    /// The verb.
    pub verb: String,
    /// The API group.
    pub api_group: String,
    /// The resource.
    pub resource: String,
    /// The resource name, when the rule lists names.
    pub resource_name: Option<String>,
}

impl fmt::Display for Unused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(
            f,
            "{} via {} rule {}: {} {group}/{}",
            self.role, self.binding, self.rule, self.verb, self.resource
        )?;
        if let Some(n) = &self.resource_name {
            write!(f, " name {n}")?;
        }
        Ok(())
    }
}

/// The outcome of [`Policy::audit`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditReport {
    /// Distinct requests no grant allows.
    pub denied: BTreeSet<Request>,
    /// Permissions no request used.
    pub unused: Vec<Unused>,
    /// Rules with a wildcard or non-resource URLs (never least privilege here).
    pub broad: Vec<String>,
    /// Roles no binding refers to.
    pub unbound_roles: Vec<String>,
}

impl AuditReport {
    /// Whether the run proves the policy exact: nothing denied, nothing unused, nothing broad.
    pub fn is_exact(&self) -> bool {
        self.denied.is_empty()
            && self.unused.is_empty()
            && self.broad.is_empty()
            && self.unbound_roles.is_empty()
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.denied {
            writeln!(f, "denied: {d}")?;
        }
        for u in &self.unused {
            writeln!(f, "unused: {u}")?;
        }
        for b in &self.broad {
            writeln!(f, "broad: {b}")?;
        }
        for r in &self.unbound_roles {
            writeln!(f, "unbound: {r}")?;
        }
        Ok(())
    }
}

fn meta(o: &Value, field: &str) -> String {
    o["metadata"][field].as_str().unwrap_or_default().to_owned()
}

impl Policy {
    /// The policy of every Role, ClusterRole, RoleBinding and ClusterRoleBinding among `objects` (other
    /// kinds are ignored).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Result<Policy, RbacError> {
        let objects: Vec<&Value> = objects.into_iter().collect();
        let mut roles = Vec::new();
        for o in objects
            .iter()
            .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        {
            let kind = o["kind"].as_str().unwrap_or_default().to_owned();
            let namespace = if kind == "Role" {
                meta(o, "namespace")
            } else {
                String::new()
            };
            let name = meta(o, "name");
            let id = object_id(&kind, &namespace, &name);
            if kind == "ClusterRole" && !o["aggregationRule"].is_null() {
                return Err(RbacError::Shape {
                    object: id,
                    message: "aggregated ClusterRoles are not modelled".into(),
                });
            }
            let rules = o["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| PolicyRule::from_value(&id, r))
                .collect::<Result<Vec<_>, _>>()?;
            roles.push(Role {
                kind,
                namespace,
                name,
                rules,
            });
        }
        let mut grants = Vec::new();
        for b in objects
            .iter()
            .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
        {
            let kind = b["kind"].as_str().unwrap_or_default();
            let namespace = if kind == "RoleBinding" {
                meta(b, "namespace")
            } else {
                String::new()
            };
            let id = object_id(kind, &namespace, &meta(b, "name"));
            let role_kind = b["roleRef"]["kind"].as_str().unwrap_or_default();
            let role_name = b["roleRef"]["name"].as_str().unwrap_or_default();
            let role_ns = if role_kind == "Role" {
                namespace.as_str()
            } else {
                ""
            };
            if kind == "ClusterRoleBinding" && role_kind != "ClusterRole" {
                return Err(RbacError::Shape {
                    object: id,
                    message: format!("a ClusterRoleBinding can only bind a ClusterRole, not {role_kind}"),
                });
            }
            let role = roles
                .iter()
                .find(|r| r.kind == role_kind && r.name == role_name && r.namespace == role_ns)
                .cloned()
                .ok_or_else(|| RbacError::MissingRole {
                    binding: id.clone(),
                    role: object_id(role_kind, role_ns, role_name),
                })?;
            let mut subjects = Vec::new();
            for s in b["subjects"].as_array().into_iter().flatten() {
                let name = s["name"].as_str().unwrap_or_default().to_owned();
                subjects.push(match s["kind"].as_str() {
                    Some("ServiceAccount") => Subject::ServiceAccount {
                        namespace: s["namespace"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| namespace.clone()),
                        name,
                    },
                    Some("User") => Subject::User(name),
                    Some("Group") => Subject::Group(name),
                    other => {
                        return Err(RbacError::Shape {
                            object: id,
                            message: format!("subject kind {other:?}"),
                        });
                    }
                });
            }
            grants.push(Grant {
                binding: id,
                subjects,
                namespace: (kind == "RoleBinding").then_some(namespace),
                role,
            });
        }
        let unbound_roles = roles
            .iter()
            .filter(|r| !grants.iter().any(|g| g.role == **r))
            .map(Role::id)
            .collect();
        Ok(Policy {
            grants,
            unbound_roles,
        })
    }

    /// The grants (binding, rule index) allowing `req`; empty when it is denied.
    pub fn allowed_by(&self, req: &Request) -> Vec<(usize, usize)> {
        self.grants
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.allowing_rule(req).map(|r| (i, r)))
            .collect()
    }

    /// Whether any grant allows `req`.
    pub fn allows(&self, req: &Request) -> bool {
        self.grants.iter().any(|g| g.allowing_rule(req).is_some())
    }

    /// Checks `requests` (those of the users the policy is about) against the policy, both ways.
    pub fn audit(&self, requests: &[Request]) -> AuditReport {
        let mut report = AuditReport {
            unbound_roles: self.unbound_roles.clone(),
            ..AuditReport::default()
        };
        for r in requests {
            if !self.allows(r) {
                report.denied.insert(r.clone());
            }
        }
        for g in &self.grants {
            for (i, rule) in g.role.rules.iter().enumerate() {
                if rule.has_wildcard() || !rule.non_resource_urls.is_empty() {
                    report.broad.push(format!("{} rule {i}", g.role.id()));
                    continue;
                }
                let names: Vec<Option<&String>> = if rule.resource_names.is_empty() {
                    vec![None]
                } else {
                    rule.resource_names.iter().map(Some).collect()
                };
                for verb in &rule.verbs {
                    for group in &rule.api_groups {
                        for resource in &rule.resources {
                            for name in &names {
                                let used = requests.iter().any(|r| {
                                    r.verb == *verb
                                        && r.api_group == *group
                                        && r.combined_resource() == *resource
                                        && name.is_none_or(|n| r.name == *n)
                                        && g.applies_to(r)
                                });
                                if !used {
                                    report.unused.push(Unused {
                                        binding: g.binding.clone(),
                                        role: g.role.id(),
                                        rule: i,
                                        verb: verb.clone(),
                                        api_group: group.clone(),
                                        resource: resource.clone(),
                                        resource_name: name.cloned(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        report
    }
}
