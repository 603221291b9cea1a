//! Which waiting prompt the model thread evaluates next, before its next generation step.
//!
//! Every prompt batch is decoded alone, in the batches [`Plan`](super::plan::Plan) lays out, so a
//! prompt's keys and values never depend on other requests: prefix reuse stays exact and two
//! simultaneous requests get their solo answers. (Evaluating a burst of short prompts in one joint
//! batch was measured: +2.5 % aggregate tokens/s with 8 streams, but llama.cpp rounds differently
//! for a different batch shape and greedy answers then changed with the traffic around them.)
//! What the scheduler chooses is the order: short prompts first, all of them before the next
//! generation step, so a short request (GitLab's 3-second connection test) is not queued behind a
//! long file; a long prompt advances by one batch per step, so it never stalls the running streams
//! for longer than one chunk's evaluation.

use std::time::Instant;

/// A slot whose prompt is not fully evaluated.
#[derive(Clone, Copy, Debug)]
pub struct Waiting {
    /// Prompt tokens left to evaluate.
    pub remaining: usize,
    /// Tokens in the prompt's next planned batch.
    pub next_batch: usize,
    /// When the request got its slot: the one waiting longest goes first.
    pub since: Instant,
}

/// The next prompt batch among `waiting`, when it has at most `budget` tokens: the short prompt (at
/// most `chunk` tokens left) waiting longest, else, while `long_allowed`, the oldest long one.
/// Returns its index and whether it is long.
pub fn pick(waiting: &[Waiting], chunk: usize, budget: usize, long_allowed: bool) -> Option<(usize, bool)> {
    let (index, long) = (0..waiting.len())
        .map(|i| (i, waiting[i].remaining > chunk))
        .filter(|&(_, long)| long_allowed || !long)
        .min_by_key(|&(i, long)| (long, waiting[i].since))?;
    (waiting[index].next_batch <= budget).then_some((index, long))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `(remaining, next_batch, arrival order)` per waiting slot.
    fn waiting(spec: &[(usize, usize, u64)]) -> Vec<Waiting> {
        let t0 = Instant::now();
        spec.iter()
            .map(|&(remaining, next_batch, order)| Waiting {
                remaining,
                next_batch,
                since: t0 + Duration::from_millis(order),
            })
            .collect()
    }

    /// (what, waiting slots, budget, long allowed, the pick)
    type Case = (&'static str, &'static [(usize, usize, u64)], usize, bool, Option<(usize, bool)>);

    #[test]
    fn picks() {
        let cases: &[Case] = &[
            ("nothing waits", &[], 512, true, None),
            ("one short prompt: its planned batch", &[(30, 16, 0)], 512, true, Some((0, false))),
            ("the short prompt waiting longest", &[(30, 16, 2), (28, 16, 0), (31, 16, 1)], 512, true, Some((1, false))),
            ("shorts before an older long", &[(900, 128, 0), (30, 16, 2), (20, 16, 1)], 512, true, Some((2, false))),
            ("then the oldest long", &[(900, 128, 1), (700, 128, 0)], 512, true, Some((1, true))),
            ("one long batch per step", &[(900, 128, 0)], 384, false, None),
            (
                "shorts still go after the step's long batch",
                &[(900, 128, 0), (30, 16, 1)],
                384,
                false,
                Some((1, false)),
            ),
            ("the budget bounds the step", &[(100, 100, 0)], 50, true, None),
            ("a long batch must fit too", &[(900, 128, 0)], 100, true, None),
        ];
        for (what, spec, budget, long_allowed, want) in cases {
            assert_eq!(pick(&waiting(spec), 128, *budget, *long_allowed), *want, "{what}");
        }
    }
}
