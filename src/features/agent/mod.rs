//! The Agent Platform's agents: Agentic Chat and the IDE's agent mode (`software_development`). One run of a session: load the workflow and its newest checkpoint through the client, apply the user's turn (a message, an approval or a rejection), loop model call → tool calls → results, save checkpoints, set GitLab's status.
//!
//! Everything outside the process goes through traits: the client (`client::Client`: GitLab
//! requests, file and command actions, UI updates), the model (`model::AgentModel`) and the
//! documentation index (`Docs`). The gRPC surface (`crate::agent`) implements the client on its
//! stream; tests use scripted fakes.
//!
//! Submodules: `model` (tool-calling model types and trait), `engine_model` (the trait over an
//! `engine::Engine`), `client` (actions and replies), `tools` (the catalogue), `ui` (the chat log
//! and statuses), `checkpoint` (the stored state), `gitlab` (workflow query, status and checkpoint
//! requests), `workflow` (a run's start and end), `turn` (the agent loop), `sessions` (live
//! sessions for the admin UI and metrics), `catalog` (ListTools/ListFlows/ListCapabilities/ValidateFlowConfig).

pub mod catalog;
pub mod checkpoint;
pub mod client;
pub mod engine_model;
pub mod gitlab;
pub mod model;
pub mod sessions;
#[cfg(test)]
mod tests;
pub mod tools;
mod turn;
pub mod ui;
mod workflow;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

pub use workflow::{Deps, run};

use crate::prompt::agent::ContextItem;
use gitlab::GitlabVersion;
use model::ToolChoice;
use tools::McpTool;
use ui::StatusEvent;

/// Which agent a run is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// Agentic Chat (`workflowDefinition: chat`); a custom agent brings its own instructions and toolset.
    Chat { custom: Option<CustomAgent> },
    /// The IDE's agent mode (`software_development`).
    SoftwareDevelopment,
}

impl Flow {
    /// The name metrics and the admin UI use.
    pub fn label(&self) -> &'static str {
        match self {
            Flow::Chat { custom: None } => "chat",
            Flow::Chat { custom: Some(_) } => "custom_agent",
            Flow::SoftwareDevelopment => "software_development",
        }
    }

    /// The conversation key in checkpoints.
    pub fn agent_name(&self) -> String {
        match self {
            Flow::Chat { custom: None } => checkpoint::CHAT_AGENT.into(),
            Flow::Chat { custom: Some(c) } => c.name.clone(),
            Flow::SoftwareDevelopment => "Software Development Agent".into(),
        }
    }
}

/// An AI Catalog agent run by the chat workflow (an inline flow config of environment `chat-partial`).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomAgent {
    pub name: String,
    /// The system prompt's instructions (replace the built-in identity).
    pub system: Option<String>,
    /// The component's toolset (still filtered by the session's privileges).
    pub toolset: Vec<String>,
}

/// The user's answer to an approval request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Decision {
    #[default]
    None,
    Approve {
        /// Remember the approval for these tools for the rest of the session.
        remember: bool,
    },
    Reject {
        message: Option<String>,
    },
}

/// Client capabilities that change what tools do (only honoured from GitLab 18.7 on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub shell_command: bool,
    pub read_file_chunked: bool,
    pub command_timeout: bool,
}

/// One run's input: the start request, as the surface understood it.
#[derive(Debug, Clone)]
pub struct RunInput {
    pub workflow_id: String,
    pub flow: Flow,
    /// This turn's message (empty on approval turns).
    pub goal: String,
    pub decision: Decision,
    pub context: Vec<ContextItem>,
    /// The additional context as the client sent it, shown on the user's chat entry.
    pub context_json: Option<Value>,
    pub preapproved_tools: Vec<String>,
    pub mcp_tools: Vec<McpTool>,
    pub capabilities: Capabilities,
    pub gitlab_version: Option<GitlabVersion>,
    pub gitlab_url: Option<String>,
    /// Send `compressed_checkpoint` (GitLab enabled `duo_workflow_compress_checkpoint`).
    pub compress_checkpoints: bool,
    /// Leave out the search tools (GitLab's MCP server offers `search`).
    pub without_search: bool,
    /// The language server is older than 7.43.0: no client tools.
    pub client_too_old: bool,
}

/// Bounds and defaults of a run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Model calls per turn.
    pub max_iterations: u32,
    /// Tokens one model call may generate.
    pub max_tokens: u32,
    pub temperature: f32,
    /// How long an action may wait for its answer (the session's idle timeout).
    pub action_timeout: Duration,
    /// How the first model call of a turn must use tools (an admin setting for small models that
    /// rarely call tools on their own): `Auto` leaves it to the model.
    pub first_tool_choice: ToolChoice,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_iterations: 25,
            max_tokens: 2048,
            temperature: 0.0,
            action_timeout: Duration::from_secs(600),
            first_tool_choice: ToolChoice::Auto,
        }
    }
}

/// How long the workflow query may take (GitLab's own service waits 10 s).
pub const GRAPHQL_TIMEOUT: Duration = Duration::from_secs(10);

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The agent paused for input or approval, or finished.
    Done,
    /// The user stopped it; GitLab was told.
    Stopped,
    /// The workflow does not exist (or is not the user's).
    InvalidWorkflow(String),
    /// GitLab refused to start the workflow.
    Forbidden(String),
    /// The request cannot be served as asked.
    Invalid(String),
    /// The client went away mid-run.
    ClientGone,
    /// An action would not fit in a gRPC message.
    TooLarge,
    /// Anything else; `kind` names the failure class.
    Failed { kind: &'static str, message: String },
}

/// What the session surface needs to pick the gRPC status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The last status event GitLab accepted.
    pub last_event: Option<StatusEvent>,
    pub end: RunEnd,
}

/// A search of airgate's documentation index.
#[async_trait]
pub trait Docs: Send + Sync {
    /// Up to `n` hits as `(page, text)`; an empty index finds nothing.
    async fn search(&self, query: &str, n: usize) -> Result<Vec<(String, String)>, String>;
}

#[async_trait]
impl Docs for crate::docs::DocsIndex {
    async fn search(&self, query: &str, n: usize) -> Result<Vec<(String, String)>, String> {
        let index = self.clone();
        let query = query.to_string();
        let hits = tokio::task::spawn_blocking(move || index.search(&query, n))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(hits.into_iter().map(|h| (h.filename, h.content)).collect())
    }
}
