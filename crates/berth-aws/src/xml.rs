//! The query protocol's answers: a result (JSON-shaped, as handlers build it) written as the
//! XML botocore reads. Objects become elements named by their members, lists become
//! `<member>` elements, and members without a value are left out. A map whose keys are data
//! rather than member names (CloudWatch's `ExtendedStatistics`) is given as an object with
//! the one member [`MAP`], and written as the query protocol writes maps:
//! `<entry><key>…</key><value>…</value></entry>`.

use crate::AwsError;
use serde_json::Value;
use std::fmt::Write;

/// The member that marks an object as a map of data keys (see the module's docs).
pub const MAP: &str = "$map";

/// `<{Action}Response><{Action}Result>…</…Result><ResponseMetadata>…</…></…Response>`.
pub fn response(action: &str, namespace: &str, result: &Value, request_id: &str) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "<{action}Response xmlns=\"{namespace}\"><{action}Result>"
    );
    if let Value::Object(members) = result {
        for (name, value) in members {
            element(&mut out, name, value);
        }
    }
    let _ = write!(
        out,
        "</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    );
    out
}

/// `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`, in
/// the API's namespace when the request reached one.
pub fn error(namespace: Option<&str>, error: &AwsError, request_id: &str) -> String {
    let kind = if error.is_server_fault() {
        "Receiver"
    } else {
        "Sender"
    };
    let xmlns = namespace
        .map(|namespace| format!(" xmlns=\"{namespace}\""))
        .unwrap_or_default();
    format!(
        "<ErrorResponse{xmlns}><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(&error.code),
        escape(&error.message),
        escape(request_id)
    )
}

fn element(out: &mut String, name: &str, value: &Value) {
    if value.is_null() {
        return;
    }
    let _ = write!(out, "<{name}>");
    content(out, value);
    let _ = write!(out, "</{name}>");
}

fn content(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&escape(s)),
        Value::Array(items) => {
            for item in items {
                out.push_str("<member>");
                content(out, item);
                out.push_str("</member>");
            }
        }
        Value::Object(members) => match (members.len(), members.get(MAP)) {
            (1, Some(Value::Object(entries))) => {
                for (key, value) in entries {
                    let _ = write!(out, "<entry><key>{}</key>", escape(key));
                    element(out, "value", value);
                    out.push_str("</entry>");
                }
            }
            _ => {
                for (name, value) in members {
                    element(out, name, value);
                }
            }
        },
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ELBV2: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

    #[test]
    fn writes_results_lists_and_metadata() {
        let result = json!({
            "TargetGroups": [{"TargetGroupName": "web", "Port": 80, "HealthCheckEnabled": true,
                              "LoadBalancerArns": [], "VpcId": null,
                              "Matcher": {"HttpCode": "200"}}],
            "NextMarker": null,
        });
        assert_eq!(
            response("CreateTargetGroup", ELBV2, &result, "rid"),
            "<CreateTargetGroupResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <CreateTargetGroupResult><TargetGroups><member>\
             <HealthCheckEnabled>true</HealthCheckEnabled><LoadBalancerArns></LoadBalancerArns>\
             <Matcher><HttpCode>200</HttpCode></Matcher><Port>80</Port>\
             <TargetGroupName>web</TargetGroupName></member></TargetGroups></CreateTargetGroupResult>\
             <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></CreateTargetGroupResponse>"
        );
    }

    #[test]
    fn an_empty_result_is_still_an_element() {
        assert!(response("DeleteRule", ELBV2, &json!({}), "r")
            .contains("<DeleteRuleResult></DeleteRuleResult>"));
    }

    #[test]
    fn maps_are_written_as_entries() {
        let result = json!({"Stats": {MAP: {"p99": 1.5, "p50": 1}}});
        assert!(response("X", ELBV2, &result, "r").contains(
            "<Stats><entry><key>p50</key><value>1</value></entry>\
             <entry><key>p99</key><value>1.5</value></entry></Stats>"
        ));
    }

    #[test]
    fn escapes_text() {
        let out = response("X", ELBV2, &json!({"Message": "<a & 'b'>\""}), "r");
        assert!(out.contains("<Message>&lt;a &amp; &apos;b&apos;&gt;&quot;</Message>"));
    }

    #[test]
    fn errors_carry_type_code_and_request_id() {
        let body = error(
            Some(ELBV2),
            &AwsError::new("TargetGroupNotFound", "One or more target groups not found"),
            "rid",
        );
        assert_eq!(
            body,
            "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>\
             <Message>One or more target groups not found</Message></Error>\
             <RequestId>rid</RequestId></ErrorResponse>"
        );
        let fault = AwsError::with_status("InternalFailure", "disk", 500);
        assert!(error(None, &fault, "r").starts_with("<ErrorResponse><Error><Type>Receiver</Type>"));
    }
}
