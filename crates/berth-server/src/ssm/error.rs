//! Parameter Store's errors in its model's words.

use crate::json_api::{self, JsonApi};

/// SSM Parameter Store, as its errors and decoding name it.
pub struct Ssm;

impl JsonApi for Ssm {
    const NAME: &'static str = "SSM";
    const FAULT: &'static str = "InternalServerError";
    const SENSITIVE: &'static [&'static str] = &["Value"];
    const INVALID_TOKEN: (&'static str, &'static str) =
        ("InvalidNextToken", "The specified token isn't valid.");
}

pub type Error = json_api::Error<Ssm>;

impl Error {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn not_found(name: &str) -> Self {
        Self::new("ParameterNotFound", format!("Parameter {name} not found."))
    }
}
