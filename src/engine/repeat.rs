//! The repetition guard: notices a generation that is cycling (the same span of tokens repeated back
//! to back) so the engine can stop it with finish reason `repetition`. Pure and table-tested.
//!
//! For every period `p` up to [`GuardConfig::max_period`] the guard keeps how many tokens in a row
//! equal the token `p` places before them. When that run is `r`, the last `r + p` tokens are one
//! span of `p` tokens repeated `(r + p) / p` times. The guard trips when such a tail is at least
//! [`GuardConfig::min_repeats`] spans and at least [`GuardConfig::min_tokens`] tokens long: short
//! periods must repeat many times (a run of `0, 0, 0` in code is fine; 128 tokens of it are not),
//! long periods a few times (a paragraph said three times in a row is a loop). Each token costs one
//! comparison per period, with no allocation after the first `max_period` tokens.

use std::collections::VecDeque;

/// When a tail counts as a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Longest span (in tokens) whose repetition is noticed.
    pub max_period: usize,
    /// Least number of back-to-back copies of the span.
    pub min_repeats: usize,
    /// Least number of tokens the copies cover together.
    pub min_tokens: usize,
}

impl Default for GuardConfig {
    /// 128 tokens of one short span, or three copies of a span of 43 to 256 tokens.
    fn default() -> Self {
        GuardConfig { max_period: 256, min_repeats: 3, min_tokens: 128 }
    }
}

/// A loop the guard noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// Tokens in the repeated span.
    pub period: usize,
    /// Back-to-back copies of it at the end of the output (the last one may be partial).
    pub repeats: usize,
    /// Tokens the copies cover.
    pub tokens: usize,
}

/// Watches one generation, token by token.
#[derive(Debug, Clone)]
pub struct RepeatGuard {
    config: GuardConfig,
    /// The last `max_period` tokens, oldest first.
    recent: VecDeque<u32>,
    /// `runs[p - 1]`: tokens in a row that equal the one `p` places before them.
    runs: Vec<usize>,
}

impl RepeatGuard {
    pub fn new(config: GuardConfig) -> Self {
        let max_period = config.max_period.max(1);
        RepeatGuard {
            config: GuardConfig { max_period, ..config },
            recent: VecDeque::with_capacity(max_period),
            runs: vec![0; max_period],
        }
    }

    /// Takes the next generated token; `Some` once the output ends in a loop. The shortest period
    /// that qualifies is reported.
    pub fn push(&mut self, token: u32) -> Option<Cycle> {
        let GuardConfig { max_period, min_repeats, min_tokens } = self.config;
        let mut found = None;
        let len = self.recent.len();
        for p in 1..=max_period {
            let run = &mut self.runs[p - 1];
            // The token `p` places back is `recent[len - p]` (absent while fewer than `p` were seen).
            if p <= len && self.recent[len - p] == token {
                *run += 1;
            } else {
                *run = 0;
            }
            let covered = *run + p;
            if found.is_none() && *run > 0 && covered >= min_tokens && covered >= p.saturating_mul(min_repeats) {
                found = Some(Cycle { period: p, repeats: covered / p, tokens: covered });
            }
        }
        if self.recent.len() == max_period {
            self.recent.pop_front();
        }
        self.recent.push_back(token);
        found
    }
}

