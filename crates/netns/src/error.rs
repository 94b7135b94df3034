//! The substrate's one error type.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SubstrateError {
    /// The configuration cannot work (bad prefix, range, data dir).
    #[error("invalid substrate configuration: {0}")]
    InvalidConfig(String),
    /// A spec the caller built is inconsistent (address outside its subnet, bad MAC, ...).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The VPC was never ensured by this substrate.
    #[error("unknown VPC {0}")]
    UnknownVpc(String),
    /// The instance was never ensured by this substrate.
    #[error("unknown instance {0}")]
    UnknownInstance(String),
    /// The VPC still has instances.
    #[error("VPC {vpc_id} still has instances: {instances:?}")]
    VpcInUse {
        vpc_id: String,
        instances: Vec<String>,
    },
    /// Two ids map to the same kernel name (their last 8 hex digits agree).
    #[error("{id} and {other} map to the same kernel name {name}")]
    NameCollision {
        id: String,
        other: String,
        name: String,
    },
    /// Another process holds the substrate lock of this prefix.
    #[error("another Fogbank process uses the substrate prefix {prefix} (lock {lock:?})")]
    Busy { prefix: String, lock: PathBuf },
    /// The host already routes part of the public range somewhere else.
    #[error("the host already routes {range} elsewhere: {routes}")]
    RangeInUse { range: String, routes: String },
    /// An `ip` or `nft` invocation failed.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl SubstrateError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> SubstrateError {
        SubstrateError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds a context line to an I/O result.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SubstrateError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SubstrateError> {
        self.map_err(|e| SubstrateError::io(context(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, SubstrateError> {
        self.map_err(|e| SubstrateError::io(context(), io::Error::from(e)))
    }
}
