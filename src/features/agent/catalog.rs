//! What the service advertises and checks without running anything: the tool list (`ListTools`), flows (`ListFlows`: none, airgate has no Flow Registry yet), capabilities (`ListCapabilities`), flow-config validation (`ValidateFlowConfig`), and the custom chat agent an inline `chat-partial` flow config describes.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::CustomAgent;
use super::tools;

/// Server capabilities airgate implements: tool-call approval round trips.
pub const CAPABILITIES: &[&str] = &["tool_call_approval"];

/// Every built-in tool in OpenAI function format.
pub fn list_tools() -> Vec<Value> {
    tools::catalogue()
}

const COMPONENT_TYPES: &[&str] =
    &["AgentComponent", "OneOffComponent", "DeterministicStepComponent", "HumanInputComponent"];
const ENVIRONMENTS: &[&str] = &["ambient", "chat", "chat-partial"];
const TOP_LEVEL: &[&str] = &[
    "version",
    "environment",
    "components",
    "routers",
    "flow",
    "prompts",
    "response_schemas",
    "name",
    "description",
    "product_group",
];

fn known_tool(name: &str) -> bool {
    tools::builtin(name).is_some()
}

/// Tool names of a toolset: strings, or one-key objects `{name: options}`.
fn toolset_names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|t| match t {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(m) => m.keys().next().cloned(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Text that could smuggle instructions past a reader: system/goal tags, comments, invisible characters.
fn unsafe_prompt(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if ["<system>", "</system>", "<goal>", "</goal>"].iter().any(|t| lower.contains(t)) {
        return Some("it contains <system> or <goal> tags");
    }
    if lower.contains("<!--") {
        return Some("it contains an HTML comment");
    }
    if text.chars().any(|c| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}')) {
        return Some("it contains invisible Unicode characters");
    }
    None
}

fn template_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")),
        _ => None,
    }
}

