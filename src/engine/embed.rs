//! Embeddings at the engine boundary: what is embedded (text or token ids), how token vectors are
//! pooled into one, and the vector arithmetic every backend shares (unit length, `dimensions`).

use serde::{Deserialize, Serialize};

/// One input to embed.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedInput {
    Text(String),
    /// Token ids of the model's own vocabulary (OpenAI's token-array inputs).
    Tokens(Vec<u32>),
}

/// A batch of inputs, embedded together.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    pub inputs: Vec<EmbedInput>,
    /// The GitLab feature (or API surface) asking: a metrics label.
    pub feature: &'static str,
}

/// The vectors of an [`EmbedRequest`], in input order, each of unit length.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the inputs came to (as the model counted them; an upstream's own count).
    pub prompt_tokens: u32,
}

/// How the vectors of a sequence's tokens become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The average of every token's vector.
    Mean,
    /// The first token's vector (BERT's `[CLS]`).
    Cls,
    /// The last token's vector (decoder embedding models such as Qwen3-Embedding).
    Last,
}

impl Pooling {
    pub const ALL: [Pooling; 3] = [Pooling::Mean, Pooling::Cls, Pooling::Last];

    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        }
    }

    pub fn parse(s: &str) -> Option<Pooling> {
        Pooling::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// llama.cpp's `<arch>.pooling_type` number (`enum llama_pooling_type`): 1 mean, 2 cls, 3 last;
    /// 0 (none), 4 (rank) and unknown values pool nothing airgate can serve.
    pub fn from_gguf(value: u64) -> Option<Pooling> {
        match value {
            1 => Some(Pooling::Mean),
            2 => Some(Pooling::Cls),
            3 => Some(Pooling::Last),
            _ => None,
        }
    }
}

/// What a model's embeddings look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbedInfo {
    /// Length of each vector.
    pub dimensions: u32,
    pub pooling: Pooling,
    /// Most tokens one input may have.
    pub max_input_tokens: u32,
    /// Most inputs one request may carry.
    pub max_inputs: u32,
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// The first `dimensions` components of `v`, scaled back to unit length (what OpenAI's
/// `dimensions` parameter does for its Matryoshka-trained models). Longer than `v`: unchanged.
pub fn shorten(mut v: Vec<f32>, dimensions: usize) -> Vec<f32> {
    if dimensions < v.len() {
        v.truncate(dimensions);
        normalize(&mut v);
    }
    v
}

/// Cosine similarity of two unit vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn normalize_and_shorten() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, [0.0; 3]);

        let v = vec![0.5, 0.5, 0.5, 0.5];
        let short = shorten(v.clone(), 2);
        assert_eq!(short.len(), 2);
        assert!((norm(&short) - 1.0).abs() < 1e-6);
        assert!((short[0] - short[1]).abs() < 1e-7, "{short:?}");
        // Asking for as many or more dimensions than there are changes nothing.
        assert_eq!(shorten(v.clone(), 4), v);
        assert_eq!(shorten(v.clone(), 9), v);
    }

    #[test]
    fn cosine_of_unit_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-7);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-7);
    }

    #[test]
    fn pooling_names_and_gguf_numbers() {
        for p in Pooling::ALL {
            assert_eq!(Pooling::parse(p.as_str()), Some(p));
        }
        assert_eq!(Pooling::parse("max"), None);
        let from: Vec<Option<Pooling>> = (0..6).map(Pooling::from_gguf).collect();
        assert_eq!(from, [None, Some(Pooling::Mean), Some(Pooling::Cls), Some(Pooling::Last), None, None]);
    }
}
