//! The running server's shared state, and the parts handlers take from it (axum `FromRef` sub-states).
//!
//! A handler names the parts it needs (`State<Store>`, `State<ModelRegistry>`, `State<Routing>`, …)
//! rather than the whole state, so what a surface can reach is visible in its signatures. The
//! composite parts (`Routing`, `Lifecycle`) are built from the fields on each request; every field is
//! an `Arc` or a cheap handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::FromRef;

use crate::activity::Activity;
use crate::auth::admin::AdminAuth;
use crate::auth::{ApiKeys, GitlabSlot};
use crate::config::Config;
use crate::engine::ModelRegistry;
use crate::engine::llama::Stopping;
use crate::engine::remote::RemoteClient;
use crate::features::agent::sessions::Sessions;
use crate::features::routing::{OwnAddress, Routing};
use crate::http::tls::TlsHandle;
use crate::models::{Jobs, Lifecycle};
use crate::store::Store;

/// Everything a request handler may reach. Cheap to clone; no globals, so two servers can share a process.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub models: ModelRegistry,
    pub store: Store,
    pub api_keys: Arc<ApiKeys>,
    /// Admin accounts, sessions and the audit log.
    pub admin: Arc<AdminAuth>,
    pub gitlab: Arc<GitlabSlot>,
    /// Finished requests of the last hour, for the admin UI.
    pub activity: Arc<Activity>,
    /// Prompts and model output in the log (boot config `logging.expanded`, or the admin's switch).
    pub expanded_logging: ExpandedLogging,
    /// The TLS listener's certificate, replaceable at run time.
    pub tls: Arc<TlsHandle>,
    /// When this process started serving.
    pub started: Started,
    /// Model import jobs (admin API).
    pub jobs: Arc<Jobs>,
    /// Connection pool for OpenAI-compatible upstream model servers.
    pub remote: RemoteClient,
    /// The port and host names airgate answers on, to recognise GitLab endpoints that point back at it.
    pub own: OwnAddress,
    /// Set at the shutdown deadline: the model threads cut what still runs (finish reason `cancelled`).
    pub stopping: Stopping,
    /// Live Agent Platform sessions (the gRPC service runs them; the admin API lists and stops them).
    pub agent_sessions: Arc<Sessions>,
}

/// The "expanded logging" switch: prompts and model output in the log.
#[derive(Clone, Default)]
pub struct ExpandedLogging(Arc<AtomicBool>);

impl ExpandedLogging {
    pub fn new(on: bool) -> Self {
        ExpandedLogging(Arc::new(AtomicBool::new(on)))
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// When this process started serving (the dashboard's uptime).
#[derive(Clone, Copy)]
pub struct Started(pub Instant);

impl FromRef<AppState> for Routing {
    fn from_ref(s: &AppState) -> Self {
        Routing { models: s.models.clone(), remote: s.remote.clone(), store: s.store.clone(), own: s.own.clone() }
    }
}

impl FromRef<AppState> for Lifecycle {
    fn from_ref(s: &AppState) -> Self {
        Lifecycle {
            registry: s.models.clone(),
            config: s.config.clone(),
            store: s.store.clone(),
            jobs: s.jobs.clone(),
            stopping: s.stopping.clone(),
        }
    }
}
