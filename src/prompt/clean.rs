//! Post-processing of non-streamed code completions: leaked markers and fences, prefix echoes, duplicated block ends, GitLab's Mixtral quirk.

use super::Family;

/// Control and FIM markers models leak into completions (Mistral, CodeGemma, CodeLlama, DeepSeek,
/// Qwen/StarCoder, ChatML, Llama 3, GPT-style layouts).
const MARKERS: &[&str] = &[
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|file_separator|>",
    "<|file_sep|>",
    "<|repo_name|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|cursor|>",
    "<|prefix|>",
    "<|suffix|>",
    "<fim_prefix>",
    "<fim_suffix>",
    "<fim_middle>",
    "<PRE>",
    "<SUF>",
    "<MID>",
    "<EOT>",
    "[PREFIX]",
    "[SUFFIX]",
    "[MIDDLE]",
    "[INST]",
    "[/INST]",
    "<start_of_turn>",
    "<end_of_turn>",
    "<eos>",
    "</s>",
    "<s>",
    "<\u{ff5c}fim\u{2581}begin\u{ff5c}>",
    "<\u{ff5c}fim\u{2581}hole\u{ff5c}>",
    "<\u{ff5c}fim\u{2581}end\u{ff5c}>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "<|end\u{2581}of\u{2581}sentence|>",
];

/// Cleans a NON-streamed completion: [`strip_markers`], [`trim_prefix_echo`], [`cut_at_suffix`],
/// [`unescape_mixtral`], [`blank_if_whitespace`]; an empty intermediate result ends the chain.
pub(crate) fn clean_completion(output: &str, prefix: &str, suffix: &str, family: Option<Family>) -> String {
    let steps: [&dyn Fn(&str) -> String; 5] = [
        &strip_markers,
        &|s| trim_prefix_echo(s, prefix),
        &|s| cut_at_suffix(s, prefix, suffix),
        &|s| unescape_mixtral(s, family),
        &blank_if_whitespace,
    ];
    let mut text = output.to_string();
    for step in steps {
        if text.is_empty() {
            break;
        }
        text = step(&text);
    }
    text
}

/// Step 1: markers at the very start are dropped; at the first marker after that the output ends
/// (what follows an end-of-text or FIM marker is not part of the insertion). A leading ```` ```lang ````
/// line is removed, and with it a closing ```` ``` ```` at the end.
pub fn strip_markers(output: &str) -> String {
    let mut text = output;
    while let Some(marker) = MARKERS.iter().find(|m| text.starts_with(**m)) {
        text = &text[marker.len()..];
    }
    if let Some(at) = MARKERS.iter().filter_map(|m| text.find(m)).min() {
        text = &text[..at];
    }
    strip_whole_fence(text).to_string()
}

/// `text` without a leading fence-opener line and, if it had one, without a closing fence.
fn strip_whole_fence(text: &str) -> &str {
    let trimmed = text.trim_start();
    let Some(after) = trimmed.strip_prefix("```") else { return text };
    let (tag, body) = after.split_once('\n').unwrap_or((after, ""));
    if !is_fence_tag(tag) {
        return text;
    }
    let end = body.trim_end();
    match end.strip_suffix("```") {
        Some(inner) if !inner.ends_with('`') => inner.strip_suffix('\n').unwrap_or(inner),
        _ => body,
    }
}

/// A fence opener's info string: empty or one word such as `python`, `c++`, `objective-c`.
pub(crate) fn is_fence_tag(tag: &str) -> bool {
    let tag = tag.trim();
    tag.chars().all(|c| c.is_alphanumeric() || "+-#._".contains(c))
}

/// Step 2: if the output starts by repeating the last line(s) of the prefix (leading whitespace
/// ignored, up to 10 lines plus the cursor line), the repeated part is dropped. An echo must hold at
/// least 3 non-blank characters.
pub fn trim_prefix_echo(output: &str, prefix: &str) -> String {
    const MAX_LINES: usize = 10;
    let cursor_start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let cursor_line = &prefix[cursor_start..];
    let full: Vec<&str> = prefix[..cursor_start].lines().collect();
    for j in (0..=MAX_LINES.min(full.len())).rev() {
        let lines = &full[full.len() - j..];
        let weight: usize = lines.iter().chain([&cursor_line]).map(|l| l.trim().chars().count()).sum();
        if weight < 3 {
            continue;
        }
        if let Some(len) = echo_len(output, lines, cursor_line) {
            return output[len..].to_string();
        }
    }
    output.to_string()
}

/// Bytes at the start of `output` that repeat `lines` (whole lines) then `cursor_line`.
fn echo_len(output: &str, lines: &[&str], cursor_line: &str) -> Option<usize> {
    let horizontal = |s: &str| s.trim_start_matches([' ', '\t']).len();
    let mut rest = output.trim_start();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            rest = &rest[rest.len() - horizontal(rest)..];
        }
        rest = rest.strip_prefix(line.trim())?;
        rest = rest.trim_start_matches([' ', '\t', '\r']);
        rest = rest.strip_prefix('\n')?;
    }
    if cursor_line.trim().is_empty() {
        rest = rest.strip_prefix(cursor_line).unwrap_or(rest);
    } else {
        if !lines.is_empty() {
            rest = &rest[rest.len() - horizontal(rest)..];
        }
        rest = rest.strip_prefix(cursor_line.trim_start())?;
    }
    Some(output.len() - rest.len())
}

/// Step 3: when the suffix goes on with a line the output also contains, the output is cut before
/// that line so the block end (`}`, `end`, the next `def`…) is not written twice. A non-blank rest
/// of the cursor line is compared trimmed; otherwise the suffix's first non-blank line is compared
/// whole (indentation included) with the output's lines, the first one completed by the prefix's
/// cursor line. When the suffix starts with a line break the kept part loses trailing whitespace.
pub fn cut_at_suffix(output: &str, prefix: &str, suffix: &str) -> String {
    let (first, rest) = suffix.split_once('\n').unwrap_or((suffix, ""));
    let cursor_line = &prefix[prefix.rfind('\n').map_or(0, |i| i + 1)..];
    let same_line = !first.trim().is_empty();
    let target = if same_line {
        first.trim()
    } else {
        match rest.lines().find(|l| !l.trim().is_empty()) {
            Some(line) => line.trim_end(),
            None => return output.to_string(),
        }
    };
    let mut offset = 0;
    for (i, line) in output.split_inclusive('\n').enumerate() {
        let line_text = line.trim_end_matches(['\n', '\r']);
        let hit = if same_line {
            line_text.trim() == target
        } else if i == 0 {
            format!("{cursor_line}{line_text}").trim_end() == target
        } else {
            line_text.trim_end() == target
        };
        if hit {
            let kept = &output[..offset];
            return if same_line { kept.to_string() } else { kept.trim_end().to_string() };
        }
        offset += line.len();
    }
    output.to_string()
}

/// Step 4: GitLab unescapes `\_` to `_` in Mixtral output.
pub fn unescape_mixtral(output: &str, family: Option<Family>) -> String {
    if family == Some(Family::Mixtral) { output.replace("\\_", "_") } else { output.to_string() }
}

/// Step 5: whitespace-only output means no completion.
pub fn blank_if_whitespace(output: &str) -> String {
    if output.trim().is_empty() { String::new() } else { output.to_string() }
}

#[cfg(test)]
mod tests;
