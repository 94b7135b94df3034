//! Requests in, responses and errors out, for each protocol, all by the model.

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::AwsError;
use crate::model::{Location, Protocol, ServiceModel, ShapeRef, ShapeType};
use crate::params::{self, Dialect, Node};
use crate::route::{HttpRequest, Routed};
use crate::{json, time, xml};

/// An HTTP response ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn input_ref(routed: &Routed) -> Option<ShapeRef> {
    routed.operation.input.as_ref().map(|r| ShapeRef { shape: r.shape.clone(), ..Default::default() })
}

fn bad_input(model: &ServiceModel, message: String) -> AwsError {
    AwsError::new(crate::validate::validation_code(model), message)
}

/// Decodes a request's input into the internal value (member names as in the model).
pub fn parse_input(routed: &Routed, req: &HttpRequest) -> Result<Value, AwsError> {
    let model = routed.model;
    if req.header("smithy-protocol") == Some("rpc-v2-cbor") || req.header("content-type") == Some("application/cbor") {
        return Err(AwsError::new(
            "NotImplemented",
            format!(
                "Fogbank does not decode smithy-rpc-v2-cbor requests yet ({}:{}); the json protocol works.",
                model.name, routed.operation.name
            ),
        )
        .with_status(501));
    }
    let Some(sref) = input_ref(routed) else { return Ok(Value::Object(Map::new())) };
    match model.protocol() {
        Protocol::Ec2 | Protocol::Query => {
            let dialect = if model.protocol() == Protocol::Ec2 { Dialect::Ec2 } else { Dialect::Query };
            let empty = Node::default();
            let form = routed.form.as_ref().unwrap_or(&empty);
            params::decode(model, dialect, &sref, form, "").map_err(|e| bad_input(model, e))
        }
        Protocol::Json => {
            if req.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Map::new()));
            }
            let body: Value = serde_json::from_slice(req.body)
                .map_err(|e| AwsError::new("SerializationException", format!("Malformed JSON: {e}")))?;
            json::from_wire(model, &sref, &body, "").map_err(|e| bad_input(model, e))
        }
        Protocol::RestJson | Protocol::RestXml => parse_rest(routed, req, &sref),
        Protocol::RpcV2Cbor => Err(AwsError::not_implemented(&model.name, &routed.operation.name)),
    }
}

