//! The API's errors, and the trait its requests are checked by.

use crate::call::Fault;
use crate::registry::WireError;
use berth_aws::AwsError;
use serde::de::DeserializeOwned;

/// An SSM error: its exception name and message.
#[derive(Debug)]
pub struct Error(pub(super) AwsError);

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self(AwsError::new(code, message))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn not_found(name: &str) -> Self {
        Self::new("ParameterNotFound", format!("Parameter {name} not found."))
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
            "InternalServerError",
            fault.to_string(),
            500,
        ))
    }
}

pub trait Request: DeserializeOwned + Send + 'static {
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}
