//! The admin JSON API under `/api/admin/` (docs/admin-api.md): session and CSRF checks, the error shape, the route list.

mod accounts;
mod agent;
mod endpoint_url;
mod fleet;
mod keys;
pub mod local;
mod models;
mod routing;
mod runaway;
mod settings;
pub mod system;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use std::sync::Arc;

use crate::auth::admin::{AdminAuth, SESSION_COOKIE, Session};
use crate::config::Config;
use crate::http::{ApiError, JsonBody};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(accounts::routes())
        .merge(agent::routes())
        .merge(keys::routes())
        .merge(models::routes())
        .merge(routing::routes())
        .merge(runaway::routes())
        .merge(settings::routes())
        .merge(system::routes())
        .route("/api/admin/fleet", axum::routing::get(fleet::drift))
}

/// An admin API failure: `{"error": {"message", "fields"}}`.
#[derive(Debug)]
pub struct AdminError(pub ApiError);

impl<E: Into<ApiError>> From<E> for AdminError {
    fn from(e: E) -> Self {
        AdminError(e.into())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut fields = serde_json::Map::new();
        match &e {
            ApiError::Invalid { fields: list, .. } => {
                for (name, problem) in list {
                    fields.insert(name.clone(), problem.clone().into());
                }
            }
            ApiError::BadRequest { param: Some(param), message } => {
                fields.insert(param.clone(), message.clone().into());
            }
            ApiError::BadRequest { param: None, message } => {
                // serde's "missing field `name`" names the field only in its text.
                if let Some(name) = message.split("missing field `").nth(1).and_then(|r| r.split('`').next()) {
                    fields.insert(name.to_string(), "is required".into());
                }
            }
            _ => {}
        }
        let mut error = json!({ "message": e.public_message() });
        if !fields.is_empty() {
            error["fields"] = fields.into();
        }
        e.finish(json!({ "error": error }))
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

/// A JSON body in the admin error shape.
pub type AdminJson<T> = JsonBody<T, AdminError>;

/// Runs blocking store or hashing work off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> AdminResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(AdminError),
        Err(e) => Err(AdminError(ApiError::Internal(format!("admin task failed: {e}")))),
    }
}

/// The caller's address, for throttling and the audit log.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
    })
}

/// A signed-in admin. 401 without a valid session cookie; for state-changing methods also 403
/// unless `X-CSRF-Token` matches the session's token.
pub struct Admin {
    pub session: Session,
    pub ip: String,
    /// Where this admin's actions are audited.
    accounts: Arc<AdminAuth>,
}

impl Admin {
    pub fn user(&self) -> &str {
        &self.session.record.username
    }

    /// Writes an audit entry for this admin in the background.
    pub fn audit(&self, action: &str, target: &str, detail: &str) {
        audit(&self.accounts, self.user(), &self.ip, action, target, detail);
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Arc<AdminAuth>: FromRef<S>,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(id) = cookie(parts, SESSION_COOKIE) else {
            return Err(ApiError::Unauthorized("not signed in".into()).into());
        };
        let accounts = Arc::<AdminAuth>::from_ref(state);
        let admin = accounts.clone();
        let found = blocking(move || admin.session(&id).map_err(|e| ApiError::Internal(e.to_string()))).await?;
        let Some(session) = found else {
            return Err(ApiError::Unauthorized("the session has ended; sign in again".into()).into());
        };
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            use subtle::ConstantTimeEq;
            if !bool::from(sent.as_bytes().ct_eq(session.record.csrf.as_bytes())) {
                return Err(
                    ApiError::Forbidden("missing or wrong CSRF token (X-CSRF-Token); reload the page".into()).into()
                );
            }
        }
        Ok(Admin { session, ip: client_ip(parts), accounts })
    }
}

/// Writes an audit entry on a blocking thread (a redb commit), without waiting for it.
pub fn audit(accounts: &Arc<AdminAuth>, actor: &str, ip: &str, action: &str, target: &str, detail: &str) {
    let admin = accounts.clone();
    let (actor, ip, action) = (actor.to_string(), ip.to_string(), action.to_string());
    let (target, detail) = (target.to_string(), detail.to_string());
    tokio::task::spawn_blocking(move || admin.audit(&actor, Some(&ip), &action, &target, &detail));
}

/// `Set-Cookie` for a new session id (`None`: clear it).
pub fn session_cookie(config: &Config, id: Option<&str>) -> HeaderValue {
    let secure = if config.tls.is_some() { "; Secure" } else { "" };
    let value = match id {
        Some(id) => format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            crate::auth::admin::SESSION_MAX
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).expect("cookie header is ASCII")
}

/// The session object the UI keeps: user, CSRF token, expiry.
pub fn session_json(session: &Session) -> serde_json::Value {
    json!({
        "user": session.record.username,
        "csrf": session.record.csrf,
        "expires_at": session.record.expires_at,
    })
}

/// A store failure inside a handler: logged in detail, a generic 500 to the caller.
/// A failed account change: busy hashing is a 429 with `Retry-After`, anything else a 500.
pub fn account_err(e: crate::auth::admin::AccountError) -> ApiError {
    use crate::auth::admin::AccountError;
    match e {
        AccountError::Busy(busy) => ApiError::Busy { message: busy.to_string(), retry_after: busy.retry_after },
        AccountError::Failed(message) => ApiError::Internal(message),
    }
}

pub fn store_err(e: crate::store::StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The caller's address as an extractor (for handlers without a session).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}
