//! Admin accounts over HTTP: first-run setup, sign-in and out, the session, admins, the audit log.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminJson, AdminResult, ClientIp, account_err, blocking, session_cookie, session_json, store_err};
use std::sync::Arc;

use crate::auth::admin::AdminAuth;
use crate::auth::admin::{LoginError, Session, check_password, check_username};
use crate::config::Config;
use crate::http::ApiError;
use crate::http::JsonBody;
use crate::state::AppState;
use crate::store::Store;
use crate::store::{RemoveUser, UserRecord};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/status", get(status))
        .route("/api/admin/setup", post(setup))
        .route("/api/admin/login", post(login))
        .route("/api/admin/session", get(session))
        .route("/api/admin/logout", post(logout))
        .route("/api/admin/users", get(users).post(create_user))
        .route("/api/admin/users/{username}", axum::routing::delete(delete_user))
        .route("/api/admin/users/{username}/password", put(change_password))
        .route("/api/admin/audit", get(audit))
}

async fn status(State(store): State<Store>, State(config): State<Arc<Config>>) -> AdminResult<Json<Value>> {
    let has_users = blocking(move || store.has_users().map_err(store_err)).await?;
    Ok(Json(json!({
        "setup_required": !has_users,
        "version": env!("CARGO_PKG_VERSION"),
        "tls": config.tls.is_some(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupBody {
    setup_token: String,
    username: String,
    password: String,
}

/// Username and password checks, all fields at once.
fn check_credentials(username: &str, password: &str) -> Result<(), ApiError> {
    let mut fields = Vec::new();
    if let Err(p) = check_username(username) {
        fields.push(("username".to_string(), p));
    }
    if let Err(p) = check_password(password) {
        fields.push(("password".to_string(), p));
    }
    ApiError::check_fields(fields)
}

fn signed_in(config: &Config, status: StatusCode, session: &Session) -> Response {
    let mut response = (status, Json(session_json(session))).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(config, Some(&session.key)));
    response
}

async fn setup(
    State(accounts): State<Arc<AdminAuth>>,
    State(store): State<Store>,
    State(config): State<Arc<Config>>,
    ClientIp(ip): ClientIp,
    JsonBody(body, _): AdminJson<SetupBody>,
) -> AdminResult<Response> {
    check_credentials(&body.username, &body.password)?;
    let done = accounts.setup(&body.setup_token, &body.username, &body.password, &ip).await.map_err(account_err)?;
    match done {
        Some(session) => Ok(signed_in(&config, StatusCode::CREATED, &session)),
        None => {
            if blocking(move || store.has_users().map_err(store_err)).await? {
                Err(ApiError::Conflict("airgate is already set up; sign in instead".into()).into())
            } else {
                Err(ApiError::invalid(
                    "setup_token",
                    "is not this server's setup token (see the log, or run `airgate admin setup-token`)",
                )
                .into())
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(accounts): State<Arc<AdminAuth>>,
    State(config): State<Arc<Config>>,
    ClientIp(ip): ClientIp,
    JsonBody(body, _): AdminJson<LoginBody>,
) -> AdminResult<Response> {
    match accounts.login(&body.username, &body.password, &ip).await {
        Ok(session) => Ok(signed_in(&config, StatusCode::OK, &session)),
        Err(LoginError::Wrong) => Err(ApiError::Unauthorized(LoginError::Wrong.to_string()).into()),
        Err(e @ LoginError::Locked(wait)) => Err(ApiError::Busy { message: e.to_string(), retry_after: wait }.into()),
        Err(LoginError::Busy(busy)) => Err(account_err(busy.into()).into()),
        Err(LoginError::Store(e)) => Err(store_err(e).into()),
    }
}

async fn session(admin: Admin) -> Json<Value> {
    Json(session_json(&admin.session))
}

async fn logout(
    State(accounts): State<Arc<AdminAuth>>,
    State(config): State<Arc<Config>>,
    admin: Admin,
) -> AdminResult<Response> {
    let (auth, session) = (accounts.clone(), admin.session.clone());
    blocking(move || auth.logout(&session).map_err(store_err)).await?;
    admin.audit("logout", admin.user(), "");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&config, None));
    Ok(response)
}

fn user_json(u: &UserRecord) -> Value {
    json!({ "username": u.username, "created_at": u.created_at, "last_login_at": u.last_login_at })
}

async fn users(State(store): State<Store>, _admin: Admin) -> AdminResult<Json<Value>> {
    let users = blocking(move || store.users().map_err(store_err)).await?;
    Ok(Json(users.iter().map(user_json).collect()))
}

async fn create_user(
    State(accounts): State<Arc<AdminAuth>>,
    State(store): State<Store>,
    admin: Admin,
    JsonBody(body, _): AdminJson<LoginBody>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    check_credentials(&body.username, &body.password)?;
    let name = body.username.clone();
    let created = if accounts.create_user_in_turn(&body.username, &body.password).await.map_err(account_err)? {
        let store = store.clone();
        blocking(move || store.user(&body.username).map_err(store_err)).await?
    } else {
        None
    };
    let Some(user) = created else {
        return Err(ApiError::Conflict(format!("an admin named `{name}` already exists")).into());
    };
    admin.audit("create_admin", &name, "");
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
    /// The acting admin's own password: a session alone does not change anyone's password.
    #[serde(default)]
    current_password: String,
}

async fn change_password(
    State(accounts): State<Arc<AdminAuth>>,
    admin: Admin,
    Path(username): Path<String>,
    JsonBody(body, _): AdminJson<PasswordBody>,
) -> AdminResult<StatusCode> {
    check_password(&body.password).map_err(|p| ApiError::invalid("password", p))?;
    if body.current_password.is_empty() {
        return Err(ApiError::invalid("current_password", "enter your own password to confirm the change").into());
    }
    if !accounts.check_password_of(admin.user(), &body.current_password).await.map_err(account_err)? {
        admin.audit("change_password_refused", &username, "the acting admin's own password was wrong");
        return Err(ApiError::invalid("current_password", "is not your password").into());
    }
    let keep = admin.session.key.clone();
    let changed = accounts.set_password_in_turn(&username, &body.password, Some(&keep)).await.map_err(account_err)?;
    if !changed {
        return Err(ApiError::NotFound(format!("no admin named `{username}`")).into());
    }
    admin.audit("change_password", &username, "other sessions of that admin ended");
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_user(
    State(store): State<Store>,
    admin: Admin,
    Path(username): Path<String>,
) -> AdminResult<StatusCode> {
    let name = username.clone();
    match blocking(move || store.remove_user(&name).map_err(store_err)).await? {
        RemoveUser::Removed => {
            admin.audit("delete_admin", &username, "");
            Ok(StatusCode::NO_CONTENT)
        }
        RemoveUser::NotFound => Err(ApiError::NotFound(format!("no admin named `{username}`")).into()),
        RemoveUser::LastAdmin => {
            Err(ApiError::Conflict(format!("`{username}` is the last admin; create another one first")).into())
        }
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    limit: Option<usize>,
}

async fn audit(State(store): State<Store>, _admin: Admin, Query(q): Query<AuditQuery>) -> AdminResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = blocking(move || store.audit(limit).map_err(store_err)).await?;
    Ok(Json(serde_json::to_value(entries).unwrap_or_default()))
}
