//! JSON bodies of the json and rest-json protocols, converted by the model: wire names from
//! `locationName`, timestamps as epoch seconds, blobs as base64.

use serde_json::{Map, Value};

use crate::model::{ServiceModel, ShapeRef, ShapeType};
use crate::time;

/// Renders an internal value of shape `sref` as the JSON the client expects.
pub fn to_wire(model: &ServiceModel, sref: &ShapeRef, value: &Value) -> Value {
    let Some(shape) = model.shape(&sref.shape) else { return Value::Null };
    match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(obj)) => {
            let mut out = Map::new();
            for (name, member) in shape.members.iter() {
                if member.location.is_some() {
                    continue;
                }
                if let Some(v) = obj.get(name) {
                    if v.is_null() {
                        continue;
                    }
                    let wire = member.location_name.as_deref().unwrap_or(name);
                    out.insert(wire.to_string(), to_wire(model, member, v));
                }
            }
            Value::Object(out)
        }
        (ShapeType::List, Value::Array(items)) => match shape.member.as_deref() {
            Some(m) => Value::Array(items.iter().map(|i| to_wire(model, m, i)).collect()),
            None => Value::Null,
        },
        (ShapeType::Map, Value::Object(entries)) => match shape.value.as_deref() {
            Some(v) => Value::Object(entries.iter().map(|(k, x)| (k.clone(), to_wire(model, v, x))).collect()),
            None => Value::Null,
        },
        (ShapeType::Timestamp, v) => {
            let ms = match v {
                Value::String(s) => time::parse_millis(s),
                Value::Number(n) => n.as_f64().map(|f| (f * 1000.0) as i64),
                _ => None,
            };
            match (ms, shape.timestamp_format.as_deref()) {
                (Some(ms), Some("iso8601")) => Value::String(time::iso_from_millis(ms)),
                (Some(ms), _) if ms % 1000 == 0 => Value::from(ms / 1000),
                (Some(ms), _) => serde_json::Number::from_f64(ms as f64 / 1000.0)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                (None, _) => Value::Null,
            }
        }
        (_, v) => v.clone(),
    }
}

/// Converts a client's JSON of shape `sref` into the internal value (member names, canonical
/// timestamps). Errors name the offending member path.
pub fn from_wire(model: &ServiceModel, sref: &ShapeRef, value: &Value, path: &str) -> Result<Value, String> {
    let shape = model.shape(&sref.shape).ok_or("unknown shape")?;
    let mismatch = || format!("Unexpected value type at '{path}'");
    match shape.kind {
        ShapeType::Structure if shape.document => Ok(value.clone()),
        ShapeType::Structure => {
            let Value::Object(obj) = value else {
                return if value.is_null() { Ok(Value::Null) } else { Err(mismatch()) };
            };
            let mut out = Map::new();
            for (name, member) in shape.members.iter() {
                if member.location.is_some() {
                    continue;
                }
                let wire = member.location_name.as_deref().unwrap_or(name);
                if let Some(v) = obj.get(wire) {
                    if v.is_null() {
                        continue;
                    }
                    let p = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                    out.insert(name.to_string(), from_wire(model, member, v, &p)?);
                }
            }
            Ok(Value::Object(out))
        }
        ShapeType::List => {
            let Value::Array(items) = value else { return Err(mismatch()) };
            let m = shape.member.as_deref().ok_or("list without member")?;
            items
                .iter()
                .enumerate()
                .map(|(i, x)| from_wire(model, m, x, &format!("{path}.{}", i + 1)))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        ShapeType::Map => {
            let Value::Object(entries) = value else { return Err(mismatch()) };
            let v = shape.value.as_deref().ok_or("map without value")?;
            let mut out = Map::new();
            for (k, x) in entries {
                out.insert(k.clone(), from_wire(model, v, x, &format!("{path}.{k}"))?);
            }
            Ok(Value::Object(out))
        }
        ShapeType::Timestamp => {
            let ms = match value {
                Value::Number(n) => n.as_f64().map(|f| (f * 1000.0).round() as i64),
                Value::String(s) => time::parse_millis(s),
                _ => None,
            };
            ms.map(|m| Value::String(time::iso_from_millis(m))).ok_or_else(mismatch)
        }
        ShapeType::Boolean if !value.is_boolean() => Err(mismatch()),
        ShapeType::Integer | ShapeType::Long if !(value.is_i64() || value.is_u64()) => Err(mismatch()),
        ShapeType::Double | ShapeType::Float if !value.is_number() => Err(mismatch()),
        ShapeType::String | ShapeType::Blob if !value.is_string() => Err(mismatch()),
        _ => Ok(value.clone()),
    }
}
