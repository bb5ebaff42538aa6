//! Handler tests over the in-memory metric store, called as the front calls them, in both
//! protocols.

use crate::local::LocalClient;
use berth_aws::AwsError;
use serde_json::{json, Value};

/// A whole hour.
const NOW: f64 = 1_700_002_800.0;
const HOUR: f64 = 3600.0;

struct Api {
    client: LocalClient,
}

impl Api {
    fn new() -> Self {
        Self {
            client: LocalClient::in_memory(NOW),
        }
    }

    fn json(&self, action: &str, body: Value) -> Result<Value, AwsError> {
        self.client
            .json_at("monitoring", action, body.to_string().as_bytes(), NOW)
    }

    fn ok(&self, action: &str, body: Value) -> Value {
        self.json(action, body.clone())
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn query(&self, action: &str, members: &[(&str, &str)]) -> Result<Value, AwsError> {
        self.client.query_at("monitoring", action, members, NOW)
    }
}

fn web() -> Value {
    json!([{"Name": "Service", "Value": "web"}, {"Name": "Cluster", "Value": "prod"}])
}

#[test]
fn values_and_statistic_sets_come_back_as_statistics() {
    let api = Api::new();
    let start = NOW - HOUR;
    api.ok(
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": [
            {"MetricName": "Latency", "Dimensions": web(), "Timestamp": start + 10.0,
             "Values": [10, 20, 30, 40], "Counts": [1, 1, 1, 7], "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": web(), "Timestamp": start + 70.0,
             "StatisticValues": {"SampleCount": 4, "Sum": 100, "Minimum": 5, "Maximum": 50},
             "Unit": "Milliseconds"},
        ]}),
    );
    let stats = api.ok(
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency",
               "Dimensions": [{"Name": "Cluster", "Value": "prod"}, {"Name": "Service", "Value": "web"}],
               "StartTime": start, "EndTime": NOW, "Period": 60,
               "Statistics": ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]}),
    );
    assert_eq!(stats["Label"], "Latency");
    assert_eq!(
        stats["Datapoints"],
        json!([
            {"Timestamp": start as i64, "SampleCount": 10.0, "Sum": 340.0, "Average": 34.0,
             "Minimum": 10.0, "Maximum": 40.0, "Unit": "Milliseconds"},
            {"Timestamp": start as i64 + 60, "SampleCount": 4.0, "Sum": 100.0, "Average": 25.0,
             "Minimum": 5.0, "Maximum": 50.0, "Unit": "Milliseconds"},
        ])
    );
    let percentiles = api.ok(
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": web(),
               "StartTime": start, "EndTime": NOW, "Period": 3600,
               "ExtendedStatistics": ["p30", "p99.9"], "Unit": "Milliseconds"}),
    );
    assert_eq!(
        percentiles["Datapoints"],
        json!([{"Timestamp": start as i64, "Unit": "Milliseconds"}]),
        "a statistic set in the hour hides its values"
    );
    let minute = api.ok(
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": web(),
               "StartTime": start, "EndTime": start + 60.0, "Period": 60,
               "ExtendedStatistics": ["p30", "p99.9"]}),
    );
    assert_eq!(
        minute["Datapoints"][0]["ExtendedStatistics"],
        json!({"p30": 30.0, "p99.9": 40.0})
    );
}

#[test]
fn the_query_protocol_reads_forms_and_writes_xml_shapes() {
    let api = Api::new();
    let at = berth_time::iso8601(NOW - 600.0);
    api.query(
        "PutMetricData",
        &[
            ("Namespace", "Jobs"),
            ("MetricData.member.1.MetricName", "QueueDepth"),
            ("MetricData.member.1.Dimensions.member.1.Name", "Queue"),
            ("MetricData.member.1.Dimensions.member.1.Value", "index"),
            ("MetricData.member.1.Value", "42.5"),
            ("MetricData.member.1.Timestamp", &at),
            ("MetricData.member.1.StorageResolution", "1"),
        ],
    )
    .unwrap();
    let start = berth_time::iso8601(NOW - HOUR);
    let end = berth_time::iso8601(NOW);
    let answer = api
        .query(
            "GetMetricStatistics",
            &[
                ("Namespace", "Jobs"),
                ("MetricName", "QueueDepth"),
                ("Dimensions.member.1.Name", "Queue"),
                ("Dimensions.member.1.Value", "index"),
                ("StartTime", &start),
                ("EndTime", &end),
                ("Period", "60"),
                ("ExtendedStatistics.member.1", "p50"),
            ],
        )
        .unwrap();
    assert_eq!(
        answer["Datapoints"],
        json!([{"Timestamp": at, "Unit": "None",
                "ExtendedStatistics": {berth_aws::xml::MAP: {"p50": 42.5}}}])
    );
    let listed = api.query("ListMetrics", &[("Namespace", "Jobs")]).unwrap();
    assert_eq!(
        listed["Metrics"],
        json!([{"Namespace": "Jobs", "MetricName": "QueueDepth",
                "Dimensions": [{"Name": "Queue", "Value": "index"}]}])
    );
    let refused = api
        .query(
            "PutMetricData",
            &[("Namespace", "Jobs"), ("MetricData", "")],
        )
        .unwrap_err();
    assert_eq!(refused.code, "MissingParameter");
}

