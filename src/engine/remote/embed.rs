//! Embeddings from an OpenAI-compatible upstream: `POST {base_url}/embeddings`, its answer checked
//! (one vector per input, by index) and every vector scaled to unit length.

use reqwest::{Method, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant as Deadline;

use super::{Inner, JSON_BODY_LIMIT, wire};
use crate::engine::embed::normalize;
use crate::engine::{EmbedInput, EmbedRequest, Embedded, EngineError};

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
}

/// The request body: texts, or token arrays, as OpenAI takes them.
pub(super) fn body(model: &str, inputs: &[EmbedInput]) -> Value {
    let input: Vec<Value> = inputs
        .iter()
        .map(|i| match i {
            EmbedInput::Text(t) => json!(t),
            EmbedInput::Tokens(ids) => json!(ids),
        })
        .collect();
    json!({ "model": model, "input": input, "encoding_format": "float" })
}

/// The vectors in input order, unit length; `None` when the answer does not hold exactly one
/// vector for each of `count` inputs.
pub(super) fn vectors(body: &[u8], count: usize) -> Option<(Vec<Vec<f32>>, Option<u32>)> {
    let answer: Answer = serde_json::from_slice(body).ok()?;
    if answer.data.len() != count {
        return None;
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; count];
    for (position, item) in answer.data.into_iter().enumerate() {
        let slot = out.get_mut(item.index.unwrap_or(position))?;
        if slot.is_some() || item.embedding.is_empty() {
            return None;
        }
        let mut v = item.embedding;
        normalize(&mut v);
        *slot = Some(v);
    }
    let vectors = out.into_iter().collect::<Option<Vec<_>>>()?;
    Some((vectors, answer.usage.map(|u| u.prompt_tokens)))
}

impl Inner {
    pub(super) async fn embed(&self, req: EmbedRequest) -> Result<Embedded, EngineError> {
        let deadline = Deadline::now() + self.cfg.request_timeout;
        let request = self
            .request(Method::POST, "embeddings")
            .header(header::ACCEPT, "application/json")
            .json(&body(&self.cfg.model, &req.inputs));
        let response = self.send(request, deadline).await?;
        if !response.status().is_success() {
            return Err(self.status_error(response, deadline).await);
        }
        let raw = self.read_body(response, JSON_BODY_LIMIT, deadline).await?;
        let (vectors, counted) = vectors(&raw, req.inputs.len()).ok_or_else(|| {
            let start = self.scrub(&String::from_utf8_lossy(&raw));
            EngineError::Internal(format!(
                "{}/embeddings did not answer with one embedding per input: {}",
                self.shown_url,
                wire::snippet(&start, 200)
            ))
        })?;
        // An upstream that does not count: about four characters a token.
        let estimate = || {
            req.inputs
                .iter()
                .map(|i| match i {
                    EmbedInput::Text(t) => t.chars().count().div_ceil(4),
                    EmbedInput::Tokens(ids) => ids.len(),
                })
                .sum::<usize>() as u32
        };
        Ok(Embedded { vectors, prompt_tokens: counted.filter(|&n| n > 0).unwrap_or_else(estimate) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_any_order_become_input_order() {
        let body =
            br#"{"data":[{"embedding":[0,2],"index":1},{"embedding":[3,4],"index":0}],"usage":{"prompt_tokens":7}}"#;
        let (v, n) = vectors(body, 2).unwrap();
        assert_eq!(v, [vec![0.6, 0.8], vec![0.0, 1.0]]);
        assert_eq!(n, Some(7));
        // No index: the order they come in.
        let (v, n) = vectors(br#"{"data":[{"embedding":[1,0]},{"embedding":[0,5]}]}"#, 2).unwrap();
        assert_eq!((v, n), (vec![vec![1.0, 0.0], vec![0.0, 1.0]], None));
    }

    #[test]
    fn answers_that_do_not_match_the_inputs_are_refused() {
        for bad in [
            &br#"{"data":[{"embedding":[1],"index":0}]}"#[..],
            br#"{"data":[{"embedding":[1],"index":0},{"embedding":[1],"index":0}]}"#,
            br#"{"data":[{"embedding":[1],"index":0},{"embedding":[1],"index":5}]}"#,
            br#"{"data":[{"embedding":[],"index":0},{"embedding":[1],"index":1}]}"#,
            br#"{"object":"list"}"#,
            b"not json",
        ] {
            assert!(vectors(bad, 2).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn request_body() {
        let b = body("m", &[EmbedInput::Text("a".into()), EmbedInput::Tokens(vec![1, 2])]);
        assert_eq!(b, json!({"model": "m", "input": ["a", [1, 2]], "encoding_format": "float"}));
    }
}
