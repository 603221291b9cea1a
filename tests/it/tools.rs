//! Tool calling and structured output on `/v1/chat/completions` with the real default model: the grammar guarantee (20 sampled calls), OpenAI's streaming shape, response formats, bad input, and the official client's script.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{TestServer, client, sse_payloads};

fn weather() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 32},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "unit"],
                "additionalProperties": false,
            },
        },
    })
}

/// The schema above, checked by hand: every call the server returns must pass it.
fn follows_schema(args: &Value) -> Result<(), String> {
    let obj = args.as_object().ok_or("not an object")?;
    for key in obj.keys() {
        if !["city", "unit", "days"].contains(&key.as_str()) {
            return Err(format!("unexpected property {key}"));
        }
    }
    let city = obj.get("city").and_then(Value::as_str).ok_or("city missing or not a string")?;
    if city.chars().count() > 32 {
        return Err(format!("city too long: {city:?}"));
    }
    match obj.get("unit").and_then(Value::as_str) {
        Some("celsius" | "fahrenheit") => {}
        other => return Err(format!("unit {other:?}")),
    }
    if let Some(days) = obj.get("days") {
        let d = days.as_i64().ok_or("days not an integer")?;
        if !(1..=7).contains(&d) {
            return Err(format!("days {d}"));
        }
    }
    Ok(())
}

async fn post(server: &TestServer, body: Value) -> (u16, Value) {
    let r = client().post(server.url("/v1/chat/completions")).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread")]
async fn required_tool_calls_always_parse_and_validate() {
    let server = TestServer::start();
    let questions = ["What is the weather in Paris?", "Weather in Oslo for three days, please.", "Is it cold in Lima?"];
    for i in 0..20 {
        // Sampled, not greedy: the grammar has to hold whatever the model picks.
        let body = json!({
            "messages": [{"role": "user", "content": questions[i % questions.len()]}],
            "tools": [weather()],
            "tool_choice": "required",
            "temperature": 1.0,
            "max_tokens": 96,
        });
        let (status, v) = post(&server, body).await;
        assert_eq!(status, 200, "{v}");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "call {i}: {v}");
        let calls = choice["message"]["tool_calls"].as_array().unwrap_or_else(|| panic!("call {i}: {v}"));
        assert!(!calls.is_empty(), "call {i}: {v}");
        for call in calls {
            assert_eq!(call["type"], "function");
            assert!(call["id"].as_str().unwrap().starts_with("call_"));
            assert_eq!(call["function"]["name"], "get_weather", "call {i}: {v}");
            let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("call {i}: arguments are not JSON ({e}): {v}"));
            follows_schema(&args).unwrap_or_else(|e| panic!("call {i}: {e}: {args}"));
        }
    }
    let metrics = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("airgate_tool_calls_total{result=\"valid\"} 20"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_calls_stream_in_openai_chunks() {
    let server = TestServer::start();
    let body = json!({
        "messages": [{"role": "user", "content": "What is the weather in Rome?"}],
        "tools": [weather()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0,
        "max_tokens": 96,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let r = client().post(server.url("/v1/chat/completions")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = payloads[..payloads.len() - 1].iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let deltas: Vec<&Value> = chunks.iter().filter_map(|c| c["choices"][0]["delta"].get("tool_calls")).collect();
    assert!(deltas.len() >= 3, "a start and argument fragments: {text}");
    let first = &deltas[0][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(first["function"], json!({"name": "get_weather", "arguments": ""}));
    let mut arguments = String::new();
    for d in &deltas[1..] {
        let d = &d[0];
        assert_eq!(d["index"], 0);
        assert!(d.get("id").is_none() && d["function"].get("name").is_none(), "only fragments after the start: {d}");
        arguments.push_str(d["function"]["arguments"].as_str().unwrap());
    }
    follows_schema(&serde_json::from_str(&arguments).unwrap()).unwrap();
    let finish: Vec<&Value> =
        chunks.iter().filter_map(|c| c["choices"][0].get("finish_reason")).filter(|f| !f.is_null()).collect();
    assert_eq!(finish, vec![&json!("tool_calls")], "{text}");
    let usage = chunks.iter().find(|c| c.get("usage").is_some_and(|u| !u.is_null())).expect("usage chunk");
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn response_formats_hold_the_answer() {
    let server = TestServer::start();
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "legs": {"type": "integer"}},
        "required": ["name", "legs"],
        "additionalProperties": false,
    });
    for _ in 0..3 {
        let body = json!({
            "messages": [{"role": "user", "content": "Describe a cat."}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "animal", "schema": schema}},
            "temperature": 1.0,
            "max_tokens": 64,
        });
        let (status, v) = post(&server, body).await;
        assert_eq!(status, 200, "{v}");
        let content: Value = serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert!(content["name"].is_string() && content["legs"].is_i64(), "{content}");
    }
    let body = json!({
        "messages": [{"role": "user", "content": "A JSON object, please."}],
        "response_format": {"type": "json_object"},
        "temperature": 0,
        "max_tokens": 48,
    });
    let (status, v) = post(&server, body).await;
    assert_eq!(status, 200, "{v}");
    if v["choices"][0]["finish_reason"] == "stop" {
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(serde_json::from_str::<Value>(content).unwrap().is_object(), "{content}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_requests_with_bad_input_are_400s_naming_the_problem() {
    let server = TestServer::start();
    let ask = json!([{"role": "user", "content": "hi"}]);
    let bad_schema =
        json!({"type": "function", "function": {"name": "f", "parameters": {"type": "number", "minimum": 0}}});
    let table = [
        (json!({"messages": ask, "tools": [bad_schema]}), "`minimum`"),
        (json!({"messages": ask, "tools": [{"type": "function", "function": {"name": "bad name"}}]}), "name"),
        (json!({"messages": ask, "tools": [{"type": "retrieval"}]}), "type"),
        (json!({"messages": ask, "tools": [weather()], "tool_choice": "sometimes"}), "tool_choice"),
        (
            json!({"messages": ask, "tools": [weather()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "nope",
        ),
        (json!({"messages": ask, "tool_choice": "required"}), "tools"),
        (json!({"messages": [{"role": "tool", "content": "r", "tool_call_id": "x"}]}), "tool_call_id"),
        (json!({"messages": ask, "response_format": {"type": "yaml"}}), "response_format"),
        (
            json!({"messages": ask, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "format": "email"}}}}),
            "email",
        ),
    ];
    for (body, needle) in table {
        let (status, v) = post(&server, body.clone()).await;
        assert_eq!(status, 400, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn official_openai_client_drives_tools_and_structured_output() {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/venv/bin/python")
    });
    assert!(python.is_file(), "python with `openai` missing at {}: run `make test`", python.display());
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_tools.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("--base-url")
        .arg(server.url("/v1"))
        .arg("--model")
        .arg("gemma-3-270m-q4_k_m")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
}
