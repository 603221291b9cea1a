//! The client side of the local control socket (`config::admin_socket`): how the CLI and the doctor
//! reach a running server, whose database they cannot open (redb admits one writing process).

use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

/// [`call`] with a failure status turned into an error carrying the server's message.
pub async fn request(data_dir: &Path, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let (status, value) = call(data_dir, method, path, body).await?;
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let message = value["error"]["message"].as_str().or(value["detail"].as_str()).unwrap_or("no detail");
    Err(format!("the server refused ({status}): {message}"))
}

/// One request to the running server's control socket: status and JSON answer (`null` when empty).
pub async fn call(data_dir: &Path, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
    let socket = crate::config::admin_socket(data_dir);
    let stream = tokio::net::UnixStream::connect(&socket).await.map_err(|e| {
        format!(
            "the database is in use by a running airgate, and its admin socket {} cannot be reached: {e}",
            socket.display()
        )
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("admin socket: {e}"))?;
    tokio::spawn(conn);
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| format!("admin socket: {e}"))?;
    let status = response.status().as_u16();
    let raw = response.into_body().collect().await.map_err(|e| format!("admin socket: {e}"))?.to_bytes();
    let value = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
    Ok((status, value))
}
