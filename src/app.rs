//! Composition root: builds the shared state, composes the routers of every surface, loads models
//! in the background, serves until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;

use crate::auth::ApiKeys;
use crate::auth::admin::AdminAuth;
use crate::auth::gitlab::GitlabAuth;
use crate::config::Config;
use crate::engine::ModelRegistry;
use crate::engine::remote::RemoteClient;
use crate::features::routing::OwnAddress;
use crate::models::Lifecycle;
use crate::state::{AppState, ExpandedLogging, Started};
use crate::store::settings::{DEFAULT_MODEL, EXPANDED_LOGGING, GITLAB_URL, JWT_SIGNING_KEY, RECORDED_MODEL_PARAMS};
use crate::store::{Store, StoreError};
use crate::telemetry::LogFile;

/// Every route airgate serves over HTTP, behind the edge's fallbacks, limits and access log.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(crate::api::monitoring::routes())
        .merge(crate::api::openai::routes(&state))
        .merge(crate::api::gitlab::routes())
        .merge(crate::api::admin::routes())
        .merge(crate::http::web::routes());
    crate::http::edge(routes, state.config.max_body_bytes, state.activity.clone()).with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Auth(#[from] crate::auth::gitlab::AuthError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot apply {path}: {message}")]
    Apply { path: String, message: String },
}

