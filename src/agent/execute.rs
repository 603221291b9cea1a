//! One `ExecuteWorkflow` call: authenticate, read the start request, check the scope and the session cap, pick the model, then drive the run — client events in, actions out — through the `session` state machine until the run ends, the client stops it or leaves.

use std::collections::HashMap;
use std::pin::pin;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::Instrument;

use super::proto::{self, action, client_event};
use super::session::{Inbound, Session, Stop};
use super::{ActionStream, AgentState, auth, model};
use crate::features::agent::client::{Client, ClientAction, ClientError, Reply, UiUpdate};
use crate::features::agent::model::ToolChoice;
use crate::features::agent::sessions::{NewSession, Registration};
use crate::features::agent::{Deps, Flow, Limits, RunInput};
use crate::features::routing::Feature;

/// Actions waiting to go out.
const OUTBOX: usize = 16;

pub(super) async fn execute(
    state: &AgentState,
    request: Request<Streaming<proto::ClientEvent>>,
) -> Result<Response<ActionStream>, Status> {
    let headers = auth::headers(request.metadata());
    let caller = auth::authenticate(&state.gitlab.get(), &headers).await?;
    let mut inbound = request.into_inner();
    let first = match inbound.message().await {
        Ok(Some(event)) => event,
        Ok(None) => return Ok(Response::new(Box::pin(futures::stream::empty()))),
        Err(status) => return Err(status),
    };
    let Some(client_event::Response::StartRequest(start)) = first.response else {
        return Err(Status::invalid_argument("the first event of a session must be a startRequest"));
    };
    let definition = start.workflow_definition.clone();
    let needs = super::session::needs(&start);
    if !auth::allowed(&caller, needs, state.config.agent.chat_scope) {
        let what = if definition.is_empty() { "software_development" } else { definition.as_str() };
        return Err(Status::permission_denied(format!("Unauthorized to execute {what}")));
    }
    let info = auth::client_info(&headers);
    let Some(input) = super::session::parse_start(start, &info).map_err(|e| e.into_status())? else {
        tracing::info!("a session started without a workflow id; nothing to run");
        return Ok(Response::new(Box::pin(futures::stream::empty())));
    };
    let correlation_id = auth::correlation_id(&headers);
    let user = caller.global_user_id.clone().unwrap_or_else(|| caller.subject.clone());
    let new = NewSession {
        workflow_id: &input.workflow_id,
        user: &user,
        flow: input.flow.label(),
        correlation_id: &correlation_id,
    };
    let max = state.config.agent.max_sessions;
    let Some(registration) = state.sessions.try_register(new, max) else {
        tracing::warn!(max, "Agent Platform session refused: the concurrent session limit is reached");
        return Err(Status::resource_exhausted(format!(
            "airgate is running its maximum of {max} Agent Platform sessions; try again shortly"
        )));
    };
    let feature = match input.flow {
        Flow::SoftwareDevelopment => Feature::DuoAgentPlatform,
        Flow::Chat { .. } => Feature::DuoAgentPlatformAgenticChat,
    };
    let verbose = auth::verbose_logs(&headers) || state.expanded_logging.get();
    let span = tracing::info_span!(
        "agent_session",
        workflow_id = %input.workflow_id,
        correlation_id = %correlation_id,
        flow = input.flow.label(),
        user = %user,
    );
    let model = model::select(state, auth::model_metadata(&headers), &caller, feature, verbose)
        .instrument(span.clone())
        .await?;
    let (out_tx, out_rx) = mpsc::channel(OUTBOX);
    let limits = limits(state);
    let docs = crate::docs::DocsIndex::at(&state.config.data_dir);
    span.in_scope(|| tracing::info!(definition = %definition, goal_chars = input.goal.chars().count(), "Agent Platform session started"));
    tokio::spawn(
        async move {
            drive(inbound, input, model, docs, registration, limits, out_tx).await;
        }
        .instrument(span),
    );
    Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
}

fn limits(state: &AgentState) -> Limits {
    let a = &state.config.agent;
    let first_tool_choice = match a.first_tool_choice.as_str() {
        "auto" => ToolChoice::Auto,
        "required" => ToolChoice::Required,
        "none" => ToolChoice::None,
        name => ToolChoice::Named(name.to_string()),
    };
    // The server-wide output cap applies to agents too.
    let cap = state.config.max_output_tokens;
    Limits {
        max_iterations: a.max_iterations,
        max_tokens: if cap > 0 { a.max_tokens.min(cap) } else { a.max_tokens },
        temperature: 0.0,
        action_timeout: Duration::from_secs(a.idle_timeout_secs),
        first_tool_choice,
    }
}

