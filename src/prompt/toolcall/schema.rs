//! The JSON-schema subset a grammar can enforce: [`check`] refuses a schema using anything else (naming the keyword and where), and [`validate`] checks a value against a schema of that subset.
//!
//! Enforced by the grammar (and so supported): `type` (one or a list), `properties`, `required`,
//! `additionalProperties`, `items`, `prefixItems`, `minItems`, `maxItems`, `enum`, `const`, `anyOf`,
//! `oneOf` (as "at least one", like the grammar), `allOf` (of objects), `$ref` into the same
//! document with `$defs`/`definitions`, `minLength`, `maxLength`, `pattern` (anchored `^…$`, no
//! classes like `\d`, no lookaround), `format` `date`/`time`/`date-time`/`uuid`, and
//! `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum` on integers. Annotations
//! (`description`, `title`, `default`, `examples`, `$schema`, `$id`, `$comment`, `deprecated`,
//! `readOnly`, `writeOnly`, `nullable`, `strict`, `x-…`) are ignored. Everything else that constrains
//! a value is refused, since a grammar that ignored it could produce a value the schema rejects.

use serde_json::{Map, Value};

/// A schema feature the grammar cannot enforce, or a malformed schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at {path})")]
pub struct SchemaError {
    /// JSON pointer into the schema.
    pub path: String,
    pub message: String,
}

const SUPPORTED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "definitions",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
];

const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
    "$anchor",
    "deprecated",
    "readOnly",
    "writeOnly",
    "nullable",
    "strict",
    "discriminator",
    "contentMediaType",
    "contentEncoding",
];

const FORMATS: &[&str] = &["date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"];
const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean", "null"];

/// Refuses a schema the grammar could not enforce, naming what and where.
pub fn check(schema: &Value) -> Result<(), SchemaError> {
    check_at(schema, schema, "#")
}

fn err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError { path: path.to_string(), message: message.into() }
}

fn check_at(root: &Value, schema: &Value, path: &str) -> Result<(), SchemaError> {
    let map = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(err(path, "the schema `false` accepts no value")),
        Value::Object(map) => map,
        _ => return Err(err(path, "a schema must be an object")),
    };
    for key in map.keys() {
        if SUPPORTED.contains(&key.as_str()) || ANNOTATIONS.contains(&key.as_str()) || key.starts_with("x-") {
            continue;
        }
        return Err(err(path, format!("the JSON-schema keyword `{key}` is not supported in constrained output")));
    }
    let integers = integers_only(&types_of(map, path)?);
    for (key, value) in map {
        if let Some(problem) = keyword_problem(root, key, value, integers) {
            return Err(err(path, problem));
        }
    }
    if let Some(props) = map.get("properties") {
        let Some(props) = props.as_object() else { return Err(err(path, "`properties` must be an object")) };
        for (name, sub) in props {
            check_at(root, sub, &format!("{path}/properties/{}", escape(name)))?;
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(defs) = map.get(key) {
            let Some(defs) = defs.as_object() else { return Err(err(path, format!("`{key}` must be an object"))) };
            for (name, sub) in defs {
                check_at(root, sub, &format!("{path}/{key}/{}", escape(name)))?;
            }
        }
    }
    match map.get("additionalProperties") {
        None | Some(Value::Bool(_)) => {}
        Some(sub) => check_at(root, sub, &format!("{path}/additionalProperties"))?,
    }
    match map.get("items") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, sub) in items.iter().enumerate() {
                check_at(root, sub, &format!("{path}/items/{i}"))?;
            }
        }
        Some(sub) => check_at(root, sub, &format!("{path}/items"))?,
    }
    for key in ["prefixItems", "anyOf", "oneOf", "allOf"] {
        if let Some(list) = map.get(key) {
            let Some(list) = list.as_array().filter(|l| !l.is_empty()) else {
                return Err(err(path, format!("`{key}` must be a non-empty list of schemas")));
            };
            for (i, sub) in list.iter().enumerate() {
                check_at(root, sub, &format!("{path}/{key}/{i}"))?;
            }
        }
    }
    Ok(())
}

