//! An upstream engine for callers airgate did not authenticate (`auth.bypass`): its failures reach them as a status and a fixed sentence, never in the upstream's own words (which would make the port answer like a port scanner).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::engine::{
    ChatMessage, EmbedInfo, EmbedRequest, Embedded, Engine, EngineError, Event, EventStream, FimTokens,
    GenerateRequest, ModelInfo, TemplateSource,
};

/// Wraps an upstream engine; every `Engine` method is passed through, errors are reworded.
pub struct Quiet(pub Arc<dyn Engine>);

/// The failure without what the upstream said (the status and a retry hint stay).
pub fn reword(e: EngineError) -> EngineError {
    match e {
        EngineError::Upstream { status, retry_after, .. } => {
            EngineError::Upstream { status, message: format!("the model endpoint answered HTTP {status}"), retry_after }
        }
        EngineError::Unreachable(_) => EngineError::Unreachable("the model endpoint could not be reached".into()),
        EngineError::InvalidRequest(_) => EngineError::InvalidRequest("the model endpoint refused the request".into()),
        other => other,
    }
}

/// The events, with a mid-stream failure reworded; dropping the result cancels the source.
fn reword_events(events: EventStream) -> EventStream {
    let (tx, rx) = mpsc::channel(events.max_capacity().max(1));
    tokio::spawn(async move {
        let mut events = events;
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = tx.closed() => return,
            };
            let event = match event {
                Some(Event::Failed(_)) => Event::Failed("the model endpoint failed".into()),
                Some(other) => other,
                None => return,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    rx
}

#[async_trait::async_trait]
impl Engine for Quiet {
    fn info(&self) -> &ModelInfo {
        self.0.info()
    }

    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }

    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        self.0.generate(req).await.map(reword_events).map_err(reword)
    }

    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.0.tokenize(text).await.map_err(reword)
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        self.0.render_chat(messages).map_err(reword)
    }

    fn fim_tokens(&self) -> Option<&FimTokens> {
        self.0.fim_tokens()
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.0.count_tokens(text)
    }

    fn queue_depth(&self) -> usize {
        self.0.queue_depth()
    }

    fn template(&self) -> Option<&TemplateSource> {
        self.0.template()
    }

    fn is_remote(&self) -> bool {
        self.0.is_remote()
    }

    fn embeddings(&self) -> Option<EmbedInfo> {
        self.0.embeddings()
    }

    async fn embed(&self, req: EmbedRequest) -> Result<Embedded, EngineError> {
        self.0.embed(req).await.map_err(reword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_words_never_pass() {
        let secret = "HTTP/1.1 200 OK Server: internal-admin-panel 10.1.2.3".to_string();
        let e = reword(EngineError::Upstream { status: 502, message: secret.clone(), retry_after: None });
        assert_eq!(e.to_string(), "model server returned 502: the model endpoint answered HTTP 502");
        assert!(!reword(EngineError::Unreachable(secret.clone())).to_string().contains("10.1.2.3"));
        assert!(!reword(EngineError::InvalidRequest(secret)).to_string().contains("internal"));
    }
}
