//! Form parameters of the ec2 and query protocols (`Filter.1.Name=vpc-id&Filter.1.Value.1=...`)
//! as a tree, and their decoding into a value by the model.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{ServiceModel, ShapeRef, ShapeType};
use crate::xml::scalar_from_text;

/// One node of the dotted-name tree.
#[derive(Debug, Default)]
pub struct Node {
    pub value: Option<String>,
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// Builds the tree from `application/x-www-form-urlencoded` bytes.
    pub fn from_form(body: &[u8]) -> Node {
        let mut root = Node::default();
        for (key, value) in form_urlencoded::parse(body) {
            let mut node = &mut root;
            for part in key.split('.') {
                node = node.children.entry(part.to_string()).or_default();
            }
            node.value = Some(value.into_owned());
        }
        root
    }

    pub fn get(&self, name: &str) -> Option<&Node> {
        self.children.get(name)
    }

    /// The value of a top-level parameter (`Action`, `Version`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.children.get(name).and_then(|n| n.value.as_deref())
    }

    /// Children whose names are positive integers, in numeric order.
    fn indexed(&self) -> Vec<&Node> {
        let mut items: Vec<(u64, &Node)> = self
            .children
            .iter()
            .filter_map(|(k, v)| k.parse::<u64>().ok().filter(|i| *i > 0).map(|i| (i, v)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, n)| n).collect()
    }
}

/// Which naming rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Ec2,
    Query,
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The parameter name of a structure member under each dialect.
pub fn member_wire_name(dialect: Dialect, name: &str, member: &ShapeRef) -> String {
    match dialect {
        Dialect::Ec2 => member
            .query_name
            .clone()
            .or_else(|| member.location_name.as_deref().map(capitalize))
            .unwrap_or_else(|| name.to_string()),
        Dialect::Query => member.location_name.clone().unwrap_or_else(|| name.to_string()),
    }
}

/// Decodes the node for shape `sref`. Errors name the parameter that is wrong.
pub fn decode(
    model: &ServiceModel,
    dialect: Dialect,
    sref: &ShapeRef,
    node: &Node,
    path: &str,
) -> Result<Value, String> {
    let shape = model.shape(&sref.shape).ok_or_else(|| format!("unknown shape {}", sref.shape))?;
    match shape.kind {
        ShapeType::Structure => {
            let mut obj = Map::new();
            for (name, member) in shape.members.iter() {
                let wire = member_wire_name(dialect, name, member);
                if let Some(child) = node.get(&wire) {
                    let child_path = if path.is_empty() { wire.clone() } else { format!("{path}.{wire}") };
                    obj.insert(name.to_string(), decode(model, dialect, member, child, &child_path)?);
                }
            }
            Ok(Value::Object(obj))
        }
        ShapeType::List => {
            let member = shape.member.as_deref().ok_or("list without member")?;
            let container = match dialect {
                Dialect::Ec2 => Some(node),
                Dialect::Query if shape.flattened || sref.flattened => Some(node),
                Dialect::Query => node.get(member.location_name.as_deref().unwrap_or("member")),
            };
            let mut items = Vec::new();
            if let Some(container) = container {
                for (i, item) in container.indexed().into_iter().enumerate() {
                    items.push(decode(model, dialect, member, item, &format!("{path}.{}", i + 1))?);
                }
            }
            Ok(Value::Array(items))
        }
        ShapeType::Map => {
            let (Some(k), Some(v)) = (shape.key.as_deref(), shape.value.as_deref()) else {
                return Err("map without key/value".into());
            };
            let key_name = k.location_name.as_deref().unwrap_or("key");
            let value_name = v.location_name.as_deref().unwrap_or("value");
            let container =
                if shape.flattened || dialect == Dialect::Ec2 { Some(node) } else { node.get("entry") };
            let mut obj = Map::new();
            if let Some(container) = container {
                for entry in container.indexed() {
                    let key = entry.get(key_name).and_then(|n| n.value.clone()).unwrap_or_default();
                    if let Some(val) = entry.get(value_name) {
                        obj.insert(key, decode(model, dialect, v, val, path)?);
                    }
                }
            }
            Ok(Value::Object(obj))
        }
        _ => {
            let text = node.value.as_deref().unwrap_or("");
            scalar_from_text(shape, text).map_err(|e| format!("{e} for parameter {path}"))
        }
    }
}
