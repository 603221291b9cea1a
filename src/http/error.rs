//! The one place where failures become HTTP statuses, in the OpenAI or the GitLab error shape.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::EngineError;

/// A failure a handler reports; `status()` is the only mapping from failures to status codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String, param: Option<String> },
    /// Form input that is wrong, field by field (`fields`: field name → what is wrong).
    #[error("{message}")]
    Invalid { message: String, fields: Vec<(String, String)> },
    #[error("{0}")]
    Unauthorized(String),
    /// The change conflicts with the current state (a name taken, the last admin).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the request body is larger than the server accepts (setting max_body_bytes)")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Busy { message: String, retry_after: Duration },
    #[error("{message}")]
    Unavailable { message: String, retry_after: Duration },
    /// The model server behind a feature answered with an error status (GitLab reports "model server returned code …").
    #[error("{status}: {message}")]
    ModelServer { status: u16, message: String },
    /// The request was understood but cannot be served as asked (unknown family, missing prompt inputs).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Forbidden(String),
    /// The detail is logged; the client sees a generic message.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), param: None }
    }

    pub fn bad_param(param: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), param: Some(param.to_string()) }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ModelServer { .. } => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `Ok` when no field is wrong, else every wrong field at once ("name problem; …" as the message).
    pub fn check_fields(fields: Vec<(String, String)>) -> Result<(), ApiError> {
        if fields.is_empty() {
            return Ok(());
        }
        let message = fields.iter().map(|(f, p)| format!("{f} {p}")).collect::<Vec<_>>().join("; ");
        Err(ApiError::Invalid { message, fields })
    }

    /// One wrong field.
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        ApiError::Invalid { message: format!("{field}: {problem}"), fields: vec![(field.to_string(), problem)] }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Busy { retry_after, .. } | ApiError::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The message the client may see.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    fn openai_type(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. }
            | ApiError::Invalid { .. }
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge
            | ApiError::UnsupportedMediaType(_) => "invalid_request_error",
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::NotFound(_) => "not_found_error",
            ApiError::Busy { .. } => "rate_limit_error",
            ApiError::Unavailable { .. } => "service_unavailable",
            ApiError::ModelServer { .. } => "upstream_error",
            ApiError::Unprocessable(_) => "invalid_request_error",
            ApiError::Forbidden(_) => "permission_error",
            ApiError::Internal(_) => "server_error",
        }
    }

    fn openai_code(&self) -> Option<&'static str> {
        match self {
            ApiError::Unauthorized(_) => Some("invalid_api_key"),
            ApiError::NotFound(_) => Some("model_not_found"),
            ApiError::PayloadTooLarge => Some("request_too_large"),
            _ => None,
        }
    }

    pub fn finish(&self, body: serde_json::Value) -> Response {
        if let ApiError::Internal(detail) = self {
            tracing::error!(%detail, "request failed");
        }
        crate::activity::note_error(&self.public_message());
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(after) = self.retry_after() {
            let secs = after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidRequest(message) => ApiError::BadRequest { message, param: None },
            EngineError::QueueFull { .. } => {
                ApiError::Busy { message: e.to_string(), retry_after: Duration::from_secs(1) }
            }
            EngineError::Unavailable(_) => {
                ApiError::Unavailable { message: e.to_string(), retry_after: Duration::from_secs(5) }
            }
            EngineError::Upstream { status: 429, retry_after, .. } => ApiError::Busy {
                message: "the model server is rate limiting requests".into(),
                retry_after: retry_after.unwrap_or(Duration::from_secs(5)),
            },
            EngineError::Upstream { status, message, .. } => ApiError::ModelServer { status, message },
            EngineError::Unreachable(detail) => {
                tracing::warn!(%detail, "model server unreachable");
                ApiError::Unavailable { message: "Inference failed".into(), retry_after: Duration::from_secs(5) }
            }
            EngineError::Expired { .. } => {
                ApiError::Unavailable { message: e.to_string(), retry_after: Duration::from_secs(1) }
            }
            EngineError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<crate::features::FeatureError> for ApiError {
    fn from(e: crate::features::FeatureError) -> Self {
        use crate::features::FeatureError;
        match e {
            FeatureError::BadInput(m) => ApiError::bad_request(m),
            FeatureError::Unprocessable(m) => ApiError::Unprocessable(m),
            FeatureError::NoModel(message) => ApiError::Unavailable { message, retry_after: Duration::from_secs(10) },
            FeatureError::Loading(_) => {
                ApiError::Unavailable { message: e.to_string(), retry_after: Duration::from_secs(5) }
            }
            FeatureError::Disabled(_) => ApiError::Forbidden(e.to_string()),
            FeatureError::Refused(m) => ApiError::Forbidden(m),
            FeatureError::Engine(e) => e.into(),
        }
    }
}

impl ApiError {
    /// A field that failed validation, as GitLab's gateway (FastAPI) lists it: `[{"loc", "msg", "type"}]`.
    /// `None` for anything else, a body that is not JSON at all included.
    fn fastapi_validation(&self) -> Option<serde_json::Value> {
        let (loc, msg, kind) = match self {
            ApiError::BadRequest { param: Some(param), message } => (param.as_str(), message.as_str(), "value_error"),
            // serde names a missing top-level field only in its text.
            ApiError::BadRequest { param: None, message } => {
                let field = message.split("missing field `").nth(1).and_then(|r| r.split('`').next())?;
                (field, "Field required", "missing")
            }
            _ => return None,
        };
        let mut path = vec![serde_json::Value::from("body")];
        path.extend(loc.split('.').map(serde_json::Value::from));
        Some(json!([{ "loc": path, "msg": msg, "type": kind }]))
    }
}

/// GitLab AI Gateway shape: `{"detail": "..."}` (401 uses `{"error": "..."}` as GitLab's gateway does).
/// A field that fails validation is FastAPI's 422 with the list of failures; a handler's own refusal
/// (`bad_request`, no field) and a body that is not JSON stay 400.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = self.fastapi_validation() {
            let mut response = self.finish(json!({ "detail": detail }));
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return response;
        }
        let body = match &self {
            ApiError::Unauthorized(m) => json!({ "error": m }),
            other => json!({ "detail": other.public_message() }),
        };
        self.finish(body)
    }
}

