//! Fuzz entry points: each takes arbitrary bytes, runs one parser or builder the way the server does, and panics only on a defect (a crash, or a broken invariant).
//!
//! The targets in `fuzz/fuzz_targets/` (cargo-fuzz, libFuzzer) are one call each into this module,
//! and the corpus in `fuzz/corpus/<target>/` is replayed through the same functions by the unit
//! test below, so `cargo test` keeps every input the fuzzer ever kept working. `make fuzz` runs them
//! on the stable toolchain through `campaign` (a mutational loop inside the release test binary),
//! or with libFuzzer (`FUZZ_ENGINE=libfuzzer`). Inputs that carry several texts split them on NUL
//! bytes ([`fields`]).

use crate::prompt::react::{ParsedEvent, ReactParser};
use crate::prompt::{self, CompletionInput, Estimate, Family, GenerationInput, TokenCount};

/// A fuzz entry point: arbitrary bytes in, a panic only on a defect.
pub type Target = fn(&[u8]);

/// Every target: (name, entry point). The name is the directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("gguf", gguf),
    ("react_output", react_output),
    ("code_prompt", code_prompt),
    ("gitlab_body", gitlab_body),
    ("openai_body", openai_body),
    ("toolcall", toolcall),
];

/// The GitLab request bodies (see `api::gitlab::fuzz`): a refusal must be a 4xx.
pub fn gitlab_body(data: &[u8]) {
    crate::api::gitlab::fuzz::body(data);
}

/// The `/v1` request bodies (see `api::openai::fuzz`): a refusal must be a 4xx.
pub fn openai_body(data: &[u8]) {
    crate::api::openai::fuzz::body(data);
}

/// The tool-call output parser (`prompt::toolcall`): the first byte picks the call syntax, the
/// reasoning tags and the parser's options, the second the chunk lengths; the rest is model output.
/// Fed whole and in chunks it must give the client the same text, reasoning and calls, and its
/// pieces keep their order rules (arguments only inside a call, call indexes counting up, no call
/// left open).
pub fn toolcall(data: &[u8]) {
    use crate::prompt::toolcall::{MISTRAL_THINK, Syntax, THINK};
    let Some((&[pick, seed], rest)) = data.split_first_chunk::<2>() else { return };
    // Nine picks: the last one is airgate's own JSON form again.
    let syntax = Syntax::ALL.get(usize::from(pick) % 9).copied().unwrap_or(Syntax::Json);
    let think = [None, Some(THINK), Some(MISTRAL_THINK)][usize::from(pick / 16) % 3];
    let (in_reasoning, strict, keep) = (pick & 0x40 != 0, pick & 0x80 != 0, pick & 0x08 != 0);
    let text = String::from_utf8_lossy(rest);
    let run = |chunks: &[&str]| {
        let parser = crate::prompt::toolcall::Parser::new(syntax, true, think, in_reasoning).strict(strict);
        let mut parser = if keep { parser.keep_whitespace() } else { parser };
        let mut pieces = Vec::new();
        for chunk in chunks {
            pieces.extend(parser.push(chunk));
        }
        pieces.extend(parser.finish());
        assembled(pieces)
    };
    let whole = run(&[&text]);
    assert_eq!(run(&chunked(&text, seed)), whole, "chunking changed the parse");
}

/// Parser pieces with neighbouring texts joined and each call's arguments put together, checking
/// their order rules on the way.
fn assembled(pieces: Vec<crate::prompt::toolcall::Piece>) -> Vec<(u8, String, String)> {
    use crate::prompt::toolcall::Piece;
    let mut out: Vec<(u8, String, String)> = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    let mut next = 0;
    let text = |kind: u8, s: String, out: &mut Vec<(u8, String, String)>| match out.last_mut() {
        Some((k, t, _)) if *k == kind => t.push_str(&s),
        _ => out.push((kind, s, String::new())),
    };
    for piece in pieces {
        match piece {
            Piece::Reasoning(s) => text(1, s, &mut out),
            // Malformed call text reaches the client as content (`features::toolchat`): compared
            // as such, since where a malformed opening is cut off may depend on the chunks.
            Piece::Content(s) | Piece::Malformed(s) => text(0, s, &mut out),
            Piece::CallStart { index, name } => {
                assert!(open.is_none() && index == next, "call {index} starts out of order");
                next += 1;
                open = Some((index, name, String::new()));
            }
            Piece::CallArgs { index, fragment } => match open.as_mut() {
                Some((i, _, args)) if *i == index => args.push_str(&fragment),
                _ => panic!("arguments of call {index} outside it"),
            },
            Piece::CallEnd { index, complete } => match open.take() {
                Some((i, name, args)) if i == index => out.push((3 + u8::from(complete), name, args)),
                _ => panic!("call {index} ends without starting"),
            },
        }
    }
    assert!(open.is_none(), "a call was left open");
    out
}

