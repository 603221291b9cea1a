//! `[agent]`: the Agent Platform service's limits and policies, and the scope rule for Agentic Chat.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

use super::file::FileAgent;
use super::{ConfigError, Layers, invalid};

/// The `[agent]` flags (part of `ConfigArgs`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AgentArgs {
    /// Agent Platform sessions that may run at once [default: 32]
    #[arg(long = "agent-max-sessions", value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Seconds an Agent Platform session waits for its client to answer an action [default: 600]
    #[arg(long = "agent-idle-timeout-secs", value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Model calls an agent may make in one turn [default: 25]
    #[arg(long = "agent-max-iterations", value_name = "N")]
    pub max_iterations: Option<u32>,
    /// Tokens one agent model call may generate [default: 2048]
    #[arg(long = "agent-max-tokens", value_name = "TOKENS")]
    pub max_tokens: Option<u32>,
    /// Scopes that allow Agentic Chat: duo_chat or agent_platform [default: agent_platform]
    #[arg(long = "agent-chat-scope", value_name = "SCOPE")]
    pub chat_scope: Option<ChatScope>,
    /// Tool choice of a turn's first model call: auto, required, or a tool name [default: auto]
    #[arg(long = "agent-first-tool-choice", value_name = "CHOICE")]
    pub first_tool_choice: Option<String>,
}

/// `[agent]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentConfig {
    /// Sessions that may run at once; more are refused with RESOURCE_EXHAUSTED.
    pub max_sessions: usize,
    /// Seconds a session waits for the client's answer to one action.
    pub idle_timeout_secs: u64,
    /// Model calls per turn.
    pub max_iterations: u32,
    /// Tokens per model call.
    pub max_tokens: u32,
    pub chat_scope: ChatScope,
    /// `auto`, `required`, or a tool name: how a turn's first model call must use tools.
    pub first_tool_choice: String,
}

/// Which token scopes let a caller use Agentic Chat. GitLab's own service wants `duo_chat`; an
/// offline instance with only the self-hosted Agent Platform add-on may not put it in its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ChatScope {
    /// `duo_chat` only, as GitLab's own service
    DuoChat,
    /// `duo_chat`, or an Agent Platform scope (`duo_agent_platform`, `self_hosted_duo_agent_platform`)
    #[default]
    AgentPlatform,
}

impl FromStr for ChatScope {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s.trim(), true).map_err(|_| "expected duo_chat or agent_platform")
    }
}

impl AgentConfig {
    /// As the config file writes it (`config show`).
    pub(super) fn to_file(&self) -> FileAgent {
        FileAgent {
            max_sessions: Some(self.max_sessions),
            idle_timeout_secs: Some(self.idle_timeout_secs),
            max_iterations: Some(self.max_iterations),
            max_tokens: Some(self.max_tokens),
            chat_scope: Some(self.chat_scope),
            first_tool_choice: Some(self.first_tool_choice.clone()),
        }
    }
}

/// The `[agent]` keys from their layers, validated.
pub(super) fn resolve(l: &Layers<'_>, a: &AgentArgs, fg: FileAgent) -> Result<AgentConfig, ConfigError> {
    let max_sessions = l.ranged("agent.max_sessions", a.max_sessions, fg.max_sessions, 32, 1..=10_000)?;
    let idle_timeout_secs =
        l.ranged("agent.idle_timeout_secs", a.idle_timeout_secs, fg.idle_timeout_secs, 600, 1..=86_400)?;
    let max_iterations = l.ranged("agent.max_iterations", a.max_iterations, fg.max_iterations, 25, 1..=300)?;
    let max_tokens = l.ranged("agent.max_tokens", a.max_tokens, fg.max_tokens, 2048, 16..=1_048_576)?;
    let chat_scope = l.pick("agent.chat_scope", a.chat_scope, fg.chat_scope)?.map_or(ChatScope::default(), |v| v.0);
    let (first_tool_choice, origin) = l
        .pick("agent.first_tool_choice", a.first_tool_choice.clone(), fg.first_tool_choice)?
        .unwrap_or(("auto".into(), "default".into()));
    let valid_choice = !first_tool_choice.is_empty()
        && first_tool_choice.len() <= 128
        && first_tool_choice.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_choice {
        return Err(invalid("agent.first_tool_choice", &origin, "expected auto, required, or a tool name"));
    }
    Ok(AgentConfig { max_sessions, idle_timeout_secs, max_iterations, max_tokens, chat_scope, first_tool_choice })
}
