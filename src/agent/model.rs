//! Which model serves a session: the one GitLab names in `x-gitlab-agent-platform-model-metadata` (local or remote, as for the HTTP gateway), else the admin's route for the feature, else the default model.

use std::sync::Arc;
use std::time::Duration;

use tonic::Status;

use super::AgentState;
use crate::auth::gitlab::Principal;
use crate::features::FeatureError;
use crate::features::agent::engine_model::EngineModel;
use crate::features::agent::model::AgentModel;
use crate::features::routing::{FEATURE_ROUTES_KEY, Feature, FeatureRoutes, ModelRequest, RouteTarget, Router};

/// How long a session waits for a model that is still loading.
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// The admin's routes and the endpoints they name (none when the store cannot be read).
async fn routing_table(state: &AgentState) -> (FeatureRoutes, Vec<crate::store::EndpointRecord>) {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let routes: FeatureRoutes = store.get_setting(FEATURE_ROUTES_KEY)?.unwrap_or_default();
        let remote = routes.values().any(|t| matches!(t, RouteTarget::Remote { .. }));
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

/// The session's model. Tokens this service minted (the IDE's direct connection) may not name an
/// endpoint: that would let any user make airgate call arbitrary URLs.
pub async fn select(
    state: &AgentState,
    requested: Option<ModelRequest>,
    caller: &Principal,
    feature: Feature,
    verbose: bool,
) -> Result<Arc<dyn AgentModel>, Status> {
    let requested = match requested {
        Some(r) if caller.gateway_issued => ModelRequest { name: r.name, ..ModelRequest::default() },
        Some(r) => r,
        None => ModelRequest::default(),
    };
    let (routes, endpoints) = routing_table(state).await;
    let router = Router {
        models: &state.models,
        remote: &state.remote,
        routes: &routes,
        endpoints: &endpoints,
        own_port: state.own_port,
        own_hosts: &state.own_hosts,
    };
    let mut routed = router.route(&requested, feature);
    if let Err(FeatureError::Loading(name)) = &routed {
        state.models.wait_loaded(name, LOAD_WAIT).await;
        routed = router.route(&requested, feature);
    }
    if let Err(FeatureError::Unprocessable(why) | FeatureError::BadInput(why)) = &routed {
        // GitLab's model metadata names something unusable: serve the configured model instead.
        tracing::warn!(reason = %why, "the model GitLab named cannot be used; using the configured model");
        routed = router.route(&ModelRequest::default(), feature);
    }
    let route = routed.map_err(|e| match e {
        FeatureError::Disabled(f) => {
            Status::permission_denied(format!("the feature {f} is disabled by the airgate administrator"))
        }
        FeatureError::Loading(name) => Status::unavailable(format!("model `{name}` is still loading")),
        other => Status::unavailable(other.to_string()),
    })?;
    tracing::info!(
        model = %route.engine.info().name,
        local = route.local,
        family = route.family.as_str(),
        feature = feature.as_str(),
        "Agent Platform model"
    );
    Ok(Arc::new(EngineModel::new(route, feature, verbose)))
}
