//! The one fake engine of the unit tests: a configurable stand-in for a model that records the
//! request it was asked to run.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    ChatMessage, Engine, EngineError, Event, EventStream, FimTokens, FinishReason, GenerateRequest, ModelInfo, Timings,
    Usage,
};

/// A fake model: by default one token per character, no FIM tokens, no chat template, answering
/// "ok"; records the last request it was asked to run.
pub struct Fake {
    pub info: ModelInfo,
    fim: Option<FimTokens>,
    /// `Ok(text)`: streams the text, then `Done`; `Err(detail)`: fails (`Event::Failed`).
    reply: Result<String, String>,
    /// Returned by `generate` instead of a stream, once.
    refuse: Mutex<Option<EngineError>>,
    /// Characters per token of its tokenizer.
    chars_per_token: usize,
    /// Renders chats as `role: content` lines (else a chat template is a test failure).
    renders_chat: bool,
    pub seen: Mutex<Option<GenerateRequest>>,
}

impl Fake {
    /// A model named `name` with `context` tokens per slot.
    pub fn named(name: &str, context: u32) -> Fake {
        Fake {
            info: ModelInfo::fake(name, context),
            fim: None,
            reply: Ok("ok".into()),
            refuse: Mutex::new(None),
            chars_per_token: 1,
            renders_chat: false,
            seen: Mutex::new(None),
        }
    }

    /// With CodeLlama-style FIM tokens.
    pub fn with_fim(mut self) -> Fake {
        self.info.has_fim = true;
        self.fim = Some(FimTokens { prefix: "<PRE>".into(), suffix: "<SUF>".into(), middle: "<MID>".into() });
        self
    }

    /// A chat model: renders `role: content` lines ending in `assistant: `, a token per 4 characters.
    pub fn chatting(mut self) -> Fake {
        self.renders_chat = true;
        self.chars_per_token = 4;
        self
    }

    /// Fails mid-generation with `detail` (what llama.cpp reports as `Event::Failed`).
    pub fn failing(mut self, detail: &str) -> Fake {
        self.reply = Err(detail.into());
        self
    }

    /// Refuses the request with `e` before generating.
    pub fn refusing(self, e: EngineError) -> Fake {
        *crate::sync::lock(&self.refuse) = Some(e);
        self
    }

    /// The request it ran (panics when it was not called).
    pub fn taken(&self) -> GenerateRequest {
        crate::sync::lock(&self.seen).take().expect("the model was called")
    }

    fn tokens(&self, text: &str) -> usize {
        text.chars().count().div_ceil(self.chars_per_token)
    }
}

#[async_trait]
impl Engine for Fake {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn is_ready(&self) -> bool {
        true
    }
    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        *crate::sync::lock(&self.seen) = Some(req);
        if let Some(e) = crate::sync::lock(&self.refuse).take() {
            return Err(e);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let events = match &self.reply {
            Ok(text) => {
                let usage = Usage { prompt_tokens: 10, completion_tokens: 1, ..Usage::default() };
                vec![
                    Event::Text(text.clone()),
                    Event::Done { finish: FinishReason::Stop, usage, timings: Timings::default() },
                ]
            }
            Err(detail) => vec![Event::Failed(detail.clone())],
        };
        for event in events {
            tx.send(event).await.expect("the receiver is held here");
        }
        Ok(rx)
    }
    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        Ok(vec![0; self.tokens(text)])
    }
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        assert!(self.renders_chat, "this fake has no chat template: code suggestions never render one");
        Ok(messages.iter().map(|m| format!("{}: {}\n", m.role, m.content)).collect::<String>() + "assistant: ")
    }
    fn fim_tokens(&self) -> Option<&FimTokens> {
        self.fim.as_ref()
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(self.tokens(text))
    }
}
