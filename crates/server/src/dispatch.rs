use std::time::Instant;

use bytes::Bytes;
use fogbank_core::{ids, Context, Services};
use fogbank_wire::{self as wire, AwsError, HttpRequest};
use http::{HeaderMap, Method};
use serde_json::json;

/// The state the front door needs.
pub struct App {
    pub services: Services,
    pub default_account: String,
    pub default_region: String,
    /// `netns` or `records`: what instances are.
    pub substrate: String,
    pub version: &'static str,
}

/// A response: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl From<wire::Response> for Reply {
    fn from(r: wire::Response) -> Self {
        Reply { status: r.status, headers: r.headers, body: Bytes::from(r.body) }
    }
}

/// The answer when a handler panicked: an AWS-shaped 500 in JSON (the protocol is unknown here).
pub fn internal_error_reply() -> Reply {
    json_reply(500, json!({"__type": "InternalFailure", "message": "Fogbank hit an internal error; see its log."}))
}

fn json_reply(status: u16, v: serde_json::Value) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Bytes::from(v.to_string()),
    }
}

/// The account an access key stands for: a 12-digit key id is that account.
fn account_for(key: Option<&str>, default: &str) -> String {
    match key {
        Some(k) if k.len() == 12 && k.bytes().all(|b| b.is_ascii_digit()) => k.to_string(),
        _ => default.to_string(),
    }
}

/// Handles one request, start to end.
pub fn dispatch(app: &App, method: &Method, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let started = Instant::now();
    if let Some(own) = path.strip_prefix("/_fogbank/") {
        return own_api(app, method, own);
    }
    let request_id = ids::request_id();
    let req = HttpRequest { method: method.as_str(), path, query, headers, body };
    let cred = wire::credential(&req);
    let routed = match wire::route(&req, &cred) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(method = %method, path, code = %e.error.code, "unroutable request");
            return wire::render_error(e.model, e.protocol, &e.error, &request_id).into();
        }
    };
    let model = routed.model;
    let op = routed.operation.name.as_str();
    let ctx = Context {
        account: account_for(cred.access_key.as_deref(), &app.default_account),
        region: cred.region.clone().unwrap_or_else(|| app.default_region.clone()),
        request_id: request_id.clone(),
        access_key: cred.access_key.clone(),
    };
    let result = (|| -> Result<serde_json::Value, AwsError> {
        let service = app
            .services
            .find(&model.name)
            .filter(|s| s.implements(op))
            .ok_or_else(|| AwsError::not_implemented(&model.name, op))?;
        let input = wire::parse_input(&routed, &req)?;
        if let Some(shape) = routed.operation.input.as_ref() {
            wire::validate(model, &shape.shape, &input)?;
        }
        service.ensure_scope(&ctx)?;
        service.handle(&ctx, op, input)
    })();
    let reply: Reply = match &result {
        Ok(output) => wire::render_output(&routed, output, &request_id).into(),
        Err(e) => wire::render_error(Some(model), model.protocol(), e, &request_id).into(),
    };
    match &result {
        Err(e) if reply.status >= 500 && reply.status != 501 => {
            tracing::warn!(service = %model.name, op, status = reply.status, code = %e.code, message = %e.message, "request failed")
        }
        _ => tracing::debug!(
            service = %model.name, op, account = %ctx.account, region = %ctx.region, status = reply.status,
            code = result.as_ref().err().map(|e| e.code.as_str()).unwrap_or(""),
            micros = started.elapsed().as_micros() as u64, "request"
        ),
    }
    reply
}

fn own_api(app: &App, method: &Method, path: &str) -> Reply {
    match (method.as_str(), path.trim_end_matches('/')) {
        ("GET", "health") => {
            let services: Vec<&str> = app.services.services.iter().map(|s| s.model_name()).collect();
            json_reply(
                200,
                json!({
                    "status": "ok",
                    "version": app.version,
                    "services": services,
                    "substrate": app.substrate,
                    "resources": app.services.store.count(),
                }),
            )
        }
        ("POST", "reset") => match app.services.store.reset() {
            Ok(()) => {
                tracing::info!("state reset: every resource of every account was removed");
                json_reply(200, json!({"status": "reset"}))
            }
            Err(e) => json_reply(500, json!({"status": "error", "message": e.to_string()})),
        },
        _ => json_reply(404, json!({"status": "error", "message": format!("no such endpoint /_fogbank/{path}")})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_digit_keys_choose_the_account() {
        assert_eq!(account_for(Some("123456789012"), "000000000000"), "123456789012");
        assert_eq!(account_for(Some("test"), "000000000000"), "000000000000");
        assert_eq!(account_for(None, "000000000000"), "000000000000");
    }
}
