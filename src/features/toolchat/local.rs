//! A tool chat on a local model: the prompt (own template or airgate's tool instructions), the grammar, and the parsed, validated stream.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::{ChatDelta, ResponseFormat, ToolChatRequest, ToolChoice, call_id, finish_reason, invalid_call, template};
use crate::engine::{Constraint, Engine, EngineError, Event, EventStream, GenerateRequest, Prompt};
use crate::features::FeatureError;
use crate::prompt::toolcall::grammar::{self, Choice, Spec, ToolRules, Trigger};
use crate::prompt::toolcall::instruct::{self, Ask};
use crate::prompt::toolcall::{Parser, Piece, Syntax, ThinkTags, ToolDef};

/// How the model's output is read.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    pub syntax: Syntax,
    pub think: Option<ThinkTags>,
    pub in_reasoning: bool,
    pub tools: Vec<ToolDef>,
    pub tools_active: bool,
    /// A grammar holds every call the parser will see: calls stream as they are written.
    pub constrained: bool,
}

pub(super) async fn start(
    engine: Arc<dyn Engine>,
    req: ToolChatRequest,
    tx: mpsc::Sender<ChatDelta>,
) -> Result<(), FeatureError> {
    let (request, shape) = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || prepare(engine.as_ref(), &req))
            .await
            .map_err(|e| FeatureError::Engine(EngineError::Internal(e.to_string())))??
    };
    let events = engine.generate(request).await?;
    tokio::spawn(forward(events, shape, tx));
    Ok(())
}

/// The request for the engine, and how to read what comes back.
pub(super) fn prepare(engine: &dyn Engine, req: &ToolChatRequest) -> Result<(GenerateRequest, Shape), FeatureError> {
    let template = template::compile(engine)?;
    let source = template.as_ref().map(|t| t.source());
    let tools_active = req.tools_active();
    let taught = Syntax::detect(source);
    let native = tools_active && taught != Syntax::Json && template.as_ref().is_some_and(|t| t.handles_tools());
    let syntax = if tools_active && !native { Syntax::Json } else { taught };
    let think = ThinkTags::detect(source);

    let mut turns = req.messages.clone();
    if req.single_system {
        turns = instruct::single_system(turns);
    }
    if !template.as_ref().is_some_and(|t| t.handles_tool_turns()) {
        turns = instruct::flatten_turns(&turns);
    }
    if tools_active && !native {
        let ask = match &req.tool_choice {
            ToolChoice::Required => Ask::Required,
            ToolChoice::Named(name) => Ask::Named(name),
            ToolChoice::Auto | ToolChoice::None => Ask::Auto,
        };
        let parallel = req.parallel_tool_calls.unwrap_or(false);
        turns = instruct::with_system(turns, &instruct::system_text(&req.tools, ask, parallel));
    }
    let shown: &[ToolDef] = if native { &req.tools } else { &[] };
    let prompt = template::render(engine, template.as_ref(), &turns, shown, &req.template_kwargs)?;
    let in_reasoning = think.is_some_and(|t| t.opened_by(&prompt));

    let constraint = if req.grammar { constraint(req, syntax, think, in_reasoning)? } else { None };
    let mut special_text: Vec<String> = syntax.special_tokens().iter().map(|s| s.to_string()).collect();
    if let Some(t) = think {
        special_text.extend([t.open.to_string(), t.close.to_string()]);
    }
    let shape = Shape {
        syntax,
        think,
        in_reasoning,
        tools: req.tools.clone(),
        tools_active,
        constrained: constraint.is_some() && tools_active,
    };
    let request = GenerateRequest {
        max_tokens: req.max_tokens,
        sampling: req.sampling.clone(),
        stop: req.stop.clone(),
        ignore_eos: req.ignore_eos,
        repetition_guard: req.repetition_guard,
        deadline: req.deadline,
        constraint,
        special_text,
        ..GenerateRequest::new(Prompt::Text(prompt), req.feature)
    };
    Ok((request, shape))
}

/// The grammar for the request: calls in the model's syntax (lazy under `auto`), a JSON answer, or
/// either; `None` when nothing is constrained.
fn constraint(
    req: &ToolChatRequest,
    syntax: Syntax,
    think: Option<ThinkTags>,
    in_reasoning: bool,
) -> Result<Option<Constraint>, FeatureError> {
    let answer = match &req.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "object"})),
        ResponseFormat::JsonSchema { schema, .. } => Some(schema.clone()),
    };
    let tools = if req.tools_active() { req.tools.as_slice() } else { &[] };
    if tools.is_empty() && answer.is_none() {
        return Ok(None);
    }
    let mut rules = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let gbnf = crate::engine::llama::schema_grammar(&tool.parameters)
            .map_err(|e| FeatureError::BadInput(format!("`tools[{i}].function.parameters`: {e}")))?;
        rules.push(ToolRules { name: tool.name.clone(), gbnf });
    }
    let answer = answer
        .map(|schema| crate::engine::llama::schema_grammar(&schema))
        .transpose()
        .map_err(|e| FeatureError::BadInput(format!("`response_format`: {e}")))?;
    let choice = match &req.tool_choice {
        ToolChoice::Auto | ToolChoice::None => Choice::Auto,
        ToolChoice::Required => Choice::Required,
        ToolChoice::Named(name) => Choice::Named(tools.iter().position(|t| &t.name == name).unwrap_or(0)),
    };
    let parallel = req.parallel_tool_calls.unwrap_or(false);
    let spec = Spec { syntax, tools: rules, choice, parallel, answer, think, in_reasoning };
    Ok(grammar::build(&spec).map(|g| Constraint {
        grammar: g.text,
        root: g.root.to_string(),
        triggers: g
            .triggers
            .into_iter()
            .map(|t| match t {
                Trigger::Word(word) => regex::escape(&word),
                Trigger::Pattern(pattern) => pattern,
            })
            .collect(),
    }))
}

