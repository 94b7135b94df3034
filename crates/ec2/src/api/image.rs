//! AMIs: DescribeImages, RegisterImage, DeregisterImage, DescribeImageAttribute; the built-in
//! images that configurations written for real AWS look up.

use fogbank_wire::AwsError;
use serde_json::Value;

use super::{Env, Handler};

pub const OPERATIONS: &[(&str, Handler)] = &[];

/// The image an instance runs: the stored or built-in image with this id, if any.
pub fn lookup(_env: &Env, _image_id: &str) -> Option<Value> {
    None
}

#[allow(dead_code)]
fn unused(_: AwsError) {}
