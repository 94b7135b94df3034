//! Which service and operation a request is for: from the SigV4 credential scope, the
//! `X-Amz-Target` header, the rpc-v2 path, the `Action` parameter, or the REST method and path.

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use crate::error::AwsError;
use crate::model::{Operation, Protocol, Registry, ServiceModel};
use crate::params::Node;

/// The parts of an HTTP request the wire layer looks at.
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// The raw (percent-encoded) path.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl HttpRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Who signed the request and for what, from a SigV4 `Authorization` header or presigned query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credential {
    pub access_key: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
}

/// Reads the SigV4 credential scope (`AKID/20261204/us-east-1/ec2/aws4_request`).
pub fn credential(req: &HttpRequest) -> Credential {
    let scope = req
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|s| s.split([',', ' ']).next().unwrap_or("").to_string())
        .or_else(|| {
            form_urlencoded::parse(req.query.as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        });
    let Some(scope) = scope else { return Credential::default() };
    let parts: Vec<&str> = scope.split('/').collect();
    Credential {
        access_key: parts.first().filter(|s| !s.is_empty()).map(|s| s.to_string()),
        region: parts.get(2).filter(|s| !s.is_empty()).map(|s| s.to_string()),
        service: parts.get(3).filter(|s| !s.is_empty()).map(|s| s.to_string()),
    }
}

/// A routed request: its service model, operation, URI labels and (for query protocols) form.
pub struct Routed<'m> {
    pub model: &'m ServiceModel,
    pub operation: &'m Operation,
    pub labels: Vec<(String, String)>,
    pub form: Option<Node>,
}

impl std::fmt::Debug for Routed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.model.name, self.operation.name)
    }
}

/// Why a request could not be routed, with the protocol to answer in.
#[derive(Debug)]
pub struct RouteError {
    pub protocol: Protocol,
    pub model: Option<&'static ServiceModel>,
    pub error: AwsError,
}

fn route_error(protocol: Protocol, model: Option<&'static ServiceModel>, error: AwsError) -> RouteError {
    RouteError { protocol, model, error }
}

/// Finds the service and operation of a request.
pub fn route(req: &HttpRequest, cred: &Credential) -> Result<Routed<'static>, RouteError> {
    let reg = Registry::global();

    // json protocol: X-Amz-Target "Prefix.Operation".
    if let Some(target) = req.header("x-amz-target") {
        let (prefix, op) = target.rsplit_once('.').unwrap_or((target, ""));
        let mut by_prefix = reg.metas().iter().filter(|m| m.target_prefix == prefix).filter_map(|m| reg.get(m.name));
        if let Some(m) = by_prefix.next() {
            return match m.operation(op) {
                Some(o) => Ok(Routed { model: m, operation: o, labels: vec![], form: None }),
                None => Err(route_error(
                    Protocol::Json,
                    Some(m),
                    AwsError::new("UnknownOperationException", format!("Unknown operation {op}")),
                )),
            };
        }
        return Err(route_error(
            Protocol::Json,
            None,
            AwsError::new("UnknownOperationException", format!("Unknown target {target}")),
        ));
    }

    // rpc-v2-cbor: POST /service/{ServiceName}/operation/{Operation}.
    if let Some(rest) = req.path.strip_prefix("/service/") {
        if let Some((svc, op)) = rest.split_once("/operation/") {
            let mut by_name = reg
                .metas()
                .iter()
                .filter(|m| m.protocol == "smithy-rpc-v2-cbor" && m.target_prefix == svc)
                .filter_map(|m| reg.get(m.name));
            if let Some(m) = by_name.next() {
                return match m.operation(op) {
                    Some(o) => Ok(Routed { model: m, operation: o, labels: vec![], form: None }),
                    None => Err(route_error(
                        Protocol::RpcV2Cbor,
                        Some(m),
                        AwsError::new("UnknownOperationException", format!("Unknown operation {op}")),
                    )),
                };
            }
        }
    }

    let candidates: Vec<&'static ServiceModel> = match cred.service.as_deref() {
        Some(svc) => reg.metas().iter().filter(|m| m.signing_name == svc).filter_map(|m| reg.get(m.name)).collect(),
        None => reg.all().collect(),
    };

    // ec2 and query protocols: Action (+ Version) in the form body or the query string.
    let form_bytes: &[u8] = if req.method == "POST"
        && req.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        req.body
    } else if req.query.contains("Action=") {
        req.query.as_bytes()
    } else {
        b""
    };
    if !form_bytes.is_empty() {
        let form = Node::from_form(form_bytes);
        if let Some(action) = form.param("Action").map(str::to_string) {
            let version = form.param("Version").map(str::to_string);
            let query_models: Vec<_> = candidates
                .iter()
                .copied()
                .filter(|m| matches!(m.protocol(), Protocol::Ec2 | Protocol::Query))
                .collect();
            let by_version: Vec<_> = query_models
                .iter()
                .copied()
                .filter(|m| version.as_deref().is_none_or(|v| v == m.metadata.api_version))
                .collect();
            let pool = if by_version.is_empty() { &query_models } else { &by_version };
            if let Some(m) = pool.iter().find(|m| m.operation(&action).is_some()) {
                let op = m.operation(&action).expect("checked");
                return Ok(Routed { model: m, operation: op, labels: vec![], form: Some(form) });
            }
            let model = pool.first().copied();
            let protocol = model.map(|m| m.protocol()).unwrap_or(Protocol::Query);
            return Err(route_error(
                protocol,
                model,
                AwsError::new("InvalidAction", format!("The action {action} is not valid for this web service."))
                    .with_status(400),
            ));
        }
    }

    // REST protocols: method and path.
    let segments = split_path(req.path);
    let mut best: Option<(usize, &'static ServiceModel, &RestRoute, Vec<(String, String)>)> = None;
    for m in candidates.iter().copied() {
        if !matches!(m.protocol(), Protocol::RestJson | Protocol::RestXml) {
            continue;
        }
        for r in m.rest_routes() {
            if r.method != req.method {
                continue;
            }
            if let Some(labels) = r.matches(&segments, req.query) {
                let score = r.score();
                if best.as_ref().is_none_or(|(s, ..)| score > *s) {
                    best = Some((score, m, r, labels));
                }
            }
        }
    }
    if let Some((_, m, r, labels)) = best {
        if let Some(op) = m.operation(&r.operation) {
            return Ok(Routed { model: m, operation: op, labels, form: None });
        }
    }

    let model = candidates.first().copied();
    let protocol = model.map(|m| m.protocol()).unwrap_or(Protocol::Query);
    Err(route_error(
        protocol,
        model,
        AwsError::new(
            if candidates.is_empty() { "UnknownService" } else { "UnknownOperationException" },
            format!("No operation matches {} {}", req.method, req.path),
        )
        .with_status(if candidates.is_empty() { 400 } else { 404 }),
    ))
}

