//! Embeddings for both surfaces: one call that embeds inputs on the routed model and applies
//! `dimensions` (truncate, renormalise), and the rules GitLab's gateway puts on a code-embeddings
//! request's `model_metadata` (providers `gitlab` and `litellm` only; `litellm` needs
//! `name: "embedding"` and an endpoint).

use super::FeatureError;
use crate::engine::embed::shorten;
use crate::engine::{EmbedInput, EmbedRequest, Embedded, Engine, EngineError};

/// The model name GitLab sends for a self-hosted embeddings model (`litellm` provider).
pub const GITLAB_EMBEDDING_NAME: &str = "embedding";

/// What GitLab's gateway calls the engine of an embeddings answer (`model.engine`).
pub const GITLAB_EMBEDDING_ENGINE: &str = "litellm_embedding";

/// Embeds `inputs` on `engine` (`local`: one of airgate's models, which must serve embeddings; an
/// upstream is simply asked); with `dimensions`, each vector is cut to that many components and
/// scaled back to unit length. Asking for more dimensions than the model makes is refused.
pub async fn embed(
    engine: &dyn Engine,
    local: bool,
    inputs: Vec<EmbedInput>,
    dimensions: Option<u32>,
    feature: &'static str,
) -> Result<Embedded, FeatureError> {
    if local && engine.embeddings().is_none() {
        return Err(FeatureError::Unprocessable(format!(
            "model `{}` does not serve embeddings: load an embeddings model, or allow embeddings in this model's \
             settings (admin UI, Models)",
            engine.info().name
        )));
    }
    if inputs.is_empty() {
        return Err(FeatureError::BadInput("there is nothing to embed: send at least one input".into()));
    }
    let known = engine.embeddings().map(|e| e.dimensions);
    if let (Some(want), Some(has)) = (dimensions, known) {
        check_dimensions(want, has, &engine.info().name)?;
    } else if dimensions == Some(0) {
        return Err(FeatureError::BadInput("dimensions must be at least 1".into()));
    }
    let mut embedded = engine.embed(EmbedRequest { inputs, feature }).await.map_err(|e| match e {
        // The model's own verdict on the inputs names the input and the limit.
        EngineError::InvalidRequest(m) => FeatureError::BadInput(m),
        other => FeatureError::Engine(other),
    })?;
    if let Some(want) = dimensions {
        if let Some(has) = embedded.vectors.first().map(Vec::len) {
            check_dimensions(want, has as u32, &engine.info().name)?;
        }
        embedded.vectors = embedded.vectors.into_iter().map(|v| shorten(v, want as usize)).collect();
    }
    Ok(embedded)
}

fn check_dimensions(want: u32, has: u32, model: &str) -> Result<(), FeatureError> {
    if want == 0 || want > has {
        return Err(FeatureError::BadInput(format!(
            "dimensions is {want}, but model `{model}` makes {has}-dimensional vectors: ask for 1 to {has}"
        )));
    }
    Ok(())
}