/// Whether the schema's types (nulls aside) are all `integer`: only those take numeric bounds.
fn integers_only(types: &[&str]) -> bool {
    let non_null: Vec<&&str> = types.iter().filter(|t| **t != "null").collect();
    !non_null.is_empty() && non_null.iter().all(|t| **t == "integer")
}

/// Why a grammar cannot hold the keyword `key: value` of a schema object (`integers`: its type is
/// integer only), or `None` when it can. Shared by [`check`] (which refuses) and [`loosen`] (which drops).
fn keyword_problem(root: &Value, key: &str, value: &Value, integers: bool) -> Option<String> {
    match key {
        k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => None,
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
            if !value.is_number() {
                Some(format!("`{key}` must be a number"))
            } else if !integers {
                Some(format!("`{key}` is supported on integers only (the grammar cannot bound a `number`)"))
            } else {
                None
            }
        }
        "format" => match value.as_str() {
            Some(f) if FORMATS.contains(&f) => None,
            Some(f) => Some(format!("the string format `{f}` is not supported in constrained output")),
            None => Some("`format` must be a string".into()),
        },
        "pattern" => match value.as_str() {
            Some(p) => check_pattern(p).err().map(|why| format!("the pattern `{p}` is not supported: {why}")),
            None => Some("`pattern` must be a string".into()),
        },
        "minItems" | "maxItems" | "minLength" | "maxLength" => {
            value.as_u64().is_none_or(|n| n > 100_000).then(|| format!("`{key}` must be a whole number up to 100000"))
        }
        "required" => (!value.as_array().is_some_and(|r| r.iter().all(Value::is_string)))
            .then(|| "`required` must be a list of property names".into()),
        "enum" => value.as_array().is_none_or(|v| v.is_empty()).then(|| "`enum` must be a non-empty list".into()),
        "$ref" => match value.as_str() {
            None => Some("`$ref` must be a string".into()),
            Some(r) if !r.starts_with("#/") && r != "#" => {
                Some(format!("`$ref` {r} points outside this schema; only `#/...` references are supported"))
            }
            Some(r) if resolve(root, r).is_none() => Some(format!("`$ref` {r} does not resolve")),
            Some(_) => None,
        },
        k if SUPPORTED.contains(&k) => None,
        k => Some(format!("the JSON-schema keyword `{k}` is not supported in constrained output")),
    }
}

/// The schema with what [`check`] refuses taken out (unknown keywords, bounds on non-integers,
/// unsupported formats and patterns, bad counts, references that do not resolve), for tools whose
/// schema a client wrote: the grammar then holds what it can. If the result still fails the check,
/// any JSON object.
pub fn loosen(schema: &Value) -> Value {
    let loose = loosen_at(schema, schema);
    if check(&loose).is_ok() { loose } else { serde_json::json!({"type": "object"}) }
}

fn loosen_at(root: &Value, schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return if schema.is_boolean() { Value::Bool(true) } else { Value::Object(Map::new()) };
    };
    let integers = integers_only(&types_of(map, "").unwrap_or_default());
    let mut out = Map::new();
    for (key, value) in map {
        let keep = match key.as_str() {
            "type" => types_of(map, "").is_ok(),
            k => keyword_problem(root, k, value, integers).is_none(),
        };
        if !keep {
            continue;
        }
        let value = match (key.as_str(), value) {
            ("properties" | "$defs" | "definitions", Value::Object(subs)) => {
                Value::Object(subs.iter().map(|(k, v)| (k.clone(), loosen_at(root, v))).collect())
            }
            ("additionalProperties", sub @ Value::Object(_)) | ("items", sub @ Value::Object(_)) => {
                loosen_at(root, sub)
            }
            ("items" | "prefixItems" | "anyOf" | "oneOf" | "allOf", Value::Array(list)) => {
                if list.is_empty() {
                    continue;
                }
                Value::Array(list.iter().map(|v| loosen_at(root, v)).collect())
            }
            (_, v) => v.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn types_of<'a>(map: &'a Map<String, Value>, path: &str) -> Result<Vec<&'a str>, SchemaError> {
    let types: Vec<&str> = match map.get("type") {
        None => Vec::new(),
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(err(path, "`type` must be a string or a list of strings")),
    };
    if let Some(bad) = types.iter().find(|t| !TYPES.contains(t)) {
        return Err(err(path, format!("unknown type `{bad}`")));
    }
    Ok(types)
}

