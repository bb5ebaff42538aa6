//! Handler tests over the in-memory store, called as the front calls them.

use crate::call::Context;
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_model::Arns;
use berth_store::{Collection, MemoryStore, Store};
use serde_json::{json, Value};
use std::sync::Arc;

const NOW: f64 = 1_700_000_000.0;
const DAY: f64 = 86_400.0;

struct Api {
    client: LocalClient,
    cx: Arc<Context>,
    store: Arc<MemoryStore>,
}

impl Api {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let cx = Arc::new(Context::new(
            store.clone(),
            Arns::new("us-east-1", "000000000000"),
        ));
        Self {
            client: LocalClient::new(Arc::clone(&cx)),
            cx,
            store,
        }
    }

    fn purge(&self, now: f64) -> usize {
        self.cx
            .as_system(now, super::stored::purge_expired)
            .unwrap()
    }

    fn stored_names(&self) -> Vec<String> {
        self.store
            .list(Collection::Secrets, None)
            .unwrap()
            .into_iter()
            .map(|record| record.key)
            .collect()
    }

    fn at(&self, now: f64, action: &str, body: Value) -> Result<Value, AwsError> {
        self.client
            .json_at("secretsmanager", action, body.to_string().as_bytes(), now)
    }

    fn ok(&self, action: &str, body: Value) -> Value {
        self.at(NOW, action, body.clone())
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn refused(&self, action: &str, body: Value) -> AwsError {
        self.at(NOW, action, body.clone())
            .err()
            .unwrap_or_else(|| panic!("{action} {body} was answered"))
    }

    fn value(&self, body: Value) -> Value {
        self.ok("GetSecretValue", body)
    }
}

#[test]
fn a_secret_round_trips_by_name_full_arn_and_partial_arn() {
    let api = Api::new();
    let created = api.ok(
        "CreateSecret",
        json!({"Name": "app/dev/DATABASE", "SecretString": "{\"DATABASE_PASSWORD\":\"hunter2\"}"}),
    );
    let arn = created["ARN"].as_str().unwrap();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:app/dev/DATABASE-"),
        "{arn}"
    );
    assert_eq!(
        arn.len(),
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/dev/DATABASE-".len() + 6
    );
    let partial = "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/dev/DATABASE";
    for id in ["app/dev/DATABASE", arn, partial] {
        let got = api.value(json!({"SecretId": id}));
        assert_eq!(
            got["SecretString"], "{\"DATABASE_PASSWORD\":\"hunter2\"}",
            "{id}"
        );
        assert_eq!(got["VersionStages"], json!(["AWSCURRENT"]));
        assert_eq!(got["ARN"], arn);
    }
    let other_suffix = format!("{partial}-ZZZZZZ");
    assert_eq!(
        api.refused("GetSecretValue", json!({"SecretId": other_suffix}))
            .code,
        "ResourceNotFoundException"
    );
}

#[test]
fn no_value_reaches_the_store_in_plaintext() {
    let api = Api::new();
    api.ok(
        "CreateSecret",
        json!({"Name": "db", "SecretString": "hunter2-plain"}),
    );
    api.ok(
        "PutSecretValue",
        json!({"SecretId": "db", "SecretString": "second-plain"}),
    );
    api.ok(
        "CreateSecret",
        json!({"Name": "bin", "SecretBinary": "AAECAw=="}),
    );
    for record in api.store.list(Collection::Secrets, None).unwrap() {
        assert!(!record.doc.contains("plain"), "{}", record.doc);
        assert!(!record.doc.contains("AAECAw"), "{}", record.doc);
    }
    assert_eq!(
        api.value(json!({"SecretId": "bin"}))["SecretBinary"],
        "AAECAw=="
    );
}

