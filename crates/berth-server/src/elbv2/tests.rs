//! Handler tests over the in-memory store, called as the front calls them: what only the store
//! and the data plane can answer, and that a malformed request is refused before either is
//! asked.

use crate::call::Context;
use crate::data_plane::FakeDataPlane;
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_model::Arns;
use berth_store::MemoryStore;
use serde_json::Value;
use std::sync::Arc;

struct Api {
    client: LocalClient,
    data_plane: Arc<FakeDataPlane>,
}

impl Api {
    fn new() -> Self {
        let data_plane = Arc::new(FakeDataPlane::default());
        let cx = Context::new(
            Arc::new(MemoryStore::new()),
            Arns::new("us-east-1", "000000000000"),
        )
        .with_data_plane(data_plane.clone());
        Self {
            client: LocalClient::new(Arc::new(cx)),
            data_plane,
        }
    }

    fn call(&self, action: &str, members: &[(&str, &str)]) -> Result<Value, AwsError> {
        self.client.elbv2_at(action, members, 1_700_000_000.0)
    }

    fn ok(&self, action: &str, members: &[(&str, &str)]) -> Value {
        self.call(action, members)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn refused(&self, action: &str, members: &[(&str, &str)]) -> AwsError {
        self.call(action, members)
            .err()
            .unwrap_or_else(|| panic!("{action} {members:?} was answered"))
    }

    fn load_balancer(&self) -> String {
        let created = self.ok("CreateLoadBalancer", &[("Name", "web")]);
        created["LoadBalancers"][0]["LoadBalancerArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn target_group(&self, name: &str) -> String {
        let created = self.ok("CreateTargetGroup", &[("Name", name), ("Port", "80")]);
        created["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn listeners(&self, lb: &str) -> usize {
        self.ok("DescribeListeners", &[("LoadBalancerArn", lb)])["Listeners"]
            .as_array()
            .unwrap()
            .len()
    }
}

fn missing(arn: &str) -> String {
    format!("{}/0000000000000000", arn.rsplit_once('/').unwrap().0)
}

#[test]
fn create_listener_asks_for_groups_then_certificates_then_the_load_balancer() {
    let api = Api::new();
    let (lb, tg) = (api.load_balancer(), api.target_group("api"));
    let (unknown_lb, unknown_tg) = (missing(&lb), missing(&tg));
    let listener = |lb: &str, tg: &str, protocol: &str| -> AwsError {
        let certificate = "arn:aws:acm:us-east-1:000000000000:certificate/nope";
        let mut members = vec![
            ("LoadBalancerArn", lb),
            ("Protocol", protocol),
            ("Port", "8443"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", tg),
        ];
        if protocol == "HTTPS" {
            members.push(("Certificates.member.1.CertificateArn", certificate));
        }
        api.refused("CreateListener", &members)
    };
    assert_eq!(
        listener(&unknown_lb, &unknown_tg, "HTTPS").code,
        "TargetGroupNotFound"
    );
    let certificate = listener(&unknown_lb, &tg, "HTTPS");
    assert_eq!(certificate.code, "CertificateNotFound");
    assert!(certificate.message.contains("certificate/nope"));
    assert_eq!(
        listener(&unknown_lb, &tg, "HTTP").code,
        "LoadBalancerNotFound"
    );
    assert!(api.data_plane.reserved().is_empty(), "no port was bound");
}

#[test]
fn create_listener_binds_a_free_port_before_storing_and_only_once() {
    let api = Api::new();
    let lb = api.load_balancer();
    let tg = api.target_group("api");
    let listener = |port: &'static str| {
        [
            ("LoadBalancerArn", lb.as_str()),
            ("Port", port),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", tg.as_str()),
        ]
    };
    api.data_plane.take_port(8081);
    let taken = api.refused("CreateListener", &listener("8081"));
    assert_eq!(taken.code, "InvalidConfigurationRequest");
    assert!(taken.message.contains("8081"), "{}", taken.message);
    assert_eq!(api.listeners(&lb), 0, "a refused listener was stored");
    api.ok("CreateListener", &listener("8080"));
    assert_eq!(api.data_plane.reserved(), [8080]);
    assert_eq!(
        api.refused("CreateListener", &listener("8080")).code,
        "DuplicateListener"
    );
    assert_eq!(api.listeners(&lb), 1);
}

#[test]
fn modify_target_group_checks_a_timeout_given_alone_against_the_stored_interval() {
    let api = Api::new();
    let tg = api.target_group("api");
    let refused = api.refused(
        "ModifyTargetGroup",
        &[("TargetGroupArn", &tg), ("HealthCheckTimeoutSeconds", "30")],
    );
    assert_eq!(
        (refused.code.as_ref(), refused.message.as_str()),
        (
            "ValidationError",
            "HealthCheckTimeoutSeconds: the timeout (30s) must be shorter than the interval (30s)"
        )
    );
    let modified = api.ok(
        "ModifyTargetGroup",
        &[
            ("TargetGroupArn", &tg),
            ("HealthCheckIntervalSeconds", "60"),
        ],
    );
    assert_eq!(
        modified["TargetGroups"][0]["HealthCheckTimeoutSeconds"], 5,
        "the refused change wrote nothing"
    );
    let modified = api.ok(
        "ModifyTargetGroup",
        &[("TargetGroupArn", &tg), ("HealthCheckTimeoutSeconds", "30")],
    );
    assert_eq!(modified["TargetGroups"][0]["HealthCheckTimeoutSeconds"], 30);
}

#[test]
fn a_malformed_request_is_refused_before_the_store_is_asked() {
    let api = Api::new();
    let unknown = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/nope/0";
    let refused = api.refused(
        "ModifyTargetGroup",
        &[("TargetGroupArn", unknown), ("HealthCheckPath", "up")],
    );
    assert_eq!(refused.code, "ValidationError");
    assert!(refused.message.starts_with("HealthCheckPath"));
    assert_eq!(
        api.refused(
            "ModifyTargetGroup",
            &[("TargetGroupArn", unknown), ("HealthCheckPath", "/up")]
        )
        .code,
        "TargetGroupNotFound"
    );
}

#[test]
fn create_rule_asks_for_the_group_then_the_listener_then_the_priority() {
    let api = Api::new();
    let lb = api.load_balancer();
    let tg = api.target_group("api");
    let created = api.ok(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Port", "8080"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    let listener = created["Listeners"][0]["ListenerArn"].as_str().unwrap();
    let unknown_listener = format!("{listener}0");
    let unknown_group = missing(&tg);
    let rule = |listener: &str, tg: &str| -> Result<Value, AwsError> {
        api.call(
            "CreateRule",
            &[
                ("ListenerArn", listener),
                ("Priority", "5"),
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/api/*"),
                ("Actions.member.1.Type", "forward"),
                ("Actions.member.1.TargetGroupArn", tg),
            ],
        )
    };
    let code = |answer: Result<Value, AwsError>| answer.unwrap_err().code.to_string();
    assert_eq!(
        code(rule(&unknown_listener, &unknown_group)),
        "TargetGroupNotFound"
    );
    assert_eq!(code(rule(&unknown_listener, &tg)), "ListenerNotFound");
    rule(listener, &tg).unwrap();
    assert_eq!(code(rule(listener, &tg)), "PriorityInUse");
}
