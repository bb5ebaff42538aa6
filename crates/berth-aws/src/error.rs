//! The one shape every AWS API's errors take on the wire: a code (the exception name botocore
//! maps to the client's exception class), a message, and an HTTP status.

use std::borrow::Cow;
use std::fmt;

/// An error as it goes back to the client. Only a fault of the server's own is a 5xx:
/// botocore retries 5xx answers, so a client mistake answered with one would leave the CLI
/// retrying a request that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: Cow<'static, str>,
    pub message: String,
    pub status: u16,
}

impl AwsError {
    /// A client error (HTTP 400).
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::with_status(code, message, 400)
    }

    pub fn with_status(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        status: u16,
    ) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            status,
        }
    }

    /// Whether the server, not the client, is at fault.
    pub fn is_server_fault(&self) -> bool {
        self.status >= 500
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}
