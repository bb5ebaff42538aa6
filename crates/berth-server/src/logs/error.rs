//! CloudWatch Logs' errors in its model's words.

use crate::json_api::{self, JsonApi};

/// CloudWatch Logs, as its errors and decoding name it.
pub struct Logs;

impl JsonApi for Logs {
    const NAME: &'static str = "CloudWatch Logs";
    const FAULT: &'static str = "ServiceUnavailableException";
    const INVALID_TOKEN: (&'static str, &'static str) = (
        "InvalidParameterException",
        "The specified nextToken is invalid: pass the nextToken of the previous answer unchanged",
    );
}

pub type Error = json_api::Error<Logs>;

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    pub fn group_not_found() -> Self {
        Self::new(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }

    pub fn stream_not_found() -> Self {
        Self::new(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        )
    }

    pub fn group_exists() -> Self {
        Self::new(
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
        )
    }

    pub fn stream_exists() -> Self {
        Self::new(
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
        )
    }
}