fn put_series(api: &Api, name: &str, service: &str, values: &[(f64, f64)]) {
    let data: Vec<Value> = values
        .iter()
        .map(|(t, v)| {
            json!({"MetricName": name, "Timestamp": t, "Value": v,
                             "Dimensions": [{"Name": "Service", "Value": service}]})
        })
        .collect();
    api.ok(
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": data}),
    );
}

fn stat(id: &str, name: &str, service: &str) -> Value {
    json!({"Id": id, "ReturnData": false, "MetricStat": {
        "Metric": {"Namespace": "App", "MetricName": name,
                   "Dimensions": [{"Name": "Service", "Value": service}]},
        "Period": 60, "Stat": "Sum"}})
}

#[test]
fn metric_data_evaluates_expressions_and_pages() {
    let api = Api::new();
    let t0 = NOW - 600.0;
    put_series(
        &api,
        "Errors",
        "web",
        &[(t0, 1.0), (t0 + 60.0, 4.0), (t0 + 120.0, 0.0)],
    );
    put_series(
        &api,
        "Requests",
        "web",
        &[(t0, 10.0), (t0 + 60.0, 20.0), (t0 + 120.0, 0.0)],
    );
    put_series(&api, "Requests", "api", &[(t0, 5.0), (t0 + 120.0, 7.0)]);
    let request = |extra: Value| {
        let mut body = json!({
        "StartTime": t0, "EndTime": NOW,
        "MetricDataQueries": [
            stat("errors", "Errors", "web"),
            stat("web", "Requests", "web"),
            stat("api", "Requests", "api"),
            {"Id": "rate", "Expression": "100 * errors / web", "Label": "Error rate"},
            {"Id": "total", "Expression": "SUM([web, api])"},
            {"Id": "filled", "Expression": "FILL(api, 0)", "Period": 60},
        ]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let answer = api.ok(
        "GetMetricData",
        request(json!({"ScanBy": "TimestampAscending"})),
    );
    let results = answer["MetricDataResults"].as_array().unwrap();
    assert_eq!(results.len(), 3, "ReturnData false hides the inputs");
    let t = t0 as i64;
    assert_eq!(results[0]["Id"], "rate");
    assert_eq!(results[0]["Label"], "Error rate");
    assert_eq!(
        results[0]["Timestamps"],
        json!([t, t + 60]),
        "0/0 is left out"
    );
    assert_eq!(results[0]["Values"], json!([10.0, 20.0]));
    assert_eq!(results[1]["Values"], json!([15.0, 20.0, 7.0]));
    assert_eq!(results[2]["Timestamps"].as_array().unwrap().len(), 10);
    assert_eq!(results[0]["StatusCode"], "Complete");
    assert!(answer["NextToken"].is_null());

    let newest_first = api.ok("GetMetricData", request(json!({})));
    assert_eq!(
        newest_first["MetricDataResults"][1]["Values"],
        json!([7.0, 20.0, 15.0])
    );

    let mut seen = Vec::new();
    let mut token = Value::Null;
    for _ in 0..10 {
        let page = api.ok(
            "GetMetricData",
            request(
                json!({"MaxDatapoints": 4, "NextToken": token, "ScanBy": "TimestampAscending"}),
            ),
        );
        let results = page["MetricDataResults"].as_array().unwrap();
        let count: usize = results
            .iter()
            .map(|r| r["Values"].as_array().unwrap().len())
            .sum();
        assert!(count <= 4);
        for r in results {
            for v in r["Values"].as_array().unwrap() {
                seen.push((r["Id"].as_str().unwrap().to_string(), v.as_f64().unwrap()));
            }
        }
        token = page["NextToken"].clone();
        if token.is_null() {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        2 + 3 + 10,
        "every datapoint once across pages: {seen:?}"
    );
}

#[test]
fn expression_errors_name_the_query() {
    let api = Api::new();
    let body = |expression: &str| {
        json!({"StartTime": NOW - HOUR, "EndTime": NOW, "MetricDataQueries": [
            stat("m1", "Errors", "web"),
            {"Id": "e1", "Expression": expression},
            {"Id": "e2", "Expression": "e1 * 2"},
        ]})
    };
    for (expression, problem) in [
        (
            "m1 +",
            "Error in expression e1: the expression ends too soon",
        ),
        ("m9 * 2", "Error in expression e1: m9 names no query"),
        ("e2 + 1", "Circular dependency"),
        (
            "[m1, m1] * 2",
            "Error in expression e1: it gives 2 time series",
        ),
    ] {
        let error = api.json("GetMetricData", body(expression)).unwrap_err();
        assert_eq!(error.code, "ValidationError", "{expression}");
        assert!(
            error.message.contains(problem),
            "{expression}: {}",
            error.message
        );
    }
}

#[test]
fn listing_filters_and_pages() {
    let api = Api::new();
    for chunk in 0..3 {
        let data: Vec<Value> = (0..250)
            .map(|i| json!({"MetricName": "Cpu", "Value": 1,
                            "Dimensions": [{"Name": "Task", "Value": format!("t{:04}", chunk * 250 + i)}]}))
            .collect();
        api.ok(
            "PutMetricData",
            json!({"Namespace": "Fleet", "MetricData": data}),
        );
    }
    put_series(&api, "Memory", "web", &[(NOW - 60.0, 1.0)]);
    let first = api.ok("ListMetrics", json!({"Namespace": "Fleet"}));
    assert_eq!(first["Metrics"].as_array().unwrap().len(), 500);
    let second = api.ok(
        "ListMetrics",
        json!({"Namespace": "Fleet", "NextToken": first["NextToken"]}),
    );
    assert_eq!(second["Metrics"].as_array().unwrap().len(), 250);
    assert!(second["NextToken"].is_null());
    assert_eq!(second["Metrics"][0]["Dimensions"][0]["Value"], "t0500");
    let one = api.ok(
        "ListMetrics",
        json!({"Dimensions": [{"Name": "Task", "Value": "t0007"}]}),
    );
    assert_eq!(one["Metrics"].as_array().unwrap().len(), 1);
    let by_name = api.ok(
        "ListMetrics",
        json!({"MetricName": "Memory", "RecentlyActive": "PT3H"}),
    );
    assert_eq!(by_name["Metrics"][0]["Namespace"], "App");
    let error = api
        .json("ListMetrics", json!({"NextToken": "not-a-token"}))
        .unwrap_err();
    assert_eq!(error.code, "InvalidParameterValue");
}

#[test]
fn bad_input_is_refused_in_cloudwatch_words() {
    let api = Api::new();
    let put = |datum: Value| json!({"Namespace": "App", "MetricData": [datum]});
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("PutMetricData", json!({"MetricData": [{"MetricName": "a", "Value": 1}]}),
         "MissingParameter", "The parameter Namespace is required."),
        ("PutMetricData", json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "a", "Value": 1}]}),
         "InvalidParameterValue", "The value AWS/ECS for parameter Namespace is invalid."),
        ("PutMetricData", put(json!({"Value": 1})),
         "MissingParameter", "The parameter MetricData.member.1.MetricName is required."),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": 1,
            "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}})),
         "InvalidParameterCombination", "MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive"),
        ("PutMetricData", put(json!({"MetricName": "a"})),
         "InvalidParameterCombination", "At least one of the parameters MetricData.member.1.Value"),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": "NaN"})),
         "InvalidParameterValue", "The value NaN for parameter MetricData.member.1.Value is invalid."),
        ("PutMetricData", put(json!({"MetricName": "a", "Values": [1, 2], "Counts": [1]})),
         "InvalidParameterValue", "must be of the same size"),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": 1, "Unit": "Furlongs"})),
         "InvalidParameterValue", "The value Furlongs for parameter MetricData.member.1.Unit is invalid."),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": 1, "StorageResolution": 10})),
         "InvalidParameterValue", "MetricData.member.1.StorageResolution is invalid"),
        ("PutMetricData", put(json!({"MetricName": "a", "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1}})),
         "MissingParameter", "The parameter MetricData.member.1.StatisticValues.Maximum is required."),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": 1, "Dimensions": [{"Name": "a"}]})),
         "MissingParameter", "MetricData.member.1.Dimensions.member.1.Value is required."),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": 1, "Timestamp": NOW - 15.0 * 86400.0})),
         "InvalidParameterValue", "no more than two weeks in the past"),
        ("PutMetricData", put(json!({"MetricName": "a", "Value": 1, "Timestamp": NOW + 3.0 * HOUR})),
         "InvalidParameterValue", "no more than two hours in the future"),
        ("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "a", "StartTime": NOW - HOUR,
            "EndTime": NOW, "Period": 60}),
         "MissingParameter", "Statistics or ExtendedStatistics"),
        ("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "a", "StartTime": NOW - HOUR,
            "EndTime": NOW, "Period": 60, "Statistics": ["Sum"], "ExtendedStatistics": ["p99"]}),
         "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics, but not both."),
        ("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "a", "StartTime": NOW - HOUR,
            "EndTime": NOW, "Period": 60, "Statistics": ["Median"]}),
         "InvalidParameterValue", "The parameter Statistics.member.1 must be a value in the set"),
        ("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "a", "StartTime": NOW - HOUR,
            "EndTime": NOW, "Period": 7, "Statistics": ["Sum"]}),
         "InvalidParameterValue", "The value 7 for parameter Period is invalid."),
        ("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "a", "StartTime": NOW,
            "EndTime": NOW - HOUR, "Period": 60, "Statistics": ["Sum"]}),
         "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."),
        ("GetMetricStatistics", json!({"Namespace": "App", "MetricName": "a", "StartTime": NOW - 2.0 * 86400.0,
            "EndTime": NOW, "Period": 60, "Statistics": ["Sum"]}),
         "InvalidParameterCombination", "You have requested up to 2880 datapoints, which exceeds the limit of 1440."),
        ("GetMetricData", json!({"StartTime": NOW - HOUR, "EndTime": NOW,
            "MetricDataQueries": [{"Id": "M1", "Expression": "1"}]}),
         "InvalidParameterValue", "The value M1 for parameter MetricDataQueries.member.1.Id is invalid."),
        ("GetMetricData", json!({"StartTime": NOW - HOUR, "EndTime": NOW,
            "MetricDataQueries": [{"Id": "m1"}]}),
         "InvalidParameterCombination", "must have exactly one of MetricStat or Expression"),
        ("GetMetricData", json!({"StartTime": NOW - HOUR, "EndTime": NOW, "NextToken": "zzz",
            "MetricDataQueries": [{"Id": "m1", "Expression": "1"}]}),
         "InvalidNextToken", "NextToken"),
        ("GetMetricData", json!({"StartTime": NOW - HOUR, "EndTime": NOW,
            "MetricDataQueries": [{"Id": "m1", "Expression": "1", "ReturnData": false}]}),
         "ValidationError", "At least one query must have ReturnData set to true."),
    ];
    for (action, body, code, message) in cases {
        let error = api
            .json(action, body.clone())
            .expect_err(&format!("{action} {body} was answered"));
        assert_eq!(error.code, code, "{action} {body}: {}", error.message);
        assert!(
            error.message.contains(message),
            "{action} {body}: {}",
            error.message
        );
        assert_eq!(error.status, 400);
    }
    let wrong_type = api
        .json("PutMetricData", json!({"Namespace": 5}))
        .unwrap_err();
    assert_eq!(wrong_type.code, "SerializationException");
}

#[test]
fn actions_berth_does_not_answer_yet_say_so() {
    let error = Api::new()
        .json("PutDashboard", json!({"DashboardName": "a"}))
        .unwrap_err();
    assert_eq!(error.code, "InvalidAction");
    assert!(error.message.contains("PutDashboard"));
}
