//! Model routing: GitLab names a model per request (flat `model_*` fields or `model_metadata`); airgate serves
//! it in-process when it is one of its own models, calls it as an OpenAI-compatible upstream otherwise, and
//! falls back to the model mapped to the feature when the request names none.

use std::sync::Arc;

use serde::Deserialize;

use super::FeatureError;
use crate::activity::Tapped;
use crate::engine::remote::{RemoteClient, RemoteConfig};
use crate::engine::{Engine, ModelRegistry, ModelStatus};
use crate::prompt::Family;
use crate::store::RunawayPolicy;
use crate::store::settings::{FEATURE_ROUTES, RUNAWAY_ANSWERS};
use crate::store::{EndpointRecord, Store};

/// The model a GitLab request asks for, whichever encoding it came in.
#[derive(Clone, Default, Deserialize)]
pub struct ModelRequest {
    /// `litellm`, `openai`, `custom_openai`, `gitlab`, …
    #[serde(default)]
    pub provider: Option<String>,
    /// The GitLab model family (`codestral`, `mistral`, …).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    /// `custom_openai/<served model>` (or just the served model name).
    #[serde(default)]
    pub identifier: Option<String>,
    /// The caller was not authenticated (`auth.bypass`): it may name only an endpoint the admin
    /// registered (or airgate itself), and upstream failures reach it without the upstream's words.
    #[serde(skip)]
    pub registered_only: bool,
}

/// Never prints the API key.
impl std::fmt::Debug for ModelRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRequest")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("identifier", &self.identifier)
            .field("registered_only", &self.registered_only)
            .finish()
    }
}

impl ModelRequest {
    /// Names no model to call (a family alone only picks the prompt layout).
    fn names_no_model(&self) -> bool {
        [&self.endpoint, &self.identifier].iter().all(|f| f.as_deref().is_none_or(|s| s.trim().is_empty()))
    }

    /// The served model name from the identifier: `custom_openai/Foo` → `Foo`, `Foo` → `Foo`.
    fn served_name(&self) -> Option<&str> {
        let id = self.identifier.as_deref()?.trim();
        let name = id.split_once('/').map_or(id, |(_, rest)| rest);
        (!name.is_empty()).then_some(name)
    }
}

pub use crate::store::{Feature, FeatureRoutes, RouteTarget};

