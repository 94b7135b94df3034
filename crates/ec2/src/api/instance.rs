//! Instances.
use super::Handler;
pub const OPERATIONS: &[(&str, Handler)] = &[];
