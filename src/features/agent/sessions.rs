//! Live Agent Platform sessions: who runs what, its status, model and tool calls, for the admin UI and `/metrics`; the concurrency cap; and the stop request a run listens to (from the client's `stopWorkflow` or the admin's stop button).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::watch;

use crate::metrics::{AGENT_SESSIONS, AGENT_SESSIONS_ACTIVE};
use crate::sync::lock;

/// One running session (one `ExecuteWorkflow` call).
pub struct Session {
    pub key: u64,
    pub workflow_id: String,
    /// The GitLab user (`x-gitlab-global-user-id`, else the token subject).
    pub user: String,
    pub flow: &'static str,
    pub correlation_id: String,
    started: Instant,
    started_at: u64,
    status: Mutex<&'static str>,
    model: Mutex<String>,
    tool_calls: AtomicU32,
    stop: watch::Sender<bool>,
}

/// A session as the admin API lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionInfo {
    pub id: u64,
    pub workflow_id: String,
    pub user: String,
    pub flow: String,
    pub status: String,
    pub model: String,
    pub tool_calls: u32,
    /// Unix seconds.
    pub started_at: u64,
    pub duration_secs: f64,
    pub stopping: bool,
}

impl Session {
    pub fn set_status(&self, status: &'static str) {
        *lock(&self.status) = status;
    }

    pub fn set_model(&self, model: &str) {
        let mut m = lock(&self.model);
        if *m != model {
            *m = model.to_string();
        }
    }

    pub fn add_tool_call(&self) {
        self.tool_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the run to stop as a user stop (it tells GitLab and ends with OK).
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once a stop was requested.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.key,
            workflow_id: self.workflow_id.clone(),
            user: self.user.clone(),
            flow: self.flow.into(),
            status: (*lock(&self.status)).into(),
            model: lock(&self.model).clone(),
            tool_calls: self.tool_calls.load(Ordering::Relaxed),
            started_at: self.started_at,
            duration_secs: self.started.elapsed().as_secs_f64(),
            stopping: self.is_stopped(),
        }
    }
}

/// The registry of live sessions, shared by the gRPC surface and the admin API.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<BTreeMap<u64, Arc<Session>>>,
    next: AtomicU64,
}

/// What a new session is.
pub struct NewSession<'a> {
    pub workflow_id: &'a str,
    pub user: &'a str,
    pub flow: &'static str,
    pub correlation_id: &'a str,
}

/// A registered session; dropping it removes the session and counts it as ended with the status
/// set by `finish` (`unknown` if none).
pub struct Registration {
    registry: Arc<Sessions>,
    pub session: Arc<Session>,
    outcome: &'static str,
}

impl Registration {
    /// Records how the session ended (a gRPC status name), for `/metrics`.
    pub fn finish(&mut self, outcome: &'static str) {
        self.outcome = outcome;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.live).remove(&self.session.key);
        let flow = self.session.flow;
        metrics::gauge!(AGENT_SESSIONS_ACTIVE, "flow" => flow).decrement(1.0);
        metrics::counter!(AGENT_SESSIONS, "flow" => flow, "status" => self.outcome).increment(1);
    }
}

impl Sessions {
    /// Registers a session unless `max` sessions already run.
    pub fn try_register(self: &Arc<Self>, new: NewSession<'_>, max: usize) -> Option<Registration> {
        let mut live = lock(&self.live);
        if live.len() >= max {
            return None;
        }
        let key = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let session = Arc::new(Session {
            key,
            workflow_id: new.workflow_id.into(),
            user: new.user.into(),
            flow: new.flow,
            correlation_id: new.correlation_id.into(),
            started: Instant::now(),
            started_at: crate::unix_now(),
            status: Mutex::new("CREATED"),
            model: Mutex::new(String::new()),
            tool_calls: AtomicU32::new(0),
            stop: watch::channel(false).0,
        });
        live.insert(key, session.clone());
        metrics::gauge!(AGENT_SESSIONS_ACTIVE, "flow" => new.flow).increment(1.0);
        Some(Registration { registry: self.clone(), session, outcome: "unknown" })
    }

    /// Live sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        lock(&self.live).values().map(|s| s.info()).collect()
    }

    pub fn active(&self) -> usize {
        lock(&self.live).len()
    }

    /// Asks session `id` to stop; false when no such session runs.
    pub fn stop(&self, id: u64) -> bool {
        match lock(&self.live).get(&id) {
            Some(s) => {
                s.request_stop();
                true
            }
            None => false,
        }
    }

    /// Asks every session to stop as a user stop.
    pub fn stop_all(&self) {
        for s in lock(&self.live).values() {
            s.request_stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str) -> NewSession<'_> {
        NewSession { workflow_id: id, user: "7", flow: "chat", correlation_id: "c" }
    }

    #[tokio::test]
    async fn registry_caps_lists_and_stops() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.try_register(new("1"), 2).unwrap();
        let b = sessions.try_register(new("2"), 2).unwrap();
        assert!(sessions.try_register(new("3"), 2).is_none(), "the cap holds");
        a.session.set_status("RUNNING");
        a.session.set_model("m");
        a.session.add_tool_call();
        let list = sessions.list();
        assert_eq!(list.len(), 2);
        assert_eq!(
            (list[0].workflow_id.as_str(), list[0].status.as_str(), list[0].model.as_str()),
            ("1", "RUNNING", "m")
        );
        assert_eq!(list[0].tool_calls, 1);

        let waiter = {
            let s = b.session.clone();
            tokio::spawn(async move { s.stopped().await })
        };
        assert!(sessions.stop(b.session.key));
        assert!(!sessions.stop(999));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(b.session.is_stopped() && sessions.list()[1].stopping);

        drop(a);
        assert_eq!(sessions.active(), 1);
        assert!(sessions.try_register(new("4"), 2).is_some(), "a freed place can be taken");
    }
}