/// GitLab's rules for a code-embeddings request's model (its gateway answers a 422 with these
/// very messages): the provider is `gitlab` (GitLab's own model: airgate serves the model the
/// admin routed the embeddings feature to) or `litellm` (a self-hosted model, which must be named
/// `embedding` and come with an endpoint).
pub fn check_gitlab_model(provider: &str, name: Option<&str>, endpoint: Option<&str>) -> Result<(), String> {
    if !matches!(provider, "gitlab" | "litellm") {
        return Err("Allowed providers are: gitlab|litellm.".into());
    }
    if provider != "litellm" {
        return Ok(());
    }
    match name.filter(|n| !n.is_empty()) {
        None => return Err("Model `name` must be set when using `litellm` provider.".into()),
        Some(n) if n != GITLAB_EMBEDDING_NAME => {
            return Err(format!("Model `name` must be '{GITLAB_EMBEDDING_NAME}' when using `litellm` provider."));
        }
        Some(_) => {}
    }
    if endpoint.is_none_or(str::is_empty) {
        return Err("Model `endpoint` must be set when using `litellm` provider.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::embed::EmbedInfo;
    use crate::engine::embed::Pooling;
    use crate::engine::{ChatMessage, EventStream, FimTokens, GenerateRequest, ModelInfo};

    #[test]
    fn gitlab_model_rules() {
        let ok = |p, n, e| check_gitlab_model(p, n, e);
        assert_eq!(ok("gitlab", None, None), Ok(()));
        assert_eq!(ok("litellm", Some("embedding"), Some("http://m:8000/v1")), Ok(()));
        assert_eq!(
            ok("openai", Some("embedding"), Some("http://m")).unwrap_err(),
            "Allowed providers are: gitlab|litellm."
        );
        assert_eq!(
            ok("litellm", None, Some("http://m")).unwrap_err(),
            "Model `name` must be set when using `litellm` provider."
        );
        assert_eq!(
            ok("litellm", Some("mistral"), Some("http://m")).unwrap_err(),
            "Model `name` must be 'embedding' when using `litellm` provider."
        );
        assert_eq!(
            ok("litellm", Some("embedding"), Some("")).unwrap_err(),
            "Model `endpoint` must be set when using `litellm` provider."
        );
    }

    /// An engine whose vectors are `[i+1, 1, 1, 1]` for input i, scaled to unit length.
    struct Fake(ModelInfo);

    #[async_trait::async_trait]
    impl Engine for Fake {
        fn info(&self) -> &ModelInfo {
            &self.0
        }
        fn is_ready(&self) -> bool {
            true
        }
        async fn generate(&self, _: GenerateRequest) -> Result<EventStream, EngineError> {
            unreachable!()
        }
        async fn tokenize(&self, _: &str) -> Result<Vec<u32>, EngineError> {
            unreachable!()
        }
        fn render_chat(&self, _: &[ChatMessage]) -> Result<String, EngineError> {
            unreachable!()
        }
        fn fim_tokens(&self) -> Option<&FimTokens> {
            None
        }
        fn count_tokens(&self, _: &str) -> Option<usize> {
            None
        }
        fn embeddings(&self) -> Option<EmbedInfo> {
            Some(EmbedInfo { dimensions: 4, pooling: Pooling::Mean, max_input_tokens: 8, max_inputs: 16 })
        }
        async fn embed(&self, req: EmbedRequest) -> Result<Embedded, EngineError> {
            if req.inputs.iter().any(|i| matches!(i, EmbedInput::Text(t) if t.len() > 8)) {
                return Err(EngineError::InvalidRequest("input[0] is too long".into()));
            }
            let vectors = (0..req.inputs.len())
                .map(|i| {
                    let mut v = vec![i as f32 + 1.0, 1.0, 1.0, 1.0];
                    crate::engine::embed::normalize(&mut v);
                    v
                })
                .collect();
            Ok(Embedded { vectors, prompt_tokens: req.inputs.len() as u32 })
        }
    }

    #[tokio::test]
    async fn dimensions_truncate_and_renormalise() {
        let e = Fake(ModelInfo::fake("emb", 64));
        let text = |s: &str| EmbedInput::Text(s.into());
        let full = embed(&e, true, vec![text("a"), text("b")], None, "test").await.unwrap();
        assert_eq!(full.vectors[0].len(), 4);
        let short = embed(&e, true, vec![text("a"), text("b")], Some(2), "test").await.unwrap();
        assert_eq!(short.vectors[1].len(), 2);
        let norm: f32 = short.vectors[1].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        assert!(short.vectors[1][0] > short.vectors[1][1], "the leading components keep their proportion");

        let err = |r: Result<Embedded, FeatureError>| match r {
            Err(FeatureError::BadInput(m)) => m,
            other => panic!("{other:?}"),
        };
        let m = err(embed(&e, true, vec![text("a")], Some(5), "test").await);
        assert!(m.contains("dimensions is 5") && m.contains("4-dimensional"), "{m}");
        assert!(err(embed(&e, true, vec![text("a")], Some(0), "test").await).contains("ask for 1 to 4"));
        assert!(err(embed(&e, true, vec![], None, "test").await).contains("nothing to embed"));
        assert!(err(embed(&e, true, vec![text("far too long")], None, "test").await).contains("too long"));
        // A local model that does not embed is the admin's to fix, not the caller's.
        let g = crate::engine::fake::Fake::named("gen", 64);
        match embed(&g, true, vec![text("a")], None, "test").await {
            Err(FeatureError::Unprocessable(m)) => assert!(m.contains("`gen` does not serve embeddings"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