fn parse_rest(routed: &Routed, req: &HttpRequest, sref: &ShapeRef) -> Result<Value, AwsError> {
    let model = routed.model;
    let shape = model.shape(&sref.shape).ok_or_else(|| AwsError::internal("input shape missing"))?;
    let xml_protocol = model.protocol() == Protocol::RestXml;
    let mut obj = Map::new();

    // The body: one payload member, or every member without a location.
    let has_body = !req.body.iter().all(u8::is_ascii_whitespace);
    if let Some(payload) = shape.payload.as_deref() {
        let member = shape.members.get(payload).ok_or_else(|| AwsError::internal("payload member missing"))?;
        let mshape = model.shape(&member.shape).ok_or_else(|| AwsError::internal("payload shape missing"))?;
        match mshape.kind {
            ShapeType::Blob => {
                obj.insert(
                    payload.to_string(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(req.body)),
                );
            }
            ShapeType::String => {
                obj.insert(payload.to_string(), Value::String(String::from_utf8_lossy(req.body).into_owned()));
            }
            _ if has_body => {
                let v = parse_body(model, member, req.body, xml_protocol)?;
                obj.insert(payload.to_string(), v);
            }
            _ => {}
        }
    } else if has_body {
        if let Value::Object(body) = parse_body(model, sref, req.body, xml_protocol)? {
            obj.extend(body);
        }
    }

    let query: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes()).into_owned().collect();
    // Keys that the operation's URI template fixes (`/restapis?mode=import`) are no member's.
    let template_query = routed.operation.http.request_uri.split_once('?').map_or("", |(_, q)| q);
    let template_keys: Vec<&str> =
        template_query.split('&').filter(|s| !s.is_empty()).map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k)).collect();
    for (name, member) in shape.members.iter() {
        let Some(location) = member.location else { continue };
        let Some(mshape) = model.shape(&member.shape) else { continue };
        let wire = member.location_name.as_deref().unwrap_or(name);
        let text_value = |text: &str| -> Result<Value, AwsError> {
            let v = if mshape.kind == ShapeType::Timestamp && location == Location::Header {
                time::parse_millis(text)
                    .map(|ms| Value::String(time::iso_from_millis(ms)))
                    .ok_or_else(|| bad_input(model, format!("invalid timestamp for {wire}")))?
            } else if mshape.kind == ShapeType::Blob {
                Value::String(text.to_string())
            } else {
                xml::scalar_from_text(mshape, text).map_err(|e| bad_input(model, format!("{e} for {wire}")))?
            };
            Ok(v)
        };
        match location {
            Location::Uri => {
                if let Some((_, v)) = routed.labels.iter().find(|(k, _)| k == wire) {
                    obj.insert(name.to_string(), text_value(v)?);
                }
            }
            Location::Querystring => match mshape.kind {
                ShapeType::List => {
                    let item = mshape.member.as_deref().and_then(|m| model.shape(&m.shape));
                    let values: Result<Vec<Value>, AwsError> = query
                        .iter()
                        .filter(|(k, _)| k == wire)
                        .map(|(_, v)| match item {
                            Some(s) => xml::scalar_from_text(s, v).map_err(|e| bad_input(model, e)),
                            None => Ok(Value::String(v.clone())),
                        })
                        .collect();
                    let values = values?;
                    if !values.is_empty() {
                        obj.insert(name.to_string(), Value::Array(values));
                    }
                }
                ShapeType::Map => {
                    let taken: Vec<&str> = shape
                        .members
                        .iter()
                        .filter(|(_, m)| m.location == Some(Location::Querystring))
                        .map(|(n, m)| m.location_name.as_deref().unwrap_or(n))
                        .collect();
                    let map: Map<String, Value> = query
                        .iter()
                        .filter(|(k, _)| !taken.contains(&k.as_str()) && !template_keys.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    if !map.is_empty() {
                        obj.insert(name.to_string(), Value::Object(map));
                    }
                }
                _ => {
                    if let Some((_, v)) = query.iter().find(|(k, _)| k == wire) {
                        obj.insert(name.to_string(), text_value(v)?);
                    }
                }
            },
            Location::Header => {
                if let Some(v) = req.header(wire) {
                    obj.insert(name.to_string(), text_value(v)?);
                }
            }
            Location::Headers => {
                let prefix = wire.to_ascii_lowercase();
                let map: Map<String, Value> = req
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        let k = k.as_str().strip_prefix(prefix.as_str())?;
                        Some((k.to_string(), Value::String(v.to_str().ok()?.to_string())))
                    })
                    .collect();
                if !map.is_empty() {
                    obj.insert(name.to_string(), Value::Object(map));
                }
            }
            Location::StatusCode => {}
        }
    }
    Ok(Value::Object(obj))
}

fn parse_body(model: &ServiceModel, sref: &ShapeRef, body: &[u8], xml_protocol: bool) -> Result<Value, AwsError> {
    if xml_protocol {
        let text = std::str::from_utf8(body).map_err(|_| bad_input(model, "body is not UTF-8".into()))?;
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| AwsError::new("MalformedXML", format!("The XML you provided was not well-formed: {e}")))?;
        xml::parse_element(model, sref, doc.root_element()).map_err(|e| bad_input(model, e))
    } else {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| AwsError::new("SerializationException", format!("Malformed JSON: {e}")))?;
        json::from_wire(model, sref, &v, "").map_err(|e| bad_input(model, e))
    }
}

fn xml_namespace(model: &ServiceModel) -> String {
    let ns = model.xml_namespace().unwrap_or_default().to_string();
    if model.protocol() == Protocol::Ec2 && !ns.is_empty() && !ns.ends_with('/') { format!("{ns}/") } else { ns }
}

