//! User text → an FTS5 MATCH expression that can never be a syntax error: words only, each quoted, OR-ed.

use std::collections::HashSet;

/// At most this many distinct terms go into one query (a 400 KB question must not become a
/// 60 000-term OR).
pub(super) const MAX_TERMS: usize = 48;
/// Longer "words" (hashes, base64) are dropped: they match nothing useful.
const MAX_TERM_LEN: usize = 64;

/// Common English words that would match nearly every chunk. Dropped unless the query has nothing
/// else (then they are searched for all the same).
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from", "had",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "please",
    "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was",
    "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// FTS5's own operators, dropped when written in capitals as FTS5 reads them.
const OPERATORS: &[&str] = &["AND", "OR", "NOT", "NEAR"];

/// `"w1" OR "w2" OR …` from the words of `text` (runs of letters and digits: every punctuation
/// mark, `_` included, separates words, as the `unicode61` tokenizer does). None when no word is left.
pub(super) fn fts_query(text: &str) -> Option<String> {
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    let mut stop = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() || word.len() > MAX_TERM_LEN || OPERATORS.contains(&word) {
            continue;
        }
        let lower = word.to_lowercase();
        if !seen.insert(lower.clone()) {
            continue;
        }
        if STOPWORDS.contains(&lower.as_str()) {
            if stop.len() < MAX_TERMS {
                stop.push(lower);
            }
        } else {
            terms.push(lower);
            if terms.len() == MAX_TERMS {
                break;
            }
        }
    }
    let terms = if terms.is_empty() { stop } else { terms };
    // Each term holds letters and digits only, so quoting it makes a plain FTS5 string.
    (!terms.is_empty()).then(|| terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" OR "))
}
