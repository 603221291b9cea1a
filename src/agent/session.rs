//! The `ExecuteWorkflow` session as a pure state machine: the start request read into a run's input, actions out and responses in (matched by `requestID`, with the guess old clients with empty ids need), stop requests, and the gRPC status a session ends with. No IO: the driver in `execute` feeds it events.

use std::collections::VecDeque;

use prost::Message as _;
use serde_json::{Value, json};
use tonic::Code;

use super::proto::{self, action_response, approval, client_event};
use crate::features::agent::client::Reply;
use crate::features::agent::gitlab::GitlabVersion;
use crate::features::agent::tools::McpTool;
use crate::features::agent::ui::StatusEvent;
use crate::features::agent::{Capabilities, Decision, Flow, RunEnd, RunInput, RunOutcome, catalog};
use crate::prompt::agent::ContextItem;

/// gRPC messages are at most 4 MiB either way.
pub const MAX_MESSAGE: usize = 4 << 20;

/// A gRPC status to end with (or refuse with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndStatus {
    pub code: Code,
    pub message: String,
}

impl EndStatus {
    pub fn new(code: Code, message: impl Into<String>) -> EndStatus {
        EndStatus { code, message: message.into() }
    }

    pub fn into_status(self) -> tonic::Status {
        tonic::Status::new(self.code, self.message)
    }
}

/// What the metadata says that matters for reading the start request.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub gitlab_version: Option<GitlabVersion>,
    /// `x-gitlab-enabled-feature-flags`.
    pub feature_flags: Vec<String>,
    /// `x-gitlab-language-server-version`.
    pub language_server: Option<GitlabVersion>,
    /// `x-gitlab-enabled-mcp-server-tools` contains `search`.
    pub mcp_search: bool,
}

/// Which unit primitive a flow needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Agentic Chat: `duo_chat` (or, unless strict, an Agent Platform scope).
    Chat,
    /// Everything else: `duo_agent_platform` or the older `duo_workflow_execute_workflow`.
    AgentPlatform,
}

/// The scope a start request needs, decided before its flow is resolved (so an unknown flow is
/// refused as unauthorized to callers without Agent Platform scopes, as GitLab's service does).
pub fn needs(start: &proto::StartWorkflowRequest) -> Needs {
    let inline = start.flow_config.is_some() || start.flow_config_id.as_deref().is_some_and(|s| !s.is_empty());
    if !inline && start.workflow_definition == "chat" { Needs::Chat } else { Needs::AgentPlatform }
}

/// The run's input from a start request; `Ok(None)` when it names no workflow (the session then
/// ends at once, as GitLab's own service does).
pub fn parse_start(start: proto::StartWorkflowRequest, info: &ClientInfo) -> Result<Option<RunInput>, EndStatus> {
    if start.workflow_id.trim().is_empty() {
        return Ok(None);
    }
    if !start.workflow_id.trim().chars().all(|c| c.is_ascii_digit()) {
        return Err(EndStatus::new(Code::InvalidArgument, format!("Invalid workflow ID: {}", start.workflow_id)));
    }
    let flow = resolve_flow(&start, info)?;
    let decision = match start.approval.and_then(|a| a.user_decision) {
        Some(approval::UserDecision::Approval(a)) => {
            Decision::Approve { remember: a.remember_approval.unwrap_or(false) }
        }
        Some(approval::UserDecision::Rejection(r)) => Decision::Reject { message: r.message },
        None => Decision::None,
    };
    let context: Vec<ContextItem> = start
        .additional_context
        .iter()
        .map(|c| ContextItem {
            category: c.category.clone(),
            id: c.id.clone().filter(|s| !s.is_empty()),
            content: c.content.clone().unwrap_or_default(),
        })
        .collect();
    let context_json = (!start.additional_context.is_empty()).then(|| {
        Value::Array(
            start
                .additional_context
                .iter()
                .map(|c| {
                    // Lenient: metadata that is not a JSON object becomes an empty one.
                    let metadata = c
                        .metadata
                        .as_deref()
                        .and_then(|m| serde_json::from_str::<Value>(m).ok())
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    json!({ "category": c.category, "id": c.id, "content": c.content, "metadata": metadata })
                })
                .collect(),
        )
    });
    // Clients send capabilities from GitLab 18.7 on; before, they mean nothing.
    let honoured = info.gitlab_version.is_some_and(|v| v >= GitlabVersion(18, 7, 0));
    let has = |name: &str| honoured && start.client_capabilities.iter().any(|c| c == name);
    Ok(Some(RunInput {
        workflow_id: start.workflow_id.trim().to_string(),
        flow,
        goal: start.goal,
        decision,
        context,
        context_json,
        preapproved_tools: start.preapproved_tools,
        mcp_tools: start
            .mcp_tools
            .into_iter()
            .map(|t| McpTool { name: t.name, description: t.description, input_schema: t.input_schema })
            .collect(),
        capabilities: Capabilities {
            shell_command: has("shell_command"),
            read_file_chunked: has("read_file_chunked"),
            command_timeout: has("command_timeout"),
        },
        gitlab_version: info.gitlab_version,
        gitlab_url: None,
        compress_checkpoints: info.feature_flags.iter().any(|f| f == "duo_workflow_compress_checkpoint"),
        without_search: info.mcp_search,
        client_too_old: info.language_server.is_some_and(|v| v < GitlabVersion(7, 43, 0)),
    }))
}