/// What routing knows of each feature beyond its key (the type itself is a stored record).
impl Feature {
    /// The row title in GitLab's admin tab.
    pub fn title(self) -> &'static str {
        match self {
            Feature::CodeCompletions => "Code Completion",
            Feature::CodeGenerations => "Code Generation",
            Feature::DuoChat => "General Chat",
            Feature::DuoChatExplainCode => "Code Explanation",
            Feature::DuoChatWriteTests => "Test Generation",
            Feature::DuoChatRefactorCode => "Refactor Code",
            Feature::DuoChatFixCode => "Fix Code",
            Feature::DuoChatTroubleshootJob => "Root Cause Analysis",
            Feature::DuoChatExplainVulnerability => "Vulnerability Explanation",
            Feature::DuoChatSummarizeComments => "Discussion Summary",
            Feature::GenerateCommitMessage => "Merge Commit Message Generation",
            Feature::SummarizeNewMergeRequest => "Merge Request Summary",
            Feature::ResolveVulnerability => "Vulnerability Resolution",
            Feature::SummarizeReview => "Code Review Summary",
            Feature::GlabAskGitCommand => "GitLab Duo for CLI",
            Feature::ReviewMergeRequest => "Code Review",
            Feature::DuoAgentPlatform => "All agents except Agentic Chat",
            Feature::DuoAgentPlatformAgenticChat => "Agentic Chat",
            Feature::EmbeddingsCode => "Code Embeddings",
        }
    }

    /// The section of GitLab's admin tab the row sits in.
    pub fn group(self) -> &'static str {
        match self {
            Feature::CodeCompletions | Feature::CodeGenerations => "Code Suggestions",
            Feature::DuoAgentPlatform | Feature::DuoAgentPlatformAgenticChat => "GitLab Duo Agent Platform",
            Feature::EmbeddingsCode => "Semantic code search",
            f if f == Feature::DuoChat || f.fallback() == Some(Feature::DuoChat) => "GitLab Duo Chat",
            _ => "Other GitLab Duo features",
        }
    }

    /// The feature whose model serves a prompt of this unit primitive (§2.6, §8). Chat tools and
    /// anything GitLab does not map to its own row run as General Chat.
    pub fn for_unit_primitive(unit_primitive: &str) -> Feature {
        match unit_primitive {
            "complete_code" | "code_suggestions" => Feature::CodeCompletions,
            "generate_code" => Feature::CodeGenerations,
            "explain_code" => Feature::DuoChatExplainCode,
            "write_tests" => Feature::DuoChatWriteTests,
            "refactor_code" => Feature::DuoChatRefactorCode,
            "fix_code" => Feature::DuoChatFixCode,
            "troubleshoot_job" => Feature::DuoChatTroubleshootJob,
            "explain_vulnerability" => Feature::DuoChatExplainVulnerability,
            "summarize_comments" => Feature::DuoChatSummarizeComments,
            "generate_commit_message" => Feature::GenerateCommitMessage,
            "summarize_new_merge_request" => Feature::SummarizeNewMergeRequest,
            "resolve_vulnerability" => Feature::ResolveVulnerability,
            "summarize_review" => Feature::SummarizeReview,
            "glab_ask_git_command" => Feature::GlabAskGitCommand,
            "review_merge_request" => Feature::ReviewMergeRequest,
            "duo_agent_platform" | "duo_workflow_execute_workflow" => Feature::DuoAgentPlatform,
            "generate_embeddings_codebase" => Feature::EmbeddingsCode,
            _ => Feature::DuoChat,
        }
    }

    /// Where an unset feature takes its model from: chat sub-features fall back to General Chat (GitLab's rule).
    pub fn fallback(self) -> Option<Feature> {
        match self {
            Feature::DuoChatExplainCode
            | Feature::DuoChatWriteTests
            | Feature::DuoChatRefactorCode
            | Feature::DuoChatFixCode
            | Feature::DuoChatTroubleshootJob
            | Feature::DuoChatExplainVulnerability
            | Feature::DuoChatSummarizeComments => Some(Feature::DuoChat),
            _ => None,
        }
    }
}

/// Where `feature` is routed: its own route, else the one of the feature it falls back to (then
/// `true`: inherited); `None` = the default model.
pub fn route_of(routes: &FeatureRoutes, feature: Feature) -> Option<(&RouteTarget, bool)> {
    match routes.get(&feature) {
        Some(own) => Some((own, false)),
        None => feature.fallback().and_then(|f| routes.get(&f)).map(|t| (t, true)),
    }
}

/// The features whose own route is `target`, as GitLab keys ("a, b").
pub fn features_routed_to(routes: &FeatureRoutes, target: &RouteTarget) -> String {
    routes.iter().filter(|(_, t)| *t == target).map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", ")
}

/// The remote endpoint's call settings.
pub fn remote_config(e: &EndpointRecord, family: Family) -> RemoteConfig {
    RemoteConfig {
        name: e.name.clone(),
        base_url: e.url.trim_end_matches('/').to_string(),
        model: e.model.clone(),
        api_key: e.api_key.clone().filter(|k| !k.is_empty()),
        connect_timeout: std::time::Duration::from_secs(5),
        request_timeout: std::time::Duration::from_secs(60),
        context_tokens: family.max_context_tokens() as u32,
    }
}

/// Where a request goes.
pub struct Route {
    pub engine: Arc<dyn Engine>,
    pub family: Family,
    /// In-process model (exact tokenizer, raw FIM prompts) or an upstream server.
    pub local: bool,
    /// The provider string echoed back in responses (`litellm` for self-hosted).
    pub provider: String,
}

/// This airgate's own address: the port it listens on and the host names it answers to, to
/// recognise a GitLab endpoint that points back at it.
#[derive(Clone, Debug, Default)]
pub struct OwnAddress {
    pub port: u16,
    pub hosts: Arc<Vec<String>>,
    /// The Agent Platform (gRPC) listener's port.
    pub agent_port: u16,
}

/// What routing needs of the running server (an axum sub-state of the application state).
#[derive(Clone)]
pub struct Routing {
    pub models: ModelRegistry,
    pub remote: RemoteClient,
    pub store: Store,
    pub own: OwnAddress,
}

