//! The JSON protocols (`awsJson1_0`, `awsJson1_1`): `POST /` with the action in
//! `X-Amz-Target: <Prefix>.<Action>`, the input as a JSON body, the answer as a JSON body of
//! the same content type, and errors as `{"__type": code, "message": …}`. The two versions
//! differ only in their content type; CloudWatch's current model sends 1.0, the others 1.1.

use crate::AwsError;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Which of the two JSON protocols a request speaks; its answer speaks the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonVersion {
    V1_0,
    V1_1,
}

impl JsonVersion {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V1_0 => "application/x-amz-json-1.0",
            Self::V1_1 => "application/x-amz-json-1.1",
        }
    }

    /// The version a `Content-Type` header names (parameters such as `charset` aside).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        [Self::V1_0, Self::V1_1]
            .into_iter()
            .find(|version| media_type.eq_ignore_ascii_case(version.content_type()))
    }
}

/// `Prefix.Action` → (`Prefix`, `Action`). The action may be empty (`Prefix.`), which no
/// API answers; a target without a dot names no API at all.
pub fn split_target(target: &str) -> Option<(&str, &str)> {
    target.rsplit_once('.')
}

/// The body of an error answer, in the shape botocore reads.
pub fn error_body(error: &AwsError) -> Value {
    json!({"__type": error.code, "message": error.message})
}

/// The `x-amzn-query-error` header of a query-compatible API's error: its query-protocol
/// code and who is at fault (`InvalidParameterValue;Sender`), which botocore reads in place
/// of `__type`.
pub fn query_error_header(error: &AwsError) -> String {
    let side = if error.is_server_fault() {
        "Receiver"
    } else {
        "Sender"
    };
    format!("{};{side}", error.code)
}

/// Reads a JSON request body into an action's input, naming the member at fault. An empty
/// body is an empty input. When the member at fault is one of `sensitive` (a secret's value,
/// say), the message names it but does not quote what was sent, since serde's messages quote
/// the values they refuse.
pub fn decode_input<T: DeserializeOwned>(body: &[u8], sensitive: &[&str]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let refused = |message: String| AwsError::new("SerializationException", message);
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| refused(format!("request body is not valid JSON: {e}")))?;
    let Some(members) = value.as_object() else {
        return Err(refused("request body must be a JSON object".into()));
    };
    // Checked here, since a member read through `#[serde(flatten)]` has no path of its own.
    for member in sensitive {
        if members
            .get(*member)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return Err(refused(format!(
                "{member}: must be a string (its value is not repeated here)"
            )));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let secret = e.path().iter().any(|segment| {
            matches!(segment, serde_path_to_error::Segment::Map { key } if sensitive.contains(&key.as_str()))
        });
        let inner = if secret {
            "has the wrong type (its value is not repeated here)".to_string()
        } else {
            e.into_inner().to_string()
        };
        refused(if path == "." { inner } else { format!("{path}: {inner}") })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Input {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Secret")]
        secret: Option<String>,
    }

    #[test]
    fn inputs_name_the_member_at_fault() {
        let error = decode_input::<Input>(br#"{"Name": 5}"#, &["Secret"]).unwrap_err();
        assert_eq!(error.code, "SerializationException");
        assert!(
            error.message.starts_with("Name: invalid type"),
            "{}",
            error.message
        );
        let error = decode_input::<Input>(b"[1]", &[]).unwrap_err();
        assert!(error.message.contains("JSON object"));
        assert!(decode_input::<Input>(b"{", &[]).is_err());
        assert!(
            decode_input::<Input>(b"  ", &[]).is_err(),
            "Name is required"
        );
    }

    #[test]
    fn a_sensitive_member_is_named_but_not_quoted() {
        let error = decode_input::<Input>(br#"{"Name": "a", "Secret": 12345678}"#, &["Secret"])
            .unwrap_err();
        assert!(error.message.starts_with("Secret: "), "{}", error.message);
        assert!(!error.message.contains("12345678"), "{}", error.message);
    }

    #[test]
    fn both_versions_are_read_from_the_content_type() {
        for (header, version) in [
            ("application/x-amz-json-1.1", Some(JsonVersion::V1_1)),
            ("application/x-amz-json-1.0", Some(JsonVersion::V1_0)),
            (
                "Application/X-Amz-Json-1.1; charset=utf-8",
                Some(JsonVersion::V1_1),
            ),
            ("application/json", None),
            ("application/x-www-form-urlencoded", None),
            ("", None),
        ] {
            assert_eq!(JsonVersion::from_content_type(header), version, "{header}");
        }
    }

    #[test]
    fn targets_split_at_the_last_dot() {
        assert_eq!(
            split_target("AmazonEC2ContainerServiceV20141113.ListClusters"),
            Some(("AmazonEC2ContainerServiceV20141113", "ListClusters"))
        );
        assert_eq!(
            split_target("secretsmanager."),
            Some(("secretsmanager", ""))
        );
        assert_eq!(split_target("ListClusters"), None);
    }

    #[test]
    fn query_compatible_errors_name_code_and_side() {
        let error = AwsError::new("InvalidParameterValue", "bad");
        assert_eq!(query_error_header(&error), "InvalidParameterValue;Sender");
        let fault = AwsError::with_status("InternalServiceError", "disk", 500);
        assert_eq!(query_error_header(&fault), "InternalServiceError;Receiver");
    }

    #[test]
    fn errors_have_the_shape_botocore_reads() {
        assert_eq!(
            error_body(&AwsError::new(
                "ClusterNotFoundException",
                "Cluster not found."
            )),
            json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."})
        );
    }
}
