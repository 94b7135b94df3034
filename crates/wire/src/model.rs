//! The botocore service model (`service-2.json`) as typed Rust, and the registry of embedded
//! models. Only what the codecs need is kept; documentation is stripped at build time.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/models.rs"));

/// A model's routing facts, extracted at build time so that routing a request parses only
/// the model it is for.
#[derive(Debug)]
pub struct ServiceMeta {
    pub name: &'static str,
    pub signing_name: &'static str,
    /// `X-Amz-Target` prefix (json) or rpc-v2 service name; empty when none.
    pub target_prefix: &'static str,
    /// `ec2`, `query`, `json`, `rest-json`, `rest-xml` or `smithy-rpc-v2-cbor`.
    pub protocol: &'static str,
    pub api_version: &'static str,
}

/// The wire protocol a service speaks, from the model's `metadata.protocols` (first entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[serde(rename = "ec2")]
    Ec2,
    #[serde(rename = "query")]
    Query,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "rest-json")]
    RestJson,
    #[serde(rename = "rest-xml")]
    RestXml,
    #[serde(rename = "smithy-rpc-v2-cbor")]
    RpcV2Cbor,
}

/// A whole service model.
#[derive(Debug, Deserialize)]
pub struct ServiceModel {
    pub metadata: Metadata,
    pub operations: HashMap<String, Operation>,
    /// Shapes, each parsed from its raw JSON on first use: EC2 alone has thousands, and a
    /// request touches a few dozen.
    pub shapes: LazyShapes,
    /// The botocore name of the service (`ec2`, `elbv2`, ...), set after loading.
    #[serde(skip)]
    pub name: String,
    /// Operations by their `Action` name in lowercase is not needed: actions are exact.
    #[serde(skip)]
    rest_routes: OnceLock<Vec<crate::route::RestRoute>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub endpoint_prefix: String,
    pub protocol: Protocol,
    #[serde(default)]
    pub protocols: Vec<Protocol>,
    #[serde(default)]
    pub signing_name: Option<String>,
    #[serde(default)]
    pub target_prefix: Option<String>,
    #[serde(default)]
    pub json_version: Option<String>,
    #[serde(default)]
    pub xml_namespace: Option<String>,
    pub service_id: String,
    #[serde(default)]
    pub aws_query_compatible: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    pub http: Http,
    #[serde(default)]
    pub input: Option<ShapeRef>,
    #[serde(default)]
    pub output: Option<ShapeRef>,
    #[serde(default)]
    pub errors: Vec<ShapeRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    pub method: String,
    pub request_uri: String,
    #[serde(default)]
    pub response_code: Option<u16>,
}

/// A reference to a shape, with the serialization traits that can sit on the reference.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShapeRef {
    pub shape: String,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub query_name: Option<String>,
    #[serde(default)]
    pub result_wrapper: Option<String>,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
    #[serde(default)]
    pub idempotency_token: bool,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub xml_attribute: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Location {
    Uri,
    Querystring,
    Header,
    Headers,
    StatusCode,
}

