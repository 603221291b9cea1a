//! The chat log GitLab's clients render (`ui_chat_log`): entries with stable message ids, the session statuses, and the `newCheckpoint` payload.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One entry of the chat log. Clients upsert entries by `message_id`, so an id never changes
/// once sent: user entries `user-<uuid>`, agent answers the model message's id, tool cards and
/// approval requests the tool call's id, errors `error-<uuid>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiEntry {
    /// `user`, `agent`, `tool`, `request`, `workflow_end`.
    pub message_type: String,
    /// The tool name on tool cards; `command_output` for commands.
    #[serde(default)]
    pub message_sub_type: Option<String>,
    pub content: String,
    pub timestamp: String,
    /// `success`, `failure`, `pending`, `cancelled`, or null while an answer streams.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub tool_info: Option<Value>,
    #[serde(default)]
    pub additional_context: Option<Value>,
    pub message_id: String,
}

fn now() -> String {
    crate::iso_utc(std::time::SystemTime::now())
}

impl UiEntry {
    pub fn user(text: &str, additional_context: Option<Value>) -> UiEntry {
        UiEntry {
            message_type: "user".into(),
            message_sub_type: None,
            content: text.into(),
            timestamp: now(),
            status: Some("success".into()),
            correlation_id: None,
            tool_info: None,
            additional_context,
            message_id: format!("user-{}", uuid::Uuid::new_v4()),
        }
    }

    /// An agent answer; `status` stays null while it streams.
    pub fn agent(id: &str, text: &str, done: bool) -> UiEntry {
        UiEntry {
            message_type: "agent".into(),
            message_sub_type: None,
            content: text.into(),
            timestamp: now(),
            status: done.then(|| "success".into()),
            correlation_id: None,
            tool_info: None,
            additional_context: None,
            message_id: id.into(),
        }
    }

    /// A tool card for call `call_id`.
    pub fn tool(call_id: &str, name: &str, caption: &str, status: &str, tool_info: Value) -> UiEntry {
        let sub_type = if matches!(name, "run_command" | "run_git_command") { "command_output" } else { name };
        UiEntry {
            message_type: "tool".into(),
            message_sub_type: Some(sub_type.into()),
            content: caption.into(),
            timestamp: now(),
            status: Some(status.into()),
            correlation_id: None,
            tool_info: Some(tool_info),
            additional_context: None,
            message_id: call_id.into(),
        }
    }

    /// An approval request for call `call_id`.
    pub fn approval_request(call_id: &str, name: &str, args: &Value, patterns: &[String]) -> UiEntry {
        let mut tool_info = json!({ "name": name, "args": args });
        if !patterns.is_empty() {
            tool_info["suggested_patterns"] = json!(patterns);
        }
        UiEntry {
            message_type: "request".into(),
            message_sub_type: None,
            content: format!("The agent wants to use the tool `{name}`. Approve the call to let it run."),
            timestamp: now(),
            status: None,
            correlation_id: None,
            tool_info: Some(tool_info),
            additional_context: None,
            message_id: call_id.into(),
        }
    }

    /// A failure shown to the user.
    pub fn error(text: &str) -> UiEntry {
        UiEntry {
            message_type: "agent".into(),
            message_sub_type: None,
            content: text.into(),
            timestamp: now(),
            status: Some("failure".into()),
            correlation_id: None,
            tool_info: None,
            additional_context: None,
            message_id: format!("error-{}", uuid::Uuid::new_v4()),
        }
    }
}

/// The session's state as the checkpoint keeps it (`channel_values.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    Planning,
    Execution,
    InputRequired,
    ToolCallApprovalRequired,
    PlanApprovalRequired,
    Paused,
    Completed,
    Error,
    Cancelled,
}

impl Status {
    /// The spelling stored in checkpoints (and read by GitLab's presenter).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "Not Started",
            Status::Planning => "Planning",
            Status::Execution => "Execution",
            Status::InputRequired => "input_required",
            Status::ToolCallApprovalRequired => "tool_call_approval_required",
            Status::PlanApprovalRequired => "plan_approval_required",
            Status::Paused => "Paused",
            Status::Completed => "Completed",
            Status::Error => "Error",
            Status::Cancelled => "Cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::NotStarted,
            Status::Planning,
            Status::Execution,
            Status::InputRequired,
            Status::ToolCallApprovalRequired,
            Status::PlanApprovalRequired,
            Status::Paused,
            Status::Completed,
            Status::Error,
            Status::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// `NewCheckpoint.status`.
    pub fn checkpoint_status(self) -> &'static str {
        match self {
            Status::NotStarted => "CREATED",
            Status::Planning | Status::Execution => "RUNNING",
            Status::InputRequired => "INPUT_REQUIRED",
            Status::ToolCallApprovalRequired => "TOOL_CALL_APPROVAL_REQUIRED",
            Status::PlanApprovalRequired => "PLAN_APPROVAL_REQUIRED",
            Status::Paused => "PAUSED",
            Status::Completed => "FINISHED",
            Status::Error => "FAILED",
            Status::Cancelled => "STOPPED",
        }
    }

    /// The Rails status event a run ending in this state sends, if any.
    pub fn status_event(self) -> Option<StatusEvent> {
        match self {
            Status::InputRequired => Some(StatusEvent::RequireInput),
            Status::ToolCallApprovalRequired => Some(StatusEvent::RequireToolCallApproval),
            Status::PlanApprovalRequired => Some(StatusEvent::RequirePlanApproval),
            Status::Paused => Some(StatusEvent::Pause),
            Status::Completed => Some(StatusEvent::Finish),
            Status::Error => Some(StatusEvent::Drop),
            Status::Cancelled => Some(StatusEvent::Stop),
            Status::NotStarted | Status::Planning | Status::Execution => None,
        }
    }
}

/// Events of GitLab's workflow state machine (`PATCH …/workflows/<id>` `status_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEvent {
    Start,
    Finish,
    Drop,
    Resume,
    Pause,
    Stop,
    Retry,
    RequireInput,
    RequirePlanApproval,
    RequireToolCallApproval,
}

impl StatusEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusEvent::Start => "start",
            StatusEvent::Finish => "finish",
            StatusEvent::Drop => "drop",
            StatusEvent::Resume => "resume",
            StatusEvent::Pause => "pause",
            StatusEvent::Stop => "stop",
            StatusEvent::Retry => "retry",
            StatusEvent::RequireInput => "require_input",
            StatusEvent::RequirePlanApproval => "require_plan_approval",
            StatusEvent::RequireToolCallApproval => "require_tool_call_approval",
        }
    }

    /// Events after which a run may end with gRPC OK.
    pub fn ends_run_cleanly(self) -> bool {
        matches!(
            self,
            StatusEvent::Finish
                | StatusEvent::Stop
                | StatusEvent::RequireInput
                | StatusEvent::RequirePlanApproval
                | StatusEvent::RequireToolCallApproval
        )
    }
}

/// The `newCheckpoint.checkpoint` text: the whole log of this session, which every client renders
/// correctly (clients that stream incrementally upsert by `message_id`).
pub fn checkpoint_text(log: &[UiEntry]) -> String {
    json!({ "channel_values": { "ui_chat_log": log, "plan": { "steps": [] } } }).to_string()
}

/// A tool result as the chat log shows it: at most this many characters.
pub const UI_RESULT_CHARS: usize = 4096;

/// Cuts `text` to `max` characters (on a character boundary), saying so.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}\n[… {} more characters cut]", &text[..cut], text[cut..].chars().count()),
    }
}