/// Reads the model's text into deltas until the generation ends or the client leaves.
async fn forward(mut events: EventStream, shape: Shape, tx: mpsc::Sender<ChatDelta>) {
    let mut parser =
        Parser::new(shape.syntax, shape.tools_active, shape.think, shape.in_reasoning).strict(shape.constrained);
    let mut calls = Calls::new(shape.tools, shape.constrained);
    loop {
        let event = tokio::select! {
            () = tx.closed() => return,
            event = events.recv() => event,
        };
        let (deltas, end) = match event {
            Some(Event::Text(text)) => (calls.read(parser.push(&text)), None),
            Some(Event::Reasoning(text)) => (vec![ChatDelta::Reasoning(text)], None),
            Some(Event::ToolCall { .. }) => (Vec::new(), None),
            Some(Event::Done { finish, usage, .. }) => {
                let deltas = calls.read(parser.finish());
                (deltas, Some(ChatDelta::Done { finish_reason: finish_reason(finish, calls.emitted), usage }))
            }
            Some(Event::Failed(detail)) => (Vec::new(), Some(ChatDelta::Failed(detail))),
            Some(Event::Expired { waited }) => {
                (Vec::new(), Some(ChatDelta::Failed(EngineError::Expired { waited }.to_string())))
            }
            None => (Vec::new(), Some(ChatDelta::Failed("the model stopped without finishing the response".into()))),
        };
        for delta in deltas.into_iter().chain(end.clone()) {
            if tx.send(delta).await.is_err() {
                return;
            }
        }
        if end.is_some() {
            return;
        }
    }
}

/// The calls of one answer as the parser reports them.
pub(super) struct Calls {
    tools: Vec<ToolDef>,
    /// Calls go out as they are written (a grammar holds them); otherwise each is checked first.
    stream: bool,
    open: Option<Open>,
    /// Calls handed out; the next one's index.
    pub emitted: usize,
}

struct Open {
    name: String,
    arguments: String,
    /// The index it went out under, when it streams.
    out: Option<usize>,
}

impl Calls {
    pub fn new(tools: Vec<ToolDef>, stream: bool) -> Calls {
        Calls { tools, stream, open: None, emitted: 0 }
    }

    pub fn read(&mut self, pieces: Vec<Piece>) -> Vec<ChatDelta> {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Content(text) | Piece::Malformed(text) => out.push(ChatDelta::Content(text)),
                Piece::Reasoning(text) => out.push(ChatDelta::Reasoning(text)),
                Piece::CallStart { name, .. } => {
                    let known = self.tools.iter().any(|t| t.name == name);
                    let streams = self.stream && known;
                    let index = streams.then(|| {
                        out.push(ChatDelta::ToolCallStart { index: self.emitted, id: call_id(), name: name.clone() });
                        self.emitted += 1;
                        self.emitted - 1
                    });
                    self.open = Some(Open { name, arguments: String::new(), out: index });
                }
                Piece::CallArgs { fragment, .. } => {
                    let Some(open) = self.open.as_mut() else { continue };
                    if let Some(index) = open.out {
                        out.push(ChatDelta::ToolCallArgs { index, fragment: fragment.clone() });
                    }
                    open.arguments.push_str(&fragment);
                }
                Piece::CallEnd { complete, .. } => {
                    let Some(open) = self.open.take() else { continue };
                    let problem = invalid_call(&self.tools, &open.name, &open.arguments);
                    if let Some(index) = open.out {
                        if let Some(why) = problem.as_ref().filter(|_| complete) {
                            tracing::error!(tool = %open.name, %why, "a grammar-held tool call does not validate");
                        }
                        let valid = complete && problem.is_none();
                        crate::metrics::tool_call(match (complete, valid) {
                            (_, true) => "valid",
                            (false, _) => "cut",
                            (true, false) => "malformed",
                        });
                        out.push(ChatDelta::ToolCallEnd { index, complete: valid });
                        continue;
                    }
                    match problem {
                        None if complete => {
                            crate::metrics::tool_call("valid");
                            let index = self.emitted;
                            self.emitted += 1;
                            out.push(ChatDelta::ToolCallStart { index, id: call_id(), name: open.name });
                            out.push(ChatDelta::ToolCallArgs { index, fragment: open.arguments });
                            out.push(ChatDelta::ToolCallEnd { index, complete: true });
                        }
                        problem => {
                            crate::metrics::tool_call(if complete { "malformed" } else { "cut" });
                            let why = problem.unwrap_or_else(|| "the output ended inside it".into());
                            tracing::info!(tool = %open.name, %why, "malformed tool call returned as text");
                            out.push(ChatDelta::Content(instruct::call_text(&open.name, &open.arguments)));
                        }
                    }
                }
            }
        }
        out
    }
}
