//! The API's errors, and the trait its requests are checked by.

use crate::call::Fault;
use crate::registry::WireError;
use berth_aws::AwsError;
use serde::de::DeserializeOwned;

/// A Secrets Manager error: its exception name and message (always HTTP 400, but for the
/// server's own faults).
#[derive(Debug)]
pub struct Error(pub(super) AwsError);

impl Error {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self(AwsError::new("ResourceNotFoundException", message))
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self(AwsError::new("InvalidParameterException", message))
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self(AwsError::new("InvalidRequestException", message))
    }

    pub fn exists(message: impl Into<String>) -> Self {
        Self(AwsError::new("ResourceExistsException", message))
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl WireError for Error {
    fn into_wire(self) -> AwsError {
        self.0
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        tracing::error!(error = %fault, "store failure");
        Self(AwsError::with_status(
            "InternalServiceError",
            fault.to_string(),
            500,
        ))
    }
}

/// An action's input: JSON, decoded strictly, then checked by its `check`.
pub trait Request: DeserializeOwned + Send + 'static {
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}
