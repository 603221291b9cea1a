//! `JsonBody<T, E>`: a JSON request body whose errors say which field was wrong, as a 4xx.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use std::marker::PhantomData;

use axum::http::header;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use super::ApiError;

/// A parsed JSON body; `E` is the error shape of the surface (GitLab's by default, `OpenAiError` on `/v1`).
pub struct JsonBody<T, E = ApiError>(pub T, pub PhantomData<E>);

impl<S, T, E> FromRequest<S> for JsonBody<T, E>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
    E: From<ApiError> + IntoResponse,
{
    type Rejection = E;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read(req, state).await.map(|v| JsonBody(v, PhantomData)).map_err(E::from)
    }
}

/// Bodies larger than this are parsed on a blocking thread: parsing megabytes of JSON would hold an
/// async thread (and every connection waiting on it) for milliseconds.
const BIG_BODY: usize = 256 << 10;

async fn read<S: Send + Sync, T: DeserializeOwned + Send + 'static>(req: Request, state: &S) -> Result<T, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(ct) = content_type.as_deref()
        && !ct.starts_with("application/json")
        && !ct.contains("+json")
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "expected a JSON body (Content-Type: application/json), got {ct}"
        )));
    }
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::bad_request(format!("cannot read the request body: {rejection}"))
        }
    })?;
    if bytes.len() > BIG_BODY {
        return tokio::task::spawn_blocking(move || parse(&bytes))
            .await
            .map_err(|e| ApiError::Internal(format!("parsing the body: {e}")))?;
    }
    parse(&bytes)
}

/// Deserializes `bytes`, naming the offending field path in the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty; send a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the request body is not valid JSON: {inner}"))
        } else if path == "." {
            ApiError::bad_request(format!("invalid request body: {inner}"))
        } else {
            let field = path.split(['.', '[']).next().unwrap_or(&path).to_string();
            ApiError::bad_param(&field, format!("invalid field `{path}`: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Req {
        max_tokens: Option<u32>,
        messages: Vec<Msg>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Msg {
        role: String,
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"max_tokens": -1, "messages": []}"#, "`max_tokens`"),
            (r#"{"max_tokens": "x", "messages": []}"#, "`max_tokens`"),
            (r#"{"messages": [{"role": 5}]}"#, "`messages[0].role`"),
            (r#"{"max_tokens": 1}"#, "missing field `messages`"),
            (r#"{"messages": ["#, "not valid JSON"),
            ("", "empty"),
        ];
        for (body, want) in cases {
            let err = parse::<Req>(body.as_bytes()).unwrap_err();
            assert_eq!(err.status().as_u16(), 400);
            assert!(err.to_string().contains(want), "{body}: {err}");
        }
    }
}
