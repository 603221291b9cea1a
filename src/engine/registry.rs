//! The models this process serves, by name: which are loading, loaded or failed, and which one is the default.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::Engine;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum ModelStatus {
    Loading,
    Ready,
    Failed(String),
}

#[derive(Clone)]
struct Entry {
    path: String,
    status: ModelStatus,
    engine: Option<Arc<dyn Engine>>,
}

/// Shared, cheaply cloned handle to the set of models.
#[derive(Clone, Default)]
pub struct ModelRegistry {
    inner: Arc<RwLock<Inner>>,
    /// Woken whenever a model finishes loading or fails.
    settled: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    default: Option<String>,
}

/// A model as listed to clients.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub path: String,
    pub status: ModelStatus,
    pub default: bool,
}

impl ModelRegistry {
    /// Announces a model that is about to load; the first one announced is the default.
    pub fn add_loading(&self, name: &str, path: &str) {
        let mut inner = crate::sync::write(&self.inner);
        inner
            .entries
            .insert(name.to_string(), Entry { path: path.to_string(), status: ModelStatus::Loading, engine: None });
        if inner.default.is_none() {
            inner.default = Some(name.to_string());
        }
    }

    pub fn set_loaded(&self, name: &str, engine: Arc<dyn Engine>) {
        let mut inner = crate::sync::write(&self.inner);
        if let Some(entry) = inner.entries.get_mut(name) {
            entry.status = ModelStatus::Ready;
            entry.engine = Some(engine);
        }
        drop(inner);
        self.settled.notify_waiters();
    }

    pub fn set_failed(&self, name: &str, reason: String) {
        let mut inner = crate::sync::write(&self.inner);
        if let Some(entry) = inner.entries.get_mut(name) {
            entry.status = ModelStatus::Failed(reason);
            entry.engine = None;
        }
        drop(inner);
        self.settled.notify_waiters();
    }

    /// Forgets a model (unload). In-flight requests keep their engine until they finish; the model's
    /// thread and memory go with the last of them. The default moves to another model, if any.
    pub fn remove(&self, name: &str) -> bool {
        let mut inner = crate::sync::write(&self.inner);
        let removed = inner.entries.remove(name).is_some();
        if inner.default.as_deref() == Some(name) {
            inner.default = inner.entries.keys().next().cloned();
        }
        drop(inner);
        self.settled.notify_waiters();
        removed
    }

    /// Makes `name` the default model; false when no such model is registered here.
    pub fn set_default(&self, name: &str) -> bool {
        let mut inner = crate::sync::write(&self.inner);
        if !inner.entries.contains_key(name) {
            return false;
        }
        inner.default = Some(name.to_string());
        true
    }

    /// Waits while model `name` is loading, at most `limit`. A request that arrives while the server
    /// is still warming up (GitLab's "Test connection" right after a restart) is served when the
    /// model is ready instead of failing with 503.
    pub async fn wait_loaded(&self, name: &str, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.status(name) != Some(ModelStatus::Loading) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// The engine serving `name`, if it is loaded.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Engine>> {
        let inner = crate::sync::read(&self.inner);
        inner.entries.get(name).and_then(|e| e.engine.clone())
    }

    pub fn status(&self, name: &str) -> Option<ModelStatus> {
        let inner = crate::sync::read(&self.inner);
        inner.entries.get(name).map(|e| e.status.clone())
    }

    pub fn default_name(&self) -> Option<String> {
        crate::sync::read(&self.inner).default.clone()
    }

    pub fn default_engine(&self) -> Option<Arc<dyn Engine>> {
        self.default_name().and_then(|name| self.get(&name))
    }

    /// Why the server is not ready, or `None` when the default model is loaded and warm.
    pub fn not_ready_reason(&self) -> Option<String> {
        let Some(name) = self.default_name() else {
            return Some("no model is configured: start airgate with --model PATH".into());
        };
        match self.status(&name) {
            Some(ModelStatus::Ready) if self.get(&name).is_some_and(|e| e.is_ready()) => None,
            Some(ModelStatus::Ready) | Some(ModelStatus::Loading) | None => {
                Some(format!("default model {name} is still loading"))
            }
            Some(ModelStatus::Failed(reason)) => Some(format!("default model {name} failed to load: {reason}")),
        }
    }

    pub fn list(&self) -> Vec<ModelSummary> {
        let inner = crate::sync::read(&self.inner);
        inner
            .entries
            .iter()
            .map(|(name, e)| ModelSummary {
                name: name.clone(),
                path: e.path.clone(),
                status: e.status.clone(),
                default: inner.default.as_deref() == Some(name),
            })
            .collect()
    }
}
