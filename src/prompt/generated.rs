//! Post-processing of code generations: fences and echoed prefix lines for whole outputs, and the line cutter for streams (§2.3.1).

use super::clean::{blank_if_whitespace, is_fence_tag};

/// How far back in the prefix an echo is looked for, in lines.
const MAX_ECHO_LINES: usize = 50;

/// Cleans a NON-streamed generation: [`strip_fences`], [`drop_echoed_lines`], then a newline in
/// front when the (non-empty) prefix ends mid-line and the output does not start with one;
/// whitespace-only → "".
pub(crate) fn clean_generation(output: &str, prefix: &str) -> String {
    let text = strip_fences(output);
    let text = blank_if_whitespace(&drop_echoed_lines(&text, prefix));
    if text.is_empty() || prefix.is_empty() || prefix.ends_with('\n') || text.starts_with(['\n', '\r']) {
        return text;
    }
    format!("\n{text}")
}

/// A line that only opens or closes a Markdown code fence (```` ``` ````, ```` ```python ````).
fn is_fence_line(line: &str) -> bool {
    line.trim().strip_prefix("```").is_some_and(is_fence_tag)
}

/// `line` without a run of three or more backticks at its end (a single backtick can be code).
fn strip_trailing_backticks(line: &str) -> &str {
    let trimmed = line.trim_end_matches('`');
    if line.len() - trimmed.len() >= 3 { trimmed } else { line }
}

/// When the output's first non-blank line opens a code fence, that line goes and the output ends
/// at the closing fence; otherwise a run of backticks at the very end is removed.
pub fn strip_fences(output: &str) -> String {
    let mut offset = 0;
    let mut lines = output.split_inclusive('\n');
    for line in lines.by_ref() {
        if !line.trim().is_empty() {
            if !is_fence_line(line) {
                break;
            }
            let body = &output[offset + line.len()..];
            let mut end = 0;
            for inner in body.split_inclusive('\n') {
                if is_fence_line(inner) {
                    return body[..end].to_string();
                }
                end += inner.len();
            }
            return without_closing_backticks(body);
        }
        offset += line.len();
    }
    without_closing_backticks(output)
}

fn without_closing_backticks(text: &str) -> String {
    let end = text.trim_end();
    let stripped = strip_trailing_backticks(end);
    if stripped.len() == end.len() { text.to_string() } else { stripped.to_string() }
}

/// Drops the output's first lines (after blank ones) when they repeat the prefix's last lines,
/// compared trimmed, looking back up to 50 lines; an echo must hold at least 3 visible characters.
pub fn drop_echoed_lines(output: &str, prefix: &str) -> String {
    let mut p: Vec<&str> = prefix.lines().collect();
    while p.last().is_some_and(|l| l.trim().is_empty()) {
        p.pop();
    }
    // Output lines with their end offsets, leading blank lines skipped.
    let mut o: Vec<(&str, usize)> = Vec::new();
    let mut offset = 0;
    for line in output.split_inclusive('\n') {
        offset += line.len();
        if o.is_empty() && line.trim().is_empty() && line.ends_with('\n') {
            continue;
        }
        o.push((line.trim(), offset));
    }
    for j in p.len().saturating_sub(MAX_ECHO_LINES)..p.len() {
        let tail = &p[j..];
        if tail.len() > o.len() || tail.iter().map(|l| l.trim().chars().count()).sum::<usize>() < 3 {
            continue;
        }
        if tail.iter().zip(&o).all(|(want, (got, _))| want.trim() == *got) {
            return output[o[tail.len() - 1].1..].to_string();
        }
    }
    output.to_string()
}

/// Streaming generations (§2.3.1): re-cuts chunks on newline boundaries (each emitted chunk is
/// whole lines; the remainder is flushed at the end) and removes fence-opener lines (```lang) and
/// trailing backticks per line.
#[derive(Debug, Default)]
pub struct LineCutter {
    pending: String,
}

impl LineCutter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds model output; returns the complete lines it finished, cleaned, if any are left.
    pub fn push(&mut self, chunk: &str) -> Option<String> {
        let start = self.pending.len();
        self.pending.push_str(chunk);
        let nl = start + chunk.rfind('\n')?;
        let lines: String = self.pending.drain(..=nl).collect();
        non_empty(clean_lines(&lines))
    }

    /// The last, unterminated line, cleaned, if anything is left.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        non_empty(clean_lines(&rest))
    }
}

fn clean_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if is_fence_line(line) {
            continue;
        }
        let (content, newline) = match line.strip_suffix('\n') {
            Some(content) => content.strip_suffix('\r').map_or((content, "\n"), |c| (c, "\r\n")),
            None => (line, ""),
        };
        out.push_str(strip_trailing_backticks(content));
        out.push_str(newline);
    }
    out
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests;
