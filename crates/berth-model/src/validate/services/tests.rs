//! CreateService and UpdateService against a Fargate service and many small packed apps,
//! and against the rules both actions share.

use super::{create_service, update_service};
use crate::requests::{decode, CreateService, UpdateService};
use crate::validate::check::INVALID;
use crate::validate::testing::{assert_rejected, with};
use serde_json::{json, Value};

fn fargate_service() -> Value {
    json!({
        "cluster": "prod",
        "serviceName": "portal-web",
        "taskDefinition": "portal-web:3",
        "desiredCount": 2,
        "launchType": "FARGATE",
        "schedulingStrategy": "REPLICA",
        "deploymentConfiguration": {
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            "strategy": "ROLLING"
        },
        "deploymentController": {"type": "ECS"},
        "loadBalancers": [{
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/portal/0123456789abcdef",
            "containerName": "web",
            "containerPort": 8080
        }],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "ENABLED"}},
        "healthCheckGracePeriodSeconds": 60,
        "propagateTags": "SERVICE",
        "enableExecuteCommand": true,
        "tags": [{"key": "team", "value": "research"}]
    })
}

/// Dozens of small apps packed on two machines in two zones behind one load balancer.
fn packed_service() -> Value {
    json!({
        "serviceName": "parks_permits",
        "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/parks:12",
        "desiredCount": 2,
        "launchType": "EC2",
        "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 50},
        "placementConstraints": [
            {"type": "distinctInstance"},
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
        ],
        "placementStrategy": [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "binpack", "field": "memory"},
            {"type": "random"}
        ],
        "loadBalancers": [{"loadBalancerName": "city-apps", "containerName": "web", "containerPort": 80}],
        "availabilityZoneRebalancing": "ENABLED",
        "healthCheckGracePeriodSeconds": 2147483647
    })
}

fn service(request: &Value) -> CreateService {
    decode(request.to_string().as_bytes()).expect("test request decodes")
}

/// Problems shared by CreateService and UpdateService, as edits valid for both shapes.
/// A case's name, the edits that break one rule, and what the message must contain.
type ServiceCase = (&'static str, Vec<(&'static str, Value)>, &'static str);

