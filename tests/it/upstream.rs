//! A scripted OpenAI-compatible upstream on loopback: answers each request with the next scripted reply and records what it was sent.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One scripted reply.
#[derive(Clone)]
pub enum Reply {
    /// A whole (non-streamed) chat completion with this text; airgate accepts it when an upstream
    /// ignores `stream`.
    Text(&'static str),
    /// A whole chat completion that makes one tool call: name and arguments (JSON text).
    Call(&'static str, &'static str),
    /// An error status (`"429 Too Many Requests"`), extra header lines (`"retry-after: 7\r\n"`) and a
    /// short JSON error body.
    Status(&'static str, &'static str),
    /// Status line, extra header lines and body, verbatim.
    Raw(&'static str, &'static str, &'static str),
}

pub struct Upstream {
    /// Base URL, `http://127.0.0.1:<port>/v1`.
    pub url: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Upstream {
    /// Serves `script` in order; the last reply repeats.
    pub async fn start(script: Vec<Reply>) -> Upstream {
        assert!(!script.is_empty());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let script = Arc::new(script);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else { return };
                    let reply = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(request);
                        script[(seen.len() - 1).min(script.len() - 1)].clone()
                    };
                    let (status, headers, body) = match reply {
                        Reply::Text(text) => ("200 OK", "", completion(text).to_string()),
                        Reply::Call(name, arguments) => ("200 OK", "", call(name, arguments).to_string()),
                        Reply::Status(status, headers) => {
                            (status, headers, json!({"error": {"message": "upstream says no"}}).to_string())
                        }
                        Reply::Raw(status, headers, body) => (status, headers, body.to_string()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Upstream { url: format!("http://{addr}/v1"), requests }
    }

    /// An upstream that answers every request with `status` and `headers` (and an error body).
    pub async fn failing(status: &'static str, headers: &'static str) -> Upstream {
        Upstream::start(vec![Reply::Status(status, headers)]).await
    }

    /// The JSON bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().iter().map(|(_, body)| body.clone()).collect()
    }

    /// The request heads received so far (request line and headers, as sent).
    pub fn heads(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|(head, _)| head.clone()).collect()
    }
}

fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132 }
    })
}

fn call(name: &str, arguments: &str) -> Value {
    let call = json!({"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}});
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "tool_calls": [call] },
                      "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132 }
    })
}

/// The request's head and JSON body (`Null` when it has none); `None` if the client left first.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Value)> {
    let mut request = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buf[..n]);
        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&request[..end]).into_owned();
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if request.len() >= end + 4 + length {
            let body = serde_json::from_slice(&request[end + 4..end + 4 + length]).unwrap_or(Value::Null);
            return Some((head, body));
        }
    }
}