/// Which agent runs (spec §4.2): a registry flow, an inline flow config, or a legacy definition.
fn resolve_flow(start: &proto::StartWorkflowRequest, info: &ClientInfo) -> Result<Flow, EndStatus> {
    let invalid = |m: String| EndStatus::new(Code::InvalidArgument, m);
    let given = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let config_id = given(&start.flow_config_id);
    let version = given(&start.flow_version);
    let schema = given(&start.flow_config_schema_version);
    if let Some(id) = config_id {
        if start.flow_config.is_some() {
            return Err(invalid("flowConfigId and flowConfig cannot be sent together".into()));
        }
        if schema.is_none() || version.is_none() {
            return Err(invalid("flowConfigId needs flowConfigSchemaVersion and flowVersion".into()));
        }
        return Err(invalid(format!("flow `{id}` is not available: airgate does not run Flow Registry flows yet")));
    }
    if version.is_some() {
        return Err(invalid("flowVersion needs flowConfigId".into()));
    }
    if let Some(config) = &start.flow_config {
        let config = struct_to_json(config);
        // Language servers before 8.51.0 (or none named) declare the schema inside the config.
        let old_client = info.language_server.is_none_or(|v| v < GitlabVersion(8, 51, 0));
        let declared = if old_client { config["version"].as_str().map(str::to_string) } else { schema.clone() };
        if let (Some(declared), Some(inner)) = (declared.as_deref(), config["version"].as_str())
            && declared != inner
        {
            return Err(invalid(format!("the flow config's version `{inner}` is not the declared `{declared}`")));
        }
        return catalog::custom_agent(&config).map(|c| Flow::Chat { custom: Some(c) }).map_err(invalid);
    }
    match start.workflow_definition.trim() {
        "chat" => Ok(Flow::Chat { custom: None }),
        "" | "software_development" => Ok(Flow::SoftwareDevelopment),
        "convert_to_gitlab_ci" | "issue_to_merge_request" => Err(invalid(format!(
            "workflow definition `{}` is not available in airgate",
            start.workflow_definition.trim()
        ))),
        other if other.contains('/') => {
            Err(invalid(format!("flow `{other}` is not available: airgate does not run Flow Registry flows yet")))
        }
        other => Err(invalid(format!("unknown workflow definition `{other}`"))),
    }
}

/// A protobuf `Struct` as JSON.
pub fn struct_to_json(s: &prost_types::Struct) -> Value {
    Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

fn value_to_json(v: &prost_types::Value) -> Value {
    use prost_types::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9e15 {
                json!(*n as i64)
            } else {
                json!(n)
            }
        }
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_to_json).collect()),
    }
}

/// JSON as a protobuf `Struct` (objects only; other values give an empty struct).
pub fn json_to_struct(v: &Value) -> prost_types::Struct {
    let fields =
        v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect()).unwrap_or_default();
    prost_types::Struct { fields }
}

fn json_to_value(v: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_to_value).collect() })
        }
        Value::Object(_) => Kind::StructValue(json_to_struct(v)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// Why the client asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A person stopped the session: tell GitLab, end with OK.
    User(String),
    /// Workhorse is shutting down: end at once with UNAVAILABLE, GitLab's status untouched (the client retries).
    ServerShutdown,
    /// Another infrastructure stop (a lost WebSocket): end at once with OK, GitLab's status untouched.
    Infra(String),
}

impl Stop {
    pub fn from_reason(reason: &str) -> Stop {
        match reason {
            "WORKHORSE_SERVER_SHUTDOWN" => Stop::ServerShutdown,
            "WORKHORSE_WEBSOCKET_PING_FAILED" => Stop::Infra(reason.into()),
            other => Stop::User(other.into()),
        }
    }
}

/// What an incoming event means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// The answer to action `id`.
    Deliver {
        id: String,
        reply: Reply,
    },
    Stop(Stop),
    /// The client closed its side (or the transport broke).
    Closed,
    /// Nothing to do; the reason is logged.
    Ignore(String),
}

