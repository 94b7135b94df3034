//! The five wire protocols against what botocore sends and understands, driven by the files in
//! `tests/fixtures/<protocol>/`:
//!
//! * `*.request.json`: an HTTP request exactly as botocore sends it. `route` + `credential` must
//!   find the service, operation and signing scope; `parse_input` must give `input` (or the
//!   `parse_error`); `validate` must pass or give the `validation` error. Requests that cannot be
//!   routed carry a `route_error`, rendered into the golden `*.route_error.http`.
//! * `*.response.json`: an operation's output value; `render_output` must give the golden
//!   `*.response.http` byte for byte.
//! * `*.error.json`: an `AwsError`; `render_error` must give the golden `*.error.http`.
//!
//! `check_with_botocore.py` makes the request fixtures with botocore and checks that botocore's
//! own parsers read every golden back into the fixture's output value or error. After a change
//! to the rendering, refresh the goldens and run that check again:
//!
//! ```text
//! UPDATE_EXPECT=1 cargo test -p fogbank-wire --test protocols
//! /path/to/venv/bin/python crates/wire/tests/check_with_botocore.py
//! ```
//!
//! `check_with_botocore.py --sweep` goes further: every operation of every model, with sample
//! values, through the ignored test `sweep_every_operation` below.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine;
use fogbank_wire::{self as wire, AwsError, HttpRequest, Protocol, Registry, Response, Routed};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

const PROTOCOLS: [&str; 5] = ["ec2", "query", "json", "rest-json", "rest-xml"];
/// Fixture folders: the five protocols, and requests in the rpc-v2-cbor protocol, which is
/// routed but not decoded (the services that offer it are answered in json).
const FOLDERS: [&str; 6] = ["ec2", "query", "json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor"];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture file whose name ends in `suffix`, in a stable order.
fn fixtures(suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        let dir = fixture_dir().join(folder);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(suffix) {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn label(path: &Path) -> String {
    path.strip_prefix(fixture_dir()).unwrap_or(path).display().to_string()
}

fn protocol_of(path: &Path) -> &'static str {
    let dir = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default();
    FOLDERS.into_iter().find(|p| *p == dir).expect("fixture outside a protocol folder")
}

fn parse_protocol(name: &str) -> Protocol {
    serde_json::from_value(json!(name)).unwrap_or_else(|_| panic!("unknown protocol {name}"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("fixture field {key} missing or not a string"))
}

// ---------------------------------------------------------------------------------------------
// Failures, collected so that one run shows every mismatch, each with a diff.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn fail(&mut self, what: impl Into<String>) {
        self.0.push(what.into());
    }

    fn check_text(&mut self, what: &str, expected: &str, actual: &str) {
        if expected != actual {
            self.fail(format!("{what}\n{}", diff(expected, actual)));
        }
    }

    fn check_json(&mut self, what: &str, expected: &Value, actual: &Value) {
        if expected != actual {
            self.check_text(what, &pretty(expected), &pretty(actual));
        }
    }

    /// The golden file `path` must hold `actual`; `UPDATE_EXPECT=1` (re)writes it instead.
    fn check_golden(&mut self, path: &Path, actual: &str) {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(path, actual).expect("write golden");
            return;
        }
        match std::fs::read_to_string(path) {
            Ok(expected) => self.check_text(&label(path), &expected, actual),
            Err(_) => self.fail(format!("{}: missing golden (run with UPDATE_EXPECT=1)", label(path))),
        }
    }

    fn finish(self, what: &str, count: usize) {
        assert!(count > 0, "no {what} fixtures found under {}", fixture_dir().display());
        if !self.0.is_empty() {
            let mut msg = format!("{} of {count} {what} failed:\n", self.0.len());
            for f in &self.0 {
                msg.push_str("\n--- ");
                msg.push_str(f);
                msg.push('\n');
            }
            panic!("{msg}");
        }
    }
}

/// JSON with sorted keys, one member a line, for diffs.
fn pretty(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect::<Map<_, _>>())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(v)).expect("json")
}