/// A stand-in token id for a piece of text, for outputs whose token ids are unknown (an upstream's
/// stream, where each delta is about one token): FNV-1a of the text.
pub fn piece_id(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `tokens`; the index (0-based) of the token at which the guard tripped, and the cycle.
    fn first_trip(config: GuardConfig, tokens: &[u32]) -> Option<(usize, Cycle)> {
        let mut guard = RepeatGuard::new(config);
        tokens.iter().enumerate().find_map(|(i, &t)| guard.push(t).map(|c| (i, c)))
    }

    fn cycle(span: &[u32], times: usize) -> Vec<u32> {
        span.iter().copied().cycle().take(span.len() * times).collect()
    }

    /// Distinct tokens, as a varied answer has them.
    fn varied(n: usize, from: u32) -> Vec<u32> {
        (0..n as u32).map(|i| from + i).collect()
    }

    #[test]
    fn table() {
        let small = GuardConfig { max_period: 8, min_repeats: 3, min_tokens: 12 };
        let d = GuardConfig::default();
        let prose_then = |tail: Vec<u32>| [varied(40, 1000), tail].concat();
        // (name, config, tokens, expected trip: (token index, period, repeats))
        type Case = (&'static str, GuardConfig, Vec<u32>, Option<(usize, usize, usize)>);
        let cases: Vec<Case> = vec![
            ("empty", small, vec![], None),
            ("all distinct", small, varied(500, 1), None),
            // One token over and over: trips once 12 tokens are covered (11 matches + the first).
            ("one token repeated", small, vec![7; 30], Some((11, 1, 12))),
            ("period 2", small, cycle(&[1, 2], 20), Some((11, 2, 6))),
            // Period 5: 12 tokens are 2.4 copies; three copies (15 tokens) are needed.
            ("period 5 needs three copies", small, cycle(&[1, 2, 3, 4, 5], 5), Some((14, 5, 3))),
            ("two copies of a long span are not a loop", small, cycle(&[1, 2, 3, 4, 5, 6, 7, 8], 2), None),
            ("period beyond max_period is not seen", small, cycle(&varied(9, 50), 10), None),
            ("loop after varied text", small, prose_then(cycle(&[9, 8, 7], 10)), Some((40 + 11, 3, 4))),
            // A broken run starts over: 11 copies of `7`, one other token, then 11 again never reach 12.
            ("interrupted runs", small, [vec![7; 11], vec![1], vec![7; 11]].concat(), None),
            // Defaults: a short span must cover 128 tokens.
            ("default: 127 of one token", d, vec![5; 127], None),
            ("default: 128 of one token", d, vec![5; 128], Some((127, 1, 128))),
            ("default: 40 zeros and commas in code", d, prose_then(cycle(&[15, 11], 40)), None),
            ("default: period 10 x 13", d, cycle(&varied(10, 1), 13), Some((127, 10, 12))),
            // A 60-token sentence said three times in a row (180 tokens) is a loop...
            ("default: long span x3", d, prose_then(cycle(&varied(60, 1), 3)), Some((40 + 179, 60, 3))),
            // ...twice is not.
            ("default: long span x2", d, prose_then(cycle(&varied(60, 1), 2)), None),
            ("default: span of 256 x3", d, cycle(&varied(256, 1), 3), Some((767, 256, 3))),
            ("default: span of 257 x3 is too long", d, cycle(&varied(257, 1), 3), None),
        ];
        for (name, config, tokens, expected) in cases {
            let got = first_trip(config, &tokens).map(|(i, c)| (i, c.period, c.repeats));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn reports_the_shortest_period_and_the_covered_tokens() {
        // `1 2 1 2 ...` is periodic with 2, 4, 6...: the guard names 2.
        let (_, c) = first_trip(GuardConfig { max_period: 16, min_repeats: 2, min_tokens: 8 }, &cycle(&[1, 2], 10))
            .expect("trips");
        assert_eq!((c.period, c.tokens), (2, 8));
    }

    #[test]
    fn keeps_watching_after_a_trip() {
        // The engine stops at the first trip, but the guard itself keeps its state consistent.
        let mut g = RepeatGuard::new(GuardConfig { max_period: 4, min_repeats: 2, min_tokens: 4 });
        let trips: Vec<bool> = [3, 3, 3, 3, 3, 9].iter().map(|&t| g.push(t).is_some()).collect();
        assert_eq!(trips, [false, false, false, true, true, false]);
    }

    #[test]
    fn piece_ids_tell_pieces_apart() {
        assert_eq!(piece_id("abc"), piece_id("abc"));
        assert_ne!(piece_id("abc"), piece_id("abd"));
        assert_ne!(piece_id(""), piece_id(" "));
    }
}
