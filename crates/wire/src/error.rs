//! The one error type every handler returns: an AWS error code, a message and an HTTP status.

use std::fmt;

/// An error as AWS reports it. Rendered per protocol by [`crate::render_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The AWS error code (`InvalidVpcID.NotFound`, `ValidationError`, ...).
    pub code: String,
    pub message: String,
    /// HTTP status; when `None`, the model's error trait decides, else 400.
    pub status: Option<u16>,
    /// Whether the client is at fault (`Sender`) or the service (`Receiver`).
    pub sender_fault: bool,
}

impl AwsError {
    /// A client error; the status comes from the model or defaults to 400.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        AwsError { code: code.into(), message: message.into(), status: None, sender_fault: true }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self.sender_fault = status < 500;
        self
    }

    /// An operation that the model has but Fogbank does not implement yet: HTTP 501.
    pub fn not_implemented(service: &str, operation: &str) -> Self {
        AwsError::new(
            "NotImplemented",
            format!("Fogbank does not implement {service}:{operation} yet."),
        )
        .with_status(501)
    }

    /// A fault of Fogbank itself: HTTP 500.
    pub fn internal(message: impl Into<String>) -> Self {
        AwsError::new("InternalFailure", message).with_status(500)
    }

    /// EC2's `DryRunOperation` answer (HTTP 412).
    pub fn dry_run() -> Self {
        AwsError::new("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
            .with_status(412)
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}
