//! A model's own chat template (the GGUF's `tokenizer.chat_template`, Jinja) rendered with minijinja, with the variables `llama-server --jinja` and Hugging Face's `apply_chat_template` give it.
//!
//! The context a template sees: `messages` (OpenAI shape: `tool_calls` on assistant messages with
//! `function.arguments` as an object when it parses, `tool_call_id` and `name` on tool messages),
//! `tools` (`[{"type": "function", "function": {...}}]`, or none), `add_generation_prompt`,
//! `bos_token`, `eos_token`, any extra variables (`enable_thinking`, `reasoning_effort`…), and the
//! functions `raise_exception(msg)` and `strftime_now(fmt)`. `tojson` follows Python's
//! `json.dumps` (`", "`/`": "` separators, key order kept, non-ASCII as is, `indent`), which is what
//! the templates were written against; Python's string and dict methods (`.strip()`, `.items()`…)
//! come from minijinja's pycompat layer. Blocks are trimmed as in transformers
//! (`trim_blocks`, `lstrip_blocks`).

mod strftime;
#[cfg(test)]
mod tests;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::{Map, json};

use super::toolcall::{ToolDef, Turn};

/// Why a template cannot be used: it does not compile, or it failed (or raised) while rendering.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    /// Call arguments go in as objects (most templates `tojson` them); false for templates that
    /// concatenate them as strings (DeepSeek's).
    object_arguments: bool,
    /// Call ids must be nine alphanumerics (Mistral's templates raise otherwise).
    short_ids: bool,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").field("chars", &self.source.len()).finish()
    }
}

/// What one rendering gets.
#[derive(Debug, Clone, Copy)]
pub struct RenderInput<'a> {
    pub messages: &'a [Turn],
    /// Offered tools; empty renders as `tools = none`.
    pub tools: &'a [ToolDef],
    pub add_generation_prompt: bool,
    pub bos_token: &'a str,
    pub eos_token: &'a str,
    /// Seconds since the epoch: what `strftime_now` formats (UTC).
    pub now: u64,
    /// Extra top-level variables (`chat_template_kwargs`).
    pub extra: &'a Map<String, serde_json::Value>,
}

impl ChatTemplate {
    /// Compiles `source`. A syntax error names its line.
    pub fn new(source: &str) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().map_err(describe)?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned("chat_template", source.to_string()).map_err(describe)?;
        let short_ids = source.contains("length != 9") || source.contains("length 9");
        let mut template = ChatTemplate { env, source: source.to_string(), object_arguments: true, short_ids };
        template.object_arguments = template.takes_object_arguments();
        Ok(template)
    }

    /// Renders a past call with object arguments; a template that fails on that but not on string
    /// arguments wants strings (what `llama-server --jinja` probes too).
    fn takes_object_arguments(&self) -> bool {
        let call =
            super::toolcall::ToolCall { id: "call0probe".into(), name: "probe".into(), arguments: "{\"a\": 1}".into() };
        let turns = [
            Turn::new("user", "x"),
            Turn { tool_calls: vec![call], ..Turn::new("assistant", "") },
            Turn { tool_call_id: Some("call0probe".into()), ..Turn::new("tool", "y") },
        ];
        let extra = Map::new();
        let input = RenderInput {
            messages: &turns,
            tools: &[],
            add_generation_prompt: true,
            bos_token: "",
            eos_token: "",
            now: 0,
            extra: &extra,
        };
        let with = |objects: bool| self.render_context(self.build_context(&input, objects), 0).is_ok();
        with(true) || !with(false)
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the conversation.
    pub fn render(&self, input: &RenderInput) -> Result<String, TemplateError> {
        self.render_context(self.context(input), input.now)
    }

    /// The JSON context of one rendering (without `strftime_now`, which is a function): the same
    /// value the tests hand to Python's jinja2 for the reference rendering.
    pub fn context(&self, input: &RenderInput) -> serde_json::Value {
        self.build_context(input, self.object_arguments)
    }

    fn build_context(&self, input: &RenderInput, object_arguments: bool) -> serde_json::Value {
        let mut ctx = input.extra.clone();
        let messages = template_messages(input.messages, object_arguments, self.short_ids);
        ctx.insert("messages".into(), serde_json::Value::Array(messages));
        let tools = if input.tools.is_empty() {
            serde_json::Value::Null
        } else {
            input
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect()
        };
        ctx.insert("tools".into(), tools);
        ctx.insert("add_generation_prompt".into(), input.add_generation_prompt.into());
        ctx.insert("bos_token".into(), input.bos_token.into());
        ctx.insert("eos_token".into(), input.eos_token.into());
        serde_json::Value::Object(ctx)
    }

    /// Renders a prepared context (see [`context`]).
    pub fn render_context(&self, context: serde_json::Value, now: u64) -> Result<String, TemplateError> {
        let template = self.env.get_template("chat_template").map_err(describe)?;
        let mut ctx = Value::from(minijinja::value::Serde(&context));
        let strftime_now = Value::from_function(move |format: &str| strftime::format(now, format));
        ctx = minijinja::context! { strftime_now => strftime_now, ..ctx };
        template.render(ctx).map_err(describe)
    }

    /// True when the template does something with `tools` (otherwise airgate describes them itself).
    pub fn handles_tools(&self) -> bool {
        self.source.contains("tools")
    }

    /// True when the template renders assistant `tool_calls` and `tool` messages.
    pub fn handles_tool_turns(&self) -> bool {
        self.source.contains("tool_calls") && (self.source.contains("\"tool\"") || self.source.contains("'tool'"))
    }
}