/// An action for the driver to send, and where its answer goes.
struct Outgoing {
    action: proto::Action,
    reply: Option<oneshot::Sender<Result<Reply, ClientError>>>,
}

/// The run's view of the client: actions go through the driver, which matches the answers.
struct StreamClient {
    tx: mpsc::Sender<Outgoing>,
}

#[async_trait]
impl Client for StreamClient {
    async fn call(&self, action: ClientAction, timeout: Option<Duration>) -> Result<Reply, ClientError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let action = to_proto(action);
        self.tx.send(Outgoing { action, reply: Some(reply_tx) }).await.map_err(|_| ClientError::Gone)?;
        let answer = match timeout {
            Some(limit) => tokio::time::timeout(limit, reply_rx).await.map_err(|_| ClientError::Timeout(limit))?,
            None => reply_rx.await,
        };
        answer.map_err(|_| ClientError::Gone)?
    }

    async fn notify(&self, update: UiUpdate) -> Result<(), ClientError> {
        let action = proto::Action {
            request_id: new_id(),
            action: Some(action::Action::NewCheckpoint(proto::NewCheckpoint {
                status: update.status.into(),
                checkpoint: update.checkpoint,
                goal: update.goal,
                errors: Vec::new(),
                agent_context_usage: Default::default(),
            })),
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx.send(Outgoing { action, reply: Some(reply_tx) }).await.map_err(|_| ClientError::Gone)?;
        // The driver answers a UI update at once: sent, or refused as too large.
        match reply_rx.await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(_)) => Ok(()),
            Err(_) => Err(ClientError::Gone),
        }
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn to_proto(a: ClientAction) -> proto::Action {
    use action::Action as A;
    let action = match a {
        ClientAction::Http { method, path, body } => A::RunHttpRequest(proto::RunHttpRequest { method, path, body }),
        ClientAction::ReadFile { path, offset, limit } => {
            A::RunReadFile(proto::ReadFile { filepath: path, limit, offset })
        }
        ClientAction::ReadFiles { paths } => A::RunReadFiles(proto::ReadFiles { filepaths: paths }),
        ClientAction::WriteFile { path, contents } => A::RunWriteFile(proto::WriteFile { filepath: path, contents }),
        ClientAction::EditFile { path, old, new } => {
            A::RunEditFile(proto::EditFile { filepath: path, old_string: old, new_string: new })
        }
        ClientAction::ListDir { directory } => A::ListDirectory(proto::ListDirectory { directory }),
        ClientAction::FindFiles { pattern } => A::FindFiles(proto::FindFiles { name_pattern: pattern }),
        ClientAction::Grep { directory, pattern, case_insensitive } => {
            A::Grep(proto::Grep { search_directory: directory, pattern, case_insensitive })
        }
        ClientAction::Mkdir { directory } => A::Mkdir(proto::Mkdir { directory_path: directory }),
        ClientAction::RunCommand { program, arguments, timeout } => {
            A::RunCommand(proto::RunCommandAction { program, arguments, flags: Vec::new(), timeout })
        }
        ClientAction::Shell { command, timeout } => A::RunShellCommand(proto::RunShellCommand { command, timeout }),
        ClientAction::Mcp { name, arguments } => A::RunMcpTool(proto::RunMcpTool { name, args: arguments }),
    };
    proto::Action { request_id: new_id(), action: Some(action) }
}

