//! Chat-template tests: every fixture template (real texts of popular GGUFs) renders every conversation exactly as Python's jinja2 renders it, failures included; `tojson` and the context shape.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Map, Value, json};

use super::*;
use crate::prompt::toolcall::{ToolCall, ToolDef, Turn};

/// 2024-07-26 09:05:03 UTC: what `strftime_now` sees in both renderings.
const NOW: u64 = 1_721_984_703;

fn fixtures() -> BTreeMap<String, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat_templates");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jinja") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    assert!(out.len() >= 11, "fixture templates missing in {}", dir.display());
    out
}

fn python() -> PathBuf {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/airgate/venv/bin/python")
    });
    assert!(python.is_file(), "{} is missing: run `make setup` (tests/python/requirements.txt)", python.display());
    python
}

fn weather_tool() -> ToolDef {
    ToolDef {
        name: "get_weather".into(),
        description: "Current weather in a city.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["city"],
        }),
    }
}

fn time_tool() -> ToolDef {
    ToolDef {
        name: "get_time".into(),
        description: "The time in a time zone.".into(),
        parameters: json!({"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}),
    }
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
}

fn assistant_calls(calls: Vec<ToolCall>) -> Turn {
    Turn { tool_calls: calls, ..Turn::new("assistant", "") }
}

fn tool_result(id: &str, content: &str) -> Turn {
    Turn { tool_call_id: Some(id.into()), ..Turn::new("tool", content) }
}

/// A conversation, its tools, the generation prompt flag and extra variables.
struct Case {
    name: &'static str,
    turns: Vec<Turn>,
    tools: Vec<ToolDef>,
    add_generation_prompt: bool,
    extra: Map<String, Value>,
    /// Whether every template that handles tools must render it (not only agree with Python).
    must_render: bool,
}

fn case(name: &'static str, turns: Vec<Turn>) -> Case {
    Case { name, turns, tools: vec![], add_generation_prompt: true, extra: Map::new(), must_render: false }
}

fn cases() -> Vec<Case> {
    let user = |s: &str| Turn::new("user", s);
    let system = |s: &str| Turn::new("system", s);
    let assistant = |s: &str| Turn::new("assistant", s);
    let mut thinking_off = Map::new();
    thinking_off.insert("enable_thinking".into(), false.into());
    thinking_off.insert("reasoning_effort".into(), "high".into());
    vec![
        Case { must_render: true, ..case("system_user", vec![system("You are terse."), user("Hi!")]) },
        Case { must_render: true, ..case("multi_turn", vec![user("2+2?"), assistant("4"), user("And 3+3?")]) },
        Case {
            add_generation_prompt: false,
            ..case("no_generation_prompt", vec![user("Hello"), assistant("Hi there")])
        },
        case(
            "quotes_unicode_newlines",
            vec![system("Réponds en français.\nToujours."), user("Say \"hi\" \\ and 'bye'\n\tthen stop. 日本語 ✓")],
        ),
        Case {
            tools: vec![weather_tool(), time_tool()],
            ..case("tools_offered", vec![system("Use tools when needed."), user("Weather in Zürich?")])
        },
        Case {
            tools: vec![weather_tool()],
            ..case(
                "tool_round_trip",
                vec![
                    user("Weather in Oslo for 2 days?"),
                    assistant_calls(vec![call("call_a1b2c3d4e5", "get_weather", r#"{"city": "Oslo", "days": 2}"#)]),
                    tool_result("call_a1b2c3d4e5", r#"{"temp": -3, "sky": "snow"}"#),
                ],
            )
        },
        Case {
            tools: vec![weather_tool(), time_tool()],
            ..case(
                "parallel_calls",
                vec![
                    system("Be brief."),
                    user("Weather in Rome and the time in Tokyo?"),
                    assistant_calls(vec![
                        call("call_1", "get_weather", r#"{"city": "Rome", "unit": "celsius"}"#),
                        call("call_2", "get_time", r#"{"tz": "Asia/Tokyo"}"#),
                    ]),
                    tool_result("call_1", "21 C, sunny"),
                    tool_result("call_2", "18:04"),
                    assistant("Rome: 21 C and sunny. Tokyo: 18:04."),
                    user("Thanks!"),
                ],
            )
        },
        Case { extra: thinking_off, ..case("template_kwargs", vec![user("Explain recursion in one line.")]) },
        Case {
            turns: vec![user("Hi"), Turn { reasoning: Some("Greet back.".into()), ..assistant("Hello!") }, user("Bye")],
            ..case("reasoning_in_history", vec![])
        },
        // Not alternating: templates that insist on it raise, in both renderers.
        case("two_users", vec![user("one"), user("two")]),
        case("empty", vec![]),
    ]
}

#[test]
fn every_fixture_template_renders_like_python_jinja2() {
    let templates = fixtures();
    let cases = cases();
    let mut jobs = Vec::new();
    let mut ours: BTreeMap<String, Result<String, String>> = BTreeMap::new();
    let mut handles_tools: BTreeMap<String, bool> = BTreeMap::new();
    for (name, source) in &templates {
        let template = ChatTemplate::new(source).unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
        handles_tools.insert(name.clone(), template.handles_tools());
        for case in &cases {
            let input = RenderInput {
                messages: &case.turns,
                tools: &case.tools,
                add_generation_prompt: case.add_generation_prompt,
                bos_token: "<s>",
                eos_token: "</s>",
                now: NOW,
                extra: &case.extra,
            };
            let id = format!("{name}/{}", case.name);
            let context = template.context(&input);
            ours.insert(id.clone(), template.render(&input).map_err(|e| e.0));
            jobs.push(json!({"id": id, "template": source, "context": context}));
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/render_templates.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(json!({"now": NOW, "jobs": jobs}).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference renderer failed (is jinja2 installed? tests/python/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut mismatches = Vec::new();
    let mut rendered = 0;
    for (id, mine) in &ours {
        let theirs = &reference[id];
        match (mine, theirs.get("ok").and_then(Value::as_str)) {
            (Ok(a), Some(b)) if a == b => rendered += 1,
            (Ok(a), Some(b)) => mismatches.push(format!("{id}: differs\n--- airgate\n{a}\n--- jinja2\n{b}")),
            (Err(_), None) => {}
            (Ok(_), None) => mismatches.push(format!("{id}: jinja2 failed ({}), airgate rendered", theirs["error"])),
            (Err(e), Some(_)) => mismatches.push(format!("{id}: airgate failed ({e}), jinja2 rendered")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} renderings differ:\n{}",
        mismatches.len(),
        ours.len(),
        mismatches.join("\n\n")
    );
    // The comparisons are not vacuous: the basic conversations render everywhere, and so do the tool
    // conversations with every template that knows tools.
    for (name, tools) in &handles_tools {
        for case in cases.iter().filter(|c| c.must_render || (*tools && c.name.starts_with("tool"))) {
            assert!(ours[&format!("{name}/{}", case.name)].is_ok(), "{name}/{} must render", case.name);
        }
    }
    assert!(rendered >= templates.len() * 6, "only {rendered} renderings succeeded");
    eprintln!("{rendered} of {} renderings identical to jinja2, the rest fail in both", ours.len());
}

#[test]
fn tool_turns_reach_the_template_in_openai_shape() {
    let template = ChatTemplate::new("{{ messages | tojson }}").unwrap();
    let turns = vec![
        Turn::new("user", "hi"),
        assistant_calls(vec![call("call_9", "get_time", r#"{"tz": "UTC"}"#), call("call_x", "raw", "not json")]),
        tool_result("call_9", "noon"),
    ];
    let extra = Map::new();
    let input = RenderInput {
        messages: &turns,
        tools: &[],
        add_generation_prompt: false,
        bos_token: "",
        eos_token: "",
        now: NOW,
        extra: &extra,
    };
    let text = template.render(&input).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v[1]["tool_calls"][0],
        json!({"id": "call_9", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}})
    );
    assert_eq!(v[1]["tool_calls"][1]["function"]["arguments"], json!("not json"));
    assert_eq!(v[2], json!({"role": "tool", "content": "noon", "tool_call_id": "call_9", "name": "get_time"}));
    // Python's separators and key order.
    assert!(text.starts_with(r#"[{"role": "user", "content": "hi"}, {"role": "assistant""#), "{text}");
}

#[test]
fn tojson_follows_python_json_dumps() {
    let render = |source: &str, ctx: Value| ChatTemplate::new(source).unwrap().render_context(ctx, NOW).unwrap();
    let v = json!({"b": 1, "a": [1.5, true, null, "é\"\n"], "c": {}, "d": [], "e": 1e-7, "f": 2.0});
    assert_eq!(
        render("{{ v | tojson }}", json!({"v": v})),
        r#"{"b": 1, "a": [1.5, true, null, "é\"\n"], "c": {}, "d": [], "e": 1e-07, "f": 2.0}"#
    );
    assert_eq!(
        render("{{ v | tojson(indent=2) }}", json!({"v": {"a": [1, 2]}})),
        "{\n  \"a\": [\n    1,\n    2\n  ]\n}"
    );
    assert_eq!(render("{{ v | tojson(sort_keys=true) }}", json!({"v": {"b": 1, "a": 2}})), r#"{"a": 2, "b": 1}"#);
}

#[test]
fn errors_are_typed_and_say_what_failed() {
    let e = ChatTemplate::new("{% if %}").unwrap_err();
    assert!(e.0.contains("line 1") || e.0.contains("syntax"), "{e}");
    let t = ChatTemplate::new("{{ raise_exception('Only user and assistant roles are supported') }}").unwrap();
    let e = t.render_context(json!({}), NOW).unwrap_err();
    assert!(e.0.contains("Only user and assistant roles are supported"), "{e}");
    let t = ChatTemplate::new("{{ strftime_now('%d %b %Y') }} {{ messages[0].nope.deeper }}").unwrap();
    let e = t.render_context(json!({"messages": [{}]}), NOW).unwrap_err();
    assert!(!e.0.is_empty());
    let t = ChatTemplate::new("{{ strftime_now('%d %b %Y') }}").unwrap();
    assert_eq!(t.render_context(json!({}), NOW).unwrap(), "26 Jul 2024");
}

#[test]
fn deepseek_gets_string_arguments_and_mistral_short_ids() {
    let templates = fixtures();
    let deepseek = ChatTemplate::new(&templates["deepseek-v3.1"]).unwrap();
    assert!(!deepseek.object_arguments, "DeepSeek concatenates arguments as text");
    let qwen = ChatTemplate::new(&templates["qwen2.5-instruct"]).unwrap();
    assert!(qwen.object_arguments && !qwen.short_ids);
    let mistral = ChatTemplate::new(&templates["mistral-small-3.2-v7-tekken"]).unwrap();
    assert!(mistral.short_ids);
}
