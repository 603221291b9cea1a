//! Configuration as code on a running server: `airgate apply` through the admin socket (the new
//! configuration written in one transaction, then the server brought in line: keys, GitLab
//! verifier, logging switch, models), and the admin UI's view of drift from the last applied file.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRef, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminJson, AdminResult, blocking, store_err};
use crate::auth::gitlab::GitlabAuth;
use crate::auth::{ApiKeys, GitlabSlot};
use crate::config::Config;
use crate::fleet::{Document, ProcessEnv, Secrets};
use crate::http::{ApiError, JsonBody};
use crate::models::Lifecycle;
use crate::state::{AppState, ExpandedLogging};
use crate::store::{ConfigSet, SecretRef};

/// What applying a configuration touches in a running server.
#[derive(Clone)]
pub(super) struct Node {
    life: Lifecycle,
    config: Arc<Config>,
    api_keys: Arc<ApiKeys>,
    gitlab: Arc<GitlabSlot>,
    expanded: ExpandedLogging,
}

impl FromRef<AppState> for Node {
    fn from_ref(s: &AppState) -> Self {
        Node {
            life: Lifecycle::from_ref(s),
            config: s.config.clone(),
            api_keys: s.api_keys.clone(),
            gitlab: s.gitlab.clone(),
            expanded: s.expanded_logging.clone(),
        }
    }
}

/// Secrets the CLI read for the server (`env:NAME` / `file:/path` → value): the operator's shell,
/// not the service's, usually holds them; what it could not read, the server looks up itself.
struct Given(BTreeMap<String, String>);

impl Secrets for Given {
    fn env(&self, name: &str) -> Option<String> {
        self.0.get(&format!("env:{name}")).cloned().or_else(|| ProcessEnv.env(name))
    }
    fn file(&self, path: &str) -> Result<String, String> {
        match self.0.get(&format!("file:{path}")) {
            Some(v) => Ok(v.clone()),
            None => ProcessEnv.file(path),
        }
    }
}

/// For drift only: a reference resolves to the key the node already holds under it, so only a
/// changed reference (or a removed endpoint) reads as a change.
struct Held<'a>(&'a ConfigSet);

impl Held<'_> {
    fn by(&self, reference: &SecretRef) -> Option<String> {
        self.0.endpoints.iter().find(|e| e.api_key_ref.as_ref() == Some(reference)).and_then(|e| e.api_key.clone())
    }
}

impl Secrets for Held<'_> {
    fn env(&self, name: &str) -> Option<String> {
        self.by(&SecretRef::Env(name.to_string()))
    }
    fn file(&self, path: &str) -> Result<String, String> {
        self.by(&SecretRef::File(path.to_string())).ok_or_else(|| format!("no endpoint holds the key of {path}"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplyBody {
    document: String,
    source: String,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /local/apply`: plans the document; unless a dry run, writes it in one transaction and
/// brings the running server in line. Answers the changes (and what the server does about them).
pub(super) async fn apply_local(
    State(node): State<Node>,
    JsonBody(body, _): AdminJson<ApplyBody>,
) -> AdminResult<Json<Value>> {
    let doc = Document::parse(&body.document).map_err(|e| ApiError::invalid("document", e.0))?;
    let store = node.life.store.clone();
    let (text, source, secrets) = (body.document.clone(), body.source.clone(), Given(body.secrets));
    let (before, plan) = blocking(move || {
        let current = store.config_set().map_err(store_err)?;
        let plan = crate::fleet::plan(&current, &doc, &text, &source, &secrets)
            .map_err(|e| ApiError::invalid("document", e.0))?;
        Ok((current, plan))
    })
    .await?;
    let changes: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
    if body.dry_run {
        return Ok(Json(json!({ "changes": changes, "applied": false })));
    }
    // The new GitLab verifier is built first: a signing key it cannot use stops the apply here.
    let auth = {
        let (dir, bypass) = (node.config.data_dir.clone(), node.config.auth_bypass);
        let url = plan.set.gitlab_url.clone().or_else(|| node.config.gitlab_url.clone());
        let key = plan.set.jwt_signing_key.clone();
        blocking(move || {
            GitlabAuth::with_key(&dir, key.as_deref().map(std::path::Path::new), url, bypass)
                .map_err(|e| ApiError::invalid("document", format!("jwt_signing_key: {e}")))
        })
        .await?
    };
    let (store, set) = (node.life.store.clone(), plan.set.clone());
    blocking(move || store.replace_config_set(&set).map_err(store_err)).await?;
    node.api_keys.set_stored(&plan.set.api_keys);
    if !plan.set.api_keys.is_empty() {
        node.api_keys.set_required(true);
    }
    let keys_changed = before.gitlab_url != plan.set.gitlab_url || before.jwt_signing_key != plan.set.jwt_signing_key;
    if keys_changed {
        node.gitlab.replace(auth);
        let gitlab = node.gitlab.get();
        tokio::spawn(async move {
            if gitlab.status().gitlab_url.is_some() && gitlab.refresh_keys().await.is_err() {
                tracing::warn!("could not fetch GitLab's signing keys after apply; will retry when a token needs them");
            }
        });
    }
    node.expanded.set(node.config.logging_expanded || plan.set.expanded_logging == Some(true));
    let loading = crate::models::reconcile(&node.life, &before.models, &plan.set).await;
    tracing::info!(changes = changes.len(), source = %body.source, "configuration applied");
    Ok(Json(json!({ "changes": changes, "applied": true, "loading": loading })))
}

/// `GET /api/admin/fleet`: the last applied file (where from, when) and how this node differs from
/// it now (what applying it again would change).
pub(super) async fn drift(State(node): State<Node>, _admin: Admin) -> AdminResult<Json<Value>> {
    let store = node.life.store.clone();
    blocking(move || {
        let current = store.config_set().map_err(store_err)?;
        let Some(applied) = current.applied.clone() else {
            return Ok(Json(json!({ "applied": null, "drift": [] })));
        };
        let planned = Document::parse(&applied.document)
            .and_then(|doc| crate::fleet::plan(&current, &doc, &applied.document, &applied.source, &Held(&current)));
        let (drift, problem) = match planned {
            Ok(plan) => (plan.changes.iter().map(ToString::to_string).collect::<Vec<_>>(), None),
            Err(e) => (Vec::new(), Some(e.0)),
        };
        Ok(Json(json!({
            "applied": { "source": applied.source, "at": applied.at },
            "drift": drift,
            "problem": problem,
        })))
    })
    .await
}

/// `GET /local/export`: the running configuration as a document, and what it cannot express.
pub(super) async fn export_local(State(node): State<Node>) -> AdminResult<Json<Value>> {
    let store = node.life.store.clone();
    blocking(move || {
        let (doc, warnings) = crate::fleet::export(&store.config_set().map_err(store_err)?);
        Ok(Json(json!({ "document": doc.render(), "warnings": warnings })))
    })
    .await
}