#[test]
fn a_new_value_moves_the_labels() {
    let api = Api::new();
    let first = api.ok("CreateSecret", json!({"Name": "db", "SecretString": "one"}));
    let second = api.ok(
        "PutSecretValue",
        json!({"SecretId": "db", "SecretString": "two"}),
    );
    assert_eq!(second["VersionStages"], json!(["AWSCURRENT"]));
    assert_eq!(api.value(json!({"SecretId": "db"}))["SecretString"], "two");
    let previous = api.value(json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}));
    assert_eq!(previous["SecretString"], "one");
    assert_eq!(previous["VersionId"], first["VersionId"]);
    let pinned = api.value(json!({"SecretId": "db", "VersionId": first["VersionId"]}));
    assert_eq!(pinned["SecretString"], "one");
    let described = api.ok("DescribeSecret", json!({"SecretId": "db"}));
    assert!(described.get("SecretString").is_none());
    let stages = &described["VersionIdsToStages"];
    assert_eq!(
        stages[second["VersionId"].as_str().unwrap()],
        json!(["AWSCURRENT"])
    );
    assert_eq!(
        stages[first["VersionId"].as_str().unwrap()],
        json!(["AWSPREVIOUS"])
    );

    // UpdateSecretVersionStage moves AWSCURRENT back, and AWSPREVIOUS follows.
    let refused = api.refused(
        "UpdateSecretVersionStage",
        json!({"SecretId": "db", "VersionStage": "AWSCURRENT", "MoveToVersionId": first["VersionId"]}),
    );
    assert!(
        refused.message.contains("RemoveFromVersionId"),
        "{}",
        refused.message
    );
    api.ok(
        "UpdateSecretVersionStage",
        json!({"SecretId": "db", "VersionStage": "AWSCURRENT",
               "MoveToVersionId": first["VersionId"], "RemoveFromVersionId": second["VersionId"]}),
    );
    assert_eq!(api.value(json!({"SecretId": "db"}))["SecretString"], "one");
    assert_eq!(
        api.value(json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}))["SecretString"],
        "two"
    );
}

#[test]
fn a_client_request_token_makes_writes_idempotent() {
    let api = Api::new();
    let token = "0123456789abcdef0123456789abcdef";
    api.ok("CreateSecret", json!({"Name": "db", "SecretString": "one"}));
    let put = json!({"SecretId": "db", "SecretString": "two", "ClientRequestToken": token});
    let first = api.ok("PutSecretValue", put.clone());
    let again = api.ok("PutSecretValue", put);
    assert_eq!(first["VersionId"], token);
    assert_eq!(again["VersionId"], token);
    assert_eq!(
        api.value(json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}))["SecretString"],
        "one",
        "the repeat made no version"
    );
    let changed = api.refused(
        "PutSecretValue",
        json!({"SecretId": "db", "SecretString": "three", "ClientRequestToken": token}),
    );
    assert_eq!(changed.code, "ResourceExistsException");
    assert!(!changed.message.contains("three"));
}

#[test]
fn deletion_waits_for_its_window_and_can_be_undone() {
    let api = Api::new();
    api.ok("CreateSecret", json!({"Name": "db", "SecretString": "one"}));
    let deleted = api.ok(
        "DeleteSecret",
        json!({"SecretId": "db", "RecoveryWindowInDays": 7}),
    );
    assert_eq!(deleted["DeletionDate"], json!(NOW + 7.0 * DAY));
    let refused = api.refused("GetSecretValue", json!({"SecretId": "db"}));
    assert_eq!(refused.code, "InvalidRequestException");
    assert_eq!(
        refused.message,
        "You can't perform this operation on the secret because it was marked for deletion."
    );
    assert_eq!(api.ok("ListSecrets", json!({}))["SecretList"], json!([]));
    let planned = api.ok("ListSecrets", json!({"IncludePlannedDeletion": true}));
    assert_eq!(planned["SecretList"][0]["Name"], "db");
    assert_eq!(
        api.refused("CreateSecret", json!({"Name": "db", "SecretString": "x"}))
            .code,
        "InvalidRequestException"
    );
    api.ok("RestoreSecret", json!({"SecretId": "db"}));
    assert_eq!(api.value(json!({"SecretId": "db"}))["SecretString"], "one");

    api.ok("DeleteSecret", json!({"SecretId": "db"}));
    let later = NOW + 31.0 * DAY;
    let gone = api
        .at(later, "GetSecretValue", json!({"SecretId": "db"}))
        .unwrap_err();
    assert_eq!(gone.code, "ResourceNotFoundException");
    assert_eq!(
        gone.message,
        "Secrets Manager can't find the specified secret."
    );
    api.at(
        later,
        "CreateSecret",
        json!({"Name": "db", "SecretString": "new"}),
    )
    .expect("the name is free once the window has passed");
}

