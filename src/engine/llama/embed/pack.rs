//! Which tokens of which inputs go into the next embedding decode. Pure, table-tested.
//!
//! Two ways to embed: *whole* inputs, each in one decode (llama.cpp pools a sequence within one
//! decode, and non-causal attention must see the whole input at once), packed several to a decode;
//! or *chunked* inputs of a causal model, whose tokens may spread over several decodes (the KV
//! cache carries the context) while airgate pools the token vectors itself. Inputs start in
//! arrival order; a started input keeps its sequence until its last token is decoded.

use std::ops::Range;

/// What one embedding context can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Tokens one decode carries.
    pub batch: usize,
    /// Inputs in flight at once (sequences of the context).
    pub seqs: usize,
    /// KV cells the inputs in flight share (chunked mode: an input is started only when all its
    /// tokens will fit beside those of the inputs already in flight).
    pub cells: usize,
    /// Whole inputs only: each input goes into one decode.
    pub whole: bool,
}

impl Limits {
    /// Longest input these limits can embed.
    pub fn max_input(&self) -> usize {
        if self.whole { self.batch.min(self.cells) } else { self.cells }
    }
}

/// An input in flight: its length and how many of its tokens were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub len: usize,
    pub fed: usize,
}

/// The next decode: how many waiting inputs start (from the front of the queue; they follow the
/// inputs already in flight), and which token ranges go in, by in-flight index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Step {
    pub start: usize,
    pub take: Vec<(usize, Range<usize>)>,
}

/// Plans the next decode. `waiting` holds the lengths of queued inputs, each at most
/// [`Limits::max_input`] tokens (a longer one never starts: the caller refuses those up front).
pub(crate) fn step(in_flight: &[InFlight], waiting: &[usize], limits: Limits) -> Step {
    let mut step = Step::default();
    let mut running: Vec<InFlight> = in_flight.to_vec();
    let mut cells: usize = running.iter().map(|i| i.len).sum();
    let mut batch = running.iter().map(|i| if limits.whole { i.len - i.fed } else { 0 }).sum::<usize>();
    for &len in waiting {
        if running.len() >= limits.seqs || len == 0 || len > limits.max_input() {
            break;
        }
        let fits = if limits.whole { batch + len <= limits.batch } else { cells + len <= limits.cells };
        if !fits {
            break;
        }
        running.push(InFlight { len, fed: 0 });
        cells += len;
        batch += if limits.whole { len } else { 0 };
        step.start += 1;
    }
    let mut room = limits.batch;
    for (i, input) in running.iter().enumerate() {
        let n = (input.len - input.fed).min(room);
        if limits.whole && n < input.len - input.fed {
            // A whole input never splits: it waits for the next decode.
            break;
        }
        if n > 0 {
            step.take.push((i, input.fed..input.fed + n));
            room -= n;
        }
        if room == 0 {
            break;
        }
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(v: &[(usize, usize)]) -> Vec<InFlight> {
        v.iter().map(|&(len, fed)| InFlight { len, fed }).collect()
    }

    #[test]
    fn table() {
        let whole = Limits { batch: 100, seqs: 4, cells: 100, whole: true };
        let chunked = Limits { batch: 64, seqs: 3, cells: 200, whole: false };
        // (name, limits, in flight, waiting, expected start, expected takes)
        type Case = (&'static str, Limits, Vec<InFlight>, Vec<usize>, usize, Vec<(usize, Range<usize>)>);
        let cases: Vec<Case> = vec![
            ("nothing to do", whole, vec![], vec![], 0, vec![]),
            (
                "whole: packs inputs that fit",
                whole,
                vec![],
                vec![30, 40, 20, 50],
                3,
                vec![(0, 0..30), (1, 0..40), (2, 0..20)],
            ),
            ("whole: one long input alone", whole, vec![], vec![100, 1], 1, vec![(0, 0..100)]),
            ("whole: stops at the first that does not fit", whole, vec![], vec![60, 50, 10], 1, vec![(0, 0..60)]),
            (
                "whole: at most `seqs` inputs",
                whole,
                vec![],
                vec![1, 1, 1, 1, 1, 1],
                4,
                vec![(0, 0..1), (1, 0..1), (2, 0..1), (3, 0..1)],
            ),
            ("whole: an input over the limit never starts", whole, vec![], vec![101, 5], 0, vec![]),
            ("chunked: a long input is cut into batches", chunked, vec![], vec![150], 1, vec![(0, 0..64)]),
            ("chunked: its next batch", chunked, flight(&[(150, 64)]), vec![], 0, vec![(0, 64..128)]),
            (
                "chunked: the tail and the next inputs",
                chunked,
                flight(&[(150, 128)]),
                vec![30, 40],
                1,
                vec![(0, 128..150), (1, 0..30)],
            ),
            ("chunked: the batch fills up", chunked, flight(&[(10, 0)]), vec![100], 1, vec![(0, 0..10), (1, 0..54)]),
            (
                "chunked: KV room decides who starts",
                chunked,
                flight(&[(150, 128)]),
                vec![60, 10],
                0,
                vec![(0, 128..150)],
            ),
            (
                "chunked: sequences decide who starts",
                chunked,
                flight(&[(10, 0), (10, 0), (10, 0)]),
                vec![5],
                0,
                vec![(0, 0..10), (1, 0..10), (2, 0..10)],
            ),
            ("chunked: an input over the cells never starts", chunked, vec![], vec![201], 0, vec![]),
            ("chunked: an empty input never starts", chunked, vec![], vec![0, 3], 0, vec![]),
        ];
        for (name, limits, in_flight, waiting, start, take) in cases {
            let got = step(&in_flight, &waiting, limits);
            assert_eq!((got.start, got.take), (start, take), "{name}");
        }
    }

    /// Every token of every input is decoded exactly once, in order, whatever the queue looks like.
    #[test]
    fn every_token_once() {
        for limits in [
            Limits { batch: 7, seqs: 2, cells: 20, whole: false },
            Limits { batch: 20, seqs: 3, cells: 20, whole: true },
            Limits { batch: 1, seqs: 1, cells: 5, whole: false },
        ] {
            let inputs: Vec<usize> = (0..40).map(|i| 1 + (i * 7) % limits.max_input()).collect();
            let mut waiting = inputs.clone();
            let mut running: Vec<(usize, InFlight)> = Vec::new();
            let mut next_id = 0;
            let mut seen = vec![0usize; inputs.len()];
            let mut steps = 0;
            while !(waiting.is_empty() && running.is_empty()) {
                steps += 1;
                assert!(steps < 10_000, "{limits:?}: no progress");
                let flight: Vec<InFlight> = running.iter().map(|(_, f)| *f).collect();
                let s = step(&flight, &waiting, limits);
                for len in waiting.drain(..s.start) {
                    running.push((next_id, InFlight { len, fed: 0 }));
                    next_id += 1;
                }
                let total: usize = s.take.iter().map(|(_, r)| r.len()).sum();
                assert!(total > 0 && total <= limits.batch, "{limits:?}: {s:?}");
                assert!(running.len() <= limits.seqs);
                for (i, range) in &s.take {
                    let (id, f) = &mut running[*i];
                    assert_eq!(range.start, f.fed, "tokens in order");
                    seen[*id] += range.len();
                    f.fed = range.end;
                    if limits.whole {
                        assert_eq!(range.clone(), 0..f.len, "whole inputs are never split");
                    }
                }
                running.retain(|(_, f)| f.fed < f.len);
            }
            assert_eq!(seen, inputs, "{limits:?}");
        }
    }
}
