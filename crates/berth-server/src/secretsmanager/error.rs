//! Secrets Manager's errors in its model's words.

use crate::json_api::{self, JsonApi};

/// Secrets Manager, as its errors and decoding name it.
pub struct SecretsManager;

impl JsonApi for SecretsManager {
    const NAME: &'static str = "Secrets Manager";
    const FAULT: &'static str = "InternalServiceError";
    const SENSITIVE: &'static [&'static str] = &["SecretString", "SecretBinary"];
    const INVALID_TOKEN: (&'static str, &'static str) = (
        "InvalidNextTokenException",
        "The NextToken value is invalid: pass the NextToken of the previous answer unchanged",
    );
}

pub type Error = json_api::Error<SecretsManager>;

impl Error {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", message)
    }

    pub fn exists(message: impl Into<String>) -> Self {
        Self::new("ResourceExistsException", message)
    }
}
