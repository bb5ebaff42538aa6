//! The JSON protocols (`awsJson1_0`, `awsJson1_1`): `POST /` with the action in
//! `X-Amz-Target: <Prefix>.<Action>`, the input as a JSON body, the answer as a JSON body of
//! the same content type, and errors as `{"__type": code, "message": …}`. The two versions
//! differ only in their content type; CloudWatch's current model sends 1.0, the others 1.1.

use crate::AwsError;
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

#[cfg(test)]
mod tests {
    use super::*;

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
