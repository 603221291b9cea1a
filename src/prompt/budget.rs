//! Token budgets: keep the end or the start of a text within N tokens, and split a budget between prefix, suffix and context snippets (§3.3).

use super::TokenCount;

/// A cut may move to the nearest line start (or end) when that drops at most this many tokens.
pub(crate) const LINE_SLACK_TOKENS: usize = 8;

/// No token of any tokenizer airgate serves covers more characters than this; texts are pre-cut to
/// `budget × MAX_CHARS_PER_TOKEN` before tokenizing, so a multi-megabyte context costs no more than its budget.
const MAX_CHARS_PER_TOKEN: usize = 64;

/// Above this size a text that is sent whole is counted by estimate (tokenizing megabytes of context
/// only to report a number would cost seconds).
const EXACT_COUNT_LIMIT: usize = 256 * 1024;

/// Share of the budget reserved for the suffix, in percent; the prefix gets the rest (93 %, rounded up).
pub(crate) const SUFFIX_PERCENT: usize = 7;

/// The longest end of `text` that fits in `budget` tokens (what is nearest the cursor in a prefix).
/// Cuts on char boundaries, and at a line start when that costs at most a few tokens.
pub fn keep_end<'a>(text: &'a str, budget: usize, tokens: &dyn TokenCount) -> &'a str {
    let text = tail_chars(text, budget.saturating_mul(MAX_CHARS_PER_TOKEN));
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let n = starts.len();
    // kept(k) = the last k chars.
    let kept = |k: usize| if k == 0 { "" } else { &text[starts[n - k]..] };
    let k = longest_fitting(n, budget, |k| tokens.count(kept(k)));
    if k == n {
        return text;
    }
    let piece = kept(k);
    match piece.find('\n') {
        Some(nl) if nl + 1 < piece.len() => cheaper_at_line(piece, &piece[nl + 1..], tokens),
        _ => piece,
    }
}

/// The longest start of `text` that fits in `budget` tokens (what is nearest the cursor in a suffix).
/// Cuts on char boundaries, and just after a newline when that costs at most a few tokens.
pub fn keep_start<'a>(text: &'a str, budget: usize, tokens: &dyn TokenCount) -> &'a str {
    let text = head_chars(text, budget.saturating_mul(MAX_CHARS_PER_TOKEN));
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let n = ends.len();
    let kept = |k: usize| if k == 0 { "" } else { &text[..ends[k - 1]] };
    let k = longest_fitting(n, budget, |k| tokens.count(kept(k)));
    if k == n {
        return text;
    }
    let piece = kept(k);
    match piece.rfind('\n') {
        Some(nl) if nl > 0 => cheaper_at_line(piece, &piece[..nl + 1], tokens),
        _ => piece,
    }
}

/// At most the first `max` characters of `text`.
fn head_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// At most the last `max` characters of `text`.
fn tail_chars(text: &str, max: usize) -> &str {
    if max == 0 {
        return "";
    }
    match text.char_indices().rev().nth(max - 1) {
        Some((at, _)) => &text[at..],
        None => text,
    }
}

/// `at_line` (a line-aligned part of `piece`) when it drops at most [`LINE_SLACK_TOKENS`].
fn cheaper_at_line<'a>(piece: &'a str, at_line: &'a str, tokens: &dyn TokenCount) -> &'a str {
    if tokens.count(piece).saturating_sub(tokens.count(at_line)) <= LINE_SLACK_TOKENS { at_line } else { piece }
}