/// Actions that wait for an answer, oldest first.
#[derive(Debug, Default)]
pub struct Session {
    outstanding: VecDeque<(String, bool)>,
    stop: Option<Stop>,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    pub fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// Reads one client event (`None`: the client's stream ended).
    pub fn on_event(&mut self, event: Option<proto::ClientEvent>) -> Inbound {
        let Some(event) = event else { return Inbound::Closed };
        match event.response {
            None => Inbound::Ignore("an empty client event".into()),
            Some(client_event::Response::Heartbeat(_)) => Inbound::Ignore("heartbeat".into()),
            Some(client_event::Response::StartRequest(_)) => Inbound::Ignore("a second startRequest".into()),
            Some(client_event::Response::StopWorkflow(s)) => {
                let stop = Stop::from_reason(&s.reason);
                // The first stop decides; repeats change nothing.
                if self.stop.is_none() {
                    self.stop = Some(stop.clone());
                }
                Inbound::Stop(stop)
            }
            Some(client_event::Response::ActionResponse(r)) => self.resolve(r),
        }
    }

    fn resolve(&mut self, r: proto::ActionResponse) -> Inbound {
        let reply = match (r.response_type, r.response) {
            (Some(action_response::ResponseType::HttpResponse(h)), _) => {
                Reply::Http { status: h.status_code, body: h.body, error: h.error }
            }
            (Some(action_response::ResponseType::PlainTextResponse(p)), _) => {
                Reply::Text { response: p.response, error: p.error }
            }
            (Some(action_response::ResponseType::ScheduleNotificationResponse(s)), _) => Reply::Text {
                response: json!({ "accepted": s.accepted, "reason": s.reason, "fires_at": s.fires_at }).to_string(),
                error: String::new(),
            },
            (None, Some(text)) => Reply::Text { response: text, error: String::new() },
            (None, None) => Reply::Text { response: String::new(), error: "the client sent an empty response".into() },
        };
        let position = if r.request_id.is_empty() {
            // Old language servers sent no id: an HTTP answer goes to the oldest HTTP request,
            // anything else to the oldest other action.
            let http = matches!(reply, Reply::Http { .. });
            self.outstanding.iter().position(|(_, is_http)| *is_http == http)
        } else {
            self.outstanding.iter().position(|(id, _)| *id == r.request_id)
        };
        match position.and_then(|p| self.outstanding.remove(p)) {
            Some((id, _)) => Inbound::Deliver { id, reply },
            None => Inbound::Ignore(format!("a response to unknown action `{}`", r.request_id)),
        }
    }

    /// Checks an outgoing action and, when it expects an answer, records it.
    pub fn outgoing(&mut self, action: &proto::Action, expects_reply: bool) -> Result<(), EndStatus> {
        if action.encoded_len() > MAX_MESSAGE {
            return Err(EndStatus::new(Code::ResourceExhausted, "Outgoing message too large."));
        }
        if expects_reply {
            let http = matches!(action.action, Some(proto::action::Action::RunHttpRequest(_)));
            self.outstanding.push_back((action.request_id.clone(), http));
        }
        Ok(())
    }

    /// Forgets an action nobody waits for any more (its waiter timed out or was stopped).
    pub fn forget(&mut self, id: &str) {
        self.outstanding.retain(|(i, _)| i != id);
    }

    /// The status a session ends with (spec §4.9); `outcome` is `None` when the run was cut off.
    pub fn end_status(&self, outcome: Option<&RunOutcome>) -> EndStatus {
        let last = outcome.and_then(|o| o.last_event).map_or("none", StatusEvent::as_str);
        match &self.stop {
            Some(Stop::ServerShutdown) => {
                return EndStatus::new(Code::Unavailable, format!("workflow execution interrupted: {last}"));
            }
            Some(Stop::Infra(_)) | Some(Stop::User(_)) => {
                return EndStatus::new(Code::Ok, "workflow execution stopped");
            }
            None => {}
        }
        let Some(outcome) = outcome else { return EndStatus::new(Code::Cancelled, "RPC cancelled by client") };
        match &outcome.end {
            RunEnd::Done => match outcome.last_event {
                Some(e) if e.ends_run_cleanly() => EndStatus::new(Code::Ok, "workflow execution success"),
                _ => EndStatus::new(Code::Unknown, format!("RPC ended with unknown workflow state: {last}")),
            },
            RunEnd::Stopped => EndStatus::new(Code::Ok, "workflow execution stopped"),
            RunEnd::InvalidWorkflow(m) | RunEnd::Invalid(m) => EndStatus::new(Code::InvalidArgument, m.clone()),
            RunEnd::Forbidden(m) => EndStatus::new(Code::PermissionDenied, m.clone()),
            RunEnd::ClientGone => EndStatus::new(Code::Cancelled, "RPC cancelled by client"),
            RunEnd::TooLarge => EndStatus::new(Code::ResourceExhausted, "Outgoing message too large."),
            RunEnd::Failed { kind, message } => {
                EndStatus::new(Code::Internal, format!("workflow execution failure: {kind}: {message}"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
