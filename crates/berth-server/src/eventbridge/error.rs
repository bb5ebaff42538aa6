//! EventBridge's errors in its model's words.

use crate::json_api::{self, JsonApi};

/// EventBridge, as its errors and decoding name it.
pub struct EventBridge;

impl JsonApi for EventBridge {
    const NAME: &'static str = "EventBridge";
    const FAULT: &'static str = "InternalException";
    const INVALID_TOKEN: (&'static str, &'static str) = (
        "ValidationException",
        "The NextToken value is invalid: pass the NextToken of an earlier answer unchanged.",
    );
}

pub type Error = json_api::Error<EventBridge>;

impl Error {
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", message)
    }

    /// A rule the request names that is not on the (default) event bus.
    pub fn no_rule(name: &str) -> Self {
        Self::not_found(format!("Rule {name} does not exist on EventBus default."))
    }
}
