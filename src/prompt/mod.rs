//! Prompt building for code suggestions: per-family FIM layouts and instructions, token budgets, post-processing. Pure text in, text out.
//!
//! The module does no I/O. Callers hand it the editor's text, a token counter and a budget, and get
//! back a [`PromptPlan`] (prompt, stop strings, sampling parameters); model output goes back through
//! [`clean_completion`], [`clean_generation`] or a [`LineCutter`].
//!
//! Submodules: `family` (names, budgets), `language` (file name → language), `budget` (token-aware
//! truncation), `completion` (FIM prompts), `generation` + `extras` (code-generation prompts),
//! `clean` (completion post-processing), `generated` (generation post-processing and streaming).

pub mod agent;
mod budget;
pub mod chat_template;
mod clean;
mod completion;
mod extras;
mod family;
mod generated;
mod generation;
mod language;
pub mod react;
pub mod registry;
pub mod toolcall;

pub use budget::{keep_end, keep_start};
pub use clean::{blank_if_whitespace, cut_at_suffix, strip_markers, trim_prefix_echo, unescape_mixtral};
pub use completion::{FIM_RAW_MAX_TOKENS, FIM_RAW_TEMPERATURE, completion, fim_raw, fim_stops};
pub use family::Family;
pub use generated::{LineCutter, drop_echoed_lines, strip_fences};
pub use generation::{DEFAULT_INSTRUCTION, generation};
pub use language::language;

/// Why a prompt could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error(
        "unknown model family `{0}`; expected one of codestral, mistral, mixtral, codegemma, codellama, deepseekcoder, llama3, gpt, claude_3, general, qwen, gemini (or the completion models codestral-2501, codestral-2508, qwen2p5-coder-7b)"
    )]
    UnknownFamily(String),
}

/// Counts tokens; the caller passes the local model's tokenizer, or `Estimate` for remote models.
pub trait TokenCount {
    fn count(&self, text: &str) -> usize;
}

/// ~4 characters per token, for models whose tokenizer is not local.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate;

impl TokenCount for Estimate {
    fn count(&self, text: &str) -> usize {
        text.chars().count().div_ceil(4)
    }
}

/// What the editor sent for a code completion.
#[derive(Debug, Clone, Copy)]
pub struct CompletionInput<'a> {
    pub file_name: &'a str,
    /// Lower-case language name, see [`language`].
    pub language: &'a str,
    /// Text above (before) the cursor.
    pub prefix: &'a str,
    /// Text below (after) the cursor.
    pub suffix: &'a str,
    /// extra snippets (open tabs…): (name, content)
    pub context: &'a [(String, String)],
}

/// What the editor sent for a code generation.
#[derive(Debug, Clone, Copy)]
pub struct GenerationInput<'a> {
    pub file_name: &'a str,
    /// Lower-case language name, see [`language`].
    pub language: &'a str,
    pub prefix: &'a str,
    pub suffix: &'a str,
    /// prompt_enhancer.user_instruction, or the legacy `prompt`
    pub instruction: Option<&'a str>,
    /// prompt_enhancer fields if present: libraries, related_files, related_snippets, examples_array (as JSON)
    pub enhancer: Option<&'a serde_json::Value>,
}

/// A built prompt: either raw text for a text-completion call (FIM on a local model) or chat messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Built {
    Raw(String),
    Chat(Vec<Message>),
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    /// "system" | "user" | "assistant"
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: "system".into(), content: content.into() }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Message { role: "user".into(), content: content.into() }
    }
}

/// A prompt plus the parameters to run it with.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptPlan {
    pub prompt: Built,
    pub stop: Vec<String>,
    pub temperature: f32,
    pub max_tokens: u32,
    /// tokens of context snippets that made it in
    pub context_tokens_used: usize,
    /// tokens of all context snippets the caller supplied
    pub context_tokens_sent: usize,
}

/// Post-processing of a NON-streamed completion: [`strip_markers`], [`trim_prefix_echo`],
/// [`cut_at_suffix`], [`unescape_mixtral`], [`blank_if_whitespace`], in that order; an empty
/// intermediate result ends the chain.
pub fn clean_completion(output: &str, prefix: &str, suffix: &str, family: Option<Family>) -> String {
    clean::clean_completion(output, prefix, suffix, family)
}

/// Post-processing of a NON-streamed generation: [`strip_fences`], [`drop_echoed_lines`], a leading
/// newline when the prefix ends mid-line, whitespace-only → "".
pub fn clean_generation(output: &str, prefix: &str) -> String {
    generated::clean_generation(output, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_four_chars_per_token_rounded_up() {
        for (text, want) in [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("ééééé", 2), ("12345678", 2)] {
            assert_eq!(Estimate.count(text), want, "{text:?}");
        }
    }

    #[test]
    fn messages_serialize_as_role_and_content() {
        let json = serde_json::to_string(&Message::system("hi")).unwrap();
        assert_eq!(json, r#"{"role":"system","content":"hi"}"#);
        assert_eq!(Message::user("x").role, "user");
    }

    #[test]
    fn unknown_family_error_names_the_input() {
        let err = Family::parse("gemma9").unwrap_err();
        assert!(err.to_string().starts_with("unknown model family `gemma9`; expected one of codestral"));
    }
}
