//! The state machine as a table: a sequence of object versions, and after each what changed, what is in
//! force and whether it is stale.

use std::collections::BTreeMap;

use super::*;

const GOOD: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n";
const OTHER: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/27]\n";
const BAD: &str = "address-pools:\n- name: default\n  protocol: layer3\n  addresses: [192.0.2.0/33, nope]\n";
const WARN: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.1/28]\n";

fn cm(text: Option<&str>) -> Sources {
    Sources {
        config_map: Some(ConfigMapSource {
            object: ObjectRef::new("ConfigMap", "ferrolb-system", "config"),
            key: "config".into(),
            text: text.map(str::to_owned),
        }),
        ..Sources::default()
    }
}

fn gone() -> Sources {
    Sources::default()
}

/// What the state must look like after one step.
#[derive(Debug)]
struct Want {
    update: fn(&Update) -> bool,
    /// The /27 (32 addresses) or /28 (16) pool in force, or none.
    in_force: Option<u128>,
    stale: bool,
    errors: usize,
}

fn pool_size(state: &ConfigState) -> Option<u128> {
    state
        .current()
        .map(|c| c.pools.first().map_or(0, |p| p.len(crate::AddressFamily::V4)))
}

fn run(steps: &[(Sources, Want)]) {
    let mut state = ConfigState::default();
    for (i, (sources, want)) in steps.iter().enumerate() {
        let update = state.update(sources);
        assert!(
            (want.update)(&update),
            "step {i}: update {update:?}, want {want:?}"
        );
        assert_eq!(pool_size(&state), want.in_force, "step {i}: in force");
        assert_eq!(state.stale(), want.stale, "step {i}: stale");
        assert_eq!(
            state.errors().len(),
            want.errors,
            "step {i}: errors {:?}",
            state.errors()
        );
    }
}

fn switched(u: &Update) -> bool {
    matches!(u, Update::Switched(_))
}

#[test]
fn valid_invalid_deleted_and_back() {
    run(&[
        (
            gone(),
            Want {
                update: |u| *u == Update::Unchanged,
                in_force: None,
                stale: false,
                errors: 0,
            },
        ),
        (
            cm(Some(GOOD)),
            Want {
                update: switched,
                in_force: Some(16),
                stale: false,
                errors: 0,
            },
        ),
        (
            cm(Some(GOOD)),
            Want {
                update: |u| *u == Update::Unchanged,
                in_force: Some(16),
                stale: false,
                errors: 0,
            },
        ),
        (
            cm(Some(BAD)),
            Want {
                update: |u| *u == Update::Invalid,
                in_force: Some(16),
                stale: true,
                errors: 3,
            },
        ),
        (
            cm(Some(BAD)),
            Want {
                update: |u| *u == Update::Unchanged,
                in_force: Some(16),
                stale: true,
                errors: 3,
            },
        ),
        (
            cm(Some(GOOD)),
            Want {
                update: |u| *u == Update::Restored,
                in_force: Some(16),
                stale: false,
                errors: 0,
            },
        ),
        (
            gone(),
            Want {
                update: |u| *u == Update::Deleted,
                in_force: Some(16),
                stale: true,
                errors: 1,
            },
        ),
        (
            gone(),
            Want {
                update: |u| *u == Update::Unchanged,
                in_force: Some(16),
                stale: true,
                errors: 1,
            },
        ),
        (
            cm(None),
            Want {
                update: |u| *u == Update::Invalid,
                in_force: Some(16),
                stale: true,
                errors: 1,
            },
        ),
        (
            cm(Some(OTHER)),
            Want {
                update: switched,
                in_force: Some(32),
                stale: false,
                errors: 0,
            },
        ),
    ]);
}

#[test]
fn an_invalid_first_config_puts_nothing_in_force() {
    run(&[
        (
            cm(Some(BAD)),
            Want {
                update: |u| *u == Update::Invalid,
                in_force: None,
                stale: true,
                errors: 3,
            },
        ),
        (
            gone(),
            Want {
                update: |u| *u == Update::Deleted,
                in_force: None,
                stale: true,
                errors: 1,
            },
        ),
    ]);
}