#[test]
fn a_secret_is_purged_with_its_values_when_its_window_ends_and_not_before() {
    let api = Api::new();
    for name in ["doomed", "restored", "kept"] {
        api.ok("CreateSecret", json!({"Name": name, "SecretString": "one"}));
    }
    for name in ["doomed", "restored"] {
        api.ok(
            "DeleteSecret",
            json!({"SecretId": name, "RecoveryWindowInDays": 7}),
        );
    }
    api.ok("RestoreSecret", json!({"SecretId": "restored"}));
    assert_eq!(api.purge(NOW + 6.9 * DAY), 0, "the window is still open");
    assert_eq!(api.stored_names(), ["doomed", "kept", "restored"]);
    assert_eq!(api.purge(NOW + 7.0 * DAY), 1);
    assert_eq!(api.stored_names(), ["kept", "restored"]);
    assert!(api
        .store
        .list(Collection::SecretDeletions, None)
        .unwrap()
        .is_empty());
    assert_eq!(
        api.purge(NOW + 60.0 * DAY),
        0,
        "nothing is scheduled any more"
    );
}

#[test]
fn force_deletion_is_immediate_and_forgiving() {
    let api = Api::new();
    api.ok("CreateSecret", json!({"Name": "db", "SecretString": "one"}));
    api.ok(
        "DeleteSecret",
        json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true}),
    );
    assert!(api
        .store
        .list(Collection::Secrets, None)
        .unwrap()
        .is_empty());
    api.ok(
        "DeleteSecret",
        json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true}),
    );
    for window in [6, 31] {
        let refused = api.refused(
            "DeleteSecret",
            json!({"SecretId": "x", "RecoveryWindowInDays": window}),
        );
        assert_eq!(refused.code, "InvalidParameterException");
    }
    let both = api.refused(
        "DeleteSecret",
        json!({"SecretId": "x", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true}),
    );
    assert_eq!(both.code, "InvalidParameterException");
}

#[test]
fn batch_get_reports_each_failure_beside_the_values() {
    let api = Api::new();
    api.ok("CreateSecret", json!({"Name": "a", "SecretString": "1"}));
    api.ok("CreateSecret", json!({"Name": "b", "SecretString": "2"}));
    let got = api.ok(
        "BatchGetSecretValue",
        json!({"SecretIdList": ["a", "missing", "b"]}),
    );
    assert_eq!(got["SecretValues"].as_array().unwrap().len(), 2);
    assert_eq!(got["Errors"][0]["SecretId"], "missing");
    assert_eq!(got["Errors"][0]["ErrorCode"], "ResourceNotFoundException");
    let filtered = api.ok(
        "BatchGetSecretValue",
        json!({"Filters": [{"Key": "name", "Values": ["b"]}]}),
    );
    assert_eq!(filtered["SecretValues"][0]["SecretString"], "2");
    assert_eq!(
        api.refused("BatchGetSecretValue", json!({})).code,
        "InvalidParameterException"
    );
}

