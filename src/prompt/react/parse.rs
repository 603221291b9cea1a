//! Incremental parser for ReAct model output: streams the final answer, or reports the tool call at the end.
//!
//! The model continues a prefill that ends in `Thought:`, so the text is read as if it began with
//! `Thought: `. A leading `<think>…</think>` block (or a leaked `</think>` before any answer) is dropped.
//! Once `Final Answer:` appears, everything after it is the answer and is emitted as it grows, with
//! trailing whitespace held back. Otherwise, when the stream ends, `Action:` / `Action Input:` give a
//! tool call, and anything else is reported as unknown text.

#[cfg(test)]
mod tests;

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
const FINAL_ANSWER: &str = "Final Answer:";

/// What the parser found in the model output.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedEvent {
    /// New answer text; `finish_reason` is set only on the last one.
    FinalAnswerDelta { text: String, finish_reason: Option<String> },
    /// The model picked a tool (only after the stream ended).
    Action { tool: String, tool_input: String, thought: String },
    /// Neither an answer nor a tool call; `text` is the whole output, trimmed.
    Unknown { text: String },
    /// The model picked a tool that was not offered, or something else went wrong.
    Error { message: String, retryable: bool },
}

/// Where the parser is in the output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Only whitespace or a prefix of `<think>` so far.
    Start,
    /// Inside a leading `<think>` block; `</think>` is searched from `scan`.
    Think { scan: usize },
    /// Ordinary text starting at `start`; markers are searched from `scan`. `think_done` once a think
    /// block (leading or leaked) was removed, so a later `</think>` is plain text.
    Body { start: usize, scan: usize, think_done: bool },
    /// The answer starts at `start` (just after `Final Answer:`); bytes up to `emitted` were sent.
    Answer { start: usize, emitted: usize },
}

/// Incremental ReAct output parser; feed it chunks with [`ReactParser::push`], then call [`ReactParser::finish`].
#[derive(Debug, Clone)]
pub struct ReactParser {
    offered: Vec<String>,
    raw: String,
    phase: Phase,
}

impl ReactParser {
    /// `offered` = names of the tools offered in the prompt.
    pub fn new(offered: Vec<String>) -> Self {
        ReactParser { offered, raw: String::new(), phase: Phase::Start }
    }

    /// Feed the next chunk of model output (the continuation after the `Thought:` prefill). Returns
    /// `FinalAnswerDelta` events with `finish_reason: None` as the answer grows.
    pub fn push(&mut self, chunk: &str) -> Vec<ParsedEvent> {
        self.raw.push_str(chunk);
        self.advance();
        match self.take_answer() {
            Some(text) if !text.is_empty() => vec![ParsedEvent::FinalAnswerDelta { text, finish_reason: None }],
            _ => Vec::new(),
        }
    }

    /// The model finished (`finish_reason` from the engine: "stop", "length", …). Returns the last
    /// answer delta (possibly empty) with the finish reason, or the tool call, or the unknown text.
    pub fn finish(mut self, finish_reason: &str) -> Vec<ParsedEvent> {
        self.advance();
        if let Some(text) = self.take_answer() {
            return vec![ParsedEvent::FinalAnswerDelta { text, finish_reason: Some(finish_reason.to_string()) }];
        }
        // Still empty, or thinking when the stream ended: nothing to parse.
        let body = match self.phase {
            Phase::Body { start, .. } => &self.raw[start..],
            _ => return vec![ParsedEvent::Unknown { text: self.raw.trim().to_string() }],
        };
        let unknown = || vec![ParsedEvent::Unknown { text: body.trim().to_string() }];
        let Some(action) = parse_action(body) else {
            return unknown();
        };
        if action.tool == "direct_answer" {
            return unknown();
        }
        if !self.offered.contains(&action.tool) {
            return vec![ParsedEvent::Error { message: "tool not available".to_string(), retryable: false }];
        }
        vec![ParsedEvent::Action { tool: action.tool, tool_input: action.tool_input, thought: action.thought }]
    }

