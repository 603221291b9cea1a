//! Remote engine tests against a fake OpenAI-compatible server on 127.0.0.1, written on raw TCP so chunk boundaries, cut streams and disconnects are exact.

use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::*;
use crate::engine::{EmbedInput, FinishReason, SamplingParams, Usage};

const KEY: &str = "sk-test-secret-123";

/// A request as the fake server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

enum Reply {
    /// A chunked `text/event-stream`; every piece is written and flushed on its own, with a pause.
    Sse(Vec<Vec<u8>>, End),
    Status(u16, Vec<(&'static str, &'static str)>, String),
    /// A whole `application/json` answer.
    Json(String),
    /// Reads the request and never answers.
    Silent,
}

#[derive(Clone, Copy)]
enum End {
    Complete,
    /// Close the connection without the terminating chunk.
    Cut,
    /// Keep the connection open and quiet.
    Stall,
    /// Keep sending content until the client goes away.
    Forever,
}

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Notified when the server sees the client close the connection mid-stream.
    gone: Arc<Notify>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn fake(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let gone = Arc::new(Notify::new());
    let handler = Arc::new(handler);
    let (seen2, gone2) = (seen.clone(), gone.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (handler, seen, gone) = (handler.clone(), seen2.clone(), gone2.clone());
            tokio::spawn(async move {
                let mut socket = socket;
                let Some(request) = read_request(&mut socket).await else { return };
                seen.lock().unwrap().push(request.clone());
                let reply = handler(&request);
                respond(socket, reply, gone).await;
            });
        }
    });
    Fake { url, seen, gone }
}

async fn read_request(socket: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?.to_string(), request_line.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen { method, path, headers, body: String::from_utf8(body).ok()? })
}

