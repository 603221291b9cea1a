//! How a prompt is cut into batches, and how much of a cached prompt a new one may keep, so that
//! greedy output never depends on what the cache held.
//!
//! llama.cpp's CPU kernels do not give a token the same keys and values in every batch: flash
//! attention, the repacked quantized matmuls and their activation quantization all pick kernels and
//! row groupings by the number of rows, and the rounding follows. The one safe rule is identity: a
//! cached token is reused only if it was evaluated in exactly the batch (same positions, same
//! tokens) that evaluating the new prompt from scratch would put it in. So batches are a function
//! of positions and the prompt's length alone:
//!
//! - the *body*, `[0, tail_start)`, in batches of `chunk` tokens on the `chunk` grid;
//! - the *tail*, the last 1 to `chunk` tokens, in batches on the finer [`TAIL_GRID`].
//!
//! A new prompt keeps a cached prefix up to the last batch both plans share. Typing near the end of
//! a file changes only the tail, so a keystroke evaluates a few tokens again; the tail moves on once
//! every `chunk` tokens. Small batches cost prompt speed, hence the coarse body. (A third, 4-token
//! grid for the tail's last 16 tokens was measured on the typing benchmark: no faster, because
//! GitLab's prompt layouts put the end of the chat turn, or the suffix, after the cursor.)

/// The tail's batch grid: about what a keystroke near the end of a prompt evaluates again.
pub const TAIL_GRID: usize = 16;

/// The batch plan for one model context.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    chunk: usize,
}

impl Plan {
    /// `chunk`: the largest prompt batch, rounded down to a multiple of [`TAIL_GRID`].
    pub fn new(chunk: usize) -> Plan {
        Plan { chunk: (chunk / TAIL_GRID).max(1) * TAIL_GRID }
    }

    /// The largest prompt batch.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Where the tail of a prompt of `len` tokens starts.
    fn tail_start(&self, len: usize) -> usize {
        len.saturating_sub(1) / self.chunk * self.chunk
    }

    /// The end of the batch that starts at `pos` (a batch boundary) in a prompt of `len` tokens.
    pub fn next_batch(&self, pos: usize, len: usize) -> usize {
        let grid = if pos < self.tail_start(len) { self.chunk } else { TAIL_GRID };
        ((pos / grid + 1) * grid).min(len)
    }

    /// How many tokens of a cached prompt of `cached_len` tokens a new prompt of `len` tokens may
    /// keep: the batches of the new prompt's plan, from the start, that are also batches of the
    /// cached prompt's plan and lie within `common`, the tokens both share from the start
    /// (evaluated as prompt, not generated).
    pub fn reusable(&self, common: usize, cached_len: usize, len: usize) -> usize {
        // One token at least is evaluated, to have logits to sample from.
        let shared = common.min(len.saturating_sub(1));
        let mut pos = 0;
        loop {
            let end = self.next_batch(pos, len);
            if end > shared || self.next_batch(pos, cached_len) != end {
                return pos;
            }
            pos = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every batch of a prompt of `len` tokens when evaluation starts at `from`.
    fn batches(plan: Plan, from: usize, len: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut pos = from;
        while pos < len {
            let end = plan.next_batch(pos, len);
            assert!(end > pos && end <= len);
            out.push((pos, end));
            pos = end;
        }
        out
    }

    /// The batch each token of `[0, upto)` is evaluated in.
    fn batch_of(all: &[(usize, usize)], upto: usize) -> Vec<(usize, usize)> {
        (0..upto).map(|p| *all.iter().find(|(s, e)| (*s..*e).contains(&p)).unwrap()).collect()
    }

    #[test]
    fn batches_follow_the_two_grids() {
        let plan = Plan::new(128);
        for len in 1..700 {
            let tail = plan.tail_start(len);
            assert!(len - tail >= 1 && len - tail <= 128, "len {len}: tail at {tail}");
            for (start, end) in batches(plan, 0, len) {
                if end <= tail {
                    assert_eq!((start % 128, end - start), (0, 128), "len {len}");
                } else {
                    assert!(start >= tail && start % TAIL_GRID == 0 && end - start <= TAIL_GRID, "len {len}");
                }
            }
        }
    }

    #[test]
    fn a_kept_token_was_evaluated_in_the_batch_a_fresh_evaluation_gives_it() {
        let plan = Plan::new(128);
        let mut checked = 0;
        for old in (1..600).step_by(7) {
            let cached = batches(plan, 0, old);
            for new in (1..600).step_by(5) {
                let reference = batches(plan, 0, new);
                for common in [0, 1, 5, 15, 16, 17, 100, 128, 130, 200, 255, 256, 300, 333, 400, 511, 512, 599] {
                    let common = common.min(old).min(new);
                    let keep = plan.reusable(common, old, new);
                    assert!(keep <= common && keep < new, "old {old} new {new} common {common}: {keep}");
                    assert_eq!(batch_of(&cached, keep), batch_of(&reference, keep), "old {old} new {new} keep {keep}");
                    // Evaluation resumes on a boundary of the fresh plan.
                    assert!(keep == 0 || reference.iter().any(|&(_, e)| e == keep), "old {old} new {new} keep {keep}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn typing_at_the_end_evaluates_a_few_tokens_again() {
        let plan = Plan::new(128);
        let mut evaluated = 0;
        for len in 1000..1128 {
            evaluated += len + 1 - plan.reusable(len, len, len + 1);
        }
        // Half the tail grid on average, and one chunk once per chunk.
        assert!(evaluated / 128 <= TAIL_GRID / 2 + 2, "mean tokens evaluated per keystroke: {}", evaluated / 128);
    }

    #[test]
    fn an_odd_batch_size_keeps_the_grids_nested() {
        let plan = Plan::new(100);
        assert_eq!(plan.tail_start(500), 480);
        assert_eq!(plan.next_batch(0, 500), 96);
        assert_eq!(plan.next_batch(480, 500), 496);
    }
}
