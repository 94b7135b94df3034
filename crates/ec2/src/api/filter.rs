//! The Describe* machinery every resource shares: explicit ids, `Filter.N` with wildcards and
//! tag filters, and `MaxResults`/`NextToken` pagination.

use base64::Engine;
use fogbank_wire::AwsError;
use serde_json::Value;

use super::{Env, InputExt};

/// How one resource kind is described.
pub struct DescribeSpec {
    pub kind: &'static str,
    /// The input member listing ids (`VpcIds`), if the operation has one.
    pub ids_member: Option<&'static str>,
    /// Error code and noun for unknown ids (`InvalidVpcID.NotFound`, `vpc`).
    pub not_found: (&'static str, &'static str),
    /// Filter names and the document paths they look at (`cidr-block-association.cidr-block` ->
    /// `CidrBlockAssociationSet[].CidrBlock`). Tag filters are always understood.
    pub filters: &'static [(&'static str, &'static str)],
    /// `(min, max)` of `MaxResults`, when the operation pages.
    pub page_limits: Option<(i64, i64)>,
    /// The filter that matches the store id (`vpc-id`): without wildcards it is answered by
    /// looking the ids up instead of scanning every document.
    pub id_filter: Option<&'static str>,
}

/// EC2's filter wildcards: `*` any run of characters, `?` one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A parsed `Filter.N`.
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// Reads the `Filters` member, rejecting names the spec does not know.
pub fn parse_filters(input: &Value, known: &[(&str, &str)]) -> Result<Vec<Filter>, AwsError> {
    let mut out = Vec::new();
    for f in input.list("Filters") {
        let name = f.str("Name").unwrap_or_default().to_string();
        let is_tag = name.starts_with("tag:") || name == "tag-key" || name == "tag-value";
        if !is_tag && !known.iter().any(|(n, _)| *n == name) {
            return Err(AwsError::new("InvalidParameterValue", format!("The filter '{name}' is invalid")));
        }
        out.push(Filter { name, values: f.strings("Values") });
    }
    Ok(out)
}

/// Whether any value at `path` satisfies `pred`, without copying values.
fn any_at(doc: &Value, path: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
    fn walk(v: &Value, parts: &mut std::str::Split<'_, char>, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        fn leaf(v: &Value, pred: &mut dyn FnMut(&str) -> bool) -> bool {
            match v {
                Value::String(s) => pred(s),
                Value::Bool(b) => pred(if *b { "true" } else { "false" }),
                Value::Number(n) => pred(&n.to_string()),
                Value::Array(items) => items.iter().any(|i| leaf(i, pred)),
                _ => false,
            }
        }
        let Some(first) = parts.next() else { return leaf(v, pred) };
        if let Some(name) = first.strip_suffix("[]") {
            match v.get(name) {
                Some(Value::Array(items)) => items.iter().any(|item| walk(item, &mut parts.clone(), pred)),
                _ => false,
            }
        } else {
            match v.get(first) {
                Some(next) => walk(next, parts, pred),
                None => false,
            }
        }
    }
    walk(doc, &mut path.split('.'), pred)
}

/// Whether a document passes every filter (values within one filter are ORed).
pub fn matches(doc: &Value, filters: &[Filter], known: &[(&str, &str)]) -> bool {
    filters.iter().all(|f| {
        let mut wanted = |have: &str| f.values.iter().any(|want| wildcard_match(want, have));
        let tags = doc.list("Tags");
        if let Some(key) = f.name.strip_prefix("tag:") {
            tags.iter().filter(|t| t.str("Key") == Some(key)).filter_map(|t| t.str("Value")).any(&mut wanted)
        } else if f.name == "tag-key" {
            tags.iter().filter_map(|t| t.str("Key")).any(&mut wanted)
        } else if f.name == "tag-value" {
            tags.iter().filter_map(|t| t.str("Value")).any(&mut wanted)
        } else if let Some((_, path)) = known.iter().find(|(n, _)| *n == f.name) {
            path.split('|').any(|p| any_at(doc, p, &mut wanted))
        } else {
            false
        }
    })
}

fn encode_token(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("fb1:{id}"))
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("fb1:").map(str::to_string)
}