/// How long a request waits for a model that is still loading (GitLab's "Test connection" gives up after 3 s).
const MODEL_LOAD_WAIT: std::time::Duration = std::time::Duration::from_millis(2500);

impl Routing {
    /// The admin's feature routes and remote endpoints (none when the store cannot be read: the
    /// default model serves).
    pub async fn table(&self) -> (FeatureRoutes, Vec<EndpointRecord>) {
        self.table_with(false).await
    }

    /// [`Routing::table`], with the endpoints also when `endpoints` (a request names one).
    async fn table_with(&self, endpoints: bool) -> (FeatureRoutes, Vec<EndpointRecord>) {
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || {
            let routes = store.get_setting(FEATURE_ROUTES)?.unwrap_or_default();
            // Every GitLab request reads this: the endpoints only when a route needs them.
            let remote = endpoints || routes.values().any(|t| matches!(t, RouteTarget::Remote { .. }));
            let endpoints = if remote { store.endpoints()? } else { Vec::new() };
            Ok::<_, crate::store::StoreError>((routes, endpoints))
        })
        .await;
        match read.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the feature routes; using the default model");
                (FeatureRoutes::default(), Vec::new())
            }
        }
    }

    /// The admin's output caps and repetition guard switch (GitLab's caps, guard on, when the
    /// store cannot be read).
    pub async fn runaway(&self) -> RunawayPolicy {
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || store.get_setting(RUNAWAY_ANSWERS)).await;
        match read.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(policy) => policy.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the output caps; using GitLab's");
                RunawayPolicy::default()
            }
        }
    }

    /// A model router over this server's models and the given routing table.
    pub fn router<'a>(&'a self, routes: &'a FeatureRoutes, endpoints: &'a [EndpointRecord]) -> Router<'a> {
        Router {
            models: &self.models,
            remote: &self.remote,
            routes,
            endpoints,
            own_port: self.own.port,
            own_hosts: &self.own.hosts,
        }
    }

    /// Routes the request to a model: this server's own (waiting briefly for one that is still
    /// loading), an upstream it names, or the model the admin mapped to the feature.
    pub async fn route(&self, model: &ModelRequest, feature: Feature) -> Result<Route, FeatureError> {
        let (routes, endpoints) = self.table_with(model.registered_only && !model.names_no_model()).await;
        let router = self.router(&routes, &endpoints);
        match router.route(model, feature) {
            // Right after a start the model is still loading: wait briefly rather than fail.
            Err(FeatureError::Loading(name)) => {
                self.models.wait_loaded(&name, MODEL_LOAD_WAIT).await;
                router.route(model, feature)
            }
            other => other,
        }
    }
}

/// What routing needs to know about this airgate.
pub struct Router<'a> {
    pub models: &'a ModelRegistry,
    pub remote: &'a RemoteClient,
    pub routes: &'a FeatureRoutes,
    /// The admin's remote endpoints, which routes may name.
    pub endpoints: &'a [EndpointRecord],
    /// Port airgate listens on and the host names it answers to, to recognise an endpoint that
    /// points at airgate itself.
    pub own_port: u16,
    pub own_hosts: &'a [String],
}

