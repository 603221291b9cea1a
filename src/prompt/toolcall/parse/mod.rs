//! The incremental output parser: text chunks in, content / reasoning / tool-call pieces out, for every call syntax.
//!
//! Text that might be the start of a marker (`<tool_c…`) is held back until the next chunk decides;
//! everything else goes out as soon as it arrives. A call is announced ([`Piece::CallStart`]) once
//! its name is known, its arguments stream as they are written, and [`Piece::CallEnd`] closes it.
//! Text that opened like a call but was not one comes back as [`Piece::Malformed`].

mod harmony;
mod named;

use super::scan::{CallObject, Found, ValueEnd};
use super::{DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALLS_BEGIN, Syntax, ThinkTags};

/// One piece of parsed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Content(String),
    Reasoning(String),
    CallStart {
        index: usize,
        name: String,
    },
    CallArgs {
        index: usize,
        fragment: String,
    },
    /// The call is over; `complete` is false when the output ended inside it.
    CallEnd {
        index: usize,
        complete: bool,
    },
    /// Text that began like a call but is not one (or a call without a name).
    Malformed(String),
}

const PYTHON_TAG: &str = "<|python_tag|>";
const TOOL_CALL: &str = "<tool_call>";
const TOOL_CALL_END: &str = "</tool_call>";
const TOOL_CALLS: &str = "[TOOL_CALLS]";
const ARGS: &str = "[ARGS]";
const CALL_ID: &str = "[CALL_ID]";
const CHANNEL: &str = "<|channel|>";
const MESSAGE: &str = "<|message|>";
const START: &str = "<|start|>";
const END: &str = "<|end|>";
const HARMONY_ENDS: &[&str] = &[END, "<|call|>", "<|return|>", START];

/// Longest function name read in the name-first syntaxes before the text counts as malformed.
const MAX_NAME: usize = 256;

#[derive(Debug, Clone)]
enum Mode {
    Text,
    Reasoning,
    /// A call object; `close` is the marker expected after it (Hermes), `opened` the text that
    /// opened the call (returned when it turns out malformed).
    Object {
        obj: CallObject,
        close: Option<&'static str>,
        opened: String,
        started: bool,
        in_list: bool,
    },
    /// Between a finished call and what follows: separators are dropped, `expect` is consumed if it comes.
    After {
        expect: Option<&'static str>,
    },
    /// Mistral's `[TOOL_CALLS][…]`: objects separated by commas until `]`.
    MistralList,
    /// Mistral's `[TOOL_CALLS]name`: the name, up to `[ARGS]` or `[CALL_ID]`.
    MistralName,
    /// `[CALL_ID]…` up to `[ARGS]`.
    MistralCallId {
        name: String,
    },
    /// DeepSeek: inside the call list, waiting for the next call (or the list's end).
    DeepSeekList,
    /// DeepSeek: a call's header, up to the separator.
    DeepSeekHeader,
    /// DeepSeek R1: the name line after `function<｜tool▁sep｜>`.
    DeepSeekName,
    /// A bare JSON arguments value being streamed; `then` says what follows it.
    Args {
        value: ValueEnd,
        then: AfterArgs,
    },
    /// DeepSeek: after a call's arguments, an optional closing fence and the call's end marker.
    DeepSeekCallEnd,
    /// gpt-oss: a message header, up to `<|message|>`.
    HarmonyHeader,
    /// gpt-oss: a message body of the given kind, up to its end marker.
    HarmonyBody(Body),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterArgs {
    /// Back to text (Mistral).
    Text,
    /// DeepSeek: an optional closing fence, then `<｜tool▁call▁end｜>`.
    DeepSeek,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Reasoning,
    Content,
    Call,
}

/// The parser for one generation.
#[derive(Debug, Clone)]
pub struct Parser {
    syntax: Syntax,
    tools: bool,
    think: Option<ThinkTags>,
    mode: Mode,
    buf: String,
    calls: usize,
    /// Whether anything went out yet (a reasoning block opens only at the start).
    spoke: bool,
    /// Whitespace at the start of the next content is dropped (after reasoning or a call).
    trim_next: bool,
    /// Only the syntax's own call form counts (what a lazy grammar's triggers hold), no bare
    /// JSON objects in Hermes text nor after the start in Llama 3's.
    strict: bool,
    /// The name of the call whose header is being read (name-first syntaxes).
    pending: String,
    out: Vec<Piece>,
}

impl Parser {
    /// `tools`: whether calls are recognised at all; `think`: the model's reasoning tags;
    /// `in_reasoning`: the prompt already opened a reasoning block.
    pub fn new(syntax: Syntax, tools: bool, think: Option<ThinkTags>, in_reasoning: bool) -> Parser {
        let mode = if syntax == Syntax::Harmony {
            Mode::Text
        } else if in_reasoning && think.is_some() {
            Mode::Reasoning
        } else {
            Mode::Text
        };
        Parser {
            syntax,
            tools,
            think,
            mode,
            buf: String::new(),
            calls: 0,
            spoke: false,
            trim_next: true,
            strict: false,
            pending: String::new(),
            out: Vec::new(),
        }
    }