/// The largest k in 0..=n with `cost(k) <= budget`, assuming cost grows with k. Gallops from a
/// guess of ~4 chars per token so that each count runs over about `budget` tokens, not all of `n`.
fn longest_fitting(n: usize, budget: usize, cost: impl Fn(usize) -> usize) -> usize {
    if n == 0 {
        return 0;
    }
    let fits = |k: usize| cost(k) <= budget;
    // Invariant: fits(lo) (k = 0 is the empty string), !fits(hi) unless hi == n + 1 sentinel.
    let mut lo = 0;
    let mut hi;
    let mut k = budget.saturating_mul(4).clamp(1, n);
    loop {
        if fits(k) {
            lo = k;
            if k == n {
                return n;
            }
            k = k.saturating_mul(2).min(n);
        } else {
            hi = k;
            break;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Prefix, suffix and context snippets cut to a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fitted {
    /// Context snippets (if any fit), a newline, then the kept end of the prefix.
    pub prefix: String,
    pub suffix: String,
    pub context_tokens_used: usize,
    pub context_tokens_sent: usize,
}

/// §3.3: 7 % of `budget` for the suffix (kept from its start), 93 % for the prefix (kept from its
/// end); the context snippets, joined with newlines, get what the two leave unused (kept from the
/// start) and are prepended to the prefix with a newline.
pub(crate) fn fit(
    prefix: &str,
    suffix: &str,
    context: &[(String, String)],
    budget: usize,
    tokens: &dyn TokenCount,
) -> Fitted {
    // floor(budget × 7 / 100) without overflowing on huge budgets.
    let suffix_budget = budget / 100 * SUFFIX_PERCENT + budget % 100 * SUFFIX_PERCENT / 100;
    let prefix_budget = budget - suffix_budget;
    let prefix = keep_end(prefix, prefix_budget, tokens);
    let suffix = keep_start(suffix, suffix_budget, tokens);
    let joined = context.iter().map(|(_, content)| content.as_str()).filter(|c| !c.is_empty()).collect::<Vec<_>>();
    let joined = joined.join("\n");
    let context_tokens_sent =
        if joined.len() <= EXACT_COUNT_LIMIT { tokens.count(&joined) } else { super::Estimate.count(&joined) };
    let mut out =
        Fitted { prefix: prefix.to_string(), suffix: suffix.to_string(), context_tokens_used: 0, context_tokens_sent };
    if joined.is_empty() {
        return out;
    }
    let remaining = budget.saturating_sub(tokens.count(prefix) + tokens.count(suffix) + tokens.count("\n"));
    let kept = keep_start(&joined, remaining, tokens);
    if !kept.trim().is_empty() {
        out.context_tokens_used = tokens.count(kept);
        out.prefix = format!("{kept}\n{prefix}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Estimate;
    use super::*;

    /// One token per char: makes budgets easy to read in tests.
    struct PerChar;
    impl TokenCount for PerChar {
        fn count(&self, text: &str) -> usize {
            text.chars().count()
        }
    }

    /// One token per whitespace-separated word.
    struct Words;
    impl TokenCount for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    #[test]
    fn keep_end_keeps_the_text_nearest_the_cursor() {
        let table: &[(&str, usize, &str)] = &[
            ("", 0, ""),
            ("", 10, ""),
            ("abc", 0, ""),
            ("abc", 1, "c"),
            ("abc", 3, "abc"),
            ("abc", 99, "abc"),
            ("héllo wörld", 4, "örld"),
            ("日本語のテキスト", 3, "キスト"),
        ];
        for &(text, budget, want) in table {
            assert_eq!(keep_end(text, budget, &PerChar), want, "{text:?} {budget}");
        }
    }

    #[test]
    fn keep_start_keeps_the_text_after_the_cursor() {
        let table: &[(&str, usize, &str)] = &[
            ("", 0, ""),
            ("abc", 0, ""),
            ("abc", 2, "ab"),
            ("abc", 3, "abc"),
            ("héllo wörld", 2, "hé"),
            ("日本語のテキスト", 3, "日本語"),
        ];
        for &(text, budget, want) in table {
            assert_eq!(keep_start(text, budget, &PerChar), want, "{text:?} {budget}");
        }
    }

    #[test]
    fn cuts_move_to_line_boundaries_when_cheap() {
        // 20 lines of 10 chars + newline.
        let text: String = (0..20).map(|i| format!("line {i:04}\n")).collect();
        // 25 chars: a 3-char partial line then two whole lines → the partial line is dropped.
        assert_eq!(keep_end(&text, 25, &PerChar), "line 0018\nline 0019\n");
        // keep_start: two whole lines plus 3 chars → cut after the second newline.
        assert_eq!(keep_start(&text, 23, &PerChar), "line 0000\nline 0001\n");
        // A partial line longer than the slack is kept.
        let long = format!("{}\nshort\n", "x".repeat(40));
        assert_eq!(keep_end(&long, 30, &PerChar), format!("{}\nshort\n", "x".repeat(23)));
        assert_eq!(keep_start(&format!("ab\n{}", "y".repeat(40)), 30, &PerChar), format!("ab\n{}", "y".repeat(27)));
    }

    #[test]
    fn results_always_fit_and_are_maximal_for_every_budget() {
        let text = "fn main() {\n    let ünïcødé = \"日本\";\n    println!(\"{ünïcødé}\");\n}\n";
        for tc in [&PerChar as &dyn TokenCount, &Estimate, &Words] {
            for budget in 0..=tc.count(text) + 2 {
                let end = keep_end(text, budget, tc);
                let start = keep_start(text, budget, tc);
                assert!(tc.count(end) <= budget, "end {budget}: {end:?}");
                assert!(tc.count(start) <= budget, "start {budget}: {start:?}");
                assert!(text.ends_with(end) && text.starts_with(start));
                // Only a line cut (≤ slack) may leave room unused.
                assert!(tc.count(end) + LINE_SLACK_TOKENS + 1 >= budget.min(tc.count(text)), "end {budget}");
                assert!(tc.count(start) + LINE_SLACK_TOKENS + 1 >= budget.min(tc.count(text)), "start {budget}");
            }
        }
    }

    #[test]
    fn large_inputs_are_cut_with_few_full_counts() {
        use std::cell::Cell;
        struct Counting<'a>(&'a Cell<usize>);
        impl TokenCount for Counting<'_> {
            fn count(&self, text: &str) -> usize {
                self.0.set(self.0.get() + text.len());
                Estimate.count(text)
            }
        }
        let text = "abcdefghi\n".repeat(10_000); // 100 000 chars
        let scanned = Cell::new(0);
        let kept = keep_end(&text, 100, &Counting(&scanned));
        assert!(Estimate.count(kept) <= 100 && kept.len() >= 390);
        assert!(scanned.get() < 20_000, "scanned {} bytes", scanned.get());
    }

    #[test]
    fn fit_splits_seven_percent_suffix_ninety_three_percent_prefix() {
        let prefix = "p".repeat(1000);
        let suffix = "s".repeat(1000);
        let f = fit(&prefix, &suffix, &[], 100, &PerChar);
        assert_eq!((f.prefix.len(), f.suffix.len()), (93, 7));
        let f = fit(&prefix, &suffix, &[], 101, &PerChar); // 7.07 → 7 for the suffix, 94 for the prefix
        assert_eq!((f.prefix.len(), f.suffix.len()), (94, 7));
        assert_eq!((f.context_tokens_used, f.context_tokens_sent), (0, 0));
    }

    #[test]
    fn context_fills_what_prefix_and_suffix_leave() {
        let ctx = vec![("a.py".to_string(), "AAAA".to_string()), ("b.py".to_string(), "BBBB".to_string())];
        // Everything fits.
        let f = fit("pre", "suf", &ctx, 100, &PerChar);
        assert_eq!(f.prefix, "AAAA\nBBBB\npre");
        assert_eq!(f.suffix, "suf");
        assert_eq!((f.context_tokens_used, f.context_tokens_sent), (9, 9));
        // 40 - 3 (prefix) - 0 (suffix) - 1 (newline) = 36 of the 41 context chars fit, cut from the right.
        let long = vec![("a".to_string(), "A".repeat(20)), ("b".to_string(), "B".repeat(20))];
        let f = fit("pre", "", &long, 40, &PerChar);
        assert_eq!(f.prefix, format!("{}\n{}\npre", "A".repeat(20), "B".repeat(15)));
        assert_eq!((f.context_tokens_used, f.context_tokens_sent), (36, 41));
        // Budget 15 leaves the suffix 1 token (7 %), and the context still fits.
        let f = fit("pre", "suf", &ctx, 15, &PerChar);
        assert_eq!((f.prefix.as_str(), f.suffix.as_str()), ("AAAA\nBBBB\npre", "s"));
        // No room at all: context dropped, prefix/suffix untouched.
        let f = fit("pre", "suf", &ctx, 4, &PerChar);
        assert_eq!((f.prefix.as_str(), f.context_tokens_used), ("pre", 0));
        // A long prefix leaves no room for context.
        let f = fit(&"p".repeat(500), &"s".repeat(500), &ctx, 100, &PerChar);
        assert_eq!((f.prefix.len(), f.context_tokens_used, f.context_tokens_sent), (93, 0, 9));
        // An unused suffix share goes to the context, not to the prefix.
        let f = fit(&"p".repeat(500), "", &ctx, 100, &PerChar);
        assert_eq!((f.prefix.as_str(), f.context_tokens_used), (format!("AAAA\n\n{}", "p".repeat(93)).as_str(), 5));
    }

    #[test]
    fn huge_budgets_keep_everything() {
        let ctx = vec![("x".to_string(), "ctx".to_string())];
        let f = fit("pre", "suf", &ctx, usize::MAX, &Estimate);
        assert_eq!((f.prefix.as_str(), f.suffix.as_str()), ("ctx\npre", "suf"));
        assert_eq!(keep_end("abc", usize::MAX, &Estimate), "abc");
        assert_eq!(keep_start("abc", usize::MAX, &Estimate), "abc");
    }

    #[test]
    fn fit_never_panics_on_tiny_budgets() {
        let ctx = vec![("x".to_string(), "ctx".to_string())];
        for budget in 0..5 {
            for (p, s) in [("", ""), ("é", "ü"), ("a\nb", "c\nd")] {
                let f = fit(p, s, &ctx, budget, &Estimate);
                assert!(Estimate.count(&f.prefix) + Estimate.count(&f.suffix) <= budget, "{budget}");
            }
        }
    }
}