/// ` xmlns="..."`, or nothing when the namespace is unknown.
fn xmlns_attr(ns: &str) -> String {
    if ns.is_empty() { String::new() } else { format!(" xmlns=\"{ns}\"") }
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Renders a handler's output value as the operation's response.
pub fn render_output(routed: &Routed, output: &Value, request_id: &str) -> Response {
    let model = routed.model;
    let op = routed.operation;
    let out_ref = op.output.as_ref();
    let out_shape = out_ref.and_then(|r| model.shape(&r.shape));
    match model.protocol() {
        Protocol::Ec2 => {
            let root = format!("{}Response", op.name);
            let mut body = String::with_capacity(1024);
            body.push_str(XML_DECL);
            body.push_str(&format!("<{root}{}>", xmlns_attr(&xml_namespace(model))));
            xml::leaf(&mut body, "requestId", request_id);
            if let Some(shape) = out_shape {
                xml::write_members(&mut body, model, shape, output);
            }
            xml::close(&mut body, &root);
            xml_response(200, body, request_id)
        }
        Protocol::Query => {
            let root = format!("{}Response", op.name);
            let mut body = String::with_capacity(1024);
            body.push_str(&format!("<{root}{}>", xmlns_attr(&xml_namespace(model))));
            if let (Some(shape), Some(r)) = (out_shape, out_ref) {
                let wrapper = r.result_wrapper.clone().unwrap_or_else(|| format!("{}Result", op.name));
                xml::open(&mut body, &wrapper);
                xml::write_members(&mut body, model, shape, output);
                xml::close(&mut body, &wrapper);
            }
            body.push_str("<ResponseMetadata>");
            xml::leaf(&mut body, "RequestId", request_id);
            body.push_str("</ResponseMetadata>");
            xml::close(&mut body, &root);
            xml_response(200, body, request_id)
        }
        Protocol::Json | Protocol::RpcV2Cbor => {
            let body = match out_ref {
                Some(r) => json::to_wire(model, &ShapeRef { shape: r.shape.clone(), ..Default::default() }, output),
                None => Value::Object(Map::new()),
            };
            let version = model.metadata.json_version.as_deref().unwrap_or("1.0");
            Response {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), format!("application/x-amz-json-{version}")),
                    ("x-amzn-RequestId".into(), request_id.into()),
                ],
                body: body.to_string().into_bytes(),
            }
        }
        Protocol::RestJson | Protocol::RestXml => render_rest(routed, output, request_id),
    }
}

fn xml_response(status: u16, body: String, request_id: &str) -> Response {
    Response {
        status,
        headers: vec![
            ("Content-Type".into(), "text/xml;charset=UTF-8".into()),
            ("x-amzn-RequestId".into(), request_id.into()),
        ],
        body: body.into_bytes(),
    }
}

