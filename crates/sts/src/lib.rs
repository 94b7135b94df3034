//! AWS STS. Today: `GetCallerIdentity`, answered from the request's credential (a 12-digit
//! access key id is that account; any other key is the default account's root).

use fogbank_core::{arn, Context, Service};
use fogbank_wire::AwsError;
use serde_json::{json, Value};

/// The STS service.
pub struct Sts;

impl Service for Sts {
    fn model_name(&self) -> &'static str {
        "sts"
    }

    fn implements(&self, operation: &str) -> bool {
        matches!(operation, "GetCallerIdentity")
    }

    fn handle(&self, ctx: &Context, operation: &str, _input: Value) -> Result<Value, AwsError> {
        match operation {
            "GetCallerIdentity" => Ok(json!({
                "UserId": ctx.account,
                "Account": ctx.account,
                "Arn": arn::account_root(&ctx.account),
            })),
            _ => Err(AwsError::not_implemented("sts", operation)),
        }
    }
}
