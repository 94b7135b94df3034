//! The AWS wire protocols, driven by botocore's service models.
//!
//! A request arrives as an [`HttpRequest`]; [`route`] finds its service and operation,
//! [`parse_input`] decodes it into a `serde_json::Value` keyed by the model's member names,
//! [`validate`] checks it against the model, and a handler's output value goes back out through
//! [`render_output`] (or an [`AwsError`] through [`render_error`]). The same five codecs serve
//! every service: ec2, query, json, rest-json and rest-xml (plus rpc-v2-cbor errors).
//!
//! This crate does no I/O: no sockets, no store, no clock beyond formatting timestamps.
//! Start reading at `route.rs`, then `protocol.rs`.

mod cbor;
mod error;
mod json;
/// The service models and their registry.
pub mod model;
/// Form parameters of the ec2 and query protocols.
pub mod params;
mod protocol;
mod route;
/// Timestamp parsing and formatting.
pub mod time;
mod validate;
/// XML writing and the model-driven XML codec.
pub mod xml;

pub use error::AwsError;
pub use model::{Protocol, Registry, ServiceModel};
pub use protocol::{parse_input, render_error, render_output, Response};
pub use route::{credential, route, Credential, HttpRequest, RouteError, Routed};
pub use validate::validate;
