//! A run's frame: fetch the workflow, pick the start event, load the newest checkpoint, set GitLab's status, hand over to the agent loop (`turn`), then save, report and end — or stop, or fail — with the matching status event.

use std::time::{Duration, Instant};

use super::checkpoint::{self, State};
use super::client::{ClientAction, ClientError, Reply, UiUpdate};
use super::gitlab::{self, QueryShape, Workflow, WorkflowError};
use super::model::AgentModel;
use super::tools::{self, Context, Privilege, Selection, Tool};
use super::ui::{Status, StatusEvent, UiEntry};
use super::{Docs, Flow, GRAPHQL_TIMEOUT, Limits, RunEnd, RunInput, RunOutcome, sessions};

/// What a run reaches the world through.
pub struct Deps<'a> {
    pub client: &'a dyn super::client::Client,
    pub model: &'a dyn AgentModel,
    pub docs: &'a dyn Docs,
    /// The live session record: status, tool calls, and the stop request.
    pub session: &'a sessions::Session,
}

/// Why a step did not complete.
pub(super) enum Halt {
    /// The user (or the admin) stopped the session.
    Stop,
    /// The run is over without further messages to GitLab.
    End(RunEnd),
    /// A failure: the user sees `shown`, the log and the gRPC status `message`.
    Fail { kind: &'static str, message: String, shown: String },
}

pub(super) fn fail(kind: &'static str, message: impl Into<String>, shown: impl Into<String>) -> Halt {
    Halt::Fail { kind, message: message.into(), shown: shown.into() }
}

/// Retries of a GitLab request answered with a server error (or not at all).
const RETRIES: u32 = 2;
/// How long each message a stop sends waits for its answer (Workhorse waits about 10 s after a stop).
const STOP_WAIT: Duration = Duration::from_secs(10);
/// Streamed answers update the UI at most this often.
pub(super) const UI_THROTTLE: Duration = Duration::from_millis(50);

pub(super) struct Run<'a> {
    pub input: RunInput,
    pub deps: &'a Deps<'a>,
    pub limits: &'a Limits,
    pub state: State,
    /// True once the stored state was loaded (only then may a checkpoint be written).
    pub loaded: bool,
    pub workflow: Workflow,
    pub tools: Vec<Tool>,
    pub ctx: Context,
    pub last_event: Option<StatusEvent>,
    /// The newest checkpoint this run stored or loaded.
    pub parent_ts: Option<String>,
    pub last_ui: Option<Instant>,
}

/// Runs one turn of a session to its end; never panics on bad input.
pub async fn run(input: RunInput, deps: &Deps<'_>, limits: &Limits) -> RunOutcome {
    let goal = input.goal.clone();
    let mut run = Run {
        input,
        deps,
        limits,
        state: State::new(&goal),
        loaded: false,
        workflow: Workflow::default(),
        tools: Vec::new(),
        ctx: Context::default(),
        last_event: None,
        parent_ts: None,
        last_ui: None,
    };
    let end = match run.execute().await {
        Ok(()) => RunEnd::Done,
        Err(Halt::Stop) => run.stopped().await,
        Err(Halt::End(end)) => end,
        Err(Halt::Fail { kind, message, shown }) => run.failed(kind, message, shown).await,
    };
    RunOutcome { last_event: run.last_event, end }
}

