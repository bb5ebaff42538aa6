//! The errors the ECS API returns, by exception name.

use std::fmt;

/// An ECS exception name. The wire form is the variant name, which botocore maps to the
/// client's exception class, so these names must match the service model exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AccessDeniedException,
    ClientException,
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    ClusterNotFoundException,
    IncompleteSignatureException,
    InvalidParameterException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ResourceNotFoundException,
    SerializationException,
    ServerException,
    ServiceNotActiveException,
    ServiceNotFoundException,
    UnknownOperationException,
    UnrecognizedClientException,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessDeniedException => "AccessDeniedException",
            Self::ClientException => "ClientException",
            Self::ClusterContainsContainerInstancesException => {
                "ClusterContainsContainerInstancesException"
            }
            Self::ClusterContainsServicesException => "ClusterContainsServicesException",
            Self::ClusterContainsTasksException => "ClusterContainsTasksException",
            Self::ClusterNotFoundException => "ClusterNotFoundException",
            Self::IncompleteSignatureException => "IncompleteSignatureException",
            Self::InvalidParameterException => "InvalidParameterException",
            Self::InvalidSignatureException => "InvalidSignatureException",
            Self::MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            Self::ResourceNotFoundException => "ResourceNotFoundException",
            Self::SerializationException => "SerializationException",
            Self::ServerException => "ServerException",
            Self::ServiceNotActiveException => "ServiceNotActiveException",
            Self::ServiceNotFoundException => "ServiceNotFoundException",
            Self::UnknownOperationException => "UnknownOperationException",
            Self::UnrecognizedClientException => "UnrecognizedClientException",
        }
    }

    /// HTTP status. Only a real server fault is a 5xx: botocore retries 5xx answers, so a
    /// client mistake answered with 500 would leave the CLI retrying a request that cannot work.
    pub fn status(self) -> u16 {
        match self {
            Self::ServerException => 500,
            Self::AccessDeniedException | Self::MissingAuthenticationTokenException => 403,
            _ => 400,
        }
    }
}

/// An error as the API returns it: `{"__type": kind, "message": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn client(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ClientException, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameterException, message)
    }
    pub fn cluster_not_found() -> Self {
        Self::new(ErrorKind::ClusterNotFoundException, "Cluster not found.")
    }
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServerException, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for ApiError {}
