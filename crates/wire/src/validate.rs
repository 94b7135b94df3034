//! Input validation from the model's traits (required, enum, min/max), answered with the error
//! each protocol's services give: EC2's `MissingParameter`/`InvalidParameterValue`, the query
//! services' `ValidationError`, the JSON services' `ValidationException`.

use serde_json::Value;

use crate::error::AwsError;
use crate::model::{Protocol, ServiceModel, Shape, ShapeRef, ShapeType};
use crate::params::{member_wire_name, Dialect};

struct Problem {
    /// Path in client terms (`MaxCount`, `filter.1.name`).
    path: String,
    /// The value shown in the message (`null` when missing).
    shown: String,
    constraint: String,
    missing: bool,
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn join(base: &str, part: &str) -> String {
    if base.is_empty() { part.to_string() } else { format!("{base}.{part}") }
}

fn check(
    model: &ServiceModel,
    protocol: Protocol,
    shape: &Shape,
    value: &Value,
    path: &str,
    out: &mut Vec<Problem>,
) {
    if out.len() >= 10 {
        return;
    }
    match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(obj)) => {
            for (name, member) in shape.members.iter() {
                let display = if protocol == Protocol::Ec2 {
                    member_wire_name(Dialect::Ec2, name, member)
                } else {
                    lower_first(name)
                };
                let p = join(path, &display);
                match obj.get(name) {
                    None | Some(Value::Null) => {
                        if shape.required.iter().any(|r| r == name) {
                            out.push(Problem {
                                path: p,
                                shown: "null".into(),
                                constraint: "Member must not be null".into(),
                                missing: true,
                            });
                        }
                    }
                    Some(v) => {
                        if let Some(ms) = model.shape(&member.shape) {
                            check(model, protocol, ms, v, &p, out);
                        }
                    }
                }
            }
        }
        (ShapeType::List, Value::Array(items)) => {
            length(shape, items.len(), path, &Value::Array(items.clone()).to_string(), out);
            if let Some(ms) = shape.member.as_deref().and_then(|m: &ShapeRef| model.shape(&m.shape)) {
                for (i, item) in items.iter().enumerate() {
                    check(model, protocol, ms, item, &join(path, &(i + 1).to_string()), out);
                }
            }
        }
        (ShapeType::String, Value::String(s)) => {
            if !shape.enum_values.is_empty() && !shape.enum_values.iter().any(|e| e == s) {
                out.push(Problem {
                    path: path.to_string(),
                    shown: s.clone(),
                    constraint: format!(
                        "Member must satisfy enum value set: [{}]",
                        shape.enum_values.join(", ")
                    ),
                    missing: false,
                });
            } else {
                length(shape, s.chars().count(), path, s, out);
            }
        }
        (ShapeType::Integer | ShapeType::Long | ShapeType::Double | ShapeType::Float, Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(min) = shape.min.filter(|m| f < *m) {
                out.push(Problem {
                    path: path.to_string(),
                    shown: n.to_string(),
                    constraint: format!("Member must have value greater than or equal to {min}"),
                    missing: false,
                });
            } else if let Some(max) = shape.max.filter(|m| f > *m) {
                out.push(Problem {
                    path: path.to_string(),
                    shown: n.to_string(),
                    constraint: format!("Member must have value less than or equal to {max}"),
                    missing: false,
                });
            }
        }
        _ => {}
    }
}

fn length(shape: &Shape, len: usize, path: &str, shown: &str, out: &mut Vec<Problem>) {
    let len = len as f64;
    let problem = if let Some(min) = shape.min.filter(|m| len < *m) {
        format!("Member must have length greater than or equal to {min}")
    } else if let Some(max) = shape.max.filter(|m| len > *m) {
        format!("Member must have length less than or equal to {max}")
    } else {
        return;
    };
    out.push(Problem { path: path.to_string(), shown: shown.to_string(), constraint: problem, missing: false });
}

/// The error code a service uses for invalid input, by protocol and service.
pub fn validation_code(model: &ServiceModel) -> &'static str {
    match (model.protocol(), model.name.as_str()) {
        (_, "route53") => "InvalidInput",
        (_, "cloudfront") => "InvalidArgument",
        (Protocol::Ec2, _) => "InvalidParameterValue",
        (Protocol::Query, _) => "ValidationError",
        _ => "ValidationException",
    }
}

/// Checks `input` against the operation's input shape.
pub fn validate(model: &ServiceModel, input_shape: &str, input: &Value) -> Result<(), AwsError> {
    let Some(shape) = model.shape(input_shape) else { return Ok(()) };
    let protocol = model.protocol();
    let mut problems = Vec::new();
    check(model, protocol, shape, input, "", &mut problems);
    let Some(first) = problems.first() else { return Ok(()) };
    if protocol == Protocol::Ec2 {
        return Err(if first.missing {
            AwsError::new("MissingParameter", format!("The request must contain the parameter {}", first.path))
        } else {
            AwsError::new(
                "InvalidParameterValue",
                format!("Value ({}) for parameter {} is invalid. {}", first.shown, first.path, first.constraint),
            )
        });
    }
    let n = problems.len();
    let details: Vec<String> = problems
        .iter()
        .map(|p| {
            let shown = if p.missing { "null".to_string() } else { format!("'{}'", p.shown) };
            format!("Value {shown} at '{}' failed to satisfy constraint: {}", p.path, p.constraint)
        })
        .collect();
    Err(AwsError::new(
        validation_code(model),
        format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            details.join("; ")
        ),
    ))
}
