//! GitLab Duo features: which model serves a request (local or remote), how its prompt is built, how the answer is cleaned.

pub mod agent;
pub mod caps;
pub mod chat;
pub mod code;
pub mod embeddings;
pub mod routing;
pub mod toolchat;

use crate::engine::EngineError;
use crate::prompt::PromptError;

/// Why a feature request cannot be served; `http::ApiError` turns it into a status.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// The request is malformed in a way the wire types could not catch (names the field).
    #[error("{0}")]
    BadInput(String),
    /// Understood but not servable as asked: unknown model family, unknown model.
    #[error("{0}")]
    Unprocessable(String),
    /// No model can serve it right now (none configured, failed).
    #[error("{0}")]
    NoModel(String),
    /// The model that would serve it is still loading.
    #[error("model `{0}` is still loading")]
    Loading(String),
    /// Not for this caller (an unauthenticated caller naming an unregistered endpoint).
    #[error("{0}")]
    Refused(String),
    /// The administrator turned the feature off.
    #[error("the feature {0} is disabled by the airgate administrator")]
    Disabled(&'static str),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<PromptError> for FeatureError {
    fn from(e: PromptError) -> Self {
        FeatureError::Unprocessable(e.to_string())
    }
}
