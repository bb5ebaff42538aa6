//! The ECS wire protocol, as plain values: which action a request asks for, and how an
//! answer or an error goes back. Parsing is separate from the socket so every refusal is
//! unit-tested.

use crate::api::TARGET_PREFIX;
use berth_model::{ApiError, ErrorKind};
use serde_json::{json, Value};

/// The largest request body Berth reads. The largest legitimate ECS request, a task
/// definition with ten containers each near the model's limits, stays well below it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request that passed the protocol checks; authentication happens next.
#[derive(Debug, PartialEq, Eq)]
pub struct EcsRequest {
    pub action: String,
}

fn serialization(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::SerializationException, message)
}

/// Checks method, path, content type and target. `header` looks a header up by lowercase name.
pub fn parse<'a>(
    method: &str,
    path: &str,
    header: impl Fn(&str) -> Option<&'a str>,
) -> Result<EcsRequest, ApiError> {
    if method != "POST" || path != "/" {
        return Err(ApiError::new(
            ErrorKind::UnknownOperationException,
            format!("{method} {path} is not an ECS call; ECS calls are POST / with an X-Amz-Target header"),
        ));
    }
    let content_type = header("content-type").unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/x-amz-json-1.1") {
        return Err(serialization(format!(
            "content type {content_type:?} is not supported; send application/x-amz-json-1.1"
        )));
    }
    let target = header("x-amz-target").ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnknownOperationException,
            "missing X-Amz-Target header",
        )
    })?;
    let action = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnknownOperationException,
            format!(
                "X-Amz-Target {target:?} does not name an ECS action ({TARGET_PREFIX}<Action>)"
            ),
        )
    })?;
    Ok(EcsRequest {
        action: action.to_string(),
    })
}

/// The error for a body over [`MAX_BODY_BYTES`].
pub fn body_too_large() -> ApiError {
    serialization(format!(
        "request body is larger than the {MAX_BODY_BYTES}-byte limit Berth accepts"
    ))
}

/// The JSON body of an error answer, in the shape botocore reads.
pub fn error_body(error: &ApiError) -> Value {
    json!({"__type": error.kind.name(), "message": error.message})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    const JSON: (&str, &str) = ("content-type", "application/x-amz-json-1.1");

    #[test]
    fn reads_the_action_from_the_target() {
        let parsed = parse(
            "POST",
            "/",
            headers(&[
                JSON,
                (
                    "x-amz-target",
                    "AmazonEC2ContainerServiceV20141113.ListClusters",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(parsed.action, "ListClusters");
    }

    #[test]
    fn accepts_a_charset_parameter() {
        let pairs = [
            ("content-type", "application/x-amz-json-1.1; charset=utf-8"),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
        ];
        assert!(parse("POST", "/", headers(&pairs)).is_ok());
    }

    #[test]
    fn refuses_everything_else_with_a_client_error() {
        let target = (
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        );
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, ErrorKind);
        let cases: Vec<Case> = vec![
            (
                "GET",
                "/",
                vec![JSON, target],
                ErrorKind::UnknownOperationException,
            ),
            (
                "POST",
                "/x",
                vec![JSON, target],
                ErrorKind::UnknownOperationException,
            ),
            ("POST", "/", vec![target], ErrorKind::SerializationException),
            (
                "POST",
                "/",
                vec![("content-type", "application/json"), target],
                ErrorKind::SerializationException,
            ),
            (
                "POST",
                "/",
                vec![JSON],
                ErrorKind::UnknownOperationException,
            ),
            (
                "POST",
                "/",
                vec![JSON, ("x-amz-target", "DynamoDB_20120810.ListTables")],
                ErrorKind::UnknownOperationException,
            ),
        ];
        for (method, path, pairs, kind) in cases {
            let err = parse(method, path, headers(&pairs)).unwrap_err();
            assert_eq!(err.kind, kind, "{method} {path} {pairs:?}");
            assert_eq!(err.kind.status(), 400);
        }
    }

    #[test]
    fn errors_have_the_shape_botocore_reads() {
        let body = error_body(&ApiError::cluster_not_found());
        assert_eq!(
            body,
            json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."})
        );
    }
}
