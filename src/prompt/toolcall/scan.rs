//! Incremental JSON scanning for tool calls: where a JSON value ends, and the `name` and arguments of a call object as its text arrives.
//!
//! The scanners track structure only (nesting, strings, escapes); whether the text is valid JSON is
//! decided once a call is complete (serde and the schema validator).

/// Where one JSON value ends, fed one character at a time.
#[derive(Debug, Clone, Default)]
pub(super) struct ValueEnd {
    depth: usize,
    in_string: bool,
    escape: bool,
    started: bool,
    /// A bare number, `true`, `false` or `null`.
    scalar: bool,
}

/// What a character did to a [`ValueEnd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fed {
    /// Leading whitespace, before the value.
    Skipped,
    /// Part of the value, which goes on.
    More,
    /// Part of the value, which it completes.
    Last,
    /// Not part of the value: a scalar ended just before it.
    After,
}

impl ValueEnd {
    pub fn feed(&mut self, c: char) -> Fed {
        if !self.started {
            if c.is_whitespace() {
                return Fed::Skipped;
            }
            self.started = true;
            match c {
                '{' | '[' => self.depth = 1,
                '"' => self.in_string = true,
                _ => self.scalar = true,
            }
            return Fed::More;
        }
        if self.scalar {
            return if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') { Fed::More } else { Fed::After };
        }
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if c == '\\' {
                self.escape = true;
            } else if c == '"' {
                self.in_string = false;
                if self.depth == 0 {
                    return Fed::Last;
                }
            }
            return Fed::More;
        }
        match c {
            '"' => self.in_string = true,
            '{' | '[' => self.depth += 1,
            '}' | ']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Fed::Last;
                }
            }
            _ => {}
        }
        Fed::More
    }

    pub fn is_scalar(&self) -> bool {
        self.scalar
    }
}

/// Keys a call object names its function with, and its arguments.
const NAME_KEYS: &[&str] = &["name"];
const ARGUMENT_KEYS: &[&str] = &["arguments", "parameters"];

/// What a [`CallObject`] found in the text it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// The function's name, as soon as its string is complete.
    Name(String),
    /// More of the arguments' JSON text (only once the name is known; what came before is sent then).
    Args(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the opening brace.
    Start,
    ExpectKey,
    InKey,
    ExpectColon,
    ExpectValue,
    InValue,
    AfterValue,
    Done,
    /// Not a call object after all.
    Broken,
}

/// A call object `{"name": "…", "arguments": {…}}` read incrementally: the name as soon as it is
/// complete, the arguments' text as it streams (object and array arguments; a string holding JSON is
/// decoded when complete).
#[derive(Debug, Clone)]
pub(super) struct CallObject {
    at: At,
    escape: bool,
    key: String,
    value: ValueEnd,
    /// Raw text of the value being read.
    raw: String,
    name: Option<String>,
    /// Arguments text read so far, and how much of it was handed out.
    args: String,
    args_sent: usize,
    args_seen: bool,
    /// The raw text of the whole object.
    text: String,
}

impl CallObject {
    pub fn new() -> CallObject {
        CallObject {
            at: At::Start,
            escape: false,
            key: String::new(),
            value: ValueEnd::default(),
            raw: String::new(),
            name: None,
            args: String::new(),
            args_sent: 0,
            args_seen: false,
            text: String::new(),
        }
    }

    pub fn is_done(&self) -> bool {
        self.at == At::Done
    }

    pub fn is_broken(&self) -> bool {
        self.at == At::Broken
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Feeds text until the object is complete; returns how many bytes of `input` were used.
    pub fn feed(&mut self, input: &str, found: &mut Vec<Found>) -> usize {
        for (i, c) in input.char_indices() {
            if matches!(self.at, At::Done | At::Broken) {
                return i;
            }
            self.step(c, found);
            if self.at == At::Broken {
                return i;
            }
            if self.at != At::Start || !c.is_whitespace() {
                self.text.push(c);
            }
        }
        input.len()
    }

    fn step(&mut self, c: char, found: &mut Vec<Found>) {
        match self.at {
            At::Start => match c {
                '{' => self.at = At::ExpectKey,
                c if c.is_whitespace() => {}
                _ => self.at = At::Broken,
            },
            At::ExpectKey => match c {
                '"' => {
                    self.at = At::InKey;
                    self.key.clear();
                }
                '}' => self.finish(found),
                c if c.is_whitespace() || c == ',' => {}
                _ => self.at = At::Broken,
            },
            At::InKey => {
                if self.escape {
                    self.escape = false;
                    self.key.push(c);
                } else if c == '\\' {
                    self.escape = true;
                } else if c == '"' {
                    self.at = At::ExpectColon;
                } else {
                    self.key.push(c);
                }
            }
            At::ExpectColon => match c {
                ':' => {
                    self.at = At::ExpectValue;
                    self.value = ValueEnd::default();
                    self.raw.clear();
                }
                c if c.is_whitespace() => {}
                _ => self.at = At::Broken,
            },
            At::ExpectValue | At::InValue => match self.value.feed(c) {
                Fed::Skipped => {}
                Fed::More => {
                    self.at = At::InValue;
                    self.raw.push(c);
                    self.stream_args(c, found);
                }
                Fed::Last => {
                    self.raw.push(c);
                    self.stream_args(c, found);
                    self.end_value(found);
                    self.at = At::AfterValue;
                }
                Fed::After => {
                    self.end_value(found);
                    self.at = At::AfterValue;
                    self.step(c, found);
                }
            },
            At::AfterValue => match c {
                ',' => self.at = At::ExpectKey,
                '}' => self.finish(found),
                c if c.is_whitespace() => {}
                _ => self.at = At::Broken,
            },
            At::Done | At::Broken => {}
        }
    }

    fn is_args_key(&self) -> bool {
        ARGUMENT_KEYS.contains(&self.key.as_str())
    }

    /// Hands out new argument text while an object or array value streams.
    fn stream_args(&mut self, c: char, found: &mut Vec<Found>) {
        if !self.is_args_key() || self.value.is_scalar() || self.raw.starts_with('"') {
            return;
        }
        self.args_seen = true;
        self.args.push(c);
        self.flush_args(found);
    }

    fn flush_args(&mut self, found: &mut Vec<Found>) {
        if self.name.is_some() && self.args.len() > self.args_sent {
            found.push(Found::Args(self.args[self.args_sent..].to_string()));
            self.args_sent = self.args.len();
        }
    }

    fn end_value(&mut self, found: &mut Vec<Found>) {
        if NAME_KEYS.contains(&self.key.as_str()) && self.name.is_none() {
            if let Ok(name) = serde_json::from_str::<String>(&self.raw) {
                self.name = Some(name.clone());
                found.push(Found::Name(name));
                self.flush_args(found);
            }
        } else if self.is_args_key() && !self.args_seen {
            self.args_seen = true;
            // A JSON string holding the arguments (some models encode them), or a scalar as it is.
            self.args = match serde_json::from_str::<String>(&self.raw) {
                Ok(inner) if self.raw.starts_with('"') => inner,
                _ => self.raw.clone(),
            };
            self.flush_args(found);
        }
    }

    fn finish(&mut self, found: &mut Vec<Found>) {
        self.at = At::Done;
        if !self.args_seen {
            self.args_seen = true;
            self.args = "{}".into();
        }
        self.flush_args(found);
    }
}
