//! Application Auto Scaling's errors in its model's words.

use crate::json_api::{self, JsonApi};

/// Application Auto Scaling, as its errors and decoding name it.
pub struct AutoScaling;

impl JsonApi for AutoScaling {
    const NAME: &'static str = "Application Auto Scaling";
    const FAULT: &'static str = "InternalServiceException";
    const INVALID_TOKEN: (&'static str, &'static str) = (
        "InvalidNextTokenException",
        "The NextToken value is invalid.",
    );
}

pub type Error = json_api::Error<AutoScaling>;

impl Error {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ObjectNotFoundException", message)
    }

    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", message)
    }
}