/// A line diff (longest common subsequence): `-` expected only, `+` actual only. Long lines
/// (XML and form bodies) are split at `><` and `&` first so that the diff points somewhere.
fn diff(expected: &str, actual: &str) -> String {
    fn lines(s: &str) -> Vec<String> {
        s.lines()
            .flat_map(|l| {
                let l = if l.len() > 100 { l.replace("><", ">\n<").replace('&', "\n&") } else { l.to_string() };
                l.lines().map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    }
    let (a, b) = (lines(expected), lines(actual));
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "   {}", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "  +{}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "  -{}", a[i]);
            i += 1;
        }
    }
    if expected.len() != actual.len() && a == b {
        out.push_str("  (the texts differ only in line breaks or trailing whitespace)\n");
    }
    out
}

/// A response as the golden files hold it: `HTTP <status>`, the headers, a blank line, the body
/// (`base64:` and the body when it is not UTF-8).
fn http_text(r: &Response) -> String {
    let mut out = format!("HTTP {}\n", r.status);
    for (k, v) in &r.headers {
        let _ = writeln!(out, "{k}: {v}");
    }
    out.push('\n');
    match std::str::from_utf8(&r.body) {
        Ok(text) if !text.starts_with("base64:") => out.push_str(text),
        _ => {
            out.push_str("base64:");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(&r.body));
        }
    }
    out
}

fn golden(path: &Path, kind: &str) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).expect("file name");
    let stem = name.split('.').next().expect("stem");
    path.with_file_name(format!("{stem}.{kind}.http"))
}

// ---------------------------------------------------------------------------------------------
// Requests: routing, credential, parsing, validation.
// ---------------------------------------------------------------------------------------------

struct OwnedRequest {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl OwnedRequest {
    fn from_fixture(r: &Value) -> OwnedRequest {
        let mut headers = HeaderMap::new();
        for (k, v) in r["headers"].as_object().expect("headers") {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_str(v.as_str().expect("header value")).expect("header value"),
            );
        }
        let body = match (r.get("body"), r.get("body_base64")) {
            (Some(Value::String(s)), _) => s.as_bytes().to_vec(),
            (_, Some(Value::String(b))) => base64::engine::general_purpose::STANDARD.decode(b).expect("base64 body"),
            _ => Vec::new(),
        };
        OwnedRequest {
            method: str_field(r, "method").to_string(),
            path: str_field(r, "path").to_string(),
            query: str_field(r, "query").to_string(),
            headers,
            body,
        }
    }

    fn as_request(&self) -> HttpRequest<'_> {
        HttpRequest { method: &self.method, path: &self.path, query: &self.query, headers: &self.headers, body: &self.body }
    }
}