fn shared_service_cases() -> Vec<ServiceCase> {
    vec![
        ("negative desired count", vec![("/desiredCount", json!(-1))], "desiredCount: must not be negative, got -1"),
        ("unknown propagateTags", vec![("/propagateTags", json!("ALL"))], "propagateTags: must be one of TASK_DEFINITION, SERVICE, NONE, got \"ALL\""),
        ("unknown rebalancing", vec![("/availabilityZoneRebalancing", json!("YES"))], "availabilityZoneRebalancing: must be one of ENABLED, DISABLED"),
        ("negative maximum percent", vec![("/deploymentConfiguration", json!({"maximumPercent": -1}))], "deploymentConfiguration.maximumPercent: must not be negative, got -1"),
        ("minimum healthy above 100", vec![("/deploymentConfiguration", json!({"minimumHealthyPercent": 101}))], "deploymentConfiguration.minimumHealthyPercent: must be between 0 and 100, got 101"),
        ("negative minimum healthy", vec![("/deploymentConfiguration", json!({"minimumHealthyPercent": -1}))], "deploymentConfiguration.minimumHealthyPercent: must be between 0 and 100, got -1"),
        ("maximum below minimum", vec![("/deploymentConfiguration", json!({"maximumPercent": 50, "minimumHealthyPercent": 100}))], "deploymentConfiguration.maximumPercent: must be at least minimumHealthyPercent (100), got 50"),
        ("unknown deployment strategy", vec![("/deploymentConfiguration", json!({"strategy": "RECREATE"}))], "deploymentConfiguration.strategy: must be one of ROLLING, BLUE_GREEN, LINEAR, CANARY"),
        ("negative bake time", vec![("/deploymentConfiguration", json!({"bakeTimeInMinutes": -1}))], "deploymentConfiguration.bakeTimeInMinutes: must not be negative, got -1"),
        ("unknown deployment controller", vec![("/deploymentController", json!({"type": "JENKINS"}))], "deploymentController.type: must be one of ECS, CODE_DEPLOY, EXTERNAL"),
        ("deployment controller without a type", vec![("/deploymentController", json!({}))], "deploymentController.type: required"),
        ("constraint without a type", vec![("/placementConstraints", json!([{"expression": "attribute:a == b"}]))], "placementConstraints[0].type: required"),
        ("unknown constraint type", vec![("/placementConstraints", json!([{"type": "sameZone"}]))], "placementConstraints[0].type: must be one of distinctInstance, memberOf, got \"sameZone\""),
        ("distinctInstance with an expression", vec![("/placementConstraints", json!([{"type": "distinctInstance", "expression": "attribute:a == b"}]))], "placementConstraints[0].expression: must be omitted for distinctInstance"),
        ("memberOf without an expression", vec![("/placementConstraints", json!([{"type": "memberOf"}]))], "placementConstraints[0].expression: required"),
        ("memberOf with a long expression", vec![("/placementConstraints", json!([{"type": "memberOf", "expression": "a".repeat(2001)}]))], "placementConstraints[0].expression: must be at most 2000 characters, got 2001"),
        ("eleven constraints", vec![("/placementConstraints", json!(vec![json!({"type": "distinctInstance"}); 11]))], "placementConstraints: at most 10 constraints, got 11"),
        ("strategy without a type", vec![("/placementStrategy", json!([{"field": "memory"}]))], "placementStrategy[0].type: required"),
        ("unknown strategy type", vec![("/placementStrategy", json!([{"type": "pack", "field": "memory"}]))], "placementStrategy[0].type: must be one of random, spread, binpack, got \"pack\""),
        ("spread without a field", vec![("/placementStrategy", json!([{"type": "spread"}]))], "placementStrategy[0].field: required"),
        ("spread on an unknown field", vec![("/placementStrategy", json!([{"type": "spread", "field": "zone"}]))], "placementStrategy[0].field: spread takes instanceId, host or attribute:<name>, got \"zone\""),
        ("binpack without a field", vec![("/placementStrategy", json!([{"type": "random"}, {"type": "binpack"}]))], "placementStrategy[1].field: required"),
        ("binpack on disk", vec![("/placementStrategy", json!([{"type": "binpack", "field": "disk"}]))], "placementStrategy[0].field: must be one of cpu, memory, got \"disk\""),
        ("six strategies", vec![("/placementStrategy", json!(vec![json!({"type": "random"}); 6]))], "placementStrategy: at most 5 strategies, got 6"),
        ("load balancer without a container name", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "containerPort": 80}]))], "loadBalancers[0].containerName: required"),
        ("load balancer without a container port", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "containerName": "web"}]))], "loadBalancers[0].containerPort: required"),
        ("load balancer on port 0", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "containerName": "web", "containerPort": 0}]))], "loadBalancers[0].containerPort: must be between 1 and 65535, got 0"),
        ("target group and classic name", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "loadBalancerName": "lb", "containerName": "web", "containerPort": 80}]))], "loadBalancers[0]: give targetGroupArn or loadBalancerName, not both"),
        ("load balancer naming no balancer", vec![("/loadBalancers", json!([{"containerName": "web", "containerPort": 80}]))], "loadBalancers[0].targetGroupArn: required (or loadBalancerName for a Classic Load Balancer)"),
        ("negative grace period", vec![("/healthCheckGracePeriodSeconds", json!(-1))], "healthCheckGracePeriodSeconds: must be between 0 and 2147483647 seconds, got -1"),
    ]
}