    /// Move through the phases as far as the text so far allows.
    fn advance(&mut self) {
        loop {
            let next = match self.phase {
                Phase::Start => {
                    let trimmed = self.raw.trim_start();
                    let offset = self.raw.len() - trimmed.len();
                    if trimmed.starts_with(THINK_OPEN) {
                        Phase::Think { scan: offset + THINK_OPEN.len() }
                    } else if THINK_OPEN.starts_with(trimmed) {
                        return; // empty, or maybe the start of `<think>`
                    } else {
                        Phase::Body { start: 0, scan: 0, think_done: false }
                    }
                }
                Phase::Think { scan } => match find(&self.raw, THINK_CLOSE, scan, false) {
                    Some(at) => {
                        let start = at + THINK_CLOSE.len();
                        Phase::Body { start, scan: start, think_done: true }
                    }
                    None => {
                        self.phase = Phase::Think { scan: rescan_from(&self.raw, THINK_CLOSE) };
                        return;
                    }
                },
                Phase::Body { start, scan, think_done } => {
                    let answer = find(&self.raw, FINAL_ANSWER, scan, false);
                    let close = if think_done { None } else { find(&self.raw, THINK_CLOSE, scan, false) };
                    match (answer, close) {
                        (Some(a), Some(c)) if c < a => {
                            let start = c + THINK_CLOSE.len();
                            Phase::Body { start, scan: start, think_done: true }
                        }
                        (Some(a), _) => Phase::Answer { start: a + FINAL_ANSWER.len(), emitted: 0 },
                        (None, Some(c)) => {
                            let start = c + THINK_CLOSE.len();
                            Phase::Body { start, scan: start, think_done: true }
                        }
                        (None, None) => {
                            let scan = rescan_from(&self.raw, FINAL_ANSWER).min(rescan_from(&self.raw, THINK_CLOSE));
                            self.phase = Phase::Body { start, scan: scan.max(start), think_done };
                            return;
                        }
                    }
                }
                Phase::Answer { .. } => return,
            };
            self.phase = next;
        }
    }

    /// The answer text not yet emitted (None when no answer was found). Trailing whitespace is held
    /// back until more text follows it, so at the end it is dropped.
    fn take_answer(&mut self) -> Option<String> {
        let Phase::Answer { start, emitted } = self.phase else {
            return None;
        };
        let answer = &self.raw[start..];
        let lead = answer.len() - answer.trim_start().len();
        let from = (start + lead).max(emitted);
        let end = self.raw.trim_end().len().max(from);
        self.phase = Phase::Answer { start, emitted: end };
        Some(self.raw[from..end].to_string())
    }
}

/// Where to resume a search for `needle` so that a match straddling the end of `text` is still found.
fn rescan_from(text: &str, needle: &str) -> usize {
    text.len().saturating_sub(needle.len() - 1)
}

/// Byte position of `needle` (ASCII) in `hay` at or after `from`; ASCII case-insensitive if asked.
/// An ASCII match always sits on a char boundary, so `from` need not be one.
fn find(hay: &str, needle: &str, from: usize, ignore_case: bool) -> Option<usize> {
    let hay = hay.as_bytes();
    let needle = needle.as_bytes();
    if from >= hay.len() || hay.len() - from < needle.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| if ignore_case { w.eq_ignore_ascii_case(needle) } else { w == needle })
        .map(|p| p + from)
}

/// A tool call read from the output.
#[derive(Debug, PartialEq)]
struct ParsedAction {
    tool: String,
    tool_input: String,
    thought: String,
}

/// Reads `Action:` / `Action Input:` / the thought before them; None if there is no (non-empty) action.
fn parse_action(body: &str) -> Option<ParsedAction> {
    let text = format!("Thought: {body}");
    let action_at = find_label(&text, "action:", 0)?;
    let after_action = action_at + "action:".len();
    let rest = &text[after_action..];
    let line = rest.trim_start_matches([' ', '\t']);
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let line = match find_word(line, "action") {
        Some(at) => &line[..at],
        None => line,
    };
    let tool = normalise_tool(line);
    if tool.is_empty() {
        return None;
    }
    let tool_input = match find_label(&text, "action input:", after_action) {
        Some(at) => {
            let input = &text[at + "action input:".len()..];
            let input = match find_label(input, "observation:", 0) {
                Some(end) => &input[..end],
                None => input,
            };
            unescape(input.trim())
        }
        None => String::new(),
    };
    let before = &text[..action_at];
    let mut thought_at = 0;
    let mut from = 0;
    while let Some(at) = find_label(before, "thought:", from) {
        thought_at = at + "thought:".len();
        from = thought_at;
    }
    let thought = unescape(before[thought_at..].trim());
    Some(ParsedAction { tool, tool_input, thought })
}

/// A `label` (lower-case ASCII, e.g. "action:") that starts a word, case-insensitive.
fn find_label(text: &str, label: &str, from: usize) -> Option<usize> {
    let mut from = from;
    while let Some(at) = find(text, label, from, true) {
        if at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric() {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `word` (case-insensitive) after whitespace, not at the very start.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 1;
    while let Some(at) = find(text, word, from, true) {
        if text.as_bytes()[at - 1].is_ascii_whitespace() {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `\_` → `_` (models trained on Markdown escape underscores).
fn unescape(text: &str) -> String {
    text.replace("\\_", "_")
}

/// The tool name as written by the model → the canonical snake_case name.
fn normalise_tool(raw: &str) -> String {
    let wrappers = |c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '*' | '[' | ']' | '<' | '>' | '.');
    let name = unescape(raw.trim().trim_matches(wrappers));
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        if c.is_whitespace() || c == '-' {
            if !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        out.extend(c.to_lowercase());
    }
    // "GitLab" splits into "git_lab" above; the tool names spell it "gitlab".
    out.replace("git_lab", "gitlab")
}
