//! Prompt-lookup drafting for speculative decoding: the tokens that followed the last occurrence
//! of the context's final n-gram are a cheap guess of what comes next. Code completion copies
//! heavily from its own prompt (identifiers, repeated lines, the code below the cursor), so the
//! guess is often right; the model verifies a draft in one batch and keeps what it agrees with.
//!
//! How many draft tokens one step may verify is bounded by exactness, not by speed: llama.cpp's
//! CPU kernels give a token the same logits in a batch of up to [`MAX_DRAFT`]` + 1` rows as alone
//! (a batch of four or more rows takes the repacked matrix kernels' 4-row path, which rounds
//! differently), and a speculating model's KV cache is BF16 so that flash attention never takes
//! its single-query split path (`exact.rs` checks both on the real model). Within that bound a greedy
//! answer is the same, byte for byte, with or without speculation.

/// Most draft tokens one generation step verifies in [`Speculation::Exact`].
pub const MAX_DRAFT: usize = 2;

/// Most draft tokens one generation step verifies in [`Speculation::Fast`]: eight rows, the
/// batch the repacked kernels run most efficiently per row.
pub const FAST_DRAFT: usize = 7;

/// Whether and how a model speculates (a per-model setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Speculation {
    #[default]
    Off,
    /// At most [`MAX_DRAFT`] draft tokens a step: greedy answers are byte-for-byte those without
    /// speculation.
    Exact,
    /// Up to [`FAST_DRAFT`] draft tokens a step: more tokens per step, but a verified token's logits
    /// can differ in the last bits from one-token decoding, so a greedy answer may take another
    /// turn where two tokens were all but tied.
    Fast,
}

impl Speculation {
    /// By name, as the config, the admin API and fleet files spell it (`off`, `exact`, `fast`).
    pub fn parse(name: &str) -> Option<Speculation> {
        match name {
            "off" => Some(Speculation::Off),
            "exact" => Some(Speculation::Exact),
            "fast" => Some(Speculation::Fast),
            _ => None,
        }
    }

    /// Most draft tokens a step verifies.
    pub fn max_draft(self) -> usize {
        match self {
            Speculation::Off => 0,
            Speculation::Exact => MAX_DRAFT,
            Speculation::Fast => FAST_DRAFT,
        }
    }
}

/// The longest n-gram looked up; shorter ones are tried down to [`MIN_NGRAM`].
const MAX_NGRAM: usize = 4;

/// The shortest n-gram whose earlier occurrence is trusted as a guess (one token repeats too often
/// to predict anything).
const MIN_NGRAM: usize = 2;

/// How far back the lookup scans, so a long context costs a bounded time per step.
const WINDOW: usize = 8192;

/// Up to `max` tokens that followed the most recent earlier occurrence of `context`'s last n-gram
/// (the longest n from [`MAX_NGRAM`] down to [`MIN_NGRAM`] that occurred before). Empty when
/// nothing matches.
pub fn draft<T: PartialEq + Copy>(context: &[T], max: usize) -> Vec<T> {
    if max == 0 {
        return Vec::new();
    }
    let context = &context[context.len().saturating_sub(WINDOW)..];
    let len = context.len();
    for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
        if len <= n {
            continue;
        }
        let key = &context[len - n..];
        // The latest start before the key itself whose n tokens equal it, with a token after it.
        let found = (0..len - n).rev().find(|&start| &context[start..start + n] == key);
        if let Some(start) = found {
            let from = start + n;
            return context[from..(from + max).min(len)].to_vec();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn drafts() {
        // (what, context, max, draft)
        let cases: &[(&str, &str, usize, &str)] = &[
            ("nothing to look up", "", 2, ""),
            ("too short for an n-gram", "ab", 2, ""),
            ("no earlier occurrence", "abcdef", 2, ""),
            ("a bigram seen before", "abxyab", 2, "xy"),
            ("the most recent occurrence wins", "abXXabYYab", 2, "YY"),
            ("the longest n-gram wins over a later shorter one", "qabcZZ..bcWWqabc", 2, "ZZ"),
            ("the draft stops at the context's end", "abcab", 5, "cab"),
            ("max bounds the draft", "abcdefgab", 3, "cde"),
            ("max 0 drafts nothing", "abab", 0, ""),
            ("one repeated token is not a guess", "aXbXcX", 2, ""),
            ("a run of one token", "aaaa", 2, "a"),
        ];
        for (what, context, max, want) in cases {
            assert_eq!(draft(&toks(context), *max), toks(want), "{what}");
        }
    }

    #[test]
    fn a_copied_line_drafts_its_continuation() {
        let line = "    return self.cache[key]\n";
        let context = format!("def get(self, key):\n{line}\ndef get_or(self, key):\n    return self.c");
        assert_eq!(draft(&toks(&context), 2), toks("ac"));
    }

    #[test]
    fn modes() {
        for (name, mode, drafts) in [
            ("off", Speculation::Off, 0),
            ("exact", Speculation::Exact, MAX_DRAFT),
            ("fast", Speculation::Fast, FAST_DRAFT),
        ] {
            assert_eq!(Speculation::parse(name), Some(mode));
            assert_eq!(mode.max_draft(), drafts);
        }
        assert_eq!(Speculation::parse("on"), None);
        assert_eq!(Speculation::default(), Speculation::Off);
    }

    #[test]
    fn the_lookup_is_bounded() {
        let mut long: Vec<u32> = (0..50_000).collect();
        long.extend([10, 11]);
        // The only match lies beyond the window.
        assert!(draft(&long, 2).is_empty());
        let mut near: Vec<u32> = (0..50_000).collect();
        near.extend([49_990, 49_991]);
        assert_eq!(draft(&near, 2), vec![49_992, 49_993]);
    }
}

#[cfg(test)]
mod answers;