#[test]
fn list_filters_and_pages() {
    let api = Api::new();
    for n in 0..5 {
        api.ok(
            "CreateSecret",
            json!({"Name": format!("app/{n}"), "SecretString": "x",
                   "Tags": [{"Key": "team", "Value": if n % 2 == 0 { "web" } else { "jobs" }}]}),
        );
    }
    api.ok(
        "CreateSecret",
        json!({"Name": "other", "Description": "not app"}),
    );
    let web = api.ok(
        "ListSecrets",
        json!({"Filters": [{"Key": "tag-value", "Values": ["web"]}]}),
    );
    assert_eq!(web["SecretList"].as_array().unwrap().len(), 3);
    let not_app = api.ok(
        "ListSecrets",
        json!({"Filters": [{"Key": "name", "Values": ["!app/"]}]}),
    );
    assert_eq!(not_app["SecretList"][0]["Name"], "other");
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"MaxResults": 2, "SortBy": "name"});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = api.ok("ListSecrets", body);
        for s in page["SecretList"].as_array().unwrap() {
            assert!(s.get("SecretString").is_none());
            names.push(s["Name"].as_str().unwrap().to_string());
        }
        match page.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(
        names,
        ["app/0", "app/1", "app/2", "app/3", "app/4", "other"]
    );
    assert_eq!(
        api.refused("ListSecrets", json!({"NextToken": "garbage"}))
            .code,
        "InvalidNextTokenException"
    );
}

#[test]
fn tags_are_set_by_secret_id() {
    let api = Api::new();
    api.ok(
        "CreateSecret",
        json!({"Name": "db", "Tags": [{"Key": "a", "Value": "1"}]}),
    );
    api.ok(
        "TagResource",
        json!({"SecretId": "db", "Tags": [{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]}),
    );
    api.ok("UntagResource", json!({"SecretId": "db", "TagKeys": ["b"]}));
    let described = api.ok("DescribeSecret", json!({"SecretId": "db"}));
    assert_eq!(described["Tags"], json!([{"Key": "a", "Value": "2"}]));
}

#[test]
fn bad_input_is_refused_without_quoting_values() {
    let api = Api::new();
    for (body, code, says) in [
        (
            json!({"Name": "bad name!", "SecretString": "x"}),
            "InvalidParameterException",
            "may contain only",
        ),
        (
            json!({"Name": "db", "SecretString": "x", "SecretBinary": "eA=="}),
            "InvalidParameterException",
            "both",
        ),
        (
            json!({"Name": "db", "SecretString": ""}),
            "InvalidParameterException",
            "1 to 65536",
        ),
        (
            json!({"Name": "db", "ClientRequestToken": "short"}),
            "InvalidParameterException",
            "32 to 64",
        ),
        (
            json!({"Name": "db", "SecretString": 12345678}),
            "SerializationException",
            "SecretString",
        ),
        (
            json!({"Name": "db", "SecretBinary": "not base64!"}),
            "InvalidParameterException",
            "base64",
        ),
    ] {
        let error = api.refused("CreateSecret", body.clone());
        assert_eq!(error.code, code, "{body}: {}", error.message);
        assert!(error.message.contains(says), "{body}: {}", error.message);
        assert!(!error.message.contains("12345678"), "{}", error.message);
    }
    api.ok("CreateSecret", json!({"Name": "db", "SecretString": "x"}));
    let exists = api.refused("CreateSecret", json!({"Name": "db", "SecretString": "x"}));
    assert_eq!(exists.code, "ResourceExistsException");
    let missing = api.refused(
        "GetSecretValue",
        json!({"SecretId": "db", "VersionStage": "AWSPENDING"}),
    );
    assert_eq!(missing.code, "ResourceNotFoundException");
    assert!(missing.message.contains("staging label: AWSPENDING"));
}

#[test]
fn declined_operations_say_why() {
    let api = Api::new();
    let rotate = api.refused("RotateSecret", json!({"SecretId": "db"}));
    assert_eq!(rotate.code, "InvalidRequestException");
    assert!(
        rotate.message.contains("PutSecretValue"),
        "{}",
        rotate.message
    );
    let unknown = api.refused("MakeCoffee", json!({}));
    assert_eq!(unknown.code, "UnknownOperationException");
}

#[test]
fn random_passwords_follow_their_rules() {
    let api = Api::new();
    let password = api.ok(
        "GetRandomPassword",
        json!({"PasswordLength": 20, "ExcludePunctuation": true}),
    );
    let text = password["RandomPassword"].as_str().unwrap();
    assert_eq!(text.len(), 20);
    assert!(text.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        api.refused("GetRandomPassword", json!({"PasswordLength": 0}))
            .code,
        "InvalidParameterException"
    );
}
