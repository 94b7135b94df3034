//! XML: a minimal writer and the model-driven serializer and parser shared by the ec2, query
//! and rest-xml protocols (their element naming rules are the same: `locationName` or the
//! member name; lists wrapped unless flattened, items named by the list member's
//! `locationName` or `member`; maps as `entry`/`key`/`value`).

use base64::Engine;
use serde_json::{Map, Value};

use crate::model::{ServiceModel, Shape, ShapeRef, ShapeType};
use crate::time;

/// Escapes text and attribute values.
pub fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

pub fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

pub fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `<name>text</name>` with the text escaped.
pub fn leaf(out: &mut String, name: &str, text: &str) {
    open(out, name);
    escape(out, text);
    close(out, name);
}

/// Renders a scalar as the text XML protocols use.
pub fn scalar_text(shape: &Shape, value: &Value) -> Option<String> {
    Some(match (shape.kind, value) {
        (_, Value::Null) => return None,
        (ShapeType::Boolean, Value::Bool(b)) => b.to_string(),
        (ShapeType::Timestamp, v) => {
            let ms = match v {
                Value::String(s) => time::parse_millis(s)?,
                Value::Number(n) => (n.as_f64()? * 1000.0) as i64,
                _ => return None,
            };
            match shape.timestamp_format.as_deref() {
                Some("unixTimestamp") => format!("{}", ms as f64 / 1000.0),
                Some("rfc822") => time::rfc822_from_millis(ms),
                _ => time::iso_from_millis(ms),
            }
        }
        (_, Value::String(s)) => s.clone(),
        (_, Value::Number(n)) => n.to_string(),
        (_, Value::Bool(b)) => b.to_string(),
        _ => return None,
    })
}

/// Serializes the members of a structure value as child elements.
pub fn write_members(out: &mut String, model: &ServiceModel, shape: &Shape, value: &Value) {
    let Value::Object(obj) = value else { return };
    for (name, member) in shape.members.iter() {
        if member.location.is_some() {
            continue; // headers, status code and URI parts are not in the body
        }
        let Some(v) = obj.get(name) else { continue };
        let element = member.location_name.as_deref().unwrap_or(name);
        write_value(out, model, member, element, v);
    }
}

/// Serializes one value as element `name` (or as repeated elements for a flattened list).
pub fn write_value(out: &mut String, model: &ServiceModel, sref: &ShapeRef, name: &str, value: &Value) {
    let Some(shape) = model.shape(&sref.shape) else { return };
    match shape.kind {
        ShapeType::Structure => {
            if value.is_null() {
                return;
            }
            open(out, name);
            write_members(out, model, shape, value);
            close(out, name);
        }
        ShapeType::List => {
            let Value::Array(items) = value else { return };
            let Some(member) = shape.member.as_deref() else { return };
            if shape.flattened || sref.flattened {
                let item_name = member.location_name.as_deref().unwrap_or(name);
                for item in items {
                    write_value(out, model, member, item_name, item);
                }
            } else {
                let item_name = member.location_name.as_deref().unwrap_or("member");
                open(out, name);
                for item in items {
                    write_value(out, model, member, item_name, item);
                }
                close(out, name);
            }
        }
        ShapeType::Map => {
            let Value::Object(entries) = value else { return };
            let (Some(k), Some(v)) = (shape.key.as_deref(), shape.value.as_deref()) else { return };
            let key_name = k.location_name.as_deref().unwrap_or("key");
            let value_name = v.location_name.as_deref().unwrap_or("value");
            let flat = shape.flattened || sref.flattened;
            if !flat {
                open(out, name);
            }
            for (key, val) in entries {
                open(out, if flat { name } else { "entry" });
                leaf(out, key_name, key);
                write_value(out, model, v, value_name, val);
                close(out, if flat { name } else { "entry" });
            }
            if !flat {
                close(out, name);
            }
        }
        _ => {
            if let Some(text) = scalar_text(shape, value) {
                leaf(out, name, &text);
            }
        }
    }
}