fn render_rest(routed: &Routed, output: &Value, request_id: &str) -> Response {
    let model = routed.model;
    let op = routed.operation;
    let xml_protocol = model.protocol() == Protocol::RestXml;
    let mut status = op.http.response_code.unwrap_or(200);
    let mut headers: Vec<(String, String)> = vec![("x-amzn-RequestId".into(), request_id.into())];
    let mut body: Vec<u8> = Vec::new();
    let mut content_type = if xml_protocol { "text/xml" } else { "application/json" }.to_string();
    let Some(out_ref) = op.output.as_ref() else {
        headers.push(("Content-Type".into(), content_type));
        return Response { status, headers, body };
    };
    let Some(shape) = model.shape(&out_ref.shape) else {
        return Response { status, headers, body };
    };
    let obj = output.as_object();
    for (name, member) in shape.members.iter() {
        let (Some(location), Some(v)) = (member.location, obj.and_then(|o| o.get(name))) else { continue };
        let Some(mshape) = model.shape(&member.shape) else { continue };
        let wire = member.location_name.as_deref().unwrap_or(name);
        match location {
            Location::StatusCode => status = v.as_u64().map(|s| s as u16).unwrap_or(status),
            Location::Header => {
                let text = match (mshape.kind, v) {
                    (ShapeType::Timestamp, Value::String(s)) => {
                        time::parse_millis(s).map(time::rfc822_from_millis).unwrap_or_default()
                    }
                    (_, Value::String(s)) => s.clone(),
                    (_, other) => other.to_string(),
                };
                headers.push((wire.to_string(), text));
            }
            Location::Headers => {
                if let Value::Object(map) = v {
                    for (k, x) in map {
                        headers.push((format!("{wire}{k}"), x.as_str().unwrap_or_default().to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(payload) = shape.payload.as_deref() {
        let member = shape.members.get(payload);
        let mshape = member.and_then(|m| model.shape(&m.shape));
        let value = obj.and_then(|o| o.get(payload));
        match (member, mshape, value) {
            (Some(_), Some(s), Some(Value::String(b))) if s.kind == ShapeType::Blob => {
                body = base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default();
                content_type = "application/octet-stream".into();
            }
            (Some(_), Some(s), Some(Value::String(text))) if s.kind == ShapeType::String => {
                body = text.clone().into_bytes();
            }
            (Some(m), Some(_), Some(v)) => {
                body = if xml_protocol {
                    let root = m.location_name.clone().unwrap_or_else(|| m.shape.clone());
                    xml_document(model, m, &root, v)
                } else {
                    json::to_wire(model, m, v).to_string().into_bytes()
                };
            }
            _ => {}
        }
    } else if xml_protocol {
        let sref = ShapeRef { shape: out_ref.shape.clone(), ..Default::default() };
        if shape.members.iter().any(|(n, m)| m.location.is_none() && obj.is_some_and(|o| o.contains_key(n))) {
            body = xml_document(model, &sref, &out_ref.shape, output);
        }
    } else {
        let sref = ShapeRef { shape: out_ref.shape.clone(), ..Default::default() };
        body = json::to_wire(model, &sref, output).to_string().into_bytes();
    }
    // An output member bound to `Content-Type` (apigateway GetExport, cloudfront GetFunction)
    // says what the payload is; otherwise the protocol's default.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type".into(), content_type));
    }
    Response { status, headers, body }
}

fn xml_document(model: &ServiceModel, sref: &ShapeRef, root: &str, value: &Value) -> Vec<u8> {
    let mut out = String::from(XML_DECL);
    let mut inner = String::new();
    xml::write_value(&mut inner, model, sref, root, value);
    // Put the namespace on the root element.
    let ns = xml_namespace(model);
    let open = format!("<{root}>");
    if !ns.is_empty() && inner.starts_with(&open) {
        out.push_str(&format!("<{root} xmlns=\"{ns}\">"));
        out.push_str(&inner[open.len()..]);
    } else {
        out.push_str(&inner);
    }
    out.into_bytes()
}

/// The HTTP status of an error: its own, the model's error trait, or 400.
fn error_status(model: Option<&ServiceModel>, err: &AwsError) -> u16 {
    err.status
        .or_else(|| model.and_then(|m| m.error_shape(&err.code)).and_then(|s| s.error.as_ref()?.http_status_code))
        .unwrap_or(400)
}

/// Renders an error in the envelope of `protocol`.
pub fn render_error(model: Option<&ServiceModel>, protocol: Protocol, err: &AwsError, request_id: &str) -> Response {
    let status = error_status(model, err);
    let fault = if err.sender_fault && status < 500 { "Sender" } else { "Receiver" };
    match protocol {
        Protocol::Ec2 => {
            let mut body = String::from(XML_DECL);
            body.push_str("<Response><Errors><Error>");
            xml::leaf(&mut body, "Code", &err.code);
            xml::leaf(&mut body, "Message", &err.message);
            body.push_str("</Error></Errors>");
            xml::leaf(&mut body, "RequestID", request_id);
            body.push_str("</Response>");
            xml_response(status, body, request_id)
        }
        Protocol::Query | Protocol::RestXml => {
            let ns = model.map(xml_namespace).unwrap_or_default();
            let mut body = String::from(XML_DECL);
            body.push_str(&format!("<ErrorResponse{}><Error>", xmlns_attr(&ns)));
            xml::leaf(&mut body, "Type", fault);
            xml::leaf(&mut body, "Code", &err.code);
            xml::leaf(&mut body, "Message", &err.message);
            body.push_str("</Error>");
            xml::leaf(&mut body, "RequestId", request_id);
            body.push_str("</ErrorResponse>");
            xml_response(status, body, request_id)
        }
        Protocol::Json | Protocol::RestJson => {
            let version = model.and_then(|m| m.metadata.json_version.clone()).unwrap_or_else(|| "1.1".into());
            let content_type =
                if protocol == Protocol::Json { format!("application/x-amz-json-{version}") } else { "application/json".into() };
            let body = serde_json::json!({ "__type": err.code, "message": err.message });
            Response {
                status,
                headers: vec![
                    ("Content-Type".into(), content_type),
                    ("x-amzn-RequestId".into(), request_id.into()),
                    ("x-amzn-ErrorType".into(), err.code.clone()),
                ],
                body: body.to_string().into_bytes(),
            }
        }
        Protocol::RpcV2Cbor => {
            let mut body = Vec::new();
            crate::cbor::write_text_map(&mut body, &[("__type", &err.code), ("message", &err.message)]);
            Response {
                status,
                headers: vec![
                    ("Content-Type".into(), "application/cbor".into()),
                    ("smithy-protocol".into(), "rpc-v2-cbor".into()),
                    ("x-amzn-RequestId".into(), request_id.into()),
                ],
                body,
            }
        }
    }
}