/// `text` cut into chunks whose lengths (in bytes, widened to character boundaries) follow `seed`.
fn chunked(text: &str, seed: u8) -> Vec<&str> {
    let mut chunks = Vec::new();
    let (mut at, mut step) = (0, usize::from(seed % 7) + 1);
    while at < text.len() {
        let mut end = (at + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        chunks.push(&text[at..end]);
        at = end;
        step = step * 5 % 11 + 1;
    }
    chunks
}

/// The GGUF header parser on a file's bytes: an error or metadata, never a panic; what it accepts
/// answers every question `model inspect` asks.
pub fn gguf(data: &[u8]) {
    if let Ok(info) = crate::engine::gguf::read_bytes(data) {
        let _ = (info.architecture(), info.name(), info.context_length(), info.sliding_window());
        let _ = (info.file_type(), info.quantization(), info.has_chat_template(), info.fim_tokens());
    }
}

/// The ReAct output parser: the model output after the first byte, fed whole and in chunks whose
/// lengths come from the first byte. Both must give the same answer text and the same final event;
/// `push` only ever emits non-empty answer deltas, `finish` exactly one event.
pub fn react_output(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let whole = parse_react(&[&text]);
    let chunks = chunked(&text, seed);
    assert_eq!(parse_react(&chunks), whole, "chunking changed the outcome: {chunks:?}");
}

/// (answer text streamed, the event `finish` returned).
fn parse_react(chunks: &[&str]) -> (String, ParsedEvent) {
    let offered = ["issue_reader", "gitlab_documentation"].map(String::from).to_vec();
    let mut parser = ReactParser::new(offered);
    let mut answer = String::new();
    for chunk in chunks {
        for event in parser.push(chunk) {
            match event {
                ParsedEvent::FinalAnswerDelta { text, finish_reason: None } if !text.is_empty() => {
                    answer.push_str(&text)
                }
                other => panic!("push emitted {other:?}"),
            }
        }
    }
    let mut last = parser.finish("stop");
    assert_eq!(last.len(), 1, "finish returned {last:?}");
    let last = last.pop().expect("one event");
    if let ParsedEvent::FinalAnswerDelta { text, .. } = &last {
        answer.push_str(text);
        return (answer, ParsedEvent::FinalAnswerDelta { text: String::new(), finish_reason: None });
    }
    (answer, last)
}

/// The code-suggestion prompt builders and the clean-up of their answers. Fields: file name,
/// prefix, suffix, model output, `prompt_enhancer` JSON, then context snippets; the first two bytes
/// pick the family and the token budget. A raw FIM prompt never passes its budget.
pub fn code_prompt(data: &[u8]) {
    let Some((&[pick, size], rest)) = data.split_first_chunk::<2>() else { return };
    let f = fields(rest, 5);
    let family = Family::ALL[usize::from(pick) % Family::ALL.len()];
    let budget = usize::from(size) * 16;
    let context: Vec<(String, String)> = f[5..].iter().map(|c| ("snippet".to_string(), c.clone())).collect();
    let language = prompt::language(&f[0], None).unwrap_or_default();
    let input =
        CompletionInput { file_name: &f[0], language: &language, prefix: &f[1], suffix: &f[2], context: &context };
    let (pre, suf, mid) = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>");
    let plan = prompt::fim_raw(pre, suf, mid, &input, budget, &Estimate);
    let prompt::Built::Raw(text) = &plan.prompt else { panic!("fim_raw built {:?}", plan.prompt) };
    let fixed = Estimate.count(&format!("{pre}{suf}{mid}"));
    assert!(Estimate.count(text) <= budget.max(fixed), "prompt over its budget of {budget} tokens");
    assert!(plan.context_tokens_used <= plan.context_tokens_sent);
    let _ = prompt::completion(family, &input, budget, &Estimate);
    let enhancer = serde_json::from_str(&f[4]).ok();
    let generation = GenerationInput {
        file_name: &f[0],
        language: &language,
        prefix: &f[1],
        suffix: &f[2],
        instruction: Some(&f[3]),
        enhancer: enhancer.as_ref(),
    };
    let _ = prompt::generation(family, &generation, budget, &Estimate);
    let _ = prompt::clean_completion(&f[3], &f[1], &f[2], Some(family));
    let _ = prompt::clean_generation(&f[3], &f[1]);
    let mut cutter = prompt::LineCutter::new();
    let mut streamed = String::new();
    for chunk in f[3].split_inclusive(' ') {
        streamed.extend(cutter.push(chunk));
    }
    streamed.extend(cutter.finish());
}

/// `data` split on NUL bytes into at least `min` texts (UTF-8, invalid bytes replaced).
pub fn fields(data: &[u8], min: usize) -> Vec<String> {
    let mut out: Vec<String> = data.split(|&b| b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    out.resize(out.len().max(min), String::new());
    out
}

/// `make fuzz` on the stable toolchain: a mutational loop over the kept corpus (an ignored test).
#[cfg(test)]
mod campaign;

#[cfg(test)]
mod tests {
    /// Every input kept in `fuzz/corpus/` still runs through its target.
    #[test]
    fn the_fuzz_corpus_replays_cleanly() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut replayed = 0;
        for (name, target) in super::TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                if std::panic::catch_unwind(|| target(&data)).is_err() {
                    panic!("{name}: {} fails", path.display());
                }
                replayed += 1;
            }
        }
        assert!(replayed >= super::TARGETS.len() * 3, "only {replayed} corpus inputs");
    }
}
