use super::*;

const ECS: ServiceSpec = ServiceSpec {
    name: "ECS",
    signing_name: "ecs",
    json_target_prefix: Some("AmazonEC2ContainerServiceV20141113"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};
const ELBV2: ServiceSpec = ServiceSpec {
    name: "ELBv2",
    signing_name: "elasticloadbalancing",
    json_target_prefix: None,
    query: Some(QueryApi {
        version: "2015-12-01",
        namespace: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    }),
    query_compatible: false,
    rpc_v2_cbor: false,
};
/// An API answering every protocol, as CloudWatch does.
const BOTH: ServiceSpec = ServiceSpec {
    name: "CloudWatch",
    signing_name: "monitoring",
    json_target_prefix: Some("GraniteServiceVersion20100801"),
    query: Some(QueryApi {
        version: "2010-08-01",
        namespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
    }),
    query_compatible: true,
    rpc_v2_cbor: true,
};
const TABLE: &[ServiceSpec] = &[ECS, ELBV2, BOTH];

const JSON_1_1: &str = "application/x-amz-json-1.1";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn signed_for(service: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=BKIAEXAMPLE/20261203/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
}

fn json<'a>(target: &'a str, content_type: &'a str) -> Head<'a> {
    Head {
        method: "POST",
        path: "/",
        content_type: Some(content_type),
        target: Some(target),
        authorization: None,
    }
}

fn form(authorization: Option<&str>) -> Head<'_> {
    Head {
        method: "POST",
        path: "/",
        content_type: Some(FORM),
        target: None,
        authorization,
    }
}

#[test]
fn json_requests_go_by_their_target_prefix() {
    let route = route(
        TABLE,
        &json("AmazonEC2ContainerServiceV20141113.ListClusters", JSON_1_1),
        b"{}",
    )
    .unwrap();
    assert_eq!(
        route,
        Route {
            service: 0,
            wire: Wire::Json(JsonVersion::V1_1),
            action: Some("ListClusters".into())
        }
    );
    let cloudwatch = super::route(
        TABLE,
        &json(
            "GraniteServiceVersion20100801.ListMetrics",
            "application/x-amz-json-1.0",
        ),
        b"{}",
    )
    .unwrap();
    assert_eq!(cloudwatch.service, 2);
    assert_eq!(cloudwatch.wire, Wire::Json(JsonVersion::V1_0));
    assert_eq!(cloudwatch.wire.content_type(), "application/x-amz-json-1.0");
}

#[test]
fn query_requests_go_by_version_then_by_signature() {
    let by_version = route(
        TABLE,
        &form(None),
        b"Action=DescribeLoadBalancers&Version=2015-12-01",
    )
    .unwrap();
    assert_eq!(by_version.service, 1);
    assert_eq!(
        by_version.wire,
        Wire::Query {
            namespace: Some("http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/")
        }
    );
    assert_eq!(by_version.action, None);
    // Signed for another API, the version still decides: the signature check then says
    // what is wrong with the signature.
    let mislabelled = signed_for("ecs");
    let head = form(Some(&mislabelled));
    assert_eq!(
        route(
            TABLE,
            &head,
            b"Action=DescribeLoadBalancers&Version=2015-12-01"
        )
        .unwrap()
        .service,
        1
    );
    let monitoring = signed_for("monitoring");
    let head = form(Some(&monitoring));
    assert_eq!(
        route(TABLE, &head, b"Action=ListMetrics&Version=1999-01-01")
            .unwrap()
            .service,
        2,
        "an unknown version goes to the API it was signed for, which names its version"
    );
}

#[test]
fn an_api_berth_does_not_answer_is_named_in_the_refusal() {
    let dynamodb = signed_for("dynamodb");
    let dynamo = Head {
        authorization: Some(&dynamodb),
        ..json("DynamoDB_20120810.ListTables", JSON_1_1)
    };
    let refusal = route(TABLE, &dynamo, b"{}").unwrap_err();
    assert_eq!(refusal.wire, Wire::Json(JsonVersion::V1_1));
    assert_eq!(refusal.error.code, "UnknownOperationException");
    assert_eq!(refusal.error.status, 400);
    for named in [
        "DynamoDB_20120810.ListTables",
        "dynamodb",
        "ECS",
        "ELBv2",
        "2015-12-01",
    ] {
        assert!(
            refusal.error.message.contains(named),
            "{named}: {}",
            refusal.error.message
        );
    }
    let signed_for_sqs = signed_for("sqs");
    let sqs = form(Some(&signed_for_sqs));
    let refusal = route(TABLE, &sqs, b"Action=ListQueues&Version=2012-11-05").unwrap_err();
    assert_eq!(refusal.wire, Wire::Query { namespace: None });
    assert_eq!(refusal.error.code, "UnknownOperationException");
    assert!(refusal.error.message.contains("2012-11-05"));
    assert!(refusal.error.message.contains("sqs"));
    let nothing = route(TABLE, &form(None), b"Action=ListQueues").unwrap_err();
    assert_eq!(nothing.error.code, "MissingAuthenticationToken");
    assert_eq!(nothing.error.status, 403);
}