/// Checks a flow config (the shape of GitLab's v1 flow schema); the errors, empty when valid.
pub fn validate(config: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(top) = config.as_object() else { return vec!["the flow config must be an object".into()] };
    for key in top.keys().filter(|k| !TOP_LEVEL.contains(&k.as_str())) {
        errors.push(format!("unknown top-level key `{key}`"));
    }
    match top.get("version").and_then(Value::as_str) {
        Some("v1" | "experimental") => {}
        Some(other) => errors.push(format!("`version` is `{other}`; expected `v1` or `experimental`")),
        None => errors.push("Missing required field: version".into()),
    }
    let environment = top.get("environment").and_then(Value::as_str).unwrap_or_default();
    if environment.is_empty() {
        errors.push("Missing required field: environment".into());
    } else if !ENVIRONMENTS.contains(&environment) {
        errors.push(format!("`environment` is `{environment}`; expected ambient, chat or chat-partial"));
    }
    let partial = environment == "chat-partial";
    let prompts: Vec<&Map<String, Value>> = top
        .get("prompts")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let prompt_ids: BTreeSet<&str> =
        prompts.iter().filter_map(|p| p.get("prompt_id").and_then(Value::as_str)).collect();
    for p in &prompts {
        let id = p.get("prompt_id").and_then(Value::as_str).unwrap_or("?");
        if p.get("prompt_id").and_then(Value::as_str).is_none() {
            errors.push("a prompt has no `prompt_id`".into());
        }
        match p.get("prompt_template").and_then(Value::as_object) {
            None => errors.push(format!("prompt `{id}` has no `prompt_template`")),
            Some(t) => {
                for (part, text) in t.iter().filter_map(|(k, v)| template_text(v).map(|s| (k, s))) {
                    if let Some(why) = unsafe_prompt(&text) {
                        errors.push(format!("prompt `{id}` {part} template is refused: {why}"));
                    }
                }
            }
        }
    }
    let Some(components) = top.get("components").and_then(Value::as_array) else {
        errors.push("Missing required field: components".into());
        return errors;
    };
    let mut names = BTreeSet::new();
    let mut agents = 0;
    for (i, c) in components.iter().enumerate() {
        let Some(c) = c.as_object() else {
            errors.push(format!("component #{} is not an object", i + 1));
            continue;
        };
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() || name.contains([':', '.']) {
            errors.push(format!("component #{} needs a `name` without `:` or `.`", i + 1));
        } else if !names.insert(name.to_string()) {
            errors.push(format!("component name `{name}` is used twice"));
        }
        let kind = c.get("type").and_then(Value::as_str).unwrap_or_default();
        if !COMPONENT_TYPES.contains(&kind) {
            errors.push(format!("component `{name}` has unknown type `{kind}`"));
        }
        if matches!(kind, "AgentComponent" | "OneOffComponent") {
            agents += usize::from(kind == "AgentComponent");
            match c.get("prompt_id").and_then(Value::as_str) {
                None => errors.push(format!("component `{name}` needs a `prompt_id`")),
                Some(id) if c.get("prompt_version").is_none_or(Value::is_null) && !prompt_ids.contains(id) => {
                    errors.push(format!("component `{name}` uses prompt `{id}`, which is not defined inline"));
                }
                Some(_) => {}
            }
            for tool in toolset_names(c.get("toolset").unwrap_or(&Value::Null)) {
                if !known_tool(&tool) {
                    errors.push(format!("component `{name}` names unknown tool `{tool}`"));
                }
            }
        }
        if kind == "DeterministicStepComponent" {
            match c.get("tool_name").and_then(Value::as_str) {
                Some(tool) if known_tool(tool) => {}
                Some(tool) => errors.push(format!("component `{name}` names unknown tool `{tool}`")),
                None => errors.push(format!("component `{name}` needs a `tool_name`")),
            }
        }
    }
    for c in components.iter().filter_map(Value::as_object) {
        if let Some(target) = c.get("sends_response_to").and_then(Value::as_str)
            && !names.contains(target)
        {
            errors.push(format!("`sends_response_to` names unknown component `{target}`"));
        }
    }
    if partial {
        if agents != 1 || components.len() != 1 {
            errors.push("a chat-partial flow has exactly one AgentComponent".into());
        }
        if prompts.len() > 1 {
            errors.push("a chat-partial flow has at most one inline prompt".into());
        }
        return errors;
    }
    let target_ok = |t: &str| t == "end" || t == "abort" || names.contains(t);
    match top.get("flow").and_then(|f| f.get("entry_point")).and_then(Value::as_str) {
        Some(entry) if names.contains(entry) => {}
        Some(entry) => errors.push(format!("`flow.entry_point` names unknown component `{entry}`")),
        None => errors.push("Missing required field: flow.entry_point".into()),
    }
    match top.get("routers").and_then(Value::as_array) {
        None => errors.push("Missing required field: routers".into()),
        Some(routers) => {
            for r in routers {
                let from = r["from"].as_str().unwrap_or_default();
                if !names.contains(from) {
                    errors.push(format!("a router starts at unknown component `{from}`"));
                }
                let targets: Vec<&str> = match (r["to"].as_str(), r["condition"]["routes"].as_object()) {
                    (Some(to), _) => vec![to],
                    (None, Some(routes)) => routes.values().filter_map(Value::as_str).collect(),
                    (None, None) => {
                        errors.push(format!("the router from `{from}` has neither `to` nor `condition.routes`"));
                        Vec::new()
                    }
                };
                for t in targets.into_iter().filter(|t| !target_ok(t)) {
                    errors.push(format!("a router from `{from}` leads to unknown component `{t}`"));
                }
            }
        }
    }
    errors
}

/// The custom agent of a valid `chat-partial` flow config.
pub fn custom_agent(config: &Value) -> Result<CustomAgent, String> {
    if config["environment"].as_str() != Some("chat-partial") {
        return Err(
            "airgate runs only chat-partial flow configs (a single chat agent); the Flow Registry is not available"
                .into(),
        );
    }
    let errors = validate(config);
    if !errors.is_empty() {
        return Err(format!("invalid flow config: {}", errors.join("; ")));
    }
    let component = &config["components"][0];
    let prompt_id = component["prompt_id"].as_str().unwrap_or_default();
    let system = config["prompts"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["prompt_id"].as_str() == Some(prompt_id)))
        .and_then(|p| template_text(&p["prompt_template"]["system"]));
    Ok(CustomAgent {
        name: component["name"].as_str().unwrap_or("custom agent").to_string(),
        system,
        toolset: toolset_names(&component["toolset"]),
    })
}

#[cfg(test)]
mod tests;