#[test]
fn errors_name_the_object_and_the_path() {
    let mut state = ConfigState::default();
    state.update(&cm(Some(BAD)));
    let first = &state.errors()[0];
    assert_eq!(
        first.object,
        Some(ObjectRef::new("ConfigMap", "ferrolb-system", "config"))
    );
    assert_eq!(first.path, "address-pools[0].protocol");
    assert_eq!(first.value.as_deref(), Some("layer3"));
    assert!(
        first.to_string().starts_with(
            "ConfigMap ferrolb-system/config: address-pools[0].protocol = \"layer3\": unknown protocol"
        ),
        "{first}"
    );
    assert!(
        state
            .summary()
            .contains("no valid configuration has been loaded yet")
    );
    state.update(&cm(None));
    assert_eq!(
        state.errors()[0].to_string(),
        "ConfigMap ferrolb-system/config: config: the ConfigMap has no key \"config\""
    );
    state.update(&cm(Some(GOOD)));
    state.update(&gone());
    let deleted = state.errors()[0].to_string();
    assert!(
        deleted.starts_with(
            "ConfigMap ferrolb-system/config: config: deleted; the last valid configuration stays"
        ),
        "{deleted}"
    );
    assert!(
        state
            .summary()
            .contains("the last valid configuration stays in force")
    );
}

#[test]
fn warnings_of_the_config_in_force_name_the_object() {
    let mut state = ConfigState::default();
    assert!(matches!(state.update(&cm(Some(WARN))), Update::Switched(_)));
    assert_eq!(state.warnings().len(), 1);
    assert_eq!(
        state.warnings()[0]
            .object
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("ConfigMap ferrolb-system/config")
    );
}

#[test]
fn an_empty_config_map_is_a_valid_config_without_pools() {
    let mut state = ConfigState::default();
    state.update(&cm(Some(GOOD)));
    assert!(matches!(state.update(&cm(Some(""))), Update::Switched(c) if c.pools.is_empty()));
    assert!(!state.stale());
}

// ===== resources =====

fn resource(kind: &str, name: &str, api_version: &str, spec: serde_json::Value) -> ResourceSource {
    ResourceSource {
        object: ObjectRef::new(kind, "ferrolb-system", name),
        api_version: api_version.into(),
        labels: BTreeMap::new(),
        spec,
    }
}

fn pool(name: &str, cidr: &str) -> ResourceSource {
    resource(
        "IPAddressPool",
        name,
        "metallb.io/v1beta1",
        serde_json::json!({"addresses": [cidr]}),
    )
}

fn peer_with_secret(secret: &str) -> ResourceSource {
    resource(
        "BGPPeer",
        "router",
        "metallb.io/v1beta2",
        serde_json::json!({
            "myASN": 64500, "peerASN": 64501, "peerAddress": "198.51.100.1",
            "passwordSecret": {"name": secret},
        }),
    )
}

fn basic_auth(password: &[u8]) -> SecretSource {
    SecretSource {
        type_: "kubernetes.io/basic-auth".into(),
        data: BTreeMap::from([("password".to_owned(), password.to_vec())]),
    }
}

fn crs(resources: Vec<ResourceSource>, secrets: &[(&str, SecretSource)]) -> Sources {
    Sources {
        config_map: None,
        resources,
        secrets: secrets
            .iter()
            .map(|(name, s)| (("ferrolb-system".to_owned(), (*name).to_owned()), s.clone()))
            .collect(),
    }
}