#[test]
fn create_service_rules() {
    for (name, request) in [
        ("fargate web behind a target group", fargate_service()),
        ("packed EC2 apps", packed_service()),
        (
            "capacity providers instead of a launch type",
            with(
                fargate_service(),
                &[
                    ("/launchType", Value::Null),
                    (
                        "/capacityProviderStrategy",
                        json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]),
                    ),
                ],
            ),
        ),
        (
            "a daemon",
            json!({"serviceName": "agent", "taskDefinition": "agent", "schedulingStrategy": "DAEMON",
            "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0}}),
        ),
        (
            "no desired count",
            json!({"serviceName": "s", "taskDefinition": "t"}),
        ),
    ] {
        assert_eq!(create_service(&service(&request)), Ok(()), "{name}");
    }
    let mut cases: Vec<(&str, Value, &str)> = shared_service_cases()
        .into_iter()
        .map(|(name, edits, needle)| (name, with(packed_service(), &edits), needle))
        .collect();
    cases.extend([
        ("empty service name", with(fargate_service(), &[("/serviceName", json!(""))]), "serviceName: must not be empty"),
        ("service name with a period", with(fargate_service(), &[("/serviceName", json!("portal.web"))]), "serviceName: may contain only letters, numbers, hyphens and underscores, got \"portal.web\""),
        ("service name too long", with(fargate_service(), &[("/serviceName", json!("s".repeat(256)))]), "serviceName: must be at most 255 characters, got 256"),
        ("unknown launch type", with(fargate_service(), &[("/launchType", json!("SPOT"))]), "launchType: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES, got \"SPOT\""),
        ("managed instances as a launch type", with(fargate_service(), &[("/launchType", json!("MANAGED_INSTANCES"))]), "launchType: use capacityProviderStrategy for MANAGED_INSTANCES"),
        ("launch type and capacity providers", with(fargate_service(), &[("/capacityProviderStrategy", json!([{"capacityProvider": "FARGATE"}]))]), "launchType: must be omitted when capacityProviderStrategy is given"),
        ("unknown scheduling strategy", with(fargate_service(), &[("/schedulingStrategy", json!("BATCH"))]), "schedulingStrategy: must be one of REPLICA, DAEMON, got \"BATCH\""),
        ("daemon on Fargate", with(fargate_service(), &[("/schedulingStrategy", json!("DAEMON"))]), "schedulingStrategy: the DAEMON scheduling strategy is not supported with launchType FARGATE"),
        ("daemon with a placement strategy", with(packed_service(), &[("/schedulingStrategy", json!("DAEMON"))]), "placementStrategy: not supported with the DAEMON scheduling strategy"),
        ("Fargate with placement constraints", with(fargate_service(), &[("/placementConstraints", json!([{"type": "distinctInstance"}]))]), "placementConstraints: not supported with launchType FARGATE"),
        ("Fargate with a placement strategy", with(fargate_service(), &[("/placementStrategy", json!([{"type": "random"}]))]), "placementStrategy: not supported with launchType FARGATE"),
    ]);
    for (name, request, needle) in cases {
        assert_rejected(name, create_service(&service(&request)), INVALID, needle);
    }
    let reserved = with(
        fargate_service(),
        &[(
            "/tags",
            json!([{"key": "aws:ecs:serviceName", "value": "x"}]),
        )],
    );
    assert_rejected(
        "reserved tag",
        create_service(&service(&reserved)),
        INVALID,
        "tags[0].key: the aws: prefix",
    );
}

#[test]
fn update_service_rules() {
    let update = |request: &Value| -> UpdateService {
        decode(request.to_string().as_bytes()).expect("test request decodes")
    };
    let full = with(
        packed_service(),
        &[
            ("/serviceName", Value::Null),
            (
                "/service",
                json!("arn:aws:ecs:us-east-1:000000000000:service/prod/parks_permits"),
            ),
            ("/forceNewDeployment", json!(true)),
            ("/deploymentController", json!({"type": "ECS"})),
        ],
    );
    for request in [
        json!({"service": "web"}),
        json!({"service": "web", "desiredCount": 0}),
        full.clone(),
    ] {
        assert_eq!(update_service(&update(&request)), Ok(()), "{request}");
    }
    assert_rejected(
        "no service",
        update_service(&update(&json!({"service": ""}))),
        INVALID,
        "service: required",
    );
    for (name, edits, needle) in shared_service_cases() {
        assert_rejected(
            name,
            update_service(&update(&with(full.clone(), &edits))),
            INVALID,
            needle,
        );
    }
}
