//! airgate's own tool instructions, for models whose chat template knows no tools: the tools described in the system message, past calls and results written as text, and the conversation shaped for templates that want one system message and alternating turns.

use super::{ToolDef, Turn};

/// Which calls the instructions ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    /// A call when it helps, otherwise an answer.
    Auto,
    /// At least one call.
    Required,
    /// A call of this tool.
    Named(&'a str),
}

/// The system text that offers `tools` in airgate's JSON call form.
pub fn system_text(tools: &[ToolDef], ask: Ask, parallel: bool) -> String {
    let mut text = String::from(
        "You have access to the following tools. Each line below is one tool: its name, what it does, and the \
         JSON schema of its arguments.\n\n",
    );
    for tool in tools {
        let line = serde_json::json!({
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text.push_str(
        "\nTo use a tool, reply with a JSON object and nothing else, in this form:\n\
         {\"name\": \"<tool name>\", \"arguments\": {<the arguments, following the tool's schema>}}\n",
    );
    if parallel {
        text.push_str("To use several tools at once, put each JSON object on its own line.\n");
    }
    text.push_str(match ask {
        Ask::Auto => "If no tool is needed, answer the user directly in plain text.",
        Ask::Required => "You must use at least one of these tools now.",
        Ask::Named(_) => "",
    });
    if let Ask::Named(name) = ask {
        text.push_str(&format!("You must use the tool `{name}` now."));
    }
    text.push_str(
        "\nThe result of each tool comes back in a message that starts with \"Tool result\"; use it to \
         answer the user.",
    );
    text
}

/// A call written the way [`system_text`] asks the model to write it.
pub fn call_text(name: &str, arguments: &str) -> String {
    let arguments = serde_json::from_str::<serde_json::Value>(arguments)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| serde_json::Value::String(arguments.to_string()).to_string());
    format!("{{\"name\": {}, \"arguments\": {arguments}}}", serde_json::Value::String(name.to_string()))
}

/// The conversation without tool turns: an assistant's calls become its text (one JSON object a
/// line), a tool's result becomes a user message, and neighbouring messages of one role are joined
/// (templates that insist on alternating turns accept the result).
pub fn flatten_turns(turns: &[Turn]) -> Vec<Turn> {
    let mut out: Vec<Turn> = Vec::with_capacity(turns.len());
    for (i, turn) in turns.iter().enumerate() {
        let (role, content) = match turn.role.as_str() {
            "assistant" if !turn.tool_calls.is_empty() => {
                let mut lines: Vec<String> = Vec::new();
                if !turn.content.trim().is_empty() {
                    lines.push(turn.content.clone());
                }
                lines.extend(turn.tool_calls.iter().map(|c| call_text(&c.name, &c.arguments)));
                ("assistant", lines.join("\n"))
            }
            "tool" => {
                let id = turn.tool_call_id.as_deref().unwrap_or_default();
                let name =
                    turns[..i].iter().rev().flat_map(|t| &t.tool_calls).find(|c| c.id == id).map(|c| c.name.as_str());
                let head = match name {
                    Some(name) => format!("Tool result ({name}):"),
                    None => "Tool result:".to_string(),
                };
                ("user", format!("{head}\n{}", turn.content))
            }
            role => (role, turn.content.clone()),
        };
        match out.last_mut() {
            Some(last) if last.role == role && role != "system" => {
                last.content.push_str("\n\n");
                last.content.push_str(&content);
            }
            _ => out.push(Turn::new(role, content)),
        }
    }
    out
}

/// Every system message joined into one, first (for families that accept only one).
pub fn single_system(turns: Vec<Turn>) -> Vec<Turn> {
    let (system, rest): (Vec<Turn>, Vec<Turn>) = turns.into_iter().partition(|t| t.role == "system");
    if system.len() <= 1 {
        return system.into_iter().chain(rest).collect();
    }
    let joined = system.iter().map(|t| t.content.as_str()).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("\n\n");
    std::iter::once(Turn::new("system", joined)).chain(rest).collect()
}

/// `text` added to the end of the first system message (one is added when there is none).
pub fn with_system(mut turns: Vec<Turn>, text: &str) -> Vec<Turn> {
    match turns.first_mut() {
        Some(first) if first.role == "system" => {
            first.content =
                if first.content.is_empty() { text.to_string() } else { format!("{}\n\n{text}", first.content) };
        }
        _ => turns.insert(0, Turn::new("system", text)),
    }
    turns
}