/// `~` and `/` escaped for a JSON pointer.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The schema a local `$ref` points at.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

/// Whether llama.cpp's schema converter turns the pattern into grammar rules (it accepts any string
/// for one it cannot, which a value could then violate).
fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    let Some(inner) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')) else {
        return Err("it must be anchored with ^ and $");
    };
    const ESCAPES: &[char] = &['t', 'r', 'n', '\\', '"', '[', ']', '-', 'x', 'u', 'U'];
    const LITERAL_ESCAPES: &[char] = &['^', '$', '.', '(', ')', '|', '{', '}', '*', '+', '?'];
    let mut chars = inner.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else { return Err("it ends with a backslash") };
                if !(ESCAPES.contains(&next) || (!in_class && LITERAL_ESCAPES.contains(&next))) {
                    return Err(
                        "only \\t \\r \\n \\xHH \\uHHHH and escaped punctuation are supported (no \\d, \\w, \\s, \\b)",
                    );
                }
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class && chars.peek() == Some(&'?') => {
                chars.next();
                if chars.next() != Some(':') {
                    return Err("lookarounds, named groups and flags are not supported");
                }
            }
            '^' | '$' if !in_class => return Err("anchors inside the pattern are not supported"),
            _ => {}
        }
    }
    if regex::Regex::new(pattern).is_err() {
        return Err("it is not a valid regular expression");
    }
    Ok(())
}

/// Checks `value` against `schema` (of the [`check`]ed subset); the first violation, with its path
/// in the value.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    validate_at(schema, schema, value, "$", 0)
}

fn validate_at(root: &Value, schema: &Value, value: &Value, path: &str, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err(format!("{path}: the schema nests too deeply"));
    }
    let map = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: no value is allowed here")),
        Value::Object(map) => map,
        _ => return Ok(()),
    };
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, r).ok_or_else(|| format!("{path}: `$ref` {r} does not resolve"))?;
        validate_at(root, target, value, path, depth + 1)?;
    }
    if let Some(Value::String(t)) = map.get("type")
        && !type_matches(t, value)
    {
        return Err(format!("{path}: expected {t}, got {}", kind(value)));
    }
    if let Some(Value::Array(list)) = map.get("type")
        && !list.iter().filter_map(Value::as_str).any(|t| type_matches(t, value))
    {
        return Err(format!("{path}: expected one of {}, got {}", Value::Array(list.clone()), kind(value)));
    }
    if let Some(c) = map.get("const")
        && c != value
    {
        return Err(format!("{path}: expected {c}"));
    }
    if let Some(Value::Array(values)) = map.get("enum")
        && !values.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {}", Value::Array(values.clone())));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = map.get(key)
            && !alts.iter().any(|alt| validate_at(root, alt, value, path, depth + 1).is_ok())
        {
            return Err(format!("{path}: matches none of the `{key}` alternatives"));
        }
    }
    if let Some(Value::Array(all)) = map.get("allOf") {
        for alt in all {
            validate_at(root, alt, value, path, depth + 1)?;
        }
    }
    match value {
        Value::Object(obj) => validate_object(root, map, obj, path, depth),
        Value::Array(items) => validate_array(root, map, items, path, depth),
        Value::String(s) => validate_string(map, s, path),
        Value::Number(n) => validate_number(map, n, path),
        _ => Ok(()),
    }
}

