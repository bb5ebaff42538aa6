//! Handler tests over the in-memory store, called as the front calls them.

use crate::call::Context;
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_model::Arns;
use berth_store::{Collection, MemoryStore, Store};
use serde_json::{json, Value};
use std::sync::Arc;

struct Api {
    client: LocalClient,
    store: Arc<MemoryStore>,
}

impl Api {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let cx = Context::new(store.clone(), Arns::new("us-east-1", "000000000000"));
        Self {
            client: LocalClient::new(Arc::new(cx)),
            store,
        }
    }

    fn call(&self, action: &str, body: Value) -> Result<Value, AwsError> {
        self.client
            .json_at("ssm", action, body.to_string().as_bytes(), 1_700_000_000.0)
    }

    fn ok(&self, action: &str, body: Value) -> Value {
        self.call(action, body.clone())
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn refused(&self, action: &str, body: Value) -> AwsError {
        self.call(action, body.clone())
            .err()
            .unwrap_or_else(|| panic!("{action} {body} was answered"))
    }

    fn put(&self, name: &str, value: &str, kind: &str) -> Value {
        self.ok(
            "PutParameter",
            json!({"Name": name, "Value": value, "Type": kind}),
        )
    }
}

#[test]
fn parameters_version_and_overwrite_only_when_asked() {
    let api = Api::new();
    assert_eq!(api.put("/app/db", "one", "String")["Version"], 1);
    let again = api.refused(
        "PutParameter",
        json!({"Name": "/app/db", "Value": "two", "Type": "String"}),
    );
    assert_eq!(again.code, "ParameterAlreadyExists");
    let second = api.ok(
        "PutParameter",
        json!({"Name": "/app/db", "Value": "two", "Overwrite": true}),
    );
    assert_eq!(second["Version"], 2);
    let got = api.ok("GetParameter", json!({"Name": "/app/db"}));
    assert_eq!(got["Parameter"]["Value"], "two");
    assert_eq!(got["Parameter"]["Version"], 2);
    assert_eq!(
        got["Parameter"]["ARN"],
        "arn:aws:ssm:us-east-1:000000000000:parameter/app/db"
    );
    let first = api.ok("GetParameter", json!({"Name": "/app/db:1"}));
    assert_eq!(first["Parameter"]["Value"], "one");
    assert_eq!(first["Parameter"]["Selector"], ":1");
    assert_eq!(
        api.refused("GetParameter", json!({"Name": "/app/db:9"}))
            .code,
        "ParameterVersionNotFound"
    );
    let history = api.ok("GetParameterHistory", json!({"Name": "/app/db"}));
    let values: Vec<&str> = history["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["one", "two"]);
}

#[test]
fn secure_strings_are_shown_only_with_decryption_and_never_stored_plain() {
    let api = Api::new();
    api.put("/app/password", "hunter2-plain", "SecureString");
    api.put("/app/visible", "visible-plain", "String");
    let hidden = api.ok("GetParameter", json!({"Name": "/app/password"}));
    assert_ne!(hidden["Parameter"]["Value"], "hunter2-plain");
    let shown = api.ok(
        "GetParameter",
        json!({"Name": "/app/password", "WithDecryption": true}),
    );
    assert_eq!(shown["Parameter"]["Value"], "hunter2-plain");
    assert_eq!(shown["Parameter"]["Type"], "SecureString");
    for record in api.store.list(Collection::Parameters, None).unwrap() {
        assert!(!record.doc.contains("plain"), "{}", record.doc);
    }
}

#[test]
fn arns_name_the_same_parameter_and_are_echoed() {
    let api = Api::new();
    api.put("/app/db", "v", "String");
    api.put("flat", "f", "String");
    let arn = "arn:aws:ssm:us-east-1:000000000000:parameter/app/db";
    let got = api.ok("GetParameters", json!({"Names": [arn, "arn:aws:ssm:us-east-1:000000000000:parameter/flat", "/missing", "bad name"]}));
    let names: Vec<&str> = got["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [arn, "arn:aws:ssm:us-east-1:000000000000:parameter/flat"]
    );
    assert_eq!(got["InvalidParameters"], json!(["/missing", "bad name"]));
}

#[test]
fn paths_read_one_level_or_the_whole_subtree() {
    let api = Api::new();
    for name in ["/app/a", "/app/b", "/app/deep/c", "/other/d", "top"] {
        api.put(name, name, "String");
    }
    let names = |body: Value| -> Vec<String> {
        let mut names = Vec::new();
        let mut body = body;
        loop {
            let page = api.ok("GetParametersByPath", body.clone());
            for p in page["Parameters"].as_array().unwrap() {
                names.push(p["Name"].as_str().unwrap().to_string());
            }
            match page.get("NextToken") {
                Some(t) => body["NextToken"] = t.clone(),
                None => return names,
            }
        }
    };
    assert_eq!(names(json!({"Path": "/app"})), ["/app/a", "/app/b"]);
    assert_eq!(
        names(json!({"Path": "/app/", "Recursive": true, "MaxResults": 1})),
        ["/app/a", "/app/b", "/app/deep/c"]
    );
    assert_eq!(names(json!({"Path": "/app/deep"})), ["/app/deep/c"]);
    assert_eq!(names(json!({"Path": "/", "Recursive": true})).len(), 5);
    let relative = api.refused("GetParametersByPath", json!({"Path": "app"}));
    assert!(
        relative.message.contains("must start with /"),
        "{}",
        relative.message
    );
}

#[test]
fn names_follow_parameter_store_rules() {
    let api = Api::new();
    for (name, says) in [
        ("app/db", "must start with /"),
        ("/aws/x", "can't be prefixed"),
        ("/a b", "may contain only"),
        (
            "arn:aws:ssm:us-east-1:000000000000:parameter/x",
            "not its ARN",
        ),
    ] {
        let error = api.refused(
            "PutParameter",
            json!({"Name": name, "Value": "v", "Type": "String"}),
        );
        assert_eq!(error.code, "ValidationException", "{name}");
        assert!(error.message.contains(says), "{name}: {}", error.message);
    }
    let untyped = api.refused("PutParameter", json!({"Name": "/x", "Value": "v"}));
    assert!(untyped.message.contains("type is required"));
    let pattern = api.refused(
        "PutParameter",
        json!({"Name": "/x", "Value": "abc", "Type": "String", "AllowedPattern": "^[0-9]+$"}),
    );
    assert_eq!(pattern.code, "ParameterPatternMismatchException");
    let value_type = api.refused(
        "PutParameter",
        json!({"Name": "/x", "Value": 123456789, "Type": "String"}),
    );
    assert!(
        !value_type.message.contains("123456789"),
        "{}",
        value_type.message
    );
}

#[test]
fn deletes_report_what_was_there() {
    let api = Api::new();
    api.put("/a", "1", "String");
    api.put("/b", "2", "String");
    api.ok("DeleteParameter", json!({"Name": "/a"}));
    assert_eq!(
        api.refused("DeleteParameter", json!({"Name": "/a"})).code,
        "ParameterNotFound"
    );
    let many = api.ok("DeleteParameters", json!({"Names": ["/b", "/a"]}));
    assert_eq!(many["DeletedParameters"], json!(["/b"]));
    assert_eq!(many["InvalidParameters"], json!(["/a"]));
}

#[test]
fn describe_filters_without_values() {
    let api = Api::new();
    api.put("/app/a", "1", "String");
    api.put("/app/b", "2", "SecureString");
    api.put("/jobs/c", "3", "String");
    let secure = api.ok(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Type", "Values": ["SecureString"]}]}),
    );
    assert_eq!(secure["Parameters"].as_array().unwrap().len(), 1);
    assert_eq!(secure["Parameters"][0]["Name"], "/app/b");
    assert!(secure["Parameters"][0].get("Value").is_none());
    let under_app = api.ok(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Path", "Values": ["/app"]}]}),
    );
    assert_eq!(under_app["Parameters"].as_array().unwrap().len(), 2);
    let begins = api.ok(
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/jobs"]}]}),
    );
    assert_eq!(begins["Parameters"][0]["Name"], "/jobs/c");
    assert_eq!(
        api.refused(
            "DescribeParameters",
            json!({"ParameterFilters": [{"Key": "Color", "Values": ["x"]}]})
        )
        .code,
        "InvalidFilterKey"
    );
}
