//! Version-dependent Service fields.

use serde_json::json;

use super::*;

#[test]
fn fields_newer_than_the_server_are_dropped() {
    let svc = json!({"spec": {"trafficDistribution": "PreferClose"},
                     "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}]}}});
    let cases = [
        (
            28,
            vec![
                "spec.trafficDistribution",
                "status.loadBalancer.ingress[0].ipMode",
            ],
            false,
            false,
        ),
        (29, vec!["spec.trafficDistribution"], false, false),
        (30, vec![], false, true),
        (31, vec![], true, true),
    ];
    for (minor, unknown, keeps_td, keeps_mode) in cases {
        let mut s = svc.clone();
        assert_eq!(service::drop_disabled_fields(&mut s, minor), unknown, "1.{minor}");
        assert_eq!(
            s["spec"].get("trafficDistribution").is_some(),
            keeps_td,
            "1.{minor}"
        );
        assert_eq!(
            s["status"]["loadBalancer"]["ingress"][0].get("ipMode").is_some(),
            keeps_mode,
            "1.{minor}"
        );
    }
}