    /// Recognises calls only in the form a grammar constrains (see [`Parser::strict`] field docs).
    pub fn strict(mut self, strict: bool) -> Parser {
        self.strict = strict;
        self
    }

    /// Keeps whitespace at the start of the output (only what follows reasoning is trimmed).
    pub fn keep_whitespace(mut self) -> Parser {
        self.trim_next = false;
        self
    }

    /// Calls announced so far.
    pub fn calls(&self) -> usize {
        self.calls
    }

    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.buf.push_str(text);
        while self.step(false) {}
        self.take()
    }

    /// The output ended: everything held back goes out.
    pub fn finish(&mut self) -> Vec<Piece> {
        while self.step(true) {}
        let rest = std::mem::take(&mut self.buf);
        match std::mem::replace(&mut self.mode, Mode::Text) {
            Mode::Reasoning | Mode::HarmonyBody(Body::Reasoning) => self.reasoning(rest),
            // A harmony call ends with `<|call|>`, an end-of-generation token the text never shows.
            Mode::HarmonyBody(Body::Call) => {
                self.args(rest);
                self.out.push(Piece::CallEnd { index: self.calls - 1, complete: true });
            }
            Mode::Args { .. } => {
                self.args(rest);
                self.out.push(Piece::CallEnd { index: self.calls - 1, complete: false });
            }
            Mode::Object { obj, opened, started, .. } => {
                if started {
                    self.out.push(Piece::CallEnd { index: self.calls - 1, complete: false });
                } else {
                    self.out.push(Piece::Malformed(format!("{opened}{}{rest}", obj.text())));
                }
            }
            Mode::MistralName | Mode::MistralCallId { .. } | Mode::DeepSeekHeader | Mode::DeepSeekName => {
                self.out.push(Piece::Malformed(format!("{}{rest}", std::mem::take(&mut self.pending))));
            }
            // Separators and the start of a marker that never came.
            Mode::After { .. } | Mode::DeepSeekList | Mode::DeepSeekCallEnd | Mode::MistralList => {}
            _ => self.content(rest),
        }
        self.take()
    }

    /// Merges neighbouring pieces of the same kind.
    fn take(&mut self) -> Vec<Piece> {
        let mut merged: Vec<Piece> = Vec::new();
        for piece in self.out.drain(..) {
            match (merged.last_mut(), piece) {
                (Some(Piece::Content(a)), Piece::Content(b)) => a.push_str(&b),
                (Some(Piece::Reasoning(a)), Piece::Reasoning(b)) => a.push_str(&b),
                (Some(Piece::CallArgs { index: i, fragment: a }), Piece::CallArgs { index: j, fragment: b })
                    if *i == j =>
                {
                    a.push_str(&b)
                }
                (_, piece) => merged.push(piece),
            }
        }
        merged.retain(|p| !matches!(p, Piece::Content(s) | Piece::Reasoning(s) if s.is_empty()));
        merged
    }

    fn content(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        if self.trim_next {
            // Whitespace between reasoning (or a call) and the answer is not part of the answer.
            let trimmed = text.trim_start();
            if trimmed.is_empty() {
                return;
            }
            self.trim_next = false;
            self.spoke = true;
            self.out.push(Piece::Content(trimmed.to_string()));
            return;
        }
        self.spoke = true;
        self.out.push(Piece::Content(text));
    }

    fn reasoning(&mut self, text: String) {
        if !text.is_empty() {
            self.spoke = true;
            self.out.push(Piece::Reasoning(text));
        }
    }

    fn args(&mut self, fragment: String) {
        if !fragment.is_empty() {
            self.out.push(Piece::CallArgs { index: self.calls - 1, fragment });
        }
    }

    fn start_call(&mut self, name: String) {
        self.spoke = true;
        self.out.push(Piece::CallStart { index: self.calls, name });
        self.calls += 1;
    }