#[test]
fn requests_route_parse_and_validate() {
    let mut f = Failures::default();
    let paths = fixtures(".request.json");
    for path in &paths {
        let name = label(path);
        let fx = load(path);
        let owned = OwnedRequest::from_fixture(&fx["request"]);
        let req = owned.as_request();

        let cred = wire::credential(&req);
        let cred_value = json!({"access_key": cred.access_key, "region": cred.region, "service": cred.service});
        f.check_json(&format!("{name}: credential"), &fx["credential"], &cred_value);

        let routed = match (wire::route(&req, &cred), fx.get("route_error")) {
            (Ok(routed), None) => routed,
            (Ok(routed), Some(_)) => {
                f.fail(format!("{name}: routed to {routed:?}, expected a routing error"));
                continue;
            }
            (Err(e), None) => {
                f.fail(format!("{name}: not routed: {} ({})", e.error, e.model.map(|m| m.name.as_str()).unwrap_or("-")));
                continue;
            }
            (Err(e), Some(want)) => {
                let rendered = wire::render_error(e.model, e.protocol, &e.error, "route-req");
                let got = json!({
                    "protocol": want["protocol"],
                    "code": e.error.code,
                    "message": e.error.message,
                    "status": rendered.status,
                    "service": e.model.map(|m| m.name.clone()),
                });
                f.check_json(&format!("{name}: routing error"), want, &got);
                if e.protocol != parse_protocol(str_field(want, "protocol")) {
                    f.fail(format!("{name}: routing error in protocol {:?}, expected {}", e.protocol, want["protocol"]));
                }
                f.check_golden(&golden(path, "route_error"), &http_text(&rendered));
                continue;
            }
        };

        let expected_route = format!("{}:{}", str_field(&fx, "service"), str_field(&fx, "operation"));
        f.check_text(&format!("{name}: route"), &expected_route, &format!("{routed:?}"));
        let folder = protocol_of(path);
        if PROTOCOLS.contains(&folder) && routed.model.protocol() != parse_protocol(folder) {
            f.fail(format!("{name}: {} speaks {:?}, not {folder}", routed.model.name, routed.model.protocol()));
        }

        let input = match (wire::parse_input(&routed, &req), fx.get("parse_error")) {
            (Ok(v), None) => v,
            (Ok(v), Some(_)) => {
                f.fail(format!("{name}: parsed as {v}, expected an error"));
                continue;
            }
            (Err(e), None) => {
                f.fail(format!("{name}: parse_input failed: {e}"));
                continue;
            }
            (Err(e), Some(want)) => {
                let status = wire::render_error(Some(routed.model), routed.model.protocol(), &e, "r").status;
                f.check_json(&format!("{name}: parse error"), want, &json!({"code": e.code, "status": status}));
                continue;
            }
        };
        f.check_json(&format!("{name}: parsed input"), &fx["input"], &input);

        let validation = match &routed.operation.input {
            Some(shape) => wire::validate(routed.model, &shape.shape, &input),
            None => Ok(()),
        };
        let got = match validation {
            Ok(()) => Value::Null,
            Err(e) => json!({"code": e.code, "message": e.message}),
        };
        f.check_json(&format!("{name}: validation"), fx.get("validation").unwrap_or(&Value::Null), &got);
    }
    f.finish("request fixtures", paths.len());
}

// ---------------------------------------------------------------------------------------------
// Responses and errors: rendered byte for byte as the goldens that botocore has read.
// ---------------------------------------------------------------------------------------------

#[test]
fn responses_render_as_golden() {
    let mut f = Failures::default();
    let paths = fixtures(".response.json");
    for path in &paths {
        let name = label(path);
        let fx = load(path);
        let service = str_field(&fx, "service");
        let Some(model) = Registry::global().get(service) else {
            f.fail(format!("{name}: no model {service}"));
            continue;
        };
        if model.protocol() != parse_protocol(protocol_of(path)) {
            f.fail(format!("{name}: {service} speaks {:?}, not {}", model.protocol(), protocol_of(path)));
        }
        let Some(operation) = model.operation(str_field(&fx, "operation")) else {
            f.fail(format!("{name}: no operation {}", fx["operation"]));
            continue;
        };
        let routed = Routed { model, operation, labels: vec![], form: None };
        let response = wire::render_output(&routed, &fx["output"], str_field(&fx, "request_id"));
        let want_status = fx.get("status").and_then(Value::as_u64).unwrap_or(200);
        if u64::from(response.status) != want_status {
            f.fail(format!("{name}: status {} instead of {want_status}", response.status));
        }
        f.check_golden(&golden(path, "response"), &http_text(&response));
    }
    f.finish("response fixtures", paths.len());
}

