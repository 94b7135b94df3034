//! Key pairs: CreateKeyPair, ImportKeyPair, DeleteKeyPair, DescribeKeyPairs.

use fogbank_wire::AwsError;

use super::Handler;

pub const OPERATIONS: &[(&str, Handler)] = &[];

#[allow(dead_code)]
fn unused(_: AwsError) {}
