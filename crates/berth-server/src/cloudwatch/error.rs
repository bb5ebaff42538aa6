//! CloudWatch's errors, by their query-protocol codes (the model's `error.code`), which both
//! protocols carry: the query protocol in `<Code>`, JSON in `__type` and the
//! `x-amzn-query-error` header botocore reads.

use crate::registry::WireError;
use berth_aws::AwsError;
use berth_metrics::MetricError;

#[derive(Debug)]
pub struct Error(AwsError);

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self(AwsError::new(code, message))
    }

    /// A value CloudWatch refuses: `The value X for parameter P is invalid.`, and why.
    pub fn invalid_value(parameter: &str, value: impl std::fmt::Display, why: &str) -> Self {
        Self::new(
            "InvalidParameterValue",
            format!("The value {value} for parameter {parameter} is invalid. {why}"),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message)
    }

    pub fn missing(parameter: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The parameter {parameter} is required."),
        )
    }

    pub fn combination(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterCombination", message)
    }

    /// A collection over its limit, in CloudWatch's words.
    pub fn too_many(collection: &str, limit: usize) -> Self {
        Self::invalid(format!(
            "The collection {collection} must not have a size greater than {limit}."
        ))
    }

    pub fn into_wire(self) -> AwsError {
        self.0
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }
}

impl WireError for Error {
    fn into_wire(self) -> AwsError {
        self.0
    }
}

impl From<MetricError> for Error {
    fn from(error: MetricError) -> Self {
        tracing::error!(error = %error, "metric store failure");
        Self(AwsError::with_status(
            "InternalServiceError",
            error.to_string(),
            500,
        ))
    }
}