/// Converts text to a JSON value of the scalar shape's type.
pub fn scalar_from_text(shape: &Shape, text: &str) -> Result<Value, String> {
    Ok(match shape.kind {
        ShapeType::Boolean => match text.trim() {
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => return Err(format!("invalid boolean '{text}'")),
        },
        ShapeType::Integer | ShapeType::Long => Value::from(
            text.trim().parse::<i64>().map_err(|_| format!("invalid integer '{text}'"))?,
        ),
        ShapeType::Double | ShapeType::Float => {
            let f = text.trim().parse::<f64>().map_err(|_| format!("invalid number '{text}'"))?;
            serde_json::Number::from_f64(f).map(Value::Number).ok_or("invalid number")?
        }
        ShapeType::Timestamp => Value::String(time::iso_from_millis(
            time::parse_millis(text).ok_or_else(|| format!("invalid timestamp '{text}'"))?,
        )),
        ShapeType::Blob => {
            // Query-style blobs arrive base64-encoded; keep them so, after checking.
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| format!("invalid base64 '{text}'"))?;
            Value::String(text.trim().to_string())
        }
        _ => Value::String(text.to_string()),
    })
}

/// Parses an XML element into a value of shape `sref` (rest-xml request bodies).
pub fn parse_element(
    model: &ServiceModel,
    sref: &ShapeRef,
    node: roxmltree::Node,
) -> Result<Value, String> {
    let shape = model.shape(&sref.shape).ok_or("unknown shape")?;
    match shape.kind {
        ShapeType::Structure => {
            let mut obj = Map::new();
            for (name, member) in shape.members.iter() {
                if member.location.is_some() {
                    continue;
                }
                let element = member.location_name.as_deref().unwrap_or(name);
                let mshape = model.shape(&member.shape).ok_or("unknown shape")?;
                let flat_list = mshape.kind == ShapeType::List && (mshape.flattened || member.flattened);
                if flat_list {
                    let item_ref = mshape.member.as_deref().ok_or("list without member")?;
                    let items: Result<Vec<_>, _> = node
                        .children()
                        .filter(|c| c.is_element() && c.tag_name().name() == element)
                        .map(|c| parse_element(model, item_ref, c))
                        .collect();
                    let items = items?;
                    if !items.is_empty() {
                        obj.insert(name.to_string(), Value::Array(items));
                    }
                } else if let Some(child) =
                    node.children().find(|c| c.is_element() && c.tag_name().name() == element)
                {
                    obj.insert(name.to_string(), parse_element(model, member, child)?);
                }
            }
            Ok(Value::Object(obj))
        }
        ShapeType::List => {
            let item_ref = shape.member.as_deref().ok_or("list without member")?;
            let item_name = item_ref.location_name.as_deref().unwrap_or("member");
            node.children()
                .filter(|c| c.is_element() && c.tag_name().name() == item_name)
                .map(|c| parse_element(model, item_ref, c))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        ShapeType::Map => {
            let (Some(k), Some(v)) = (shape.key.as_deref(), shape.value.as_deref()) else {
                return Err("map without key/value".into());
            };
            let key_name = k.location_name.as_deref().unwrap_or("key");
            let value_name = v.location_name.as_deref().unwrap_or("value");
            let mut obj = Map::new();
            for entry in node.children().filter(|c| c.is_element()) {
                let key = entry
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == key_name)
                    .and_then(|c| c.text())
                    .unwrap_or_default();
                if let Some(val) =
                    entry.children().find(|c| c.is_element() && c.tag_name().name() == value_name)
                {
                    obj.insert(key.to_string(), parse_element(model, v, val)?);
                }
            }
            Ok(Value::Object(obj))
        }
        _ => scalar_from_text(shape, node.text().unwrap_or_default()),
    }
}