    /// Removes and returns the first `n` bytes of the buffer.
    fn cut(&mut self, n: usize) -> String {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// One step of progress; false when the buffer cannot be used further without more text.
    fn step(&mut self, eof: bool) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        match std::mem::replace(&mut self.mode, Mode::Text) {
            Mode::Text if self.syntax == Syntax::Harmony => self.harmony_text(eof),
            Mode::Text => self.text(eof),
            Mode::Reasoning => self.in_reasoning(eof),
            Mode::Object { obj, close, opened, started, in_list } => self.object(obj, close, opened, started, in_list),
            Mode::After { expect } => self.after(expect, eof),
            Mode::MistralList => self.mistral_list(),
            Mode::MistralName => self.mistral_name(eof),
            Mode::MistralCallId { name } => self.mistral_call_id(name, eof),
            Mode::DeepSeekList => self.deepseek_list(eof),
            Mode::DeepSeekHeader => self.deepseek_header(eof),
            Mode::DeepSeekName => self.deepseek_name(eof),
            Mode::Args { value, then } => self.bare_args(value, then),
            Mode::DeepSeekCallEnd => self.deepseek_call_end(eof),
            Mode::HarmonyHeader => self.harmony_header(eof),
            Mode::HarmonyBody(body) => self.harmony_body(body, eof),
        }
    }

    /// Markers that open something in text, for this parser.
    fn openers(&self) -> Vec<&'static str> {
        let mut openers = Vec::new();
        if let Some(think) = self.think {
            if !self.spoke {
                openers.push(think.open);
            }
            openers.push(think.close);
        }
        if self.tools {
            match self.syntax {
                Syntax::Hermes => openers.push(TOOL_CALL),
                Syntax::Llama3 => openers.push(PYTHON_TAG),
                Syntax::MistralArray | Syntax::MistralArgs => openers.push(TOOL_CALLS),
                Syntax::DeepSeekV31 | Syntax::DeepSeekR1 => {
                    openers.push(DEEPSEEK_CALLS_BEGIN);
                    openers.push(DEEPSEEK_CALL_BEGIN);
                }
                Syntax::Json | Syntax::Harmony => {}
            }
        }
        openers
    }

    /// The first keys that make a bare JSON object a call in this syntax (`{"name"…`), if bare
    /// objects count at all.
    fn bare_object_keys(&self) -> Option<&'static [&'static str]> {
        match self.syntax {
            _ if !self.tools => None,
            Syntax::Llama3 if self.strict && self.spoke => None,
            Syntax::Llama3 if self.strict => Some(&["\"name\""]),
            Syntax::Llama3 => Some(&["\"name\"", "\"type\""]),
            Syntax::Hermes if self.strict => None,
            Syntax::Json | Syntax::Hermes => Some(&["\"name\""]),
            _ => None,
        }
    }

    fn text(&mut self, eof: bool) -> bool {
        let openers = self.openers();
        let marker = find_first(&self.buf, &openers);
        let brace = match self.bare_object_keys() {
            Some(keys) => find_call_object(&self.buf, keys, eof),
            None => BraceScan::None,
        };
        let brace_at = match brace {
            BraceScan::At(b) | BraceScan::Undecided(b) => Some(b),
            BraceScan::None => None,
        };
        if let Some(b) = brace_at
            && marker.is_none_or(|(m, _)| b < m)
        {
            let before = self.cut(b);
            self.content(before);
            if let BraceScan::At(_) = brace {
                self.mode = Mode::Object {
                    obj: CallObject::new(),
                    close: None,
                    opened: String::new(),
                    started: false,
                    in_list: false,
                };
                return true;
            }
            return false;
        }
        if let Some((at, marker)) = marker {
            let before = self.cut(at);
            self.content(before);
            let tag = self.cut(marker.len());
            if self.spoke && self.think.is_some_and(|t| t.open == marker) {
                // Text came first, in this very chunk: a reasoning block opens only at the start, so
                // the tag is text, as it is when that text came in an earlier chunk.
                self.content(tag);
                return true;
            }
            self.opened(marker);
            return true;
        }
        let keep = if eof { 0 } else { partial_suffix(&self.buf, &openers) };
        let text = self.cut(self.buf.len() - keep);
        self.content(text);
        false
    }

    /// A marker was read in text.
    fn opened(&mut self, marker: &'static str) {
        let think = self.think;
        match marker {
            m if think.is_some_and(|t| t.open == m) => self.mode = Mode::Reasoning,
            // A close tag without its opening: the reasoning leaked into content; drop the tag.
            m if think.is_some_and(|t| t.close == m) => self.trim_next = true,
            TOOL_CALL => {
                self.mode = Mode::Object {
                    obj: CallObject::new(),
                    close: Some(TOOL_CALL_END),
                    opened: TOOL_CALL.into(),
                    started: false,
                    in_list: false,
                }
            }
            PYTHON_TAG => {
                self.mode = Mode::Object {
                    obj: CallObject::new(),
                    close: None,
                    opened: PYTHON_TAG.into(),
                    started: false,
                    in_list: false,
                }
            }
            TOOL_CALLS => {
                self.pending = TOOL_CALLS.into();
                self.mode = Mode::MistralName;
            }
            DEEPSEEK_CALLS_BEGIN => self.mode = Mode::DeepSeekList,
            DEEPSEEK_CALL_BEGIN => {
                self.pending = DEEPSEEK_CALL_BEGIN.into();
                self.mode = Mode::DeepSeekHeader;
            }
            _ => {}
        }
    }

    fn in_reasoning(&mut self, eof: bool) -> bool {
        let close = self.think.map_or("</think>", |t| t.close);
        if let Some(at) = self.buf.find(close) {
            let text = self.cut(at);
            self.reasoning(text);
            self.cut(close.len());
            self.trim_next = true;
            self.mode = Mode::Text;
            return true;
        }
        let keep = if eof { 0 } else { partial_suffix(&self.buf, &[close]) };
        let text = self.cut(self.buf.len() - keep);
        self.reasoning(text);
        self.mode = Mode::Reasoning;
        false
    }

    fn object(
        &mut self,
        mut obj: CallObject,
        close: Option<&'static str>,
        opened: String,
        mut started: bool,
        in_list: bool,
    ) -> bool {
        let mut found = Vec::new();
        let used = obj.feed(&self.buf, &mut found);
        self.cut(used);
        for f in found {
            match f {
                Found::Name(name) => {
                    started = true;
                    self.start_call(name);
                }
                Found::Args(fragment) => self.args(fragment),
            }
        }
        if obj.is_done() {
            if started {
                self.out.push(Piece::CallEnd { index: self.calls - 1, complete: true });
                self.trim_next = true;
            } else {
                self.out.push(Piece::Malformed(format!("{opened}{}", obj.text())));
            }
            self.mode = if in_list { Mode::MistralList } else { Mode::After { expect: close } };
            return true;
        }
        if obj.is_broken() {
            if started {
                self.out.push(Piece::CallEnd { index: self.calls - 1, complete: false });
            } else {
                self.out.push(Piece::Malformed(format!("{opened}{}", obj.text())));
            }
            self.mode = Mode::Text;
            return true;
        }
        self.mode = Mode::Object { obj, close, opened, started, in_list };
        false
    }

    fn after(&mut self, expect: Option<&'static str>, eof: bool) -> bool {
        let skip = self.buf.len() - self.buf.trim_start_matches(|c: char| c.is_whitespace() || c == ';').len();
        self.cut(skip);
        if self.buf.is_empty() {
            self.mode = Mode::After { expect };
            return false;
        }
        if let Some(marker) = expect {
            if self.buf.starts_with(marker) {
                self.cut(marker.len());
                return true;
            }
            if !eof && marker.starts_with(self.buf.as_str()) {
                self.mode = Mode::After { expect };
                return false;
            }
        }
        true
    }
}

