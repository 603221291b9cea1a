//! The agent loop of one turn: apply the user's message or decision, then call the model with the tools, run the calls it makes through the client (asking for approval where needed) and feed the results back, a bounded number of times.

use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};

use super::client::Reply;
use super::model::{Answer, ChatDelta, Message, ModelError, ToolCall, ToolChoice, TurnRequest};
use super::tools::{Args, Invocation, Tool, check_arguments};
use super::ui::{Status, UI_RESULT_CHARS, UiEntry, truncate};
use super::workflow::{Halt, Run, UI_THROTTLE, fail};
use super::{Decision, Flow};
use crate::prompt::agent::{AgentKind, AgentPrompt, ProjectInfo, system_prompt, user_message};

/// Hits a documentation search returns to the model.
const DOCS_HITS: usize = 4;

impl Run<'_> {
    /// Applies this turn's input to the state. False when there is nothing for the model to do
    /// (an empty resume of a session that already answered, or an unknown slash command).
    pub(super) async fn apply_turn(&mut self) -> Result<bool, Halt> {
        let pending = self.state.pending_calls();
        self.state.status = Status::Execution;
        match self.input.decision.clone() {
            Decision::Approve { remember } if !pending.is_empty() => {
                if remember {
                    for call in &pending {
                        if !self.state.approved_tools.contains(&call.name) {
                            self.state.approved_tools.push(call.name.clone());
                        }
                    }
                }
                self.notify().await?;
                self.execute_calls(&pending).await?;
                self.save().await?;
            }
            Decision::Reject { message } if !pending.is_empty() => {
                let why = match message.as_deref().map(str::trim).filter(|m| !m.is_empty() && *m != "null") {
                    Some(m) => format!("The user declined this tool call and said: {m}"),
                    None => "The user declined this tool call. Do not try it again; continue without it.".into(),
                };
                for call in &pending {
                    self.record_result(call, &why, "cancelled", &Value::Null);
                }
            }
            _ => {
                for call in &pending {
                    let note = "This tool call was interrupted before it ran.";
                    self.record_result(call, note, "cancelled", &Value::Null);
                }
                let goal = self.input.goal.clone();
                if goal.trim().is_empty() {
                    if pending.is_empty() {
                        // Nothing new: the session stays where it was.
                        self.state.status = Status::InputRequired;
                        return Ok(false);
                    }
                } else {
                    let text = match user_message(&goal, &self.input.context) {
                        Ok(text) => text,
                        Err(unknown) => {
                            self.state.ui_log.push(UiEntry::user(&goal, self.input.context_json.clone()));
                            self.state.ui_log.push(UiEntry::error(&format!(
                                "The command {} does not exist. Try /explain, /refactor, /tests or /fix.",
                                unknown.0
                            )));
                            self.state.status = Status::InputRequired;
                            return Ok(false);
                        }
                    };
                    self.state.conversation.push(Message::User(text));
                    self.state.ui_log.push(UiEntry::user(&goal, self.input.context_json.clone()));
                }
            }
        }
        self.notify().await?;
        Ok(true)
    }

    /// Model call → tools → model call …, until an answer without tool calls, an approval request
    /// or the iteration limit.
    pub(super) async fn agent_loop(&mut self) -> Result<(), Halt> {
        let started = Instant::now();
        let fresh_message = !self.input.goal.trim().is_empty();
        let mut answer_now = false;
        for iteration in 0..self.limits.max_iterations {
            // The last call, and the one after a repeated call, get no tools: the turn ends with an answer.
            let last = iteration + 1 == self.limits.max_iterations;
            let choice = if answer_now || (last && iteration > 0) {
                ToolChoice::None
            } else {
                self.tool_choice(iteration == 0 && fresh_message)
            };
            let earlier = self.calls_this_turn();
            let (answer, message_id) = self.model_step(choice).await?;
            let content = strip_reasoning(&answer.content);
            self.state
                .conversation
                .push(Message::Assistant { content: content.clone(), tool_calls: answer.tool_calls.clone() });
            if !content.is_empty() {
                self.upsert(UiEntry::agent(&message_id, &content, true));
            }
            if answer.tool_calls.is_empty() {
                if content.is_empty() {
                    self.upsert(UiEntry::agent(&message_id, "I have no answer to that. Could you rephrase it?", true));
                }
                self.state.status = match self.input.flow {
                    Flow::SoftwareDevelopment => Status::Completed,
                    Flow::Chat { .. } => Status::InputRequired,
                };
                self.turn_done(started);
                return Ok(());
            }
            if answer.finish_reason == "length" {
                for call in &answer.tool_calls {
                    let note = "Your answer was cut off before this call was complete. Make a smaller call.";
                    self.record_result(call, note, "failure", &Value::Null);
                }
                continue;
            }
            // A call repeated within the turn is not run again: small models loop on their own calls.
            let (repeated, calls): (Vec<ToolCall>, Vec<ToolCall>) =
                answer.tool_calls.iter().cloned().partition(|c| earlier.contains(&call_key(c)));
            for call in &repeated {
                let note = format!(
                    "You already called `{}` with these arguments in this turn; its result is above. \
                     Do not call it again: answer the user now.",
                    call.name
                );
                self.record_result(call, &note, "success", &Value::Null);
            }
            answer_now = !repeated.is_empty();
            if calls.is_empty() {
                continue;
            }
            let needing: Vec<&ToolCall> =
                calls.iter().filter(|c| self.tool(&c.name).is_some_and(|t| !self.preapproved(t))).collect();
            if !needing.is_empty() {
                for call in needing {
                    let args = serde_json::from_str::<Value>(&call.arguments).unwrap_or(Value::Null);
                    let patterns = command_patterns(&call.name, &args);
                    self.upsert(UiEntry::approval_request(&call.id, &call.name, &args, &patterns));
                }
                self.state.status = Status::ToolCallApprovalRequired;
                self.turn_done(started);
                return Ok(());
            }
            self.execute_calls(&calls).await?;
            self.save().await?;
        }
        let limit = self.limits.max_iterations;
        Err(fail(
            "StepLimit",
            format!("the agent made {limit} model calls without reaching an answer"),
            format!("I stopped after {limit} steps without finishing. Ask again, perhaps more specifically."),
        ))
    }

    /// The calls made since the user's last message, as (name, canonical arguments).
    fn calls_this_turn(&self) -> Vec<(String, String)> {
        let start = self.state.conversation.iter().rposition(|m| matches!(m, Message::User(_))).map_or(0, |p| p + 1);
        self.state.conversation[start..]
            .iter()
            .filter_map(|m| match m {
                Message::Assistant { tool_calls, .. } => Some(tool_calls.iter().map(call_key)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn turn_done(&self, started: Instant) {
        metrics::histogram!(crate::metrics::AGENT_TURN_SECONDS, "flow" => self.input.flow.label())
            .record(started.elapsed().as_secs_f64());
    }

    /// The configured first-call tool choice applies when it names a tool this session offers (or
    /// is `Required` and there are tools).
    fn tool_choice(&self, first: bool) -> ToolChoice {
        if !first {
            return ToolChoice::Auto;
        }
        match &self.limits.first_tool_choice {
            ToolChoice::Named(name) if self.tool(name).is_some() => ToolChoice::Named(name.clone()),
            ToolChoice::Required if !self.tools.is_empty() => ToolChoice::Required,
            _ => ToolChoice::Auto,
        }
    }

    pub(super) fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    fn system(&self) -> String {
        let w = &self.workflow;
        let date = crate::long_date(crate::unix_now());
        let model = self.deps.model.name();
        let version = self.input.gitlab_version.map(|v| format!("{}.{}.{}", v.0, v.1, v.2));
        let project = w.project_id.as_deref().map(|id| ProjectInfo {
            id,
            name: w.project_name.as_deref().unwrap_or(id),
            url: w.web_url.as_deref(),
            languages: &w.languages,
            default_branch: w.default_branch.as_deref(),
        });
        let custom = match &self.input.flow {
            Flow::Chat { custom: Some(c) } => c.system.as_deref(),
            _ => None,
        };
        system_prompt(&AgentPrompt {
            kind: match self.input.flow {
                Flow::SoftwareDevelopment => AgentKind::SoftwareDevelopment,
                Flow::Chat { .. } => AgentKind::Chat,
            },
            date: &date,
            gitlab_url: self.input.gitlab_url.as_deref(),
            gitlab_version: version.as_deref(),
            model: &model,
            project,
            namespace: w.namespace_name.as_deref(),
            has_tools: !self.tools.is_empty(),
            custom,
        })
    }

    /// One model call; a streamed answer updates its chat entry as it grows.
    async fn model_step(&mut self, tool_choice: ToolChoice) -> Result<(Answer, String), Halt> {
        let mut messages = vec![Message::System(self.system())];
        messages.extend(self.state.conversation.iter().filter(|m| !matches!(m, Message::System(_))).cloned());
        let request = TurnRequest {
            messages,
            tools: self.tools.iter().map(Tool::def).collect(),
            tool_choice,
            max_tokens: self.limits.max_tokens,
            temperature: self.limits.temperature,
        };
        let model = self.deps.model.name();
        self.deps.session.set_model(&model);
        let label = model.clone();
        let counted = |outcome: &'static str| {
            metrics::counter!(crate::metrics::AGENT_MODEL_CALLS, "model" => label.clone(), "outcome" => outcome)
                .increment(1);
        };
        let stop = self.deps.session.stopped();
        let stream = tokio::select! {
            s = self.deps.model.call(request) => s,
            () = stop => return Err(Halt::Stop),
        };
        let mut stream = stream.map_err(|e| {
            counted("error");
            model_failure(e)
        })?;
        let message_id = format!("msg-{}", uuid::Uuid::new_v4());
        let mut answer = Answer::default();
        loop {
            let next = tokio::select! {
                d = stream.next() => d,
                () = self.deps.session.stopped() => return Err(Halt::Stop),
            };
            match next {
                Some(Ok(ChatDelta::Done { finish_reason, usage })) => {
                    answer.push(ChatDelta::Done { finish_reason, usage });
                    break;
                }
                Some(Ok(delta)) => {
                    if answer.push(delta) {
                        let shown = strip_reasoning(&answer.content);
                        if !shown.is_empty() {
                            self.upsert(UiEntry::agent(&message_id, &shown, false));
                            if self.last_ui.is_none_or(|t| t.elapsed() >= UI_THROTTLE) {
                                self.notify().await?;
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    counted("error");
                    return Err(model_failure(e));
                }
                None => break,
            }
        }
        counted("ok");
        answer.tool_calls.retain(|c| !c.name.is_empty());
        for call in &mut answer.tool_calls {
            if call.id.is_empty() {
                call.id = format!("call_{}", uuid::Uuid::new_v4().simple());
            }
        }
        Ok((answer, message_id))
    }

    /// Runs tool calls one after the other and records their results.
    pub(super) async fn execute_calls(&mut self, calls: &[ToolCall]) -> Result<(), Halt> {
        for call in calls {
            let parsed =
                serde_json::from_str::<Value>(if call.arguments.trim().is_empty() { "{}" } else { &call.arguments });
            let args_value = parsed.as_ref().cloned().unwrap_or(Value::Null);
            let outcome = match (self.tool(&call.name).cloned(), parsed) {
                (None, _) => {
                    let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
                    Err(format!("There is no tool named `{}`. The tools are: {}.", call.name, names.join(", ")))
                }
                (Some(_), Err(e)) => Err(format!("The arguments are not valid JSON ({e}). Send a JSON object.")),
                (Some(_), Ok(v)) if !v.is_object() => Err("The arguments must be a JSON object.".to_string()),
                (Some(tool), Ok(Value::Object(args))) => self.run_tool(&tool, &args).await?,
                (Some(_), Ok(_)) => unreachable!("checked above"),
            };
            let (text, status) = match outcome {
                Ok(text) => (text, "success"),
                Err(text) => (text, "failure"),
            };
            metrics::counter!(crate::metrics::AGENT_TOOL_CALLS, "tool" => tool_label(self.tool(&call.name)), "status" => status)
                .increment(1);
            self.deps.session.add_tool_call();
            self.record_result(call, &text, status, &args_value);
            self.notify().await?;
        }
        Ok(())
    }

    /// One tool: its result text, or the failure the model is told about.
    async fn run_tool(&mut self, tool: &Tool, args: &Args) -> Result<Result<String, String>, Halt> {
        if let Err(problem) = check_arguments(&tool.parameters, args) {
            return Ok(Err(format!(
                "The arguments for `{}` are not valid: {problem}. They must match this schema: {}",
                tool.name, tool.parameters
            )));
        }
        let invocation = match tool.plan(args, &self.ctx) {
            Ok(i) => i,
            Err(problem) => return Ok(Err(format!("`{}` cannot run: {problem}", tool.name))),
        };
        tracing::info!(tool = %tool.name, "running a tool");
        match invocation {
            Invocation::Docs { query } => Ok(match self.deps.docs.search(&query, DOCS_HITS).await {
                Ok(hits) if hits.is_empty() => {
                    Ok("No documentation matched. The documentation may not be imported into airgate.".into())
                }
                Ok(hits) => Ok(hits
                    .iter()
                    .map(|(page, text)| format!("Page: {page}\n{text}"))
                    .collect::<Vec<_>>()
                    .join("\n\n---\n\n")),
                Err(e) => {
                    tracing::error!(error = %e, "documentation search failed");
                    Err("The documentation search failed.".into())
                }
            }),
            Invocation::Client(action) => {
                let http = action.is_http();
                let grep = matches!(action, super::client::ClientAction::Grep { .. });
                let reply = self.call(action, Some(self.limits.action_timeout)).await?;
                Ok(render_reply(&reply, http, grep))
            }
        }
    }

    /// Adds a tool result to the conversation and its card to the chat log.
    pub(super) fn record_result(&mut self, call: &ToolCall, text: &str, status: &str, args: &Value) {
        let cap = result_chars(self.deps.model.context_tokens());
        let content = truncate(text, cap);
        self.state.conversation.push(Message::Tool {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content: content.clone(),
        });
        let args =
            if args.is_null() { serde_json::from_str(&call.arguments).unwrap_or(Value::Null) } else { args.clone() };
        let caption = match (self.tool(&call.name), args.as_object()) {
            (Some(t), Some(a)) => t.caption(a),
            _ => format!("Use tool {}", call.name),
        };
        let caption = if status == "success" { caption } else { format!("Failed: {caption}") };
        let info = json!({
            "name": call.name,
            "args": args,
            "tool_response": {
                "content": truncate(text, UI_RESULT_CHARS),
                "tool_call_id": call.id,
                "type": "ToolMessage",
                "status": if status == "success" { "success" } else { "error" },
            },
            "tool_version": "1.0.0",
        });
        self.upsert(UiEntry::tool(&call.id, &call.name, &caption, status, info));
    }

    /// Replaces the entry with the same id, or appends.
    pub(super) fn upsert(&mut self, entry: UiEntry) {
        match self.state.ui_log.iter_mut().find(|e| e.message_id == entry.message_id) {
            Some(existing) => *existing = entry,
            None => self.state.ui_log.push(entry),
        }
    }
}

/// A call's identity: its name and its arguments with keys sorted.
fn call_key(call: &ToolCall) -> (String, String) {
    let args = serde_json::from_str::<Value>(&call.arguments)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| call.arguments.clone());
    (call.name.clone(), args)
}

/// Characters of a tool result the model sees: about a quarter of its context.
fn result_chars(context_tokens: u32) -> usize {
    (context_tokens as usize).clamp(2000, 64_000)
}

fn model_failure(e: ModelError) -> Halt {
    let shown = match &e {
        ModelError::Invalid(m) => format!("The model could not take this request: {m}"),
        ModelError::Unavailable(_) => "The model is not available right now. Try again in a moment.".into(),
    };
    fail("ModelError", e.to_string(), shown)
}

/// Tool metric label: the built-in tool's name, or `mcp` / `unknown` (no unbounded label values).
fn tool_label(tool: Option<&Tool>) -> &'static str {
    match tool.map(|t| &t.kind) {
        Some(super::tools::ToolKind::Builtin(b)) => b.name,
        Some(super::tools::ToolKind::Mcp { .. }) => "mcp",
        None => "unknown",
    }
}

/// The result of an action as the model reads it.
fn render_reply(reply: &Reply, http: bool, grep: bool) -> Result<String, String> {
    match reply {
        Reply::Http { status, body, error } if error.is_empty() && http => {
            if (200..300).contains(status) {
                let graphql_errors = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v["errors"].as_array().filter(|e| !e.is_empty()).cloned());
                match graphql_errors {
                    Some(errors) => Err(format!("GitLab's GraphQL API answered with errors: {}", Value::Array(errors))),
                    None => Ok(body.clone()),
                }
            } else {
                Err(format!("GitLab answered HTTP {status}: {}", super::workflow::clip(body)))
            }
        }
        other => match other.text() {
            Ok(text) if grep && text.trim().is_empty() => Ok("No matches found.".into()),
            Ok(text) => Ok(text.to_string()),
            Err(e) if grep && (e.contains("exit status 1") || e.contains("No such file")) => {
                Ok("No matches found.".into())
            }
            Err(e) => Err(format!("The action failed: {e}")),
        },
    }
}

/// Glob suggestions an approval of a command may remember.
fn command_patterns(name: &str, args: &Value) -> Vec<String> {
    if name != "run_command" {
        return Vec::new();
    }
    let line = match (args["command"].as_str(), args["program"].as_str()) {
        (Some(c), _) => c.to_string(),
        (None, Some(p)) => format!("{p} {}", args["args"].as_str().unwrap_or_default()),
        _ => return Vec::new(),
    };
    super::tools::suggested_patterns(line.trim())
}

/// Text without a leading `<think>…</think>` block (reasoning models' scratchpad).
pub(super) fn strip_reasoning(text: &str) -> String {
    let trimmed = text.trim_start();
    match trimmed.strip_prefix("<think>") {
        Some(rest) => match rest.find("</think>") {
            Some(end) => rest[end + "</think>".len()..].trim_start().to_string(),
            None => String::new(),
        },
        None => text.to_string(),
    }
}
