//! The parser's gpt-oss harmony form: messages with headers (`<|channel|>…`, `to=functions.name`) and bodies that are reasoning, content or a call's arguments.

use super::{Body, CHANNEL, HARMONY_ENDS, MESSAGE, Mode, Parser, Piece, START, find_first, partial_suffix};

impl Parser {
    pub(super) fn harmony_text(&mut self, eof: bool) -> bool {
        let markers = [CHANNEL, START];
        // The prompt ends with `<|start|>assistant`, so the first header may begin right away with
        // its recipient: ` to=functions.name<|channel|>commentary json<|message|>`.
        let recipient_first = !self.spoke && {
            let head = self.buf.trim_start();
            head.starts_with("to=") || (!eof && "to=".starts_with(head))
        };
        match find_first(&self.buf, &markers) {
            Some((at, marker)) => {
                let before = self.cut(at);
                self.cut(marker.len());
                if recipient_first {
                    self.pending = format!("{before}{marker}");
                } else {
                    self.content(before);
                    self.pending = marker.to_string();
                }
                self.mode = Mode::HarmonyHeader;
                true
            }
            None if recipient_first && !eof => false,
            None => {
                let keep = if eof { 0 } else { partial_suffix(&self.buf, &markers) };
                let text = self.cut(self.buf.len() - keep);
                self.content(text);
                false
            }
        }
    }

    pub(super) fn harmony_header(&mut self, eof: bool) -> bool {
        let Some(at) = self.buf.find(MESSAGE) else {
            if eof {
                self.buf.clear();
                return false;
            }
            self.mode = Mode::HarmonyHeader;
            return false;
        };
        let header = format!("{}{}", std::mem::take(&mut self.pending), self.cut(at));
        self.cut(MESSAGE.len());
        let channel = header
            .split(CHANNEL)
            .nth(1)
            .and_then(|s| s.split(|c: char| c.is_whitespace() || c == '<').next())
            .unwrap_or("");
        let recipient = header
            .split("to=")
            .nth(1)
            .and_then(|s| s.split(|c: char| c.is_whitespace() || c == '<').next())
            .unwrap_or("");
        let body = match (channel, recipient.strip_prefix("functions.")) {
            (_, Some(name)) if self.tools && !name.is_empty() => {
                self.start_call(name.to_string());
                Body::Call
            }
            ("analysis", _) => Body::Reasoning,
            _ => Body::Content,
        };
        self.mode = Mode::HarmonyBody(body);
        true
    }

    pub(super) fn harmony_body(&mut self, body: Body, eof: bool) -> bool {
        let found = find_first(&self.buf, HARMONY_ENDS);
        let end = found.map_or(self.buf.len() - if eof { 0 } else { partial_suffix(&self.buf, HARMONY_ENDS) }, |f| f.0);
        let text = self.cut(end);
        match body {
            Body::Reasoning => self.reasoning(text),
            Body::Content => self.content(text),
            Body::Call => self.args(text),
        }
        let Some((_, marker)) = found else {
            self.mode = Mode::HarmonyBody(body);
            return false;
        };
        if body == Body::Call {
            self.out.push(Piece::CallEnd { index: self.calls - 1, complete: true });
            self.trim_next = true;
        }
        if marker == START {
            self.pending = START.into();
            self.cut(START.len());
            self.mode = Mode::HarmonyHeader;
        } else {
            self.cut(marker.len());
            self.mode = Mode::Text;
        }
        true
    }
}