/// The earliest of `markers` in `text`: (byte offset, marker).
fn find_first(text: &str, markers: &[&'static str]) -> Option<(usize, &'static str)> {
    markers
        .iter()
        .filter_map(|m| text.find(m).map(|at| (at, *m)))
        .min_by_key(|(at, m)| (*at, std::cmp::Reverse(m.len())))
}

/// Bytes at the end of `text` that could be the start of one of `markers`.
fn partial_suffix(text: &str, markers: &[&str]) -> usize {
    let mut keep = 0;
    for marker in markers {
        for len in (1..marker.len()).rev() {
            if len <= keep {
                break;
            }
            if marker.is_char_boundary(len) && text.ends_with(&marker[..len]) {
                keep = len;
                break;
            }
        }
    }
    keep
}

enum BraceScan {
    None,
    /// A call object starts at this offset.
    At(usize),
    /// An object starting here may be a call: more text decides.
    Undecided(usize),
}

/// The first `{` whose first key is one of `keys` (whitespace allowed before it).
fn find_call_object(text: &str, keys: &[&str], eof: bool) -> BraceScan {
    let mut from = 0;
    while let Some(rel) = text[from..].find('{') {
        let at = from + rel;
        let rest = text[at + 1..].trim_start();
        if keys.iter().any(|k| rest.starts_with(k)) {
            return BraceScan::At(at);
        }
        if !eof && keys.iter().any(|k| k.starts_with(rest)) {
            return BraceScan::Undecided(at);
        }
        from = at + 1;
    }
    BraceScan::None
}
