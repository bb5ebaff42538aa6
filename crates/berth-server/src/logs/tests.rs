//! Handler tests over the in-memory log store, called as the front calls them.

use crate::call::Context;
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_logs::store::MemoryLogStore;
use berth_model::Arns;
use berth_store::MemoryStore;
use serde_json::{json, Value};
use std::sync::Arc;

const NOW: f64 = 1_700_000_000.0;
const NOW_MS: i64 = 1_700_000_000_000;

struct Api {
    client: LocalClient,
}

impl Api {
    fn new() -> Self {
        let cx = Context::new(
            Arc::new(MemoryStore::new()),
            Arns::new("us-east-1", "000000000000"),
        )
        .with_logs(Arc::new(MemoryLogStore::default()));
        Self {
            client: LocalClient::new(Arc::new(cx)),
        }
    }

    fn at(&self, action: &str, body: Value) -> Result<Value, AwsError> {
        self.client
            .json_at("logs", action, body.to_string().as_bytes(), NOW)
    }

    fn ok(&self, action: &str, body: Value) -> Value {
        self.at(action, body.clone())
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn refused(&self, action: &str, body: Value) -> AwsError {
        self.at(action, body.clone())
            .err()
            .unwrap_or_else(|| panic!("{action} {body} was answered"))
    }

    fn put(&self, stream: &str, lines: &[(i64, &str)]) -> Value {
        let events: Vec<Value> = lines
            .iter()
            .map(|(at, message)| json!({"timestamp": at, "message": message}))
            .collect();
        self.ok(
            "PutLogEvents",
            json!({"logGroupName": "/ecs/web", "logStreamName": stream, "logEvents": events}),
        )
    }

    fn messages(answer: &Value) -> Vec<String> {
        answer["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }
}

fn with_streams() -> Api {
    let api = Api::new();
    api.ok("CreateLogGroup", json!({"logGroupName": "/ecs/web"}));
    for stream in ["ecs/web/a", "ecs/web/b"] {
        api.ok(
            "CreateLogStream",
            json!({"logGroupName": "/ecs/web", "logStreamName": stream}),
        );
    }
    api
}

#[test]
fn groups_are_created_once_described_and_deleted() {
    let api = Api::new();
    api.ok(
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/web", "tags": {"team": "portal"}}),
    );
    let again = api.refused("CreateLogGroup", json!({"logGroupName": "/ecs/web"}));
    assert_eq!(again.code, "ResourceAlreadyExistsException");
    api.ok("CreateLogGroup", json!({"logGroupName": "/ecs/worker"}));
    api.ok(
        "PutRetentionPolicy",
        json!({"logGroupName": "/ecs/web", "retentionInDays": 30}),
    );
    let described = api.ok("DescribeLogGroups", json!({"logGroupNamePrefix": "/ecs/w"}));
    let groups = described["logGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["logGroupName"], "/ecs/web");
    assert_eq!(groups[0]["retentionInDays"], 30);
    assert_eq!(groups[0]["creationTime"], NOW_MS);
    assert_eq!(
        groups[0]["arn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*"
    );
    assert!(groups[1].get("retentionInDays").is_none());
    let by_pattern = api.ok("DescribeLogGroups", json!({"logGroupNamePattern": "WORK"}));
    assert_eq!(by_pattern["logGroups"][0]["logGroupName"], "/ecs/worker");
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web";
    assert_eq!(
        api.ok("ListTagsForResource", json!({"resourceArn": arn}))["tags"],
        json!({"team": "portal"})
    );
    api.ok(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["team"]}),
    );
    assert_eq!(
        api.ok("ListTagsForResource", json!({"resourceArn": arn}))["tags"],
        json!({})
    );
    api.ok("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    let gone = api.refused("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    assert_eq!(gone.code, "ResourceNotFoundException");
    assert_eq!(gone.message, "The specified log group does not exist.");
}

#[test]
fn groups_page_by_name() {
    let api = Api::new();
    for n in 0..7 {
        api.ok("CreateLogGroup", json!({"logGroupName": format!("g{n}")}));
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"limit": 3});
        if let Some(token) = &token {
            body["nextToken"] = json!(token);
        }
        let page = api.ok("DescribeLogGroups", body);
        for group in page["logGroups"].as_array().unwrap() {
            seen.push(group["logGroupName"].as_str().unwrap().to_string());
        }
        match page.get("nextToken").and_then(Value::as_str) {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["g0", "g1", "g2", "g3", "g4", "g5", "g6"]);
    let bad = api.refused("DescribeLogGroups", json!({"nextToken": "%%"}));
    assert_eq!(bad.code, "InvalidParameterException");
}

#[test]
fn events_are_read_forward_and_backward_and_the_end_gives_the_same_token() {
    let api = with_streams();
    let lines: Vec<(i64, String)> = (0..25).map(|n| (NOW_MS + n, format!("line {n}"))).collect();
    let borrowed: Vec<(i64, &str)> = lines.iter().map(|(t, m)| (*t, m.as_str())).collect();
    api.put("ecs/web/a", &borrowed);
    let read = |body: Value| {
        let mut body = body;
        body["logGroupName"] = json!("/ecs/web");
        body["logStreamName"] = json!("ecs/web/a");
        api.ok("GetLogEvents", body)
    };
    // From the head, ten at a time, to the end.
    let mut all = Vec::new();
    let mut page = read(json!({"startFromHead": true, "limit": 10}));
    loop {
        let got = Api::messages(&page);
        all.extend(got.clone());
        let token = page["nextForwardToken"].as_str().unwrap().to_string();
        let next = read(json!({"nextToken": token, "limit": 10}));
        if got.is_empty() {
            assert_eq!(
                next["nextForwardToken"],
                json!(token),
                "the same token at the end"
            );
            break;
        }
        page = next;
    }
    let expected: Vec<String> = (0..25).map(|n| format!("line {n}")).collect();
    assert_eq!(all, expected);
    // Without a token: the newest events, oldest first; then backward from there.
    let tail = read(json!({"limit": 5}));
    assert_eq!(Api::messages(&tail), expected[20..]);
    let before = read(json!({"nextToken": tail["nextBackwardToken"], "limit": 5}));
    assert_eq!(Api::messages(&before), expected[15..20]);
    let missing = api.refused(
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": "nope"}),
    );
    assert_eq!(missing.message, "The specified log stream does not exist.");
}

#[test]
fn events_out_of_bounds_are_rejected_by_index_and_the_rest_kept() {
    let api = with_streams();
    let day = 86_400_000;
    let old = api.put("ecs/web/a", &[(NOW_MS - 15 * day, "too old")]);
    assert_eq!(
        old["rejectedLogEventsInfo"],
        json!({"tooOldLogEventEndIndex": 1})
    );
    let answer = api.put(
        "ecs/web/a",
        &[(NOW_MS, "kept"), (NOW_MS + 3 * 3_600_000, "too new")],
    );
    assert_eq!(
        answer["rejectedLogEventsInfo"],
        json!({"tooNewLogEventStartIndex": 1})
    );
    let read = api.ok(
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": "ecs/web/a", "startFromHead": true}),
    );
    assert_eq!(Api::messages(&read), ["kept"]);
    let unordered = api.refused(
        "PutLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": "ecs/web/a",
               "logEvents": [{"timestamp": NOW_MS, "message": "b"}, {"timestamp": NOW_MS - 1, "message": "a"}]}),
    );
    assert!(unordered.message.contains("chronological order"));
}

#[test]
fn filtering_interleaves_streams_and_pages_with_stable_ids() {
    let api = with_streams();
    api.put(
        "ecs/web/a",
        &[(NOW_MS, "GET /a 200"), (NOW_MS + 2, "ERROR boom in a")],
    );
    api.put(
        "ecs/web/b",
        &[(NOW_MS + 1, "ERROR boom in b"), (NOW_MS + 3, "GET /b 500")],
    );
    let filter = |body: Value| {
        let mut body = body;
        body["logGroupName"] = json!("/ecs/web");
        api.ok("FilterLogEvents", body)
    };
    let errors = filter(json!({"filterPattern": "ERROR"}));
    assert_eq!(
        Api::messages(&errors),
        ["ERROR boom in b", "ERROR boom in a"]
    );
    let everything = filter(json!({}));
    assert_eq!(everything["events"].as_array().unwrap().len(), 4);
    let first = filter(json!({"limit": 2}));
    assert_eq!(Api::messages(&first), ["GET /a 200", "ERROR boom in b"]);
    let rest = filter(json!({"limit": 2, "nextToken": first["nextToken"]}));
    assert_eq!(Api::messages(&rest), ["ERROR boom in a", "GET /b 500"]);
    assert_eq!(
        everything["events"][2]["eventId"], rest["events"][0]["eventId"],
        "an event keeps its id"
    );
    let one_stream =
        filter(json!({"logStreamNames": ["ecs/web/b"], "filterPattern": "\"GET /b\""}));
    assert_eq!(Api::messages(&one_stream), ["GET /b 500"]);
    let from_time = filter(json!({"startTime": NOW_MS + 1, "endTime": NOW_MS + 2}));
    assert_eq!(
        Api::messages(&from_time),
        ["ERROR boom in b", "ERROR boom in a"],
        "both ends are inclusive"
    );
    let bad = api.refused(
        "FilterLogEvents",
        json!({"logGroupName": "/ecs/web", "filterPattern": "\"unclosed"}),
    );
    assert_eq!(bad.code, "InvalidParameterException");
    assert!(
        bad.message.starts_with("Invalid filter pattern: "),
        "{}",
        bad.message
    );
}

#[test]
fn streams_are_described_by_name_or_last_event() {
    let api = with_streams();
    api.put("ecs/web/a", &[(NOW_MS + 10, "late")]);
    api.put("ecs/web/b", &[(NOW_MS, "early")]);
    let names = |answer: Value| -> Vec<String> {
        answer["logStreams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["logStreamName"].as_str().unwrap().to_string())
            .collect()
    };
    let by_name = api.ok("DescribeLogStreams", json!({"logGroupName": "/ecs/web"}));
    assert_eq!(names(by_name.clone()), ["ecs/web/a", "ecs/web/b"]);
    assert_eq!(by_name["logStreams"][0]["lastEventTimestamp"], NOW_MS + 10);
    let by_time = api.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "/ecs/web", "orderBy": "LastEventTime", "descending": true}),
    );
    assert_eq!(names(by_time), ["ecs/web/a", "ecs/web/b"]);
    let paged = api.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "/ecs/web", "limit": 1}),
    );
    assert_eq!(names(paged.clone()), ["ecs/web/a"]);
    let next = api.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "/ecs/web", "limit": 1, "nextToken": paged["nextToken"]}),
    );
    assert_eq!(names(next), ["ecs/web/b"]);
    api.ok(
        "DeleteLogStream",
        json!({"logGroupName": "/ecs/web", "logStreamName": "ecs/web/a"}),
    );
    let left = api.ok("DescribeLogStreams", json!({"logGroupName": "/ecs/web"}));
    assert_eq!(names(left), ["ecs/web/b"]);
}