impl Router<'_> {
    pub fn route(&self, req: &ModelRequest, feature: Feature) -> Result<Route, FeatureError> {
        let mut route = self.route_any(req, feature)?;
        if req.registered_only && !route.local {
            route.engine = Arc::new(Quiet(route.engine));
        }
        Ok(route)
    }

    fn route_any(&self, req: &ModelRequest, feature: Feature) -> Result<Route, FeatureError> {
        let provider = req.provider.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "litellm".into());
        let named = match req.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => Some(Family::parse(name)?),
            None => None,
        };
        let family = named.unwrap_or(Family::General);
        if req.names_no_model() {
            return self.feature_route(feature, named, provider);
        }
        if let Some(name) = req.served_name()
            && self.models.status(name).is_some()
        {
            return Ok(Route { engine: self.local(name)?, family, local: true, provider });
        }
        let endpoint = req.endpoint.as_deref().map(str::trim).filter(|s| !s.is_empty());
        match endpoint {
            Some(url) if self.is_self(url) => {
                // GitLab points at airgate's /v1 but names a model airgate does not have: serve the
                // feature's model rather than fail, and say so.
                tracing::warn!(requested = ?req.served_name(), "the request names a model airgate does not have; serving the feature's model");
                self.feature_route(feature, Some(family), provider)
            }
            Some(url) if req.registered_only => {
                let same = |e: &&EndpointRecord| e.url.trim_end_matches('/') == url.trim_end_matches('/');
                let Some(e) = self.endpoints.iter().find(same) else {
                    return Err(FeatureError::Refused(
                        "authentication is bypassed (auth.bypass): a request may name only a model endpoint \
                         the administrator registered, or airgate itself"
                            .into(),
                    ));
                };
                let engine = Tapped::wrap(Arc::new(self.remote.engine(remote_config(e, family))));
                Ok(Route { engine, family, local: false, provider })
            }
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(FeatureError::BadInput(format!("model endpoint `{url}` is not an http(s) URL")));
                }
                let model = req.served_name().map(str::to_string).unwrap_or_else(|| family.as_str().to_string());
                let cfg = RemoteConfig {
                    name: model.clone(),
                    base_url: url.trim_end_matches('/').to_string(),
                    model,
                    api_key: req.api_key.clone().filter(|k| !k.is_empty()),
                    connect_timeout: std::time::Duration::from_secs(5),
                    request_timeout: std::time::Duration::from_secs(60),
                    context_tokens: family.max_context_tokens() as u32,
                };
                Ok(Route { engine: Tapped::wrap(Arc::new(self.remote.engine(cfg))), family, local: false, provider })
            }
            None => Err(FeatureError::Unprocessable(format!(
                "model `{}` is not loaded in airgate and the request names no endpoint",
                req.served_name().unwrap_or_default()
            ))),
        }
    }

    fn local(&self, name: &str) -> Result<Arc<dyn Engine>, FeatureError> {
        match self.models.status(name) {
            Some(ModelStatus::Ready) => {
                self.models.get(name).ok_or_else(|| FeatureError::NoModel(format!("model `{name}` is not available")))
            }
            Some(ModelStatus::Loading) => Err(FeatureError::Loading(name.to_string())),
            Some(ModelStatus::Failed(reason)) => {
                Err(FeatureError::NoModel(format!("model `{name}` failed to load: {reason}")))
            }
            None => Err(FeatureError::Unprocessable(format!("model `{name}` is not configured in airgate"))),
        }
    }

    /// What the admin mapped `feature` (or the feature it falls back to) to, else the default model.
    /// `family` is the request's own family, if it named one; a remote endpoint's family comes next.
    fn feature_route(&self, feature: Feature, family: Option<Family>, provider: String) -> Result<Route, FeatureError> {
        match route_of(self.routes, feature).map(|(target, _)| target) {
            Some(RouteTarget::Disabled) => Err(FeatureError::Disabled(feature.as_str())),
            Some(RouteTarget::Remote { endpoint }) => {
                let e = self.endpoints.iter().find(|e| &e.name == endpoint).ok_or_else(|| {
                    FeatureError::NoModel(format!(
                        "remote endpoint `{endpoint}` of feature {} is gone",
                        feature.as_str()
                    ))
                })?;
                let family = match family {
                    Some(f) => f,
                    None => e.family.as_deref().map(Family::parse).transpose()?.unwrap_or(Family::General),
                };
                let engine = Tapped::wrap(Arc::new(self.remote.engine(remote_config(e, family))));
                Ok(Route { engine, family, local: false, provider })
            }
            Some(RouteTarget::Local { model }) => Ok(Route {
                engine: self.local(model)?,
                family: family.unwrap_or(Family::General),
                local: true,
                provider,
            }),
            None => {
                let name = self
                    .models
                    .default_name()
                    .ok_or_else(|| FeatureError::NoModel("no model is configured in airgate".into()))?;
                Ok(Route {
                    engine: self.local(&name)?,
                    family: family.unwrap_or(Family::General),
                    local: true,
                    provider,
                })
            }
        }
    }

    /// True when `url` is airgate's own address (loopback or one of its host names, on its port).
    fn is_self(&self, url: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(url) else { return false };
        let Some(host) = url.host_str() else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1" | "0.0.0.0");
        url.port_or_known_default() == Some(self.own_port)
            && (loopback || self.own_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }
}

mod quiet;
pub use quiet::Quiet;

#[cfg(test)]
mod tests;