#[test]
fn errors_render_as_golden() {
    let mut f = Failures::default();
    let paths = fixtures(".error.json");
    for path in &paths {
        let name = label(path);
        let fx = load(path);
        let model = fx["service"].as_str().and_then(|s| Registry::global().get(s));
        let protocol = parse_protocol(str_field(&fx, "protocol"));
        if protocol != parse_protocol(protocol_of(path)) {
            f.fail(format!("{name}: protocol {protocol:?} in the {} folder", protocol_of(path)));
        }
        let e = &fx["error"];
        let mut err = AwsError::new(str_field(e, "code"), str_field(e, "message"));
        if let Some(status) = e.get("status").and_then(Value::as_u64) {
            err = err.with_status(status as u16);
        }
        let response = wire::render_error(model, protocol, &err, str_field(&fx, "request_id"));
        let want_status = fx["expected"]["HTTPStatusCode"].as_u64().unwrap_or(0);
        if u64::from(response.status) != want_status {
            f.fail(format!("{name}: status {} instead of {want_status}", response.status));
        }
        f.check_golden(&golden(path, "error"), &http_text(&response));
    }
    f.finish("error fixtures", paths.len());
}

/// Each protocol has at least one request parsed, one response rendered and one error.
#[test]
fn every_protocol_is_covered() {
    let mut missing = Vec::new();
    for (suffix, what) in [(".request.json", "request"), (".response.json", "response"), (".error.json", "error")] {
        let have: BTreeSet<&str> = fixtures(suffix).iter().map(|p| protocol_of(p)).collect();
        for proto in PROTOCOLS {
            if !have.contains(proto) {
                missing.push(format!("{proto}: no {what} fixture"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Every golden belongs to a fixture (none left behind by a renamed fixture).
#[test]
fn no_orphan_goldens() {
    let mut orphans = Vec::new();
    for golden_path in fixtures(".http") {
        let name = golden_path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (stem, kind) = name.trim_end_matches(".http").split_once('.').unwrap_or((name, ""));
        let source = match kind {
            "route_error" => format!("{stem}.request.json"),
            other => format!("{stem}.{other}.json"),
        };
        if !golden_path.with_file_name(source).exists() {
            orphans.push(label(&golden_path));
        }
    }
    assert!(orphans.is_empty(), "goldens without a fixture: {orphans:?}");
}

/// Every operation of every model with sample values, driven by `check_with_botocore.py
/// --sweep`: it writes what botocore sends (`requests.json`) and sample outputs (`outputs.json`)
/// to `$FOGBANK_SWEEP_DIR`; this writes back what Fogbank routes and parses (`parsed.json`) and
/// renders (`rendered.json`) for botocore to check.
#[test]
#[ignore = "run by check_with_botocore.py --sweep"]
fn sweep_every_operation() {
    let Some(dir) = std::env::var_os("FOGBANK_SWEEP_DIR").map(PathBuf::from) else {
        panic!("FOGBANK_SWEEP_DIR is not set; run check_with_botocore.py --sweep");
    };
    let requests = load(&dir.join("requests.json"));
    let parsed: Vec<Value> = requests
        .as_array()
        .expect("a list")
        .iter()
        .map(|fx| {
            let owned = OwnedRequest::from_fixture(&fx["request"]);
            let req = owned.as_request();
            match wire::route(&req, &wire::credential(&req)) {
                Err(e) => json!({"error": e.error.to_string()}),
                Ok(routed) => match wire::parse_input(&routed, &req) {
                    Ok(input) => json!({"route": format!("{routed:?}"), "input": input}),
                    Err(e) => json!({"route": format!("{routed:?}"), "error": e.to_string()}),
                },
            }
        })
        .collect();
    std::fs::write(dir.join("parsed.json"), serde_json::to_vec(&parsed).expect("json")).expect("write");

    let outputs = load(&dir.join("outputs.json"));
    let rendered: Vec<Value> = outputs
        .as_array()
        .expect("a list")
        .iter()
        .map(|fx| {
            let model = Registry::global().get(str_field(fx, "service")).expect("model");
            let operation = model.operation(str_field(fx, "operation")).expect("operation");
            let routed = Routed { model, operation, labels: vec![], form: None };
            let r = wire::render_output(&routed, &fx["output"], "sweep-req");
            json!({
                "status": r.status,
                "headers": r.headers,
                "body": base64::engine::general_purpose::STANDARD.encode(&r.body),
            })
        })
        .collect();
    std::fs::write(dir.join("rendered.json"), serde_json::to_vec(&rendered).expect("json")).expect("write");
}