#[test]
fn resources_valid_invalid_deleted_and_back() {
    let good = || crs(vec![pool("default", "192.0.2.0/28")], &[]);
    let bad = || crs(vec![pool("default", "192.0.2.0/33")], &[]);
    run(&[
        (
            good(),
            Want {
                update: switched,
                in_force: Some(16),
                stale: false,
                errors: 0,
            },
        ),
        (
            bad(),
            Want {
                update: |u| *u == Update::Invalid,
                in_force: Some(16),
                stale: true,
                errors: 1,
            },
        ),
        (
            crs(vec![pool("default", "192.0.2.0/27")], &[]),
            Want {
                update: switched,
                in_force: Some(32),
                stale: false,
                errors: 0,
            },
        ),
        (
            // A Secret alone is not configuration: everything was deleted.
            crs(vec![], &[("bgp", basic_auth(b"x"))]),
            Want {
                update: |u| *u == Update::Deleted,
                in_force: Some(32),
                stale: true,
                errors: 1,
            },
        ),
        (
            good(),
            Want {
                update: switched,
                in_force: Some(16),
                stale: false,
                errors: 0,
            },
        ),
    ]);
}

#[test]
fn deleting_every_resource_names_each_one() {
    let mut state = ConfigState::default();
    let two = crs(vec![pool("a", "192.0.2.0/28"), pool("b", "192.0.2.16/28")], &[]);
    assert!(matches!(state.update(&two), Update::Switched(_)));
    assert_eq!(state.update(&crs(vec![], &[])), Update::Deleted);
    let deleted: Vec<String> = state
        .errors()
        .iter()
        .map(|e| e.object.as_ref().unwrap().name.clone())
        .collect();
    assert_eq!(deleted, ["a", "b"]);
    assert!(state.errors().iter().all(|e| e.kind == ErrorKind::SourceDeleted));
}

#[test]
fn a_secret_changing_switches_to_the_new_password() {
    let mut state = ConfigState::default();
    let with = |password: &[u8]| crs(vec![peer_with_secret("bgp")], &[("bgp", basic_auth(password))]);
    let password = |u: &Update| match u {
        Update::Switched(c) => c.peers[0].password.clone(),
        other => panic!("{other:?}"),
    };
    let first = password(&state.update(&with(b"one")));
    assert_eq!(
        first,
        Some(crate::PeerPassword {
            value: "one".into(),
            source: crate::PasswordSource::Secret { name: "bgp".into() },
        })
    );
    assert_eq!(state.update(&with(b"one")), Update::Unchanged);
    let second = password(&state.update(&with(b"two")));
    assert_eq!(second.map(|p| p.value).as_deref(), Some("two"));
    // The Secret gone: invalid, naming the peer and the Secret; the last password stays in force.
    assert_eq!(
        state.update(&crs(vec![peer_with_secret("bgp")], &[])),
        Update::Invalid
    );
    let error = &state.errors()[0];
    assert_eq!(
        error.object.as_ref().unwrap().to_string(),
        "BGPPeer ferrolb-system/router"
    );
    assert_eq!(error.path, "spec.passwordSecret.name");
    assert!(
        error.to_string().contains("Secret ferrolb-system/bgp not found"),
        "{error}"
    );
    let in_force = state.current().unwrap();
    assert_eq!(in_force.peers[0].password.as_ref().unwrap().value, "two");
}

#[test]
fn the_config_map_and_the_resources_add_up() {
    let mut state = ConfigState::default();
    let mut both = crs(vec![pool("extra", "192.0.2.16/28")], &[]);
    both.config_map = cm(Some(GOOD)).config_map;
    let Update::Switched(config) = state.update(&both) else {
        panic!("{:?}", state.errors())
    };
    let names: Vec<&str> = config.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", "extra"], "the ConfigMap's pools first");
    assert_eq!(config.l2_advertisements[0].name, "l2advertisement1");
    // The same name in both formats: an error naming both objects.
    let mut clash = crs(vec![pool("default", "192.0.2.16/28")], &[]);
    clash.config_map = cm(Some(GOOD)).config_map;
    assert_eq!(state.update(&clash), Update::Invalid);
    let e = state.errors()[0].to_string();
    assert!(
        e.starts_with("IPAddressPool ferrolb-system/default: metadata.name = \"default\": name already used by ConfigMap ferrolb-system/config (address-pools[0].name)"),
        "{e}"
    );
}