#[test]
fn malformed_heads_are_refused_in_order() {
    let target = "AmazonEC2ContainerServiceV20141113.ListClusters";
    let cases = [
        (
            Head {
                method: "GET",
                ..json(target, JSON_1_1)
            },
            "UnknownOperationException",
        ),
        (
            Head {
                path: "/x",
                ..json(target, JSON_1_1)
            },
            "UnknownOperationException",
        ),
        (json(target, "application/json"), "SerializationException"),
        (
            Head {
                content_type: None,
                ..json(target, JSON_1_1)
            },
            "SerializationException",
        ),
        (
            Head {
                target: None,
                ..json(target, JSON_1_1)
            },
            "UnknownOperationException",
        ),
        (json("ListClusters", JSON_1_1), "UnknownOperationException"),
        (
            Head {
                method: "GET",
                ..form(None)
            },
            "InvalidAction",
        ),
    ];
    for (head, code) in cases {
        let refusal = route(TABLE, &head, b"Version=2015-12-01").unwrap_err();
        assert_eq!(refusal.error.code, code, "{head:?}");
        assert_eq!(refusal.error.status, 400, "{head:?}");
    }
}

#[test]
fn a_form_with_a_target_is_json() {
    let head = json("AmazonEC2ContainerServiceV20141113.ListClusters", FORM);
    let refusal = route(TABLE, &head, b"Version=2015-12-01").unwrap_err();
    assert_eq!(refusal.error.code, "SerializationException");
}

#[test]
fn signature_failures_take_each_protocols_codes() {
    let json = Wire::Json(JsonVersion::V1_1);
    let query = Wire::Query { namespace: None };
    let cases = [
        (
            AuthError::MissingAuthenticationToken,
            ("MissingAuthenticationTokenException", 403),
            ("MissingAuthenticationToken", 403),
        ),
        (
            AuthError::IncompleteSignature("x".into()),
            ("IncompleteSignatureException", 400),
            ("IncompleteSignature", 400),
        ),
        (
            AuthError::UnrecognizedClient,
            ("UnrecognizedClientException", 400),
            ("InvalidClientTokenId", 403),
        ),
        (
            AuthError::SignatureDoesNotMatch,
            ("InvalidSignatureException", 400),
            ("SignatureDoesNotMatch", 403),
        ),
    ];
    for (error, on_json, on_query) in cases {
        let answered = json.auth_error(&error);
        assert_eq!((answered.code.as_ref(), answered.status), on_json);
        let answered = query.auth_error(&error);
        assert_eq!((answered.code.as_ref(), answered.status), on_query);
        assert_eq!(answered.message, error.to_string());
    }
}

#[test]
fn the_signed_service_is_read_without_verifying() {
    assert_eq!(sigv4::signed_service(&signed_for("logs")), Some("logs"));
    assert_eq!(
        sigv4::signed_service("AWS4-HMAC-SHA256 Credential=a/b/c"),
        None
    );
    assert_eq!(sigv4::signed_service("Bearer x"), None);
    assert_eq!(sigv4::signed_service(""), None);
}

#[test]
fn before_routing_a_request_is_answered_in_the_protocol_it_spoke() {
    assert_eq!(wire_of(&form(None)), Wire::Query { namespace: None });
    assert_eq!(
        wire_of(&json("X.Y", "application/x-amz-json-1.0")),
        Wire::Json(JsonVersion::V1_0)
    );
    assert_eq!(wire_of(&Head::default()), Wire::Json(JsonVersion::V1_1));
}

fn cbor(path: &str) -> Head<'_> {
    Head {
        method: "POST",
        path,
        content_type: Some("application/cbor"),
        target: None,
        authorization: None,
    }
}

#[test]
fn rpc_v2_cbor_is_routed_by_its_path() {
    let head = cbor("/service/GraniteServiceVersion20100801/operation/ListMetrics");
    assert_eq!(wire_of(&head), Wire::Cbor);
    assert_eq!(
        route(TABLE, &head, b""),
        Ok(Route {
            service: 2,
            wire: Wire::Cbor,
            action: Some("ListMetrics".into()),
        })
    );
    let refused = route(
        TABLE,
        &cbor("/service/AmazonEC2ContainerServiceV20141113/operation/ListClusters"),
        b"",
    )
    .unwrap_err();
    assert_eq!(refused.wire, Wire::Cbor);
    assert_eq!(refused.error.code, "UnknownOperationException");
    assert!(refused.error.message.contains("rpc-v2-cbor service"));
    assert_eq!(
        wire_of(&cbor("/service/a/b/operation/X")),
        Wire::Json(JsonVersion::V1_1),
        "a path that is not /service/<name>/operation/<action> is not CBOR"
    );
}