fn type_matches(t: &str, value: &Value) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.as_i64().is_some() || value.as_u64().is_some() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_object(
    root: &Value,
    map: &Map<String, Value>,
    obj: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), String> {
    if let Some(Value::Array(required)) = map.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(name) {
                return Err(format!("{path}: missing required property `{name}`"));
            }
        }
    }
    let props = map.get("properties").and_then(Value::as_object);
    for (name, v) in obj {
        let at = format!("{path}.{name}");
        match props.and_then(|p| p.get(name)) {
            Some(sub) => validate_at(root, sub, v, &at, depth + 1)?,
            None => match map.get("additionalProperties") {
                Some(Value::Bool(false)) => return Err(format!("{path}: property `{name}` is not allowed")),
                Some(sub @ Value::Object(_)) => validate_at(root, sub, v, &at, depth + 1)?,
                _ => {}
            },
        }
    }
    Ok(())
}

fn validate_array(
    root: &Value,
    map: &Map<String, Value>,
    items: &[Value],
    path: &str,
    depth: usize,
) -> Result<(), String> {
    let count = |key: &str| map.get(key).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(min) = count("minItems")
        && items.len() < min
    {
        return Err(format!("{path}: at least {min} items expected, got {}", items.len()));
    }
    if let Some(max) = count("maxItems")
        && items.len() > max
    {
        return Err(format!("{path}: at most {max} items expected, got {}", items.len()));
    }
    let tuple = match (map.get("prefixItems"), map.get("items")) {
        (Some(Value::Array(t)), _) | (None, Some(Value::Array(t))) => Some(t),
        _ => None,
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let sub = match tuple {
            Some(t) => t.get(i).or_else(|| map.get("items").filter(|s| s.is_object())),
            None => map.get("items"),
        };
        if let Some(sub) = sub {
            validate_at(root, sub, item, &at, depth + 1)?;
        }
    }
    Ok(())
}

fn validate_string(map: &Map<String, Value>, s: &str, path: &str) -> Result<(), String> {
    let chars = s.chars().count();
    if let Some(min) = map.get("minLength").and_then(Value::as_u64)
        && (chars as u64) < min
    {
        return Err(format!("{path}: at least {min} characters expected"));
    }
    if let Some(max) = map.get("maxLength").and_then(Value::as_u64)
        && (chars as u64) > max
    {
        return Err(format!("{path}: at most {max} characters expected"));
    }
    if let Some(pattern) = map.get("pattern").and_then(Value::as_str)
        && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(s)
    {
        return Err(format!("{path}: does not match the pattern {pattern}"));
    }
    if let Some(format) = map.get("format").and_then(Value::as_str) {
        let shape = match format {
            "date" => r"^\d{4}-\d{2}-\d{2}$",
            "time" => r"^\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$",
            "date-time" => r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$",
            f if f.starts_with("uuid") => {
                r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
            }
            _ => "",
        };
        if !shape.is_empty() && !regex::Regex::new(shape).is_ok_and(|re| re.is_match(s)) {
            return Err(format!("{path}: not a {format}"));
        }
    }
    Ok(())
}

fn validate_number(map: &Map<String, Value>, n: &serde_json::Number, path: &str) -> Result<(), String> {
    let Some(x) = n.as_f64() else { return Ok(()) };
    let bound = |key: &str| map.get(key).and_then(Value::as_f64);
    let fails = [
        (bound("minimum").is_some_and(|b| x < b), "minimum"),
        (bound("maximum").is_some_and(|b| x > b), "maximum"),
        (bound("exclusiveMinimum").is_some_and(|b| x <= b), "exclusiveMinimum"),
        (bound("exclusiveMaximum").is_some_and(|b| x >= b), "exclusiveMaximum"),
    ];
    match fails.iter().find(|(failed, _)| *failed) {
        Some((_, key)) => Err(format!("{path}: {x} is outside `{key}` {}", map[*key])),
        None => Ok(()),
    }
}