/// Runs the server until SIGTERM/SIGINT.
pub async fn run(mut config: Config, log_file: Option<LogFile>) -> Result<(), AppError> {
    // Before anything records: the facade drops measurements made before a recorder exists.
    crate::metrics::handle();
    if let Some(file) = log_file {
        tokio::spawn(reopen_on_sighup(file));
    }
    let store = {
        let dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || Store::open(&dir)).await.expect("store open task")?
    };
    if config.data_dir_fallback {
        tracing::warn!(data_dir = %config.data_dir.display(), "the default data dir is not writable; using this one instead");
    }
    if let Some(path) = config.apply.clone() {
        let store = store.clone();
        tokio::task::spawn_blocking(move || apply_at_boot(&store, &path)).await.expect("apply task")?;
    }
    // A certificate uploaded in the admin UI is the admin's latest word: it wins over the boot config.
    let uploaded = crate::http::tls::uploaded_paths(&config.data_dir);
    if uploaded.cert.is_file() && uploaded.key.is_file() {
        tracing::info!(cert = %uploaded.cert.display(), "using the TLS certificate uploaded in the admin UI");
        config.tls = Some(uploaded);
    }
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| AppError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| AppError::Bind { addr: config.listen, source })?;
    let dws_listener = std::net::TcpListener::bind(config.dws_listen)
        .map_err(|source| AppError::Bind { addr: config.dws_listen, source })?;
    let agent_port =
        dws_listener.local_addr().map_err(|source| AppError::Bind { addr: config.dws_listen, source })?.port();
    let gitlab = {
        let bypass = crate::auth::gitlab::Bypass::from_config(config.auth_bypass, config.auth_bypass_minutes);
        let (dir, store) = (config.data_dir.clone(), store.clone());
        let configured = config.gitlab_url.clone();
        tokio::task::spawn_blocking(move || {
            // The URL an admin set in the UI (or an applied file) is the latest word; the boot config's otherwise.
            let url = match store.get_setting(GITLAB_URL) {
                Ok(Some(url)) => Some(url).filter(|u| !u.is_empty()),
                _ => configured,
            };
            let shared = store.get_setting(JWT_SIGNING_KEY)?;
            Ok::<_, AppError>(GitlabAuth::with_key(&dir, shared.as_deref().map(std::path::Path::new), url, bypass)?)
        })
        .await
        .expect("auth setup task")?
    };
    let api_keys = Arc::new(ApiKeys::new(&config.api_keys, config.v1_open));
    if config.v1_open {
        tracing::warn!("/v1 IS OPEN ([auth] v1_open): it answers without an API key, whatever keys exist");
    }
    if let Some(url) = config.gitlab_url.as_deref().filter(|u| u.to_ascii_lowercase().starts_with("http://")) {
        tracing::warn!("{}", crate::config::plain_http_warning(url));
    }
    let admin = {
        let (store, keys) = (store.clone(), api_keys.clone());
        tokio::task::spawn_blocking(move || prepare_admin(store, &keys)).await.expect("admin setup task")?
    };
    let expanded = config.logging_expanded || {
        let store = store.clone();
        let read = tokio::task::spawn_blocking(move || store.get_setting(EXPANDED_LOGGING)).await;
        matches!(read, Ok(Ok(Some(true))))
    };
    let state = AppState {
        api_keys,
        admin: Arc::new(admin),
        config: Arc::new(config),
        models: ModelRegistry::default(),
        store,
        gitlab: Arc::new(crate::auth::GitlabSlot::new(gitlab)),
        remote: RemoteClient::new()?,
        jobs: Arc::default(),
        activity: Arc::default(),
        expanded_logging: ExpandedLogging::new(expanded),
        started: Started(std::time::Instant::now()),
        tls: Arc::default(),
        own: OwnAddress { port: addr.port(), hosts: Arc::new(own_hosts()), agent_port },
        stopping: Default::default(),
        agent_sessions: Arc::default(),
    };
    if state.gitlab.get().status().gitlab_url.is_some() {
        let gitlab = state.gitlab.get();
        tokio::spawn(async move {
            if let Err(e) = gitlab.refresh_keys().await {
                tracing::warn!(error = %e, "could not fetch GitLab's signing keys yet; will retry when a token needs them");
            }
        });
    }
    let socket = crate::config::admin_socket(&state.config.data_dir);
    tokio::spawn(crate::http::serve_unix(socket, crate::api::admin::local::routes().with_state(state.clone())));
    tokio::spawn(load_models(state.clone()));
    tracing::info!(addr = %addr, tls = state.config.tls.is_some(), data_dir = %state.config.data_dir.display(), "listening");
    let drain = Duration::from_secs(state.config.shutdown_timeout_secs);
    // One signal stops both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let agent = tokio::spawn(crate::agent::serve(
        dws_listener,
        agent_state(&state),
        state.config.tls.clone(),
        stopped(),
        drain,
    ));
    let (tls, tls_handle) = (state.config.tls.clone(), state.tls.clone());
    let stopping = state.stopping.clone();
    let state_limits = (state.config.max_connections, state.config.header_timeout_secs);
    let router = router(state);
    let conn = crate::http::ConnectionLimits {
        max_connections: state_limits.0,
        header_timeout: Duration::from_secs(state_limits.1),
        drain,
    };
    crate::http::serve(listener, tls.as_ref(), tls_handle, router, stopped(), conn, move || stopping.stop())
        .await
        .map_err(AppError::Serve)?;
    match agent.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the Agent Platform service failed"),
        Err(e) => tracing::error!(error = %e, "the Agent Platform service task failed"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// `apply = FILE` of the boot config: the file is applied before anything reads the store, so the
/// models, keys and routes of this start are the file's. A file that cannot be applied stops the
/// start: serving a configuration the operator did not ask for would be worse.
fn apply_at_boot(store: &Store, path: &std::path::Path) -> Result<(), AppError> {
    let fail = |message: String| AppError::Apply { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let doc = crate::fleet::Document::parse(&text).map_err(|e| fail(e.0))?;
    let current = store.config_set()?;
    let source = path.display().to_string();
    let plan = crate::fleet::plan(&current, &doc, &text, &source, &crate::fleet::ProcessEnv).map_err(|e| fail(e.0))?;
    store.replace_config_set(&plan.set)?;
    for change in &plan.changes {
        tracing::info!(%change, "applied at start");
    }
    tracing::info!(path = %source, changes = plan.changes.len(), "configuration file applied");
    Ok(())
}

/// What the Agent Platform (gRPC) service reaches of the application state.
fn agent_state(state: &AppState) -> crate::agent::AgentState {
    crate::agent::AgentState {
        config: state.config.clone(),
        gitlab: state.gitlab.clone(),
        routing: crate::features::routing::Routing::from_ref(state),
        sessions: state.agent_sessions.clone(),
        expanded_logging: state.expanded_logging.clone(),
    }
}

/// Admin accounts: announces the setup token while no admin exists; loads the admin-created API keys.
fn prepare_admin(store: Store, keys: &ApiKeys) -> Result<AdminAuth, StoreError> {
    let stored = store.api_keys()?;
    keys.set_stored(&stored);
    keys.set_required(store.get_setting(crate::store::settings::V1_KEY_REQUIRED)?.unwrap_or(!stored.is_empty()));
    let _ = store.purge_sessions(crate::unix_now());
    let admin = AdminAuth::new(store);
    // The token is logged once, when it is made (it is good for a day); later starts only remind.
    match admin.setup_token()? {
        Some((token, true)) => tracing::warn!(
            setup_token = %token,
            "no admin account exists yet: open /admin/ and enter this setup token (good for 24 hours), or run \
             `airgate admin create USER`"
        ),
        Some((_, false)) => tracing::warn!(
            "no admin account exists yet: open /admin/ with the setup token logged when it was made (or print it \
             with `airgate admin setup-token`), or run `airgate admin create USER`"
        ),
        None => {}
    }
    Ok(admin)
}

/// Host names this machine answers to (besides loopback).
fn own_hosts() -> Vec<String> {
    std::fs::read_to_string("/etc/hostname").map(|h| vec![h.trim().to_string()]).unwrap_or_default()
}

/// Loads the start-up models in order (`models::startup_set`); a model that fails is reported and
/// the rest still load. The admin's default model, if set, becomes the default. systemd hears
/// `READY=1` once the default model answered its warm-up (what `/monitoring/ready` checks), or at
/// once when no model is configured; when the default cannot become ready (it failed, or is not
/// among the start-up models), after every start-up model was tried, with the reason as `STATUS=`:
/// waiting longer would only have systemd kill a server whose admin UI can fix the problem.
async fn load_models(state: AppState) {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        Ok::<_, StoreError>((
            store.models()?,
            store.get_setting(DEFAULT_MODEL)?,
            store.get_setting(RECORDED_MODEL_PARAMS)?.unwrap_or_default(),
        ))
    })
    .await;
    let (stored, default, recorded) = match read {
        Ok(Ok(found)) => found,
        other => {
            tracing::warn!(error = ?other.err(), "cannot read the registered models; loading the configured ones");
            (Vec::new(), None, Default::default())
        }
    };
    let life = Lifecycle::from_ref(&state);
    let set = crate::models::startup_set(&state.config, &stored, &recorded);
    let mut notified = false;
    if set.is_empty() {
        // Nothing to warm up: the admin UI and the APIs are ready now (systemd waits for this).
        notify_ready(None);
        notified = true;
    }
    for m in &set {
        state.models.add_loading(&m.name, &m.path);
    }
    if let Some(name) = default {
        state.models.set_default(&name);
    }
    for m in &set {
        let loaded = crate::models::load(&life, m).await.is_ok();
        if !notified && state.models.not_ready_reason().is_none() {
            notify_ready(None);
            notified = true;
        }
        if loaded && let Some(engine) = state.models.get(&m.name) {
            let info = engine.info();
            let threads = life.load_params(m).threads;
            let used = crate::models::UsedParams { ctx_size: info.context_per_slot, parallel: info.slots, threads };
            remember_model(&state.store, &info.name, &info.path, info.size_bytes, used).await;
        }
    }
    if !notified {
        let reason = state.models.not_ready_reason().unwrap_or_default();
        tracing::warn!(%reason, "every start-up model was tried, but the default model is not ready");
        notify_ready(Some(&reason));
    }
}

/// Tells systemd the service is up (no-op outside systemd); `status` explains a degraded start.
fn notify_ready(status: Option<&str>) {
    let mut states = vec![sd_notify::NotifyState::Ready];
    if let Some(status) = status {
        states.push(sd_notify::NotifyState::Status(status));
    }
    if let Err(e) = sd_notify::notify(&states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Records a model that loaded (`models::remember`); its SHA-256 is computed in the background.
async fn remember_model(store: &Store, name: &str, path: &str, size: u64, used: crate::models::UsedParams) {
    let store = store.clone();
    let (name, path) = (name.to_string(), path.to_string());
    let result = tokio::task::spawn_blocking(move || crate::models::remember(&store, &name, &path, size, used)).await;
    match result {
        Ok(Ok(_hashing)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not record the model in the database"),
        Err(e) => tracing::warn!(error = %e, "could not record the model in the database"),
    }
}

/// logrotate moves the file away and sends SIGHUP: reopen the path.
async fn reopen_on_sighup(file: LogFile) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        match file.reopen() {
            Ok(()) => tracing::info!(path = %file.path().display(), "log file reopened"),
            Err(e) => tracing::warn!(path = %file.path().display(), error = %e, "could not reopen the log file"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
