//! The `prompt_enhancer` extras of a code generation (libraries, examples, related snippets and files): read from JSON, fitted to a budget, rendered as prompt sections.

use super::TokenCount;
use super::budget::keep_start;
use serde_json::Value;

/// A partly fitting snippet or file is cut only if at least this many tokens of it still fit.
const MIN_PARTIAL_TOKENS: usize = 64;

/// Extras in the order they are kept when the budget is short: libraries, examples, snippets, files.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Extras {
    pub libraries: Vec<String>,
    /// (request, code) pairs.
    pub examples: Vec<(String, String)>,
    pub related_snippets: Vec<String>,
    pub related_files: Vec<String>,
}

impl Extras {
    /// Reads `libraries`, `examples_array`, `related_snippets` and `related_files`; anything else or
    /// of another shape is ignored. Objects stand for their `content` (or `name`) field.
    pub fn from_json(enhancer: Option<&Value>) -> Extras {
        let Some(enhancer) = enhancer else { return Extras::default() };
        let list = |key: &str| -> Vec<String> {
            let Some(Value::Array(items)) = enhancer.get(key) else { return Vec::new() };
            items.iter().filter_map(item_text).filter(|s| !s.trim().is_empty()).collect()
        };
        let examples = match enhancer.get("examples_array") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| {
                    let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
                    let (example, response) = (field("example"), field("response"));
                    (!example.is_empty() || !response.is_empty()).then_some((example, response))
                })
                .collect(),
            _ => Vec::new(),
        };
        Extras {
            libraries: list("libraries"),
            examples,
            related_snippets: list("related_snippets"),
            related_files: list("related_files"),
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
            && self.examples.is_empty()
            && self.related_snippets.is_empty()
            && self.related_files.is_empty()
    }

    /// Tokens of every rendered piece, headers included (an upper bound of `render`'s count).
    pub fn tokens(&self, tokens: &dyn TokenCount) -> usize {
        self.pieces().iter().map(|p| tokens.count(p)).sum()
    }

    /// The extras that fit in `budget` tokens, whole items in priority order; the first snippet or
    /// file that does not fit is cut from the right when enough of it fits. Returns them and their
    /// token count (as [`Extras::tokens`]).
    pub fn fit(&self, budget: usize, tokens: &dyn TokenCount) -> (Extras, usize) {
        let mut out = Extras::default();
        let mut used = 0;
        let header = |text: &str| tokens.count(text);
        if !self.libraries.is_empty() {
            let cost = header(LIBRARIES_HEADER) + tokens.count(&library_line(&self.libraries));
            if cost <= budget {
                out.libraries = self.libraries.clone();
                used += cost;
            }
        }
        for (example, response) in &self.examples {
            let head = if out.examples.is_empty() { header(EXAMPLES_HEADER) } else { 0 };
            let cost = head + tokens.count(&example_block(example, response));
            if used + cost > budget {
                break;
            }
            out.examples.push((example.clone(), response.clone()));
            used += cost;
        }
        let mut cut = false;
        for (items, kept, head_text) in [
            (&self.related_snippets, &mut out.related_snippets, SNIPPETS_HEADER),
            (&self.related_files, &mut out.related_files, FILES_HEADER),
        ] {
            for item in items {
                if cut {
                    break;
                }
                let head = if kept.is_empty() { header(head_text) } else { 0 };
                let cost = head + tokens.count(&item_block(item));
                if used + cost <= budget {
                    kept.push(item.clone());
                    used += cost;
                    continue;
                }
                cut = true;
                let room = budget.saturating_sub(used + head + tokens.count("\n\n"));
                if room >= MIN_PARTIAL_TOKENS {
                    let part = keep_start(item, room, tokens).to_string();
                    used += head + tokens.count(&item_block(&part));
                    kept.push(part);
                }
            }
        }
        (out, used)
    }

    /// The sections as prompt text, each followed by a blank line; "" when there are none.
    pub fn render(&self) -> String {
        self.pieces().concat()
    }

    fn pieces(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.libraries.is_empty() {
            out.push(LIBRARIES_HEADER.to_string());
            out.push(library_line(&self.libraries));
        }
        for (i, (example, response)) in self.examples.iter().enumerate() {
            if i == 0 {
                out.push(EXAMPLES_HEADER.to_string());
            }
            out.push(example_block(example, response));
        }
        for (items, head) in [(&self.related_snippets, SNIPPETS_HEADER), (&self.related_files, FILES_HEADER)] {
            for (i, item) in items.iter().enumerate() {
                if i == 0 {
                    out.push(head.to_string());
                }
                out.push(item_block(item));
            }
        }
        out
    }
}

