//! What the agent asks of the client (Workhorse, the IDE, the CLI): actions it runs and answers, and UI updates it shows. The gRPC surface implements `Client`.

use std::time::Duration;

use async_trait::async_trait;

/// One thing the client runs for the agent; each maps to one `Action` of the wire contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// A GitLab REST or GraphQL request, run with the user's own token (`runHTTPRequest`).
    Http {
        method: String,
        path: String,
        body: Option<String>,
    },
    ReadFile {
        path: String,
        offset: Option<i64>,
        limit: Option<i64>,
    },
    ReadFiles {
        paths: Vec<String>,
    },
    WriteFile {
        path: String,
        contents: String,
    },
    EditFile {
        path: String,
        old: String,
        new: String,
    },
    ListDir {
        directory: String,
    },
    FindFiles {
        pattern: String,
    },
    Grep {
        directory: String,
        pattern: String,
        case_insensitive: bool,
    },
    Mkdir {
        directory: String,
    },
    /// A program with its arguments (`runCommand`).
    RunCommand {
        program: String,
        arguments: Vec<String>,
        timeout: Option<i64>,
    },
    /// A shell command line (`runShellCommand`, clients with the `shell_command` capability).
    Shell {
        command: String,
        timeout: Option<i64>,
    },
    /// A tool of an MCP server the client offered (`runMCPTool`), by its original name.
    Mcp {
        name: String,
        arguments: String,
    },
}

impl ClientAction {
    /// The action's name in the wire contract (logs, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientAction::Http { .. } => "runHTTPRequest",
            ClientAction::ReadFile { .. } => "runReadFile",
            ClientAction::ReadFiles { .. } => "runReadFiles",
            ClientAction::WriteFile { .. } => "runWriteFile",
            ClientAction::EditFile { .. } => "runEditFile",
            ClientAction::ListDir { .. } => "listDirectory",
            ClientAction::FindFiles { .. } => "findFiles",
            ClientAction::Grep { .. } => "grep",
            ClientAction::Mkdir { .. } => "mkdir",
            ClientAction::RunCommand { .. } => "runCommand",
            ClientAction::Shell { .. } => "runShellCommand",
            ClientAction::Mcp { .. } => "runMCPTool",
        }
    }

    pub fn is_http(&self) -> bool {
        matches!(self, ClientAction::Http { .. })
    }
}

/// The client's answer to an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `httpResponse`: the status and body GitLab answered, or a transport `error`.
    Http { status: i32, body: String, error: String },
    /// `plainTextResponse`: the output, and an `error` when the action failed.
    Text { response: String, error: String },
}

impl Reply {
    /// The text of the answer whatever its shape (an HTTP body where text was expected is tolerated),
    /// or the client's error with any output it sent.
    pub fn text(&self) -> Result<&str, String> {
        let (out, error) = match self {
            Reply::Http { body, error, .. } => (body, error),
            Reply::Text { response, error } => (response, error),
        };
        if error.is_empty() {
            Ok(out)
        } else if out.is_empty() {
            Err(error.clone())
        } else {
            Err(format!("{error}\n{out}"))
        }
    }
}

/// Why an action got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The client left or the session is over.
    #[error("the client is gone")]
    Gone,
    /// No answer within the action's time limit.
    #[error("the client did not answer within {0:?}")]
    Timeout(Duration),
    /// The action is larger than a gRPC message may be.
    #[error("Outgoing message too large.")]
    TooLarge,
}

/// A UI update (`newCheckpoint`); never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiUpdate {
    /// `CREATED`, `RUNNING`, `INPUT_REQUIRED`, `TOOL_CALL_APPROVAL_REQUIRED`, `FINISHED`, `FAILED`, `STOPPED`.
    pub status: &'static str,
    /// JSON text: `{"channel_values": {"ui_chat_log": [...], "plan": {"steps": []}}}`.
    pub checkpoint: String,
    pub goal: String,
}

/// The client of one session run.
#[async_trait]
pub trait Client: Send + Sync {
    /// Sends `action` and waits for its answer (at most `timeout`, when given).
    async fn call(&self, action: ClientAction, timeout: Option<Duration>) -> Result<Reply, ClientError>;
    /// Sends a UI update. Updates may be coalesced: only the newest pending one matters.
    async fn notify(&self, update: UiUpdate) -> Result<(), ClientError>;
}