#[derive(Debug, Deserialize)]
pub struct XmlNamespace {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Boolean,
    Timestamp,
    Blob,
    Double,
    Float,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    #[serde(default)]
    pub members: indexmap_like::Members,
    #[serde(default)]
    pub member: Option<Box<ShapeRef>>,
    #[serde(default)]
    pub key: Option<Box<ShapeRef>>,
    #[serde(default)]
    pub value: Option<Box<ShapeRef>>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorTrait>,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub fault: bool,
    #[serde(default)]
    pub streaming: bool,
    #[serde(default)]
    pub document: bool,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorTrait {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub http_status_code: Option<u16>,
    #[serde(default)]
    pub sender_fault: bool,
}

/// Structure members in model order (the order AWS renders them in).
pub mod indexmap_like {
    use serde::de::{MapAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    use super::ShapeRef;

    #[derive(Debug, Default)]
    pub struct Members(pub Vec<(String, ShapeRef)>);

    impl Members {
        pub fn iter(&self) -> impl Iterator<Item = (&str, &ShapeRef)> {
            self.0.iter().map(|(k, v)| (k.as_str(), v))
        }
        pub fn get(&self, name: &str) -> Option<&ShapeRef> {
            self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
        }
    }

    impl<'de> Deserialize<'de> for Members {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Members;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a map of members")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, ShapeRef>()? {
                        out.push((k, v));
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

impl ServiceModel {
    /// The protocol a current client uses, chosen as botocore chooses among `protocols`: json,
    /// rest-json, rest-xml, then query and ec2 (so cloudwatch, whose models list
    /// smithy-rpc-v2-cbor first, is json, as the aws CLI and boto3 send it). Fogbank does not
    /// decode rpc-v2-cbor input; a model that offers nothing else keeps it.
    pub fn protocol(&self) -> Protocol {
        const PREFERENCE: [Protocol; 5] =
            [Protocol::Json, Protocol::RestJson, Protocol::RestXml, Protocol::Query, Protocol::Ec2];
        let offered = &self.metadata.protocols;
        PREFERENCE
            .into_iter()
            .find(|p| offered.contains(p))
            .or_else(|| offered.first().copied())
            .unwrap_or(self.metadata.protocol)
    }

    /// The SigV4 signing name (`ec2`, `elasticloadbalancing`, `monitoring`, ...).
    pub fn signing_name(&self) -> &str {
        self.metadata.signing_name.as_deref().unwrap_or(&self.metadata.endpoint_prefix)
    }

    /// The XML namespace of the service's documents: `metadata.xmlNamespace`, or for rest-xml
    /// models without one (route53, cloudfront) the namespace their request documents declare.
    pub fn xml_namespace(&self) -> Option<&str> {
        self.metadata.xml_namespace.as_deref().or_else(|| {
            self.operations.values().find_map(|op| op.input.as_ref()?.xml_namespace.as_ref()?.uri.as_deref())
        })
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// Every shape name.
    pub fn shape_names(&self) -> impl Iterator<Item = &str> {
        self.shapes.0.keys().map(String::as_str)
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    pub(crate) fn rest_routes(&self) -> &[crate::route::RestRoute] {
        self.rest_routes.get_or_init(|| crate::route::RestRoute::build_all(self))
    }

    /// The error shape named `code` among the model's shapes, if the model declares it.
    pub fn error_shape(&self, code: &str) -> Option<&Shape> {
        if let Some(s) = self.shapes.get(code) {
            if s.exception || s.error.is_some() {
                return Some(s);
            }
        }
        // A custom code (`"code":"AlreadyExists"` on shape `AlreadyExistsFault`): look at the
        // raw text first so that only candidates are parsed.
        let needle = format!("\"code\":{}", serde_json::Value::String(code.to_string()));
        self.shapes
            .0
            .iter()
            .filter(|(_, (raw, _))| raw.get().contains(&needle))
            .filter_map(|(name, _)| self.shapes.get(name))
            .find(|s| s.error.as_ref().and_then(|e| e.code.as_deref()) == Some(code))
    }
}

/// The shapes of a model, kept as raw JSON until first asked for.
#[derive(Debug)]
pub struct LazyShapes(HashMap<String, (Box<serde_json::value::RawValue>, OnceLock<Shape>)>);

impl LazyShapes {
    pub fn get(&self, name: &str) -> Option<&Shape> {
        let (raw, cell) = self.0.get(name)?;
        Some(cell.get_or_init(|| serde_json::from_str(raw.get()).expect("embedded shape is valid (checked by tests)")))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for LazyShapes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: HashMap<String, Box<serde_json::value::RawValue>> = HashMap::deserialize(d)?;
        Ok(LazyShapes(raw.into_iter().map(|(k, v)| (k, (v, OnceLock::new()))).collect()))
    }
}

/// The registry of embedded models, each parsed once on first use.
pub struct Registry {
    cells: Vec<(&'static str, &'static [u8], OnceLock<ServiceModel>)>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

impl Registry {
    /// The process-wide registry.
    pub fn global() -> &'static Registry {
        REGISTRY.get_or_init(|| Registry {
            cells: MODELS.iter().map(|(n, b)| (*n, *b, OnceLock::new())).collect(),
        })
    }

    /// Names of all embedded services.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.cells.iter().map(|(n, _, _)| *n)
    }

    /// The model of one service, parsed on first use.
    pub fn get(&self, name: &str) -> Option<&ServiceModel> {
        let (n, bytes, cell) = self.cells.iter().find(|(n, _, _)| *n == name)?;
        Some(cell.get_or_init(|| {
            let mut m: ServiceModel =
                serde_json::from_slice(bytes).expect("embedded model is valid (checked at build)");
            m.name = (*n).to_string();
            // An operation is known by its key in `operations` (what botocore sends as `Action`
            // or in `X-Amz-Target`, and what handlers match on); CloudFront's `name` fields
            // carry an API version suffix (`CreateDistribution2020_05_31`).
            for (key, op) in m.operations.iter_mut() {
                if op.name != *key {
                    op.name = key.clone();
                }
            }
            m
        }))
    }

    /// Routing facts of every model (no parsing).
    pub fn metas(&self) -> &'static [ServiceMeta] {
        METAS
    }

    /// Every model, parsing those not parsed yet.
    pub fn all(&self) -> impl Iterator<Item = &ServiceModel> + '_ {
        self.names().filter_map(|n| self.get(n))
    }

    /// Parse every model now (call from a background thread at start).
    pub fn warm(&self) {
        for _ in self.all() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendored_model_loads() {
        let reg = Registry::global();
        let names: Vec<_> = reg.names().collect();
        for expected in ["ec2", "sts", "autoscaling", "elbv2", "route53", "lambda", "ecs"] {
            assert!(names.contains(&expected), "{expected} missing");
        }
        for m in reg.all() {
            assert!(!m.operations.is_empty(), "{} has no operations", m.name);
            // Every shape parses (they are parsed lazily at run time).
            let names: Vec<String> = m.shape_names().map(str::to_string).collect();
            for name in names {
                assert!(m.shape(&name).is_some(), "{}: shape {name}", m.name);
            }
        }
        let ec2 = reg.get("ec2").unwrap();
        assert_eq!(ec2.protocol(), Protocol::Ec2);
        assert!(ec2.operation("DescribeVpcs").is_some());
    }
}