impl Run<'_> {
    async fn execute(&mut self) -> Result<(), Halt> {
        self.fetch_workflow().await?;
        if self.workflow.archived || self.workflow.stalled {
            let why = if self.workflow.archived { "archived" } else { "stalled" };
            return Err(fail(
                "WorkflowNotActive",
                format!("the workflow is {why}"),
                format!("This session is {why} and cannot continue. Start a new chat."),
            ));
        }
        let event = gitlab::start_event(&self.workflow.status);
        if event != StatusEvent::Start {
            self.load_checkpoint().await?;
        }
        self.loaded = true;
        self.select_tools();
        self.patch(event).await?;
        if self.apply_turn().await? {
            self.agent_loop().await?;
        }
        self.finish().await
    }

    async fn fetch_workflow(&mut self) -> Result<(), Halt> {
        let shape = QueryShape::for_version(self.input.gitlab_version);
        let action = gitlab::workflow_query(&self.input.workflow_id, shape);
        let (status, body) = self.http(action, Some(GRAPHQL_TIMEOUT)).await?;
        self.workflow = gitlab::parse_workflow(status, &body, shape).map_err(|e| match e {
            WorkflowError::NotFound(detail) => {
                tracing::info!(%detail, "the workflow query found no workflow");
                Halt::End(RunEnd::InvalidWorkflow(format!("Invalid workflow ID: {}", self.input.workflow_id)))
            }
            WorkflowError::Failed(detail) => {
                fail("WorkflowQueryError", detail, "GitLab did not return this session's details. Try again.")
            }
        })?;
        if self.workflow.project_id.is_none() && self.workflow.namespace_id.is_none() && shape.namespace {
            return Err(Halt::End(RunEnd::Invalid("the workflow has neither a project nor a namespace".into())));
        }
        Ok(())
    }

    /// The newest checkpoint: from the workflow query (18.8+), else the REST list.
    async fn load_checkpoint(&mut self) -> Result<(), Halt> {
        let mut record = self.workflow.checkpoint.clone();
        if !self.workflow.has_latest && !record.is_null() {
            let action = gitlab::latest_checkpoint_request(&self.input.workflow_id);
            let (status, body) = self.http(action, None).await?;
            record = gitlab::parse_checkpoint_list(status, &body)
                .map_err(|e| fail("CheckpointError", e, "The stored session could not be read."))?;
        }
        let agent = self.input.flow.agent_name();
        let found = checkpoint::from_record(&record).map_err(|e| {
            fail("CheckpointError", e, "The stored session could not be read. Start a new chat to continue.")
        })?;
        if let Some((stored, ts)) = found {
            let mut state = checkpoint::decode(&stored, &agent).map_err(|e| {
                fail("CheckpointError", e, "The stored session could not be read. Start a new chat to continue.")
            })?;
            state.step = record["metadata"]["step"].as_i64().unwrap_or(0);
            if state.goal.is_empty() {
                state.goal = self.input.goal.clone();
            }
            self.parent_ts = ts.or_else(|| state.thread_ts.clone());
            self.state = state;
        }
        Ok(())
    }

    fn select_tools(&mut self) {
        let w = &self.workflow;
        let caps = self.input.capabilities;
        self.ctx = Context {
            project_id: w.project_id.clone(),
            default_branch: w.default_branch.clone(),
            shell: caps.shell_command,
            chunked_reads: caps.read_file_chunked,
            command_timeout: caps.command_timeout,
            exclusions: w.exclusions.clone(),
        };
        let only = match &self.input.flow {
            Flow::Chat { custom: Some(c) } => Some(c.toolset.as_slice()),
            _ => None,
        };
        let selection = Selection {
            privileges: &w.privileges,
            only,
            without_search: self.input.without_search,
            mcp: &self.input.mcp_tools,
            mcp_enabled: w.mcp_enabled,
            client_too_old: self.input.client_too_old,
        };
        self.tools = tools::toolset(&selection, &self.ctx);
        tracing::debug!(tools = self.tools.len(), "toolset selected");
    }

    /// Sends a status event to GitLab.
    pub(super) async fn patch(&mut self, event: StatusEvent) -> Result<(), Halt> {
        let action = gitlab::status_request(&self.input.workflow_id, event);
        let (status, body) = self.http(action, None).await?;
        match status {
            200..=299 => {
                self.last_event = Some(event);
                Ok(())
            }
            403 if event == StatusEvent::Start => {
                Err(Halt::End(RunEnd::Forbidden("workflow execution didn't start due to forbidden response".into())))
            }
            _ => Err(fail(
                "StatusUpdateError",
                format!("GitLab refused the status event `{}` with HTTP {status}: {}", event.as_str(), clip(&body)),
                "GitLab refused to update this session's status.",
            )),
        }
    }

    /// Stores the state as a new checkpoint.
    pub(super) async fn save(&mut self) -> Result<(), Halt> {
        let first = self.parent_ts.is_none();
        let ts = checkpoint::new_thread_ts();
        self.state.step += 1;
        let agent = self.input.flow.agent_name();
        let stored = checkpoint::encode(&self.state, &ts, &agent, first);
        let body = checkpoint::post_body(
            &stored,
            self.parent_ts.as_deref(),
            self.state.step,
            first,
            self.input.compress_checkpoints,
        );
        let (status, answer) = self.http(gitlab::checkpoint_request(&self.input.workflow_id, body), None).await?;
        if !(200..300).contains(&status) {
            return Err(fail(
                "CheckpointError",
                format!("GitLab refused the checkpoint with HTTP {status}: {}", clip(&answer)),
                "GitLab did not save this session.",
            ));
        }
        self.parent_ts = Some(ts);
        Ok(())
    }

    /// Shows the chat log with the current status.
    pub(super) async fn notify(&mut self) -> Result<(), Halt> {
        let status = self.state.status;
        self.last_ui = Some(Instant::now());
        self.deps.session.set_status(status.checkpoint_status());
        let goal = if self.input.goal.is_empty() { self.state.goal.clone() } else { self.input.goal.clone() };
        let update = UiUpdate {
            status: status.checkpoint_status(),
            checkpoint: super::ui::checkpoint_text(&self.state.ui_log),
            goal,
        };
        self.deps.client.notify(update).await.map_err(client_halt)
    }

    /// A normal end: save, tell GitLab what the session waits for, show it.
    async fn finish(&mut self) -> Result<(), Halt> {
        self.save().await?;
        if let Some(event) = self.state.status.status_event() {
            self.patch(event).await?;
        }
        self.notify().await
    }

    /// After a stop: show it, save, and tell GitLab (the client still listens for a few seconds).
    async fn stopped(&mut self) -> RunEnd {
        tracing::info!("the session was stopped");
        self.state.status = Status::Cancelled;
        let _ = self.notify().await;
        if self.loaded {
            let _ = self.save().await;
        }
        if self.patch(StatusEvent::Stop).await.is_err() {
            tracing::info!("GitLab was not told about the stop");
        }
        RunEnd::Stopped
    }

    /// After a failure: show a message, save, and drop the workflow in GitLab.
    async fn failed(&mut self, kind: &'static str, message: String, shown: String) -> RunEnd {
        tracing::warn!(kind, %message, "the run failed");
        self.state.ui_log.push(UiEntry::error(&shown));
        self.state.status = Status::Error;
        match self.notify().await {
            Err(Halt::End(end)) => return end,
            _ => {
                if self.loaded {
                    let _ = self.save().await;
                }
                let _ = self.patch(StatusEvent::Drop).await;
            }
        }
        RunEnd::Failed { kind, message }
    }

    /// Runs an action on the client, unless the session is stopped first.
    pub(super) async fn call(&self, action: ClientAction, timeout: Option<Duration>) -> Result<Reply, Halt> {
        let stop = self.deps.session.stopped();
        tokio::select! {
            reply = self.deps.client.call(action, timeout) => reply.map_err(client_halt),
            () = stop => Err(Halt::Stop),
        }
    }

    /// A GitLab request through the client: (status, body). Server errors and transport failures
    /// are retried twice; a stop stops waiting — except for the messages a stop itself sends.
    pub(super) async fn http(&self, action: ClientAction, timeout: Option<Duration>) -> Result<(i32, String), Halt> {
        // No request waits longer than the session's idle timeout.
        let timeout = Some(timeout.map_or(self.limits.action_timeout, |t| t.min(self.limits.action_timeout)));
        let mut attempt = 0;
        loop {
            let reply = if self.deps.session.is_stopped() {
                self.deps.client.call(action.clone(), timeout.map(|t| t.min(STOP_WAIT))).await.map_err(client_halt)?
            } else {
                self.call(action.clone(), timeout).await?
            };
            let retry = match &reply {
                Reply::Http { status, body, error } if error.is_empty() => {
                    if *status < 500 || attempt >= RETRIES {
                        return Ok((*status, body.clone()));
                    }
                    format!("HTTP {status}")
                }
                Reply::Http { error, .. } => error.clone(),
                Reply::Text { response, error } if error.is_empty() => {
                    // Tolerated: a client that answered an HTTP action with plain text.
                    return Ok((200, response.clone()));
                }
                Reply::Text { error, .. } => error.clone(),
            };
            if attempt >= RETRIES {
                return Err(fail(
                    "GitLabRequestError",
                    format!("the GitLab request failed: {retry}"),
                    "GitLab could not be reached through the client.",
                ));
            }
            attempt += 1;
            tracing::info!(attempt, problem = %retry, "retrying a GitLab request");
            let pause = tokio::time::sleep(Duration::from_secs(u64::from(attempt)));
            if self.deps.session.is_stopped() {
                pause.await;
            } else {
                tokio::select! {
                    () = pause => {}
                    () = self.deps.session.stopped() => return Err(Halt::Stop),
                }
            }
        }
    }

    /// Privileges whose tools run without asking.
    pub(super) fn preapproved(&self, tool: &Tool) -> bool {
        tool.is_internal()
            || self.workflow.preapproved.iter().any(|p: &Privilege| p.grants(tool.privilege()))
            || self.input.preapproved_tools.iter().any(|n| n == &tool.name)
            || self.state.approved_tools.iter().any(|n| n == &tool.name)
    }
}

pub(super) fn client_halt(e: ClientError) -> Halt {
    match e {
        ClientError::Gone => Halt::End(RunEnd::ClientGone),
        ClientError::TooLarge => Halt::End(RunEnd::TooLarge),
        ClientError::Timeout(d) => fail(
            "ClientTimeout",
            format!("the client did not answer an action within {} s", d.as_secs()),
            "The editor or browser stopped answering; the session was ended.",
        ),
    }
}

/// A short, single-line piece of a response body for messages.
pub(super) fn clip(text: &str) -> String {
    let one: String = text.chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > 300 { format!("{one}…") } else { one }
}
