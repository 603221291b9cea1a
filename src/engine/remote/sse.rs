//! Server-sent events decoding: bytes as they arrive (split anywhere, LF / CRLF / CR line ends, comment lines) to each event's `data`.

use std::collections::VecDeque;

/// A line or an event's data longer than this is a broken upstream, not a completion chunk.
const MAX_EVENT_BYTES: usize = 8 << 20;

#[derive(Debug, Default)]
pub(super) struct SseDecoder {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    /// The previous push ended on `\r`: a `\n` starting the next one belongs to that line end.
    after_cr: bool,
}

impl SseDecoder {
    /// Feeds the next bytes; the data of every event they complete is appended to `out`.
    pub(super) fn push(&mut self, mut bytes: &[u8], out: &mut VecDeque<String>) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.after_cr)
            && let Some(rest) = bytes.strip_prefix(b"\n")
        {
            bytes = rest;
        }
        while let Some(at) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..at]);
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
            let cr = bytes[at] == b'\r';
            bytes = &bytes[at + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
            return Err(format!("the model server sent an event larger than {} MiB", MAX_EVENT_BYTES >> 20));
        }
        Ok(())
    }

    /// At the end of the body: an event missing its closing blank line still counts.
    pub(super) fn finish(&mut self, out: &mut VecDeque<String>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
        }
        self.line_done(b"", out);
    }

    fn line_done(&mut self, line: &[u8], out: &mut VecDeque<String>) {
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                out.push_back(std::mem::take(&mut self.data));
            }
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        // `event`, `id`, `retry` and unknown fields carry nothing OpenAI streams use.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]], finish: bool) -> Vec<String> {
        let mut d = SseDecoder::default();
        let mut out = VecDeque::new();
        for p in pieces {
            d.push(p, &mut out).unwrap();
        }
        if finish {
            d.finish(&mut out);
        }
        out.into()
    }

    const STREAM: &[u8] = b": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\nid: 3\ndata:two\ndata: lines\n\n\
        data: caf\xc3\xa9\r\rdata:  spaced\n\ndata\n\ndata: [DONE]\r\n\r\n";

    fn expected() -> Vec<String> {
        ["{\"a\":1}", "two\nlines", "café", " spaced", "", "[DONE]"].map(String::from).to_vec()
    }

    #[test]
    fn whole_stream() {
        assert_eq!(decode(&[STREAM], false), expected());
    }

    #[test]
    fn every_two_way_split() {
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(decode(&[a, b], false), expected(), "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte() {
        let pieces: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode(&pieces, false), expected());
    }

    #[test]
    fn event_without_closing_blank_line() {
        assert_eq!(decode(&[b"data: [DONE]"], false), Vec::<String>::new());
        assert_eq!(decode(&[b"data: [DONE]"], true), vec!["[DONE]".to_string()]);
        assert_eq!(decode(&[b"data: x\n"], true), vec!["x".to_string()]);
        assert_eq!(decode(&[b": only a comment"], true), Vec::<String>::new());
    }

    #[test]
    fn oversized_line_is_an_error() {
        let mut d = SseDecoder::default();
        let big = vec![b'x'; MAX_EVENT_BYTES + 1];
        assert!(d.push(&big, &mut VecDeque::new()).is_err());
    }
}
