//! Which model serves a session: the one GitLab names in `x-gitlab-agent-platform-model-metadata` (local or remote, as for the HTTP gateway), else the admin's route for the feature, else the default model.

use std::sync::Arc;
use std::time::Duration;

use tonic::Status;

use super::AgentState;
use crate::auth::gitlab::Principal;
use crate::features::FeatureError;
use crate::features::agent::engine_model::EngineModel;
use crate::features::agent::model::AgentModel;
use crate::features::routing::{Feature, ModelRequest};

/// How long a session waits, beyond routing's own short wait, for a model that is still loading.
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// The session's model. Tokens this service minted (the IDE's direct connection) may not name an
/// endpoint: that would let any user make airgate call arbitrary URLs; nor may anyone under
/// `auth.bypass` name one the admin did not register.
pub async fn select(
    state: &AgentState,
    requested: Option<ModelRequest>,
    caller: &Principal,
    feature: Feature,
    verbose: bool,
) -> Result<Arc<dyn AgentModel>, Status> {
    let requested = match requested {
        Some(r) if caller.gateway_issued => ModelRequest { name: r.name, ..ModelRequest::default() },
        // Under auth.bypass nobody is authenticated: only a registered endpoint may be named.
        Some(r) => ModelRequest { registered_only: caller.bypass, ..r },
        None => ModelRequest::default(),
    };
    let routing = &state.routing;
    let mut routed = routing.route(&requested, feature).await;
    if let Err(FeatureError::Loading(name)) = &routed {
        routing.models.wait_loaded(name, LOAD_WAIT).await;
        routed = routing.route(&requested, feature).await;
    }
    if let Err(FeatureError::Unprocessable(why) | FeatureError::BadInput(why)) = &routed {
        // GitLab's model metadata names something unusable: serve the configured model instead.
        tracing::warn!(reason = %why, "the model GitLab named cannot be used; using the configured model");
        routed = routing.route(&ModelRequest::default(), feature).await;
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
