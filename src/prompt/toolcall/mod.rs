//! Tool calling in text: which call syntax a model writes (from its chat template), the incremental parser that splits generated text into content, reasoning and tool calls, the grammar that makes a malformed call impossible, and the JSON-schema subset that grammar enforces.
//!
//! Submodules: `parse` (the incremental parser, one state machine for every syntax), `scan` (the
//! incremental JSON scanner calls are read with), `grammar` (GBNF: a tool's argument grammar wrapped
//! in the family's call syntax, lazy triggers), `schema` (the supported JSON-schema subset: checked
//! before a grammar is built, and the validator every call goes through), `instruct` (airgate's own
//! tool instructions, for models whose template knows no tools).

pub mod grammar;
pub mod instruct;
mod parse;
mod scan;
pub mod schema;
#[cfg(test)]
mod tests;

pub use parse::{Parser, Piece};

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// The JSON schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, JSON text.
    pub arguments: String,
}

/// One message of a tool-capable conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    pub content: String,
    /// Assistant messages: the calls it made.
    pub tool_calls: Vec<ToolCall>,
    /// Tool messages: the call this answers.
    pub tool_call_id: Option<String>,
    /// Assistant messages: reasoning it returned (`reasoning_content`), for templates that show it.
    pub reasoning: Option<String>,
}

impl Turn {
    pub fn new(role: &str, content: impl Into<String>) -> Turn {
        Turn { role: role.into(), content: content.into(), ..Turn::default() }
    }
}

/// How a model writes a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Qwen 2.5/3, Hermes: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`.
    Hermes,
    /// Llama 3.x: `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>`.
    Llama3,
    /// Mistral v3 (Nemo): `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`.
    MistralArray,
    /// Mistral v7+ (Small 3.2, Devstral): `[TOOL_CALLS]name[ARGS]{…}` (`[CALL_ID]id` may precede `[ARGS]`).
    MistralArgs,
    /// gpt-oss harmony: `<|channel|>commentary to=functions.name <|constrain|>json<|message|>{…}`, or the
    /// recipient first: `to=functions.name<|channel|>commentary json<|message|>{…}`.
    Harmony,
    /// DeepSeek V3.1: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>name<｜tool▁sep｜>{…}<｜tool▁call▁end｜>…`.
    DeepSeekV31,
    /// DeepSeek R1/V3: `…<｜tool▁call▁begin｜>function<｜tool▁sep｜>name\n```json\n{…}\n```<｜tool▁call▁end｜>…`.
    DeepSeekR1,
    /// airgate's own form for models whose template knows no tools: a bare JSON object
    /// `{"name": …, "arguments": {…}}` (also the fallback that reads such an object anywhere).
    Json,
}

pub const DEEPSEEK_CALLS_BEGIN: &str = "<｜tool▁calls▁begin｜>";
pub const DEEPSEEK_CALLS_END: &str = "<｜tool▁calls▁end｜>";
pub const DEEPSEEK_CALL_BEGIN: &str = "<｜tool▁call▁begin｜>";
pub const DEEPSEEK_CALL_END: &str = "<｜tool▁call▁end｜>";
pub const DEEPSEEK_SEP: &str = "<｜tool▁sep｜>";

impl Syntax {
    /// Every call syntax.
    pub const ALL: [Syntax; 8] = [
        Syntax::Hermes,
        Syntax::Llama3,
        Syntax::MistralArray,
        Syntax::MistralArgs,
        Syntax::Harmony,
        Syntax::DeepSeekV31,
        Syntax::DeepSeekR1,
        Syntax::Json,
    ];

    /// The syntax a chat template teaches (its own rendering of past calls says it); `Json` when the
    /// template knows no tool calls or there is none.
    pub fn detect(template: Option<&str>) -> Syntax {
        let Some(t) = template else { return Syntax::Json };
        if t.contains("<|channel|>") && t.contains("to=") {
            Syntax::Harmony
        } else if t.contains(DEEPSEEK_CALL_BEGIN) {
            if t.contains("```json") { Syntax::DeepSeekR1 } else { Syntax::DeepSeekV31 }
        } else if t.contains("[TOOL_CALLS]") {
            if t.contains("[ARGS]") { Syntax::MistralArgs } else { Syntax::MistralArray }
        } else if t.contains("<tool_call>") {
            Syntax::Hermes
        } else if t.contains("<|python_tag|>") || (t.contains("\"parameters\"") && t.contains("<|eot_id|>")) {
            Syntax::Llama3
        } else {
            Syntax::Json
        }
    }

    /// The name the API and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::Hermes => "hermes",
            Syntax::Llama3 => "llama3",
            Syntax::MistralArray => "mistral",
            Syntax::MistralArgs => "mistral-args",
            Syntax::Harmony => "harmony",
            Syntax::DeepSeekV31 => "deepseek-v3.1",
            Syntax::DeepSeekR1 => "deepseek-r1",
            Syntax::Json => "json",
        }
    }

    /// Special tokens whose text the parser needs to see (a model's control tokens are otherwise
    /// rendered as nothing).
    pub fn special_tokens(self) -> &'static [&'static str] {
        match self {
            Syntax::Hermes | Syntax::Json => &["<tool_call>", "</tool_call>"],
            Syntax::Llama3 => &["<|python_tag|>"],
            Syntax::MistralArray | Syntax::MistralArgs => &["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"],
            Syntax::Harmony => &["<|channel|>", "<|message|>", "<|start|>", "<|end|>", "<|constrain|>"],
            Syntax::DeepSeekV31 | Syntax::DeepSeekR1 => {
                &[DEEPSEEK_CALLS_BEGIN, DEEPSEEK_CALLS_END, DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, DEEPSEEK_SEP]
            }
        }
    }

    /// Whether call ids must be nine alphanumeric characters (Mistral's templates refuse others).
    pub fn short_ids(self) -> bool {
        matches!(self, Syntax::MistralArray | Syntax::MistralArgs)
    }
}

/// How a model marks its reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTags {
    pub open: &'static str,
    pub close: &'static str,
}

pub const THINK: ThinkTags = ThinkTags { open: "<think>", close: "</think>" };
pub const MISTRAL_THINK: ThinkTags = ThinkTags { open: "[THINK]", close: "[/THINK]" };

impl ThinkTags {
    /// The reasoning tags a template uses, if any (gpt-oss reasons in its analysis channel instead).
    pub fn detect(template: Option<&str>) -> Option<ThinkTags> {
        let t = template?;
        if t.contains("[THINK]") {
            Some(MISTRAL_THINK)
        } else if t.contains("<think>") || t.contains("</think>") {
            Some(THINK)
        } else {
            None
        }
    }

    /// True when a rendered prompt leaves the model inside reasoning (R1's and some Qwen3 templates
    /// end the generation prompt with `<think>`).
    pub fn opened_by(self, prompt: &str) -> bool {
        prompt.trim_end().ends_with(self.open)
    }
}

/// Nine alphanumeric characters derived from `id` (Mistral's templates insist on that shape); an id
/// that already has it is kept.
pub fn short_id(id: &str) -> String {
    if id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return id.to_string();
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // FNV-1a, then base 62: stable across runs, so a call and its result keep matching ids.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let c = ALPHABET[(hash % 62) as usize] as char;
            hash /= 62;
            if hash == 0 {
                hash = 0x9e37_79b9_7f4a_7c15;
            }
            c
        })
        .collect()
}