/// Messages as templates expect them: OpenAI's shape, with each call's arguments as an object (what
/// Hugging Face templates index into and pass through `tojson`) when they parse as one and
/// `object_arguments` is set, call ids shortened to nine characters when `short_ids` is, and the
/// tool's name on a tool message when an earlier call with its id names it.
fn template_messages(turns: &[Turn], object_arguments: bool, short_ids: bool) -> Vec<serde_json::Value> {
    let id = |id: &str| if short_ids { super::toolcall::short_id(id) } else { id.to_string() };
    let mut out = Vec::with_capacity(turns.len());
    for (i, turn) in turns.iter().enumerate() {
        let mut m = Map::new();
        m.insert("role".into(), turn.role.clone().into());
        m.insert("content".into(), turn.content.clone().into());
        if !turn.tool_calls.is_empty() {
            let calls: Vec<serde_json::Value> = turn
                .tool_calls
                .iter()
                .map(|c| {
                    let arguments = match serde_json::from_str::<serde_json::Value>(&c.arguments) {
                        Ok(v @ serde_json::Value::Object(_)) if object_arguments => v,
                        _ => c.arguments.clone().into(),
                    };
                    json!({"id": id(&c.id), "type": "function", "function": {"name": c.name, "arguments": arguments}})
                })
                .collect();
            m.insert("tool_calls".into(), calls.into());
        }
        if let Some(call_id) = &turn.tool_call_id {
            m.insert("tool_call_id".into(), id(call_id).into());
            let name = turns[..i].iter().rev().flat_map(|t| &t.tool_calls).find(|c| &c.id == call_id).map(|c| &c.name);
            if let Some(name) = name {
                m.insert("name".into(), name.clone().into());
            }
        }
        if let Some(reasoning) = turn.reasoning.as_ref().filter(|r| !r.is_empty()) {
            m.insert("reasoning_content".into(), reasoning.clone().into());
        }
        out.push(serde_json::Value::Object(m));
    }
    out
}

/// A minijinja error as one line: the message, where it happened, and what caused it.
fn describe(e: Error) -> TemplateError {
    let mut text = match e.kind() {
        ErrorKind::InvalidOperation if e.detail().is_some() => e.detail().unwrap_or_default().to_string(),
        _ => e.to_string(),
    };
    if let Some(line) = e.line()
        && !text.contains("line")
    {
        text = format!("{text} (line {line})");
    }
    TemplateError(text)
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=..., sort_keys=...)`, the `tojson` of
/// transformers' template environment.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    let _: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, value, indent, sort_keys.unwrap_or(false), 0)?;
    Ok(Value::from(out))
}

fn write_json(out: &mut String, value: &Value, indent: Option<usize>, sort: bool, depth: usize) -> Result<(), Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * depth));
        }
    };
    let item_separator = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                let f = f64::try_from(value.clone())?;
                out.push_str(&python_float(f));
            }
        }
        ValueKind::String => {
            out.push_str(&serde_json::to_string(value.as_str().unwrap_or_default()).unwrap_or_default())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                write_json(out, item, indent, sort, depth + 1)?;
            }
            newline(out, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if sort {
                keys.sort_by_key(|a| a.to_string());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                let name = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                out.push_str(&serde_json::to_string(&name).unwrap_or_default());
                out.push_str(": ");
                write_json(out, &value.get_item(key)?, indent, sort, depth + 1)?;
            }
            newline(out, depth);
            out.push('}');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("Object of type {} is not JSON serializable", value.kind()),
            ));
        }
    }
    Ok(())
}

/// A float as Python's `repr` writes it (`1.0`, `0.5`, `1e-05`, `1e+16`).
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python: shortest repr in exponent form with at least two exponent digits.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}
