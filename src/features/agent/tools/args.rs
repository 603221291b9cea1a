//! Tool-call arguments: typed access, a check against the tool's JSON Schema (required keys and basic types), GitLab URLs taken apart, path segments encoded.

use serde_json::{Map, Value};

pub type Args = Map<String, Value>;

/// Checks `args` against an object schema: every required property present, and each known
/// property of the declared basic type. The message names the first problem.
pub fn check_arguments(schema: &Value, args: &Args) -> Result<(), String> {
    if let Some(required) = schema["required"].as_array() {
        for name in required.iter().filter_map(Value::as_str) {
            if args.get(name).is_none_or(Value::is_null) {
                return Err(format!("missing required argument `{name}`"));
            }
        }
    }
    let Some(properties) = schema["properties"].as_object() else { return Ok(()) };
    for (name, value) in args {
        let Some(kind) = properties.get(name).and_then(|p| p["type"].as_str()) else { continue };
        if value.is_null() {
            continue;
        }
        let fits = match kind {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64() || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !fits {
            return Err(format!("argument `{name}` must be of type {kind}"));
        }
    }
    Ok(())
}

/// A required string argument.
pub fn string(args: &Args, name: &str) -> Result<String, String> {
    opt_string(args, name).ok_or_else(|| format!("missing required argument `{name}`"))
}

/// An optional string argument; numbers are accepted as their text, empty strings are absent.
pub fn opt_string(args: &Args, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An optional integer argument (numbers or numeric strings).
pub fn opt_int(args: &Args, name: &str) -> Option<i64> {
    match args.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn opt_bool(args: &Args, name: &str) -> Option<bool> {
    args.get(name)?.as_bool()
}

/// A list of strings (an array, or one string).
pub fn strings(args: &Args, name: &str) -> Vec<String> {
    match args.get(name) {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A GitLab web URL taken apart: `https://host/group/project/-/merge_requests/12` →
/// project `group/project`, kind `merge_requests`, rest `["12"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabUrl {
    pub project: String,
    pub kind: String,
    pub rest: Vec<String>,
}

pub fn parse_gitlab_url(url: &str) -> Option<GitlabUrl> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.split_once('/').map(|(_, p)| p)?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (project, tail) = match path.split_once("/-/") {
        Some((project, tail)) => (project, tail),
        None => (path.trim_end_matches('/'), ""),
    };
    if project.is_empty() {
        return None;
    }
    let mut parts = tail.split('/').filter(|p| !p.is_empty()).map(str::to_string);
    let kind = parts.next().unwrap_or_default();
    Some(GitlabUrl { project: project.to_string(), kind, rest: parts.collect() })
}

/// Percent-encodes one path segment (GitLab takes `group%2Fproject` for project ids and
/// `dir%2Ffile.rb` for repository file paths).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a query string from pairs, skipping absent values.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// The project a GitLab tool works on: the `url`'s project, the `project_id` argument, or the
/// session's project; encoded for a REST path.
pub fn project(args: &Args, url: Option<&GitlabUrl>, session_project: Option<&str>) -> Result<String, String> {
    if let Some(u) = url {
        return Ok(encode(&u.project));
    }
    match opt_string(args, "project_id").or_else(|| session_project.map(str::to_string)) {
        Some(id) => Ok(encode(id.trim_start_matches("gid://gitlab/Project/"))),
        None => Err("give `project_id` or a GitLab `url`: this session has no project".into()),
    }
}

/// The `url` argument parsed, if given; an unparsable URL is an error.
pub fn url_arg(args: &Args) -> Result<Option<GitlabUrl>, String> {
    match opt_string(args, "url") {
        Some(url) => parse_gitlab_url(&url).map(Some).ok_or_else(|| format!("`{url}` is not a GitLab project URL")),
        None => Ok(None),
    }
}

/// An id from the URL when it points at `kind` (its first segment after `/-/kind/`), else the argument `name`.
pub fn id_from(url: Option<&GitlabUrl>, kinds: &[&str], args: &Args, name: &str) -> Result<String, String> {
    if let Some(u) = url {
        if kinds.contains(&u.kind.as_str())
            && let Some(id) = u.rest.first()
        {
            return Ok(id.clone());
        }
        if opt_string(args, name).is_none() {
            return Err(format!("the URL does not point at a {}; give `{name}`", kinds[0].trim_end_matches('s')));
        }
    }
    string(args, name)
}
