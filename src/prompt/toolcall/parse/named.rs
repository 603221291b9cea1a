//! The parser's name-first call forms: Mistral's `[TOOL_CALLS]` (a JSON list, or `name[ARGS]{…}`) and DeepSeek's tool-call tokens, with their bare JSON arguments.

use super::super::scan::{CallObject, Fed, ValueEnd};
use super::super::{DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, DEEPSEEK_CALLS_END, DEEPSEEK_SEP, Syntax};
use super::{ARGS, AfterArgs, CALL_ID, MAX_NAME, Mode, Parser, Piece, TOOL_CALLS, find_first, partial_suffix};

impl Parser {
    pub(super) fn mistral_name(&mut self, eof: bool) -> bool {
        if self.pending == TOOL_CALLS {
            let trimmed = self.buf.trim_start();
            if trimmed.is_empty() {
                self.buf.clear();
                self.mode = Mode::MistralName;
                return false;
            }
            let skip = self.buf.len() - trimmed.len();
            self.cut(skip);
            if self.buf.starts_with('[') && !self.buf.starts_with(ARGS) && !self.buf.starts_with(CALL_ID) {
                self.cut(1);
                self.pending.clear();
                self.mode = Mode::MistralList;
                return true;
            }
        }
        let ends = [ARGS, CALL_ID];
        if let Some((at, marker)) = find_first(&self.buf, &ends) {
            let name_part = self.cut(at);
            self.cut(marker.len());
            let raw = format!("{}{name_part}", self.pending.strip_prefix(TOOL_CALLS).unwrap_or(&self.pending));
            self.pending.clear();
            let name = raw.trim().to_string();
            // The same rule as for a name still arriving (below): no whitespace inside it.
            if name.is_empty() || name.len() > MAX_NAME || name.contains(char::is_whitespace) {
                self.out.push(Piece::Malformed(format!("{TOOL_CALLS}{raw}{marker}")));
                self.mode = Mode::Text;
                return true;
            }
            if marker == CALL_ID {
                self.mode = Mode::MistralCallId { name };
            } else {
                self.start_call(name);
                self.mode = Mode::Args { value: ValueEnd::default(), then: AfterArgs::Text };
            }
            return true;
        }
        let keep = if eof { 0 } else { partial_suffix(&self.buf, &ends) };
        let part = self.cut(self.buf.len() - keep);
        self.pending.push_str(&part);
        // Whitespace may still end the name (`name [ARGS]`); inside it, it makes the call malformed.
        if self.pending.len() > MAX_NAME + TOOL_CALLS.len() || self.pending.trim_end().contains(char::is_whitespace) {
            let text = std::mem::take(&mut self.pending);
            self.out.push(Piece::Malformed(text));
            self.mode = Mode::Text;
            return true;
        }
        self.mode = Mode::MistralName;
        false
    }

    pub(super) fn mistral_call_id(&mut self, name: String, eof: bool) -> bool {
        if let Some(at) = self.buf.find(ARGS) {
            self.cut(at + ARGS.len());
            self.start_call(name);
            self.mode = Mode::Args { value: ValueEnd::default(), then: AfterArgs::Text };
            return true;
        }
        let keep = if eof { 0 } else { partial_suffix(&self.buf, &[ARGS]) };
        self.cut(self.buf.len() - keep);
        self.mode = Mode::MistralCallId { name };
        false
    }

    pub(super) fn mistral_list(&mut self) -> bool {
        let skip = self.buf.len() - self.buf.trim_start_matches(|c: char| c.is_whitespace() || c == ',').len();
        self.cut(skip);
        if self.buf.is_empty() {
            self.mode = Mode::MistralList;
            return false;
        }
        if self.buf.starts_with(']') {
            self.cut(1);
            self.mode = Mode::Text;
            return true;
        }
        if self.buf.starts_with('{') {
            self.mode = Mode::Object {
                obj: CallObject::new(),
                close: None,
                opened: String::new(),
                started: false,
                in_list: true,
            };
            return true;
        }
        let rest = std::mem::take(&mut self.buf);
        self.out.push(Piece::Malformed(rest));
        true
    }