async fn respond(mut socket: TcpStream, reply: Reply, gone: Arc<Notify>) {
    let simple = |status: u16, content_type: &str, extra: &[(&str, &str)], body: &str| {
        let extra: String = extra.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    let (pieces, end) = match reply {
        Reply::Status(status, extra, body) => {
            let _ = socket.write_all(simple(status, "application/json", &extra, &body).as_bytes()).await;
            return;
        }
        Reply::Json(body) => {
            let _ = socket.write_all(simple(200, "application/json", &[], &body).as_bytes()).await;
            return;
        }
        Reply::Silent => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        Reply::Sse(pieces, end) => (pieces, end),
    };
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for piece in pieces {
        if write_chunk(&mut socket, &piece).await.is_err() {
            gone.notify_one();
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match end {
        End::Complete => {
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
        End::Cut => {}
        End::Stall => tokio::time::sleep(Duration::from_secs(60)).await,
        End::Forever => {
            let (mut read, mut write) = socket.into_split();
            let more = sse(&[r#"{"choices":[{"delta":{"content":"more "}}]}"#]);
            let mut buf = [0u8; 64];
            loop {
                tokio::select! {
                    n = read.read(&mut buf) => if matches!(n, Ok(0) | Err(_)) { break },
                    () = tokio::time::sleep(Duration::from_millis(10)) => {
                        if write_chunk(&mut write, &more[0]).await.is_err() { break }
                    }
                }
            }
            gone.notify_one();
        }
    }
}

async fn write_chunk(socket: &mut (impl AsyncWriteExt + Unpin), piece: &[u8]) -> std::io::Result<()> {
    socket.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
    socket.write_all(piece).await?;
    socket.write_all(b"\r\n").await?;
    socket.flush().await
}

/// Each JSON payload as its own `data:` event.
fn sse<S: AsRef<str>>(payloads: &[S]) -> Vec<Vec<u8>> {
    payloads.iter().map(|p| format!("data: {}\n\n", p.as_ref()).into_bytes()).collect()
}

fn delta(text: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}).to_string()
}

fn client() -> RemoteClient {
    RemoteClient::new().unwrap()
}

fn config(url: &str) -> RemoteConfig {
    RemoteConfig { api_key: Some(KEY.into()), ..RemoteConfig::new("vllm-mistral", url, "Mistral-7B") }
}

fn chat(stop: &[&str]) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Chat(vec![ChatMessage::new("user", "Say hello")]),
        max_tokens: Some(32),
        sampling: SamplingParams { temperature: 0.2, ..SamplingParams::default() },
        stop: stop.iter().map(|s| s.to_string()).collect(),
        ..GenerateRequest::new(Prompt::Text(String::new()), "test")
    }
}

/// Every event until the engine closes the stream.
async fn collect(mut rx: EventStream) -> (String, Vec<Event>) {
    let mut text = String::new();
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("stream stalled") {
        if let Event::Text(t) = &event {
            text.push_str(t);
        }
        events.push(event);
    }
    (text, events)
}

fn assert_done(events: &[Event], finish: FinishReason, usage: Usage) {
    match events.last() {
        Some(Event::Done { finish: f, usage: u, .. }) => assert_eq!((*f, *u), (finish, usage), "{events:?}"),
        other => panic!("expected Done, got {other:?} in {events:?}"),
    }
}

fn assert_no_key(e: &EngineError) {
    assert!(!e.to_string().contains(KEY) && !format!("{e:?}").contains(KEY), "{e:?}");
}

#[tokio::test]
async fn chat_stream_split_across_reads_with_crlf_and_usage() {
    let pieces: Vec<Vec<u8>> = vec![
        b": keep-alive\r\n\r\n".to_vec(),
        format!("data: {}\r\n\r\nda", json!({"choices":[{"delta":{"role":"assistant","content":""}}]})).into_bytes(),
        format!("ta: {}\r", delta("Hel")).into_bytes(),
        format!("\n\r\ndata: {}", &delta("lo, world")[..30]).into_bytes(),
        [
            format!("{}\n\ndata: {{\"choices\":[{{\"delta\":{{\"content\":\" caf", &delta("lo, world")[30..])
                .as_bytes(),
            b"\xc3",
        ]
        .concat(),
        b"\xa9\"}}]}\n\n".to_vec(),
        b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\n\n".to_vec(),
        b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n".to_vec(),
    ];
    let fake = fake(move |_| Reply::Sse(pieces.clone(), End::Complete)).await;
    let engine = client().engine(config(&fake.url));
    let (text, events) = collect(engine.generate(chat(&[])).await.unwrap()).await;
    assert_eq!(text, "Hello, world café");
    assert_done(&events, FinishReason::Length, Usage { prompt_tokens: 11, completion_tokens: 4, ..Usage::default() });

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(req.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(req.header("accept"), Some("text/event-stream"));
    assert!(req.header("user-agent").unwrap().starts_with("airgate/"));
    let body = req.json();
    assert_eq!(body["model"], "Mistral-7B");
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Say hello"}]));
    assert_eq!((body["stream"].clone(), body["max_tokens"].clone()), (json!(true), json!(32)));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["temperature"], json!(0.2));
    for absent in ["stop", "seed", "top_k", "min_p", "repetition_penalty", "prompt"] {
        assert!(body.get(absent).is_none(), "{absent} sent: {body}");
    }
}

#[tokio::test]
async fn text_prompt_uses_completions_and_counts_chunks_without_usage() {
    let pieces = sse(&[
        r#"{"choices":[{"text":"fn ","finish_reason":null}]}"#,
        r#"{"choices":[{"text":"main()","finish_reason":null}]}"#,
        r#"{"choices":[{"text":"","finish_reason":"stop"}]}"#,
        "[DONE]",
    ]);
    let fake = fake(move |_| Reply::Sse(pieces.clone(), End::Complete)).await;
    let engine = client().engine(RemoteConfig::new("local", &fake.url, "codestral"));
    let req = GenerateRequest { prompt: Prompt::Text("// main\n".into()), stop: vec![], ..chat(&[]) };
    let (text, events) = collect(engine.generate(req).await.unwrap()).await;
    assert_eq!(text, "fn main()");
    assert_done(&events, FinishReason::Stop, Usage { completion_tokens: 2, ..Usage::default() });
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/completions");
    assert_eq!(seen[0].json()["prompt"], "// main\n");
    assert!(seen[0].json().get("messages").is_none());
    assert_eq!(seen[0].header("authorization"), None);
}

const PREFIX_500: &str = "Internal Server Error while using *** ";

#[tokio::test]
async fn upstream_error_statuses_carry_the_upstream_message_without_the_key() {
    let fake = fake(|req| match req.json()["model"].as_str().unwrap() {
        "m401" => Reply::Status(401, vec![], json!({"error": {"message": format!("Invalid key {KEY}")}}).to_string()),
        "m404" => Reply::Status(404, vec![], json!({"detail": "The model `m404` does not exist."}).to_string()),
        _ => Reply::Status(500, vec![], format!("Internal Server Error while using {KEY} {}", "x".repeat(400))),
    })
    .await;
    let cases = [
        ("m401", 401, "Invalid key ***".to_string()),
        ("m404", 404, "The model `m404` does not exist.".to_string()),
        ("m500", 500, format!("{PREFIX_500}{}…", "x".repeat(200 - PREFIX_500.len()))),
    ];
    for (model, want_status, want_message) in cases {
        let engine = client().engine(RemoteConfig { model: model.into(), ..config(&fake.url) });
        let err = engine.generate(chat(&[])).await.unwrap_err();
        assert_no_key(&err);
        match err {
            EngineError::Upstream { status, message, retry_after } => {
                assert_eq!((status, message.as_str(), retry_after), (want_status, want_message.as_str(), None));
            }
            other => panic!("{model}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn rate_limit_passes_retry_after_on() {
    let fake =
        fake(|_| Reply::Status(429, vec![("Retry-After", "7")], r#"{"error":{"message":"slow down"}}"#.into())).await;
    let err = client().engine(config(&fake.url)).generate(chat(&[])).await.unwrap_err();
    match err {
        EngineError::Upstream { status: 429, message, retry_after } => {
            assert_eq!((message.as_str(), retry_after), ("slow down", Some(Duration::from_secs(7))));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_unreachable_quickly() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let engine = client().engine(config(&format!("http://127.0.0.1:{port}/v1")));
    let started = Instant::now();
    let err = engine.generate(chat(&[])).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_no_key(&err);
    let EngineError::Unreachable(reason) = &err else { panic!("{err:?}") };
    assert!(reason.contains("cannot connect to") && reason.contains(&port.to_string()), "{reason}");
    assert!(matches!(engine.list_models().await, Err(EngineError::Unreachable(_))));
}

#[tokio::test]
async fn silent_upstream_is_unreachable_after_the_request_timeout() {
    let replies: [fn() -> Reply; 2] = [|| Reply::Silent, || Reply::Sse(vec![b": hi\n\n".to_vec()], End::Stall)];
    for reply in replies {
        let fake = fake(move |_| reply()).await;
        let cfg = RemoteConfig { request_timeout: Duration::from_millis(300), ..config(&fake.url) };
        let started = Instant::now();
        let err = client().engine(cfg).generate(chat(&[])).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert!(matches!(&err, EngineError::Unreachable(r) if r.contains("did not answer within")), "{err:?}");
    }
}

#[tokio::test]
async fn stream_that_goes_quiet_midway_fails() {
    let fake = fake(|_| Reply::Sse(sse(&[delta("partial")]), End::Stall)).await;
    let cfg = RemoteConfig { request_timeout: Duration::from_millis(300), ..config(&fake.url) };
    let (text, events) = collect(client().engine(cfg).generate(chat(&[])).await.unwrap()).await;
    assert_eq!(text, "partial");
    assert!(matches!(events.last(), Some(Event::Failed(r)) if r.contains("sent nothing")), "{events:?}");
}

#[tokio::test]
async fn stream_cut_midway_fails() {
    for end in [End::Cut, End::Complete] {
        let fake = fake(move |_| Reply::Sse(sse(&[delta("Hello"), delta(" wor")]), end)).await;
        let (text, events) = collect(client().engine(config(&fake.url)).generate(chat(&[])).await.unwrap()).await;
        assert_eq!(text, "Hello wor");
        assert!(matches!(events.last(), Some(Event::Failed(_))), "{events:?}");
        assert_eq!(events.iter().filter(|e| !matches!(e, Event::Text(_))).count(), 1);
    }
}

#[tokio::test]
async fn stop_string_across_chunks_ends_the_generation() {
    let fake = fake(|_| Reply::Sse(sse(&[delta("Hel"), delta("lo E"), delta("ND and more")]), End::Forever)).await;
    let rx = client().engine(config(&fake.url)).generate(chat(&["END"])).await.unwrap();
    let (text, events) = collect(rx).await;
    assert_eq!(text, "Hello ");
    assert_done(&events, FinishReason::Stop, Usage { completion_tokens: 3, ..Usage::default() });
    assert_eq!(fake.seen()[0].json()["stop"], json!(["END"]));
    tokio::time::timeout(Duration::from_secs(2), fake.gone.notified()).await.expect("upstream request still open");
}

#[tokio::test]
async fn dropping_the_receiver_closes_the_upstream_request() {
    let fake = fake(|_| Reply::Sse(sse(&[delta("a")]), End::Forever)).await;
    let mut rx = client().engine(config(&fake.url)).generate(chat(&[])).await.unwrap();
    assert_eq!(rx.recv().await, Some(Event::Text("a".into())));
    assert_eq!(rx.recv().await, Some(Event::Text("more ".into())));
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), fake.gone.notified()).await.expect("upstream request still open");
}

#[tokio::test]
async fn error_event_in_the_stream() {
    let error = r#"{"error":{"object":"error","message":"prompt too long","type":"BadRequestError","code":400}}"#;
    let fake = fake(move |req| {
        if req.json()["model"] == "first" {
            Reply::Sse(sse(&[error]), End::Complete)
        } else {
            Reply::Sse(sse(&[delta("ok"), error.to_string()]), End::Complete)
        }
    })
    .await;
    let err = client().engine(RemoteConfig::new("m", &fake.url, "first")).generate(chat(&[])).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Upstream { status: 400, message, .. } if message == "prompt too long"),
        "{err:?}"
    );
    let rx = client().engine(RemoteConfig::new("m", &fake.url, "later")).generate(chat(&[])).await.unwrap();
    let (text, events) = collect(rx).await;
    assert_eq!(text, "ok");
    assert_eq!(events.last(), Some(&Event::Failed("prompt too long".into())));
}

#[tokio::test]
async fn whole_json_answer_when_the_server_does_not_stream() {
    let answer = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there STOP ignored"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    });
    let fake = fake(move |_| Reply::Json(answer.to_string())).await;
    let (text, events) = collect(client().engine(config(&fake.url)).generate(chat(&["STOP"])).await.unwrap()).await;
    assert_eq!(text, "Hi there ");
    assert_done(&events, FinishReason::Stop, Usage { prompt_tokens: 5, completion_tokens: 4, ..Usage::default() });
}

#[tokio::test]
async fn server_refusing_stream_options_is_asked_again_without() {
    let fake = fake(|req| {
        if req.json().get("stream_options").is_some() {
            Reply::Status(
                400,
                vec![],
                r#"{"error":{"message":"Unrecognized request argument: stream_options"}}"#.into(),
            )
        } else {
            Reply::Sse(sse(&[delta("fine"), "[DONE]".to_string()]), End::Complete)
        }
    })
    .await;
    let (text, events) = collect(client().engine(config(&fake.url)).generate(chat(&[])).await.unwrap()).await;
    assert_eq!(text, "fine");
    assert_done(&events, FinishReason::Stop, Usage { completion_tokens: 1, ..Usage::default() });
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn list_models() {
    let fake = fake(|req| match req.path.as_str() {
        "/v1/models" if req.header("authorization").is_some() => {
            Reply::Json(json!({"object": "list", "data": [{"id": "Mistral-7B"}, {"id": "codestral"}]}).to_string())
        }
        _ => Reply::Status(401, vec![], r#"{"message":"no key"}"#.into()),
    })
    .await;
    let models = client().engine(config(&fake.url)).list_models().await.unwrap();
    assert_eq!(models, ["Mistral-7B", "codestral"]);
    assert_eq!(fake.seen()[0].method, "GET");
    let err = client().engine(RemoteConfig::new("x", &fake.url, "m")).list_models().await.unwrap_err();
    assert!(matches!(&err, EngineError::Upstream { status: 401, message, .. } if message == "no key"), "{err:?}");
}

#[test]
fn engine_surface() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let engine =
        client().engine(RemoteConfig { context_tokens: 32768, ..config("https://gpu:s3cret@vllm.internal:8000/v1//") });
    let info = engine.info();
    assert_eq!((info.name.as_str(), info.path.as_str()), ("vllm-mistral", "https://gpu:***@vllm.internal:8000/v1"));
    assert_eq!((info.architecture.as_str(), info.context_per_slot, info.slots), ("remote", 32768, 0));
    assert_eq!(engine.config().base_url, "https://gpu:s3cret@vllm.internal:8000/v1");
    assert!(engine.is_ready() && engine.fim_tokens().is_none() && engine.count_tokens("x").is_none());
    let err = engine.render_chat(&[]).unwrap_err();
    assert!(matches!(&err, EngineError::InvalidRequest(m) if m.contains("remote models take chat messages")));
    assert!(matches!(rt.block_on(engine.tokenize("x")), Err(EngineError::InvalidRequest(_))));
    let bad =
        GenerateRequest { sampling: SamplingParams { top_p: f32::NAN, ..SamplingParams::default() }, ..chat(&[]) };
    assert!(matches!(rt.block_on(engine.generate(bad)), Err(EngineError::InvalidRequest(m)) if m.contains("top_p")));
    let shown = format!("{:?} {engine:?}", engine.config());
    assert!(!shown.contains(KEY) && !shown.contains("s3cret"), "{shown}");
}

#[test]
fn urls_are_redacted() {
    for (url, want) in [
        ("http://vllm:8000/v1", "http://vllm:8000/v1"),
        ("http://u:p@vllm/v1", "http://u:***@vllm/v1"),
        ("http://u@vllm/v1", "http://u@vllm/v1"),
        ("http://vllm/v1?x=a@b", "http://vllm/v1?x=a@b"),
        ("not a url", "not a url"),
    ] {
        assert_eq!(redact_url(url), want);
    }
}

#[tokio::test]
async fn embeddings_from_an_upstream() {
    let fake = fake(|seen| match seen.json()["input"].as_array().map(Vec::len) {
        Some(2) => Reply::Json(
            json!({"object": "list", "data": [
                {"object": "embedding", "embedding": [0.0, 3.0, 4.0], "index": 1},
                {"object": "embedding", "embedding": [1.0, 0.0, 0.0], "index": 0}
            ], "usage": {"prompt_tokens": 9, "total_tokens": 9}})
            .to_string(),
        ),
        _ => {
            Reply::Status(400, vec![], json!({"error": {"message": format!("too many inputs for {KEY}")}}).to_string())
        }
    })
    .await;
    let engine = client().engine(config(&fake.url));
    let req = |inputs: Vec<EmbedInput>| crate::engine::EmbedRequest { inputs, feature: "test" };
    let got = engine.embed(req(vec![EmbedInput::Text("a".into()), EmbedInput::Tokens(vec![5, 6])])).await.unwrap();
    assert_eq!(got.vectors, [vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
    assert_eq!(got.prompt_tokens, 9);
    let seen = &fake.seen()[0];
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/v1/embeddings"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(seen.json(), json!({"model": "Mistral-7B", "input": ["a", [5, 6]], "encoding_format": "float"}));

    let err = engine.embed(req(vec![EmbedInput::Text("x".into()); 3])).await.unwrap_err();
    assert!(matches!(err, EngineError::Upstream { status: 400, .. }), "{err:?}");
    assert_no_key(&err);
}

/// An upstream that repeats one piece for ever: with the guard asked for, the generation ends with
/// finish reason `repetition` after 128 copies and the upstream request is closed.
#[tokio::test]
async fn a_looping_upstream_is_stopped_by_the_repetition_guard() {
    let fake = fake(|_| Reply::Sse(sse(&[delta("Start. ")]), End::Forever)).await;
    let req = GenerateRequest { repetition_guard: true, ..chat(&[]) };
    let rx = client().engine(config(&fake.url)).generate(req).await.unwrap();
    let (text, events) = collect(rx).await;
    assert_done(&events, FinishReason::Repetition, Usage { completion_tokens: 129, ..Usage::default() });
    assert_eq!(text, format!("Start. {}", "more ".repeat(128)));
    tokio::time::timeout(Duration::from_secs(2), fake.gone.notified()).await.expect("upstream request still open");
}