/// Describes one kind: ids, filters and paging. `view` turns a stored document into what is
/// filtered and returned (computed members); without one, stored documents are filtered in
/// place and only the page is copied. Returns the page and the next token.
pub fn describe(
    env: &Env,
    input: &Value,
    spec: &DescribeSpec,
    view: Option<&dyn Fn(&Value) -> Value>,
) -> Result<(Vec<Value>, Option<String>), AwsError> {
    let filters = parse_filters(input, spec.filters)?;
    let ids = spec.ids_member.map(|m| input.strings(m)).unwrap_or_default();
    let max_results = input.int("MaxResults");
    if let (Some(max), Some((lo, hi))) = (max_results, spec.page_limits) {
        if !ids.is_empty() {
            return Err(AwsError::new(
                "InvalidParameterCombination",
                format!("The parameter {} cannot be used with the parameter maxResults", spec.ids_member.unwrap_or("")),
            ));
        }
        if max < lo || max > hi {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("Value ( {max} ) for parameter maxResults is invalid. Expecting a value between {lo} and {hi}."),
            ));
        }
    }
    let start_after = match input.str("NextToken") {
        Some(t) => Some(decode_token(t).ok_or_else(|| {
            AwsError::new("InvalidPaginationToken", format!("Invalid pagination token: {t}"))
        })?),
        None => None,
    };
    let scope = env.scope();
    // One more than a page tells whether there is a next one.
    let limit = match (max_results, spec.page_limits) {
        (Some(max), Some(_)) => max.max(1) as usize + 1,
        _ => usize::MAX,
    };
    let mut items: Vec<(String, Value)> = Vec::new();
    let id_filter_values = spec.id_filter.and_then(|name| {
        let f = filters.iter().find(|f| f.name == name)?;
        (!f.values.iter().any(|v| v.contains(['*', '?']))).then(|| f.values.clone())
    });
    if let (true, Some(mut candidates)) = (ids.is_empty(), id_filter_values) {
        candidates.sort();
        candidates.dedup();
        for id in candidates {
            if start_after.as_deref().is_some_and(|s| id.as_str() < s) {
                continue;
            }
            if let Some(doc) = env.store.get(&scope, spec.kind, &id) {
                let v = match view {
                    Some(view) => view(&doc),
                    None => doc,
                };
                if matches(&v, &filters, spec.filters) {
                    items.push((id, v));
                }
            }
            if items.len() >= limit {
                break;
            }
        }
    } else if ids.is_empty() {
        env.store.scan(&scope, spec.kind, |iter| {
            for (id, doc) in iter {
                if start_after.as_deref().is_some_and(|s| id < s) {
                    continue;
                }
                match view {
                    Some(view) => {
                        let v = view(doc);
                        if matches(&v, &filters, spec.filters) {
                            items.push((id.to_string(), v));
                        }
                    }
                    None => {
                        if matches(doc, &filters, spec.filters) {
                            items.push((id.to_string(), doc.clone()));
                        }
                    }
                }
                if items.len() >= limit {
                    break;
                }
            }
        });
    } else {
        let mut missing = Vec::new();
        for id in &ids {
            match env.store.get(&scope, spec.kind, id) {
                Some(doc) => {
                    let v = match view {
                        Some(view) => view(&doc),
                        None => doc,
                    };
                    if matches(&v, &filters, spec.filters) && !items.iter().any(|(i, _)| i == id) {
                        items.push((id.clone(), v));
                    }
                }
                None => missing.push(id.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(super::not_found(spec.not_found.0, spec.not_found.1, &missing));
        }
    }
    let mut next = None;
    if let Some(max) = max_results.filter(|_| spec.page_limits.is_some()) {
        let max = max.max(1) as usize;
        if items.len() > max {
            next = Some(encode_token(&items[max].0));
            items.truncate(max);
        }
    }
    Ok((items.into_iter().map(|(_, v)| v).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("web-*", "web-1"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("web-*", "db-1"));
        assert!(wildcard_match("al2023-ami-*-x86_64", "al2023-ami-2023.6-kernel-6.1-x86_64"));
    }

    #[test]
    fn paths_and_tag_filters() {
        let doc = json!({"VpcId": "vpc-1", "IsDefault": true,
            "CidrBlockAssociationSet": [{"CidrBlock": "10.0.0.0/16"}],
            "Tags": [{"Key": "Name", "Value": "web-a"}]});
        let known = [("is-default", "IsDefault"), ("cidr", "CidrBlockAssociationSet[].CidrBlock")];
        let f = |name: &str, v: &str| vec![Filter { name: name.into(), values: vec![v.into()] }];
        assert!(matches(&doc, &f("is-default", "true"), &known));
        assert!(matches(&doc, &f("cidr", "10.0.0.0/16"), &known));
        assert!(matches(&doc, &f("tag:Name", "web-*"), &known));
        assert!(matches(&doc, &f("tag-key", "Name"), &known));
        assert!(!matches(&doc, &f("tag:Name", "db"), &known));
        assert!(decode_token(&encode_token("vpc-1")).as_deref() == Some("vpc-1"));
    }
}