    pub(super) fn deepseek_list(&mut self, eof: bool) -> bool {
        let skip = self.buf.len() - self.buf.trim_start().len();
        self.cut(skip);
        for (marker, next) in [(DEEPSEEK_CALL_BEGIN, true), (DEEPSEEK_CALLS_END, false)] {
            if self.buf.starts_with(marker) {
                self.cut(marker.len());
                if next {
                    self.pending = DEEPSEEK_CALL_BEGIN.into();
                    self.mode = Mode::DeepSeekHeader;
                }
                return true;
            }
            if !eof && marker.starts_with(self.buf.as_str()) {
                self.mode = Mode::DeepSeekList;
                return false;
            }
        }
        !self.buf.is_empty()
    }

    pub(super) fn deepseek_header(&mut self, eof: bool) -> bool {
        if let Some(at) = self.buf.find(DEEPSEEK_SEP) {
            let header = self.cut(at);
            self.cut(DEEPSEEK_SEP.len());
            let header = format!("{}{header}", self.pending.strip_prefix(DEEPSEEK_CALL_BEGIN).unwrap_or(""));
            self.pending.clear();
            if header.trim() == "function" && self.syntax == Syntax::DeepSeekR1 {
                self.mode = Mode::DeepSeekName;
            } else {
                self.start_call(header.trim().to_string());
                self.mode = Mode::Args { value: ValueEnd::default(), then: AfterArgs::DeepSeek };
            }
            return true;
        }
        let keep = if eof { 0 } else { partial_suffix(&self.buf, &[DEEPSEEK_SEP]) };
        let part = self.cut(self.buf.len() - keep);
        self.pending.push_str(&part);
        if self.pending.len() > MAX_NAME + DEEPSEEK_CALL_BEGIN.len() {
            let text = std::mem::take(&mut self.pending);
            self.out.push(Piece::Malformed(text));
            self.mode = Mode::Text;
            return true;
        }
        self.mode = Mode::DeepSeekHeader;
        false
    }

    pub(super) fn deepseek_name(&mut self, eof: bool) -> bool {
        const FENCE: &str = "```json";
        let Some(nl) = self.buf.find('\n') else {
            if eof || self.buf.len() > MAX_NAME {
                let text = std::mem::take(&mut self.buf);
                self.out.push(Piece::Malformed(format!("{DEEPSEEK_CALL_BEGIN}function{DEEPSEEK_SEP}{text}")));
                return true;
            }
            self.mode = Mode::DeepSeekName;
            return false;
        };
        let after = &self.buf[nl + 1..];
        let trimmed = after.trim_start();
        if !eof && trimmed.len() < FENCE.len() && FENCE.starts_with(trimmed) {
            self.mode = Mode::DeepSeekName;
            return false;
        }
        let skip = nl + 1 + (after.len() - trimmed.len());
        let name = self.buf[..nl].trim().to_string();
        self.cut(skip);
        if self.buf.starts_with(FENCE) {
            self.cut(FENCE.len());
        }
        self.start_call(name);
        self.mode = Mode::Args { value: ValueEnd::default(), then: AfterArgs::DeepSeek };
        true
    }

    pub(super) fn deepseek_call_end(&mut self, eof: bool) -> bool {
        let skip = self.buf.len() - self.buf.trim_start().len();
        self.cut(skip);
        for marker in ["```", DEEPSEEK_CALL_END] {
            if self.buf.starts_with(marker) {
                self.cut(marker.len());
                self.mode = if marker == DEEPSEEK_CALL_END { Mode::DeepSeekList } else { Mode::DeepSeekCallEnd };
                return true;
            }
            if !eof && marker.starts_with(self.buf.as_str()) {
                self.mode = Mode::DeepSeekCallEnd;
                return false;
            }
        }
        self.mode = Mode::DeepSeekList;
        true
    }

    pub(super) fn bare_args(&mut self, mut value: ValueEnd, then: AfterArgs) -> bool {
        let mut used = self.buf.len();
        let mut done = false;
        let mut fragment = String::new();
        for (i, c) in self.buf.char_indices() {
            match value.feed(c) {
                Fed::Skipped => {}
                Fed::More => fragment.push(c),
                Fed::Last => {
                    fragment.push(c);
                    used = i + c.len_utf8();
                    done = true;
                    break;
                }
                Fed::After => {
                    used = i;
                    done = true;
                    break;
                }
            }
        }
        self.cut(used);
        self.args(fragment);
        if !done {
            self.mode = Mode::Args { value, then };
            return false;
        }
        self.out.push(Piece::CallEnd { index: self.calls - 1, complete: true });
        self.trim_next = true;
        self.mode = match then {
            AfterArgs::Text => Mode::Text,
            AfterArgs::DeepSeek => Mode::DeepSeekCallEnd,
        };
        true
    }
}