/// Runs the session: the run's actions go out, the client's events come in, until the run ends,
/// the client stops it (a person's stop lets the run tell GitLab first) or leaves.
async fn drive(
    mut inbound: Streaming<proto::ClientEvent>,
    input: RunInput,
    model: std::sync::Arc<dyn crate::features::agent::model::AgentModel>,
    docs: crate::docs::DocsIndex,
    mut registration: Registration,
    limits: Limits,
    out: mpsc::Sender<Result<proto::Action, Status>>,
) {
    let (tx, mut rx) = mpsc::channel::<Outgoing>(OUTBOX);
    let client = StreamClient { tx };
    let session_record = registration.session.clone();
    let deps = Deps { client: &client, model: model.as_ref(), docs: &docs, session: &session_record };
    let mut run = pin!(crate::features::agent::run(input, &deps, &limits));
    let mut session = Session::new();
    let mut waiters: HashMap<String, oneshot::Sender<Result<Reply, ClientError>>> = HashMap::new();
    let mut inbound_open = true;
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break Some(outcome),
            event = inbound.message(), if inbound_open => {
                let event = match event {
                    Ok(e) => e,
                    Err(status) => {
                        tracing::info!(code = ?status.code(), message = status.message(), "the client's stream broke");
                        None
                    }
                };
                match session.on_event(event) {
                    Inbound::Deliver { id, reply } => {
                        if let Some(waiter) = waiters.remove(&id) {
                            let _ = waiter.send(Ok(reply));
                        }
                    }
                    Inbound::Stop(Stop::User(reason)) => {
                        tracing::info!(%reason, "the client stopped the session");
                        session_record.request_stop();
                    }
                    Inbound::Stop(stop) => {
                        tracing::info!(?stop, "the client's infrastructure stopped the session");
                        break None;
                    }
                    Inbound::Closed => {
                        inbound_open = false;
                        if session.stop().is_none() {
                            tracing::info!("the client closed the session");
                            break None;
                        }
                    }
                    Inbound::Ignore(why) => tracing::debug!(%why, "client event ignored"),
                }
            }
            Some(outgoing) = rx.recv() => {
                let expects = outgoing.reply.is_some()
                    && !matches!(outgoing.action.action, Some(action::Action::NewCheckpoint(_)));
                let id = outgoing.action.request_id.clone();
                match session.outgoing(&outgoing.action, expects) {
                    Err(refused) => {
                        tracing::warn!(message = %refused.message, "an action was too large to send");
                        if let Some(reply) = outgoing.reply {
                            let _ = reply.send(Err(ClientError::TooLarge));
                        }
                    }
                    Ok(()) => {
                        let kind = outgoing.action.action.as_ref().map(action_name).unwrap_or("none");
                        if out.send(Ok(outgoing.action)).await.is_err() {
                            tracing::info!("the client stopped reading");
                            break None;
                        }
                        tracing::debug!(action = kind, request_id = %id, "action sent");
                        match outgoing.reply {
                            Some(reply) if expects => {
                                waiters.retain(|_, w| !w.is_closed());
                                waiters.insert(id, reply);
                            }
                            Some(reply) => {
                                let _ = reply.send(Ok(Reply::Text { response: String::new(), error: String::new() }));
                            }
                            None => {}
                        }
                    }
                }
            }
        }
    };
    let status = session.end_status(outcome.as_ref());
    registration.finish(code_name(status.code));
    match status.code {
        Code::Ok | Code::Cancelled => {
            tracing::info!(code = ?status.code, message = %status.message, "Agent Platform session ended")
        }
        _ => tracing::warn!(code = ?status.code, message = %status.message, "Agent Platform session ended"),
    }
    let _ = out.send(Err(status.into_status())).await;
}

fn action_name(a: &action::Action) -> &'static str {
    use action::Action as A;
    match a {
        A::RunCommand(_) => "runCommand",
        A::RunHttpRequest(_) => "runHTTPRequest",
        A::RunReadFile(_) => "runReadFile",
        A::RunWriteFile(_) => "runWriteFile",
        A::RunGitCommand(_) => "runGitCommand",
        A::RunEditFile(_) => "runEditFile",
        A::NewCheckpoint(_) => "newCheckpoint",
        A::ListDirectory(_) => "listDirectory",
        A::Grep(_) => "grep",
        A::FindFiles(_) => "findFiles",
        A::RunMcpTool(_) => "runMCPTool",
        A::Mkdir(_) => "mkdir",
        A::RunReadFiles(_) => "runReadFiles",
        A::RunShellCommand(_) => "runShellCommand",
        A::TrackLlmCallForSelfHosted(_) => "trackLlmCallForSelfHosted",
        A::ScheduleNotification(_) => "scheduleNotification",
    }
}

/// A status code's name, as `/metrics` labels it.
pub(super) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::InvalidArgument => "invalid_argument",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::Unavailable => "unavailable",
        Code::Internal => "internal",
        Code::Unauthenticated => "unauthenticated",
        Code::DeadlineExceeded => "deadline_exceeded",
        _ => "unknown",
    }
}
