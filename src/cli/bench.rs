//! `airgate bench-tools` (hidden, for `make bench`): what rendering a chat template and parsing a tool call cost one request, timed in-process.

use std::time::Instant;

use serde_json::{Map, json};

use crate::prompt::chat_template::{ChatTemplate, RenderInput};
use crate::prompt::toolcall::{Parser, Piece, Syntax, THINK, ToolCall, ToolDef, Turn, schema};

const ROUNDS: usize = 2000;
const QWEN: &str = include_str!("../../tests/fixtures/chat_templates/qwen2.5-instruct.jinja");
const LLAMA: &str = include_str!("../../tests/fixtures/chat_templates/llama3.1.jinja");

/// p50/p95 in microseconds of (a) compiling and rendering a template for a tool round trip with
/// two tools (what each request does), alternating Qwen 2.5 and Llama 3.1, and (b) parsing a streamed
/// Hermes answer with one call (a few characters a chunk, as tokens arrive) and validating its
/// arguments. JSON.
pub fn tool_overhead() -> String {
    let tools = [
        ToolDef {
            name: "get_weather".into(),
            description: "Current weather in a city.".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]}),
        },
        ToolDef {
            name: "search_issues".into(),
            description: "Search the issues of a project.".into(),
            parameters: json!({"type": "object", "properties": {"project": {"type": "string"}, "query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 50}}, "required": ["project", "query"]}),
        },
    ];
    let call = ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"city": "Oslo"}"#.into() };
    let turns = [
        Turn::new("system", "You are a helpful assistant."),
        Turn::new("user", "What is the weather in Oslo, and are there open issues about snow in infra/ops?"),
        Turn { tool_calls: vec![call], ..Turn::new("assistant", "") },
        Turn { tool_call_id: Some("call_1".into()), ..Turn::new("tool", r#"{"temp": -3, "sky": "snow"}"#) },
    ];
    let extra = Map::new();
    let input = RenderInput {
        messages: &turns,
        tools: &tools,
        add_generation_prompt: true,
        bos_token: "<|begin_of_text|>",
        eos_token: "<|eot_id|>",
        now: crate::unix_now(),
        extra: &extra,
    };
    let mut render = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let started = Instant::now();
        let template = ChatTemplate::new(if i % 2 == 0 { QWEN } else { LLAMA }).expect("fixture compiles");
        let text = template.render(&input).expect("fixture renders");
        std::hint::black_box(text);
        render.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let answer = "<tool_call>\n{\"name\": \"search_issues\", \"arguments\": {\"project\": \"infra/ops\", \"query\": \"snow\", \"limit\": 10}}\n</tool_call>";
    let chunks: Vec<String> = answer.chars().collect::<Vec<_>>().chunks(4).map(|c| c.iter().collect()).collect();
    let mut parse = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut parser = Parser::new(Syntax::Hermes, true, Some(THINK), false).strict(true);
        let mut arguments = String::new();
        let mut pieces: Vec<Piece> = chunks.iter().flat_map(|c| parser.push(c)).collect();
        pieces.extend(parser.finish());
        for piece in pieces {
            if let Piece::CallArgs { fragment, .. } = piece {
                arguments.push_str(&fragment);
            }
        }
        let value: serde_json::Value = serde_json::from_str(&arguments).expect("the call parses");
        schema::validate(&tools[1].parameters, &value).expect("the call validates");
        parse.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let pct = |xs: &mut Vec<f64>, p: f64| {
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() as f64 * p) as usize).min(xs.len() - 1)]
    };
    json!({
        "rounds": ROUNDS,
        "render_p50_us": pct(&mut render, 0.50),
        "render_p95_us": pct(&mut render, 0.95),
        "parse_p50_us": pct(&mut parse, 0.50),
        "parse_p95_us": pct(&mut parse, 0.95),
    })
    .to_string()
}
