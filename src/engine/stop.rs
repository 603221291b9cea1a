//! Stop strings matched across token boundaries: text that might be the start of a stop string is held back until it is known not to be.

/// Streams text through, cutting it at the first stop string and never emitting any part of one.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What `push` lets through.
#[derive(Debug, PartialEq, Eq)]
pub struct Pushed {
    pub emit: String,
    pub stopped: bool,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    /// Adds generated text. Returns what is safe to show; `stopped` when a stop string completed.
    pub fn push(&mut self, text: &str) -> Pushed {
        self.held.push_str(text);
        if self.stops.is_empty() {
            return Pushed { emit: std::mem::take(&mut self.held), stopped: false };
        }
        let first_stop = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min();
        if let Some(at) = first_stop {
            self.held.truncate(at);
            return Pushed { emit: std::mem::take(&mut self.held), stopped: true };
        }
        let keep = self.partial_suffix_len();
        let cut = self.held.len() - keep;
        let rest = self.held.split_off(cut);
        Pushed { emit: std::mem::replace(&mut self.held, rest), stopped: false }
    }

    /// At the end of generation: whatever was held back is ordinary text after all.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest tail of `held` that is a proper prefix of some stop string.
    fn partial_suffix_len(&self) -> usize {
        let held = self.held.as_str();
        let mut best = 0;
        for stop in &self.stops {
            let max = held.len().min(stop.len() - 1);
            for len in (best + 1..=max).rev() {
                let start = held.len() - len;
                if held.is_char_boundary(start) && stop.starts_with(&held[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], chunks: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for c in chunks {
            let p = m.push(c);
            out.push_str(&p.emit);
            if p.stopped {
                return (out, true);
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn table() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &["a", "b"], "ab", false),
            (&["\n\n"], &["hello", "\n", "\n", "world"], "hello", true),
            (&["STOP"], &["ab", "ST", "O", "P", "cd"], "ab", true),
            (&["STOP"], &["ab", "ST", "O", "x"], "abSTOx", false),
            (&["STOP"], &["abSTOPcd"], "ab", true),
            (&["xyz", "b"], &["aaxyb"], "aaxy", true),
            (&["ab"], &["a"], "a", false),
            (&["éé"], &["café", "é"], "caf", true),
            (&["<end>"], &["x<e", "nd", ">"], "x", true),
            (&[""], &["a"], "a", false),
        ];
        for (stops, chunks, want, stopped) in cases {
            assert_eq!(run(stops, chunks), (want.to_string(), *stopped), "stops={stops:?} chunks={chunks:?}");
        }
    }

    #[test]
    fn never_emits_a_stop_prefix_early() {
        let stops = vec!["Observation:".to_string()];
        let mut m = StopMatcher::new(&stops);
        assert_eq!(m.push("ok Obs").emit, "ok ");
        assert_eq!(m.push("erv").emit, "");
        let p = m.push("ation: x");
        assert_eq!(p, Pushed { emit: String::new(), stopped: true });
    }

    #[test]
    fn every_split_of_a_text_gives_the_same_result() {
        let text = "one two <|stop|> three";
        let stops = vec!["<|stop|>".to_string()];
        for cut in 1..text.len() {
            let (a, b) = text.split_at(cut);
            let mut m = StopMatcher::new(&stops);
            let first = m.push(a);
            let mut out = first.emit;
            if !first.stopped {
                let second = m.push(b);
                assert!(second.stopped, "cut {cut}");
                out.push_str(&second.emit);
            }
            assert_eq!(out, "one two ", "cut {cut}");
        }
    }
}