const LIBRARIES_HEADER: &str = "Libraries the project depends on (prefer them over new dependencies): ";
const EXAMPLES_HEADER: &str = "Examples of requests and the code that answers each:\n";
const SNIPPETS_HEADER: &str = "Snippets from elsewhere in the project that may help:\n";
const FILES_HEADER: &str = "Files related to the one being edited:\n";

fn library_line(libraries: &[String]) -> String {
    format!("{}.\n\n", libraries.join(", "))
}

fn example_block(example: &str, response: &str) -> String {
    format!("<example>\nRequest and code so far:\n{example}\nAnswer:\n{response}\n</example>\n\n")
}

fn item_block(item: &str) -> String {
    format!("{}\n\n", item.trim_end())
}

fn item_text(item: &Value) -> Option<String> {
    match item {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => ["content", "name"].iter().find_map(|k| map.get(*k)?.as_str().map(str::to_string)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Estimate;
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "libraries": ["requests", "flask", 7],
            "examples_array": [{"example": "# add two numbers", "response": "def add(a, b):\n    return a + b", "trigger_type": "comment"}, {"x": 1}],
            "related_snippets": ["def util(): pass", {"content": "class A: pass"}, ""],
            "related_files": ["<file_content file_name=\"x.py\">import os</file_content>\n"],
            "user_instruction": "ignored here",
            "trimmed_content_above_cursor": "ignored too"
        })
    }

    #[test]
    fn reads_the_enhancer_fields_it_knows() {
        let extras = Extras::from_json(Some(&sample()));
        assert_eq!(extras.libraries, ["requests", "flask"]);
        assert_eq!(
            extras.examples,
            [("# add two numbers".to_string(), "def add(a, b):\n    return a + b".to_string())]
        );
        assert_eq!(extras.related_snippets, ["def util(): pass", "class A: pass"]);
        assert_eq!(extras.related_files.len(), 1);
        assert!(Extras::from_json(None).is_empty());
        assert!(Extras::from_json(Some(&json!({"libraries": "not a list", "examples_array": {}}))).is_empty());
        assert!(Extras::from_json(Some(&json!(null))).is_empty());
    }

    #[test]
    fn renders_sections_in_priority_order() {
        let text = Extras::from_json(Some(&sample())).render();
        let order = ["requests, flask.", "<example>", "def util(): pass", "class A: pass", "<file_content"];
        let positions: Vec<usize> = order.iter().map(|s| text.find(s).unwrap_or_else(|| panic!("{s}"))).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(Extras::default().render(), "");
    }

    #[test]
    fn fit_keeps_whole_items_first_and_reports_tokens() {
        let extras = Extras::from_json(Some(&sample()));
        let all = extras.tokens(&Estimate);
        let (kept, used) = extras.fit(all, &Estimate);
        assert_eq!((kept, used), (extras.clone(), all));
        let (kept, used) = extras.fit(0, &Estimate);
        assert!(kept.is_empty() && used == 0);
        for budget in 0..=all {
            let (kept, used) = extras.fit(budget, &Estimate);
            assert!(used <= budget, "{budget}");
            assert_eq!(used, kept.tokens(&Estimate), "{budget}");
            assert!(Estimate.count(&kept.render()) <= used);
        }
    }

    #[test]
    fn a_long_file_is_cut_when_enough_of_it_fits() {
        let long = "line of code\n".repeat(1000);
        let extras = Extras { related_files: vec![long.clone(), "next".into()], ..Extras::default() };
        let (kept, used) = extras.fit(200, &Estimate);
        assert_eq!(kept.related_files.len(), 1);
        assert!(long.starts_with(&kept.related_files[0]) && kept.related_files[0].len() > 400);
        assert!(used <= 200);
        // Too little room: the file is left out rather than cut to a stub.
        let (kept, _) = extras.fit(40, &Estimate);
        assert!(kept.related_files.is_empty());
    }
}