/// The same failure in OpenAI's shape, for `/v1`.
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for OpenAiError {
    fn from(e: E) -> Self {
        OpenAiError(e.into())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let param = match &e {
            ApiError::BadRequest { param, .. } => param.clone(),
            _ => None,
        };
        let body = json!({
            "error": {
                "message": e.public_message(),
                "type": e.openai_type(),
                "param": param,
                "code": e.openai_code(),
            }
        });
        e.finish(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gitlab_validation_failures_are_fastapi_422s_and_non_json_is_400() {
        let answer = |e: ApiError| async move {
            let r = e.into_response();
            let status = r.status().as_u16();
            let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
        };
        let (status, v) = answer(ApiError::bad_param("payload.page_size", "`payload.page_size` is 50")).await;
        assert_eq!(status, 422);
        assert_eq!(
            v,
            json!({"detail": [{"loc": ["body", "payload", "page_size"], "msg": "`payload.page_size` is 50", "type": "value_error"}]})
        );
        let (status, v) = answer(super::super::json::parse::<Need>(b"{}").unwrap_err()).await;
        assert_eq!(
            (status, &v["detail"][0]["loc"], &v["detail"][0]["type"]),
            (422, &json!(["body", "current_file"]), &json!("missing"))
        );
        let (status, v) = answer(super::super::json::parse::<Need>(b"{not json").unwrap_err()).await;
        assert_eq!(status, 400);
        assert!(v["detail"].as_str().unwrap().contains("not valid JSON"), "{v}");
        // The OpenAI shape keeps 400 for a bad field.
        let r = OpenAiError(ApiError::bad_param("messages", "x")).into_response();
        assert_eq!(r.status(), 400);
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Need {
        current_file: String,
    }

    #[test]
    fn engine_errors_map_to_client_statuses() {
        let cases = [
            (EngineError::InvalidRequest("x".into()), 400),
            (EngineError::QueueFull { model: "m".into(), depth: 1 }, 429),
            (EngineError::Unavailable("m".into()), 503),
            (EngineError::Internal("boom".into()), 500),
            (EngineError::Upstream { status: 429, message: "slow".into(), retry_after: None }, 429),
            (EngineError::Upstream { status: 404, message: "no model".into(), retry_after: None }, 421),
            (EngineError::Unreachable("refused".into()), 503),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status().as_u16(), status);
        }
    }

    #[test]
    fn feature_errors_map_to_client_statuses() {
        use crate::features::FeatureError;
        let cases = [
            (FeatureError::Disabled("code_generations"), 403),
            (FeatureError::BadInput("model endpoint `ftp://x` is not an http(s) URL".into()), 400),
            (FeatureError::Unprocessable("unknown family".into()), 422),
            (FeatureError::NoModel("none".into()), 503),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status().as_u16(), status);
        }
    }

    #[test]
    fn internal_detail_is_not_public() {
        let e = ApiError::Internal("secret path /x".into());
        assert_eq!(e.public_message(), "internal error");
    }
}