fn split_path(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Label(String),
    Greedy(String),
}

/// One operation's `requestUri` template, ready to match.
#[derive(Debug)]
pub struct RestRoute {
    operation: String,
    method: String,
    segments: Vec<Segment>,
    /// Query keys the template requires (`?versioning`, `?x-id=...`).
    required_query: Vec<(String, Option<String>)>,
}

impl RestRoute {
    pub(crate) fn build_all(model: &ServiceModel) -> Vec<RestRoute> {
        model
            .operations
            .iter()
            .map(|(name, op)| {
                let (path, query) = op.http.request_uri.split_once('?').unwrap_or((&op.http.request_uri, ""));
                let segments = path
                    .trim_start_matches('/')
                    .trim_end_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(l) if l.ends_with('+') => Segment::Greedy(l.trim_end_matches('+').to_string()),
                        Some(l) => Segment::Label(l.to_string()),
                        None => Segment::Literal(s.to_string()),
                    })
                    .collect();
                let required_query = query
                    .split('&')
                    .filter(|s| !s.is_empty())
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (kv.to_string(), None),
                    })
                    .collect();
                RestRoute { operation: name.clone(), method: op.http.method.clone(), segments, required_query }
            })
            .collect()
    }

    fn score(&self) -> usize {
        let literals = self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        literals * 100 + self.required_query.len() * 10 + self.segments.len()
    }

    fn matches(&self, path: &[String], query: &str) -> Option<Vec<(String, String)>> {
        let mut labels = Vec::new();
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => {
                    if path.get(i)? != l {
                        return None;
                    }
                    i += 1;
                }
                Segment::Label(name) => {
                    labels.push((name.clone(), path.get(i)?.clone()));
                    i += 1;
                }
                Segment::Greedy(name) => {
                    if i >= path.len() {
                        return None;
                    }
                    labels.push((name.clone(), path[i..].join("/")));
                    i = path.len();
                }
            }
        }
        if i != path.len() {
            return None;
        }
        for (k, v) in &self.required_query {
            let found = form_urlencoded::parse(query.as_bytes()).any(|(qk, qv)| {
                qk == k.as_str() && v.as_deref().is_none_or(|v| qv == v)
            });
            if !found {
                return None;
            }
        }
        Some(labels)
    }
}
