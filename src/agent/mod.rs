//! The GitLab Duo Agent Platform surface: the `DuoWorkflow` gRPC service (tonic) beside the HTTP one — authentication from metadata, the unary calls, `ExecuteWorkflow` sessions, `grpc.health.v1`, and the listener (4 MiB messages, 24 KiB metadata, 20 s keepalive, plaintext or TLS).
//!
//! Submodules: `proto` (generated wire types), `auth` (metadata → `auth::gitlab`, scope rules),
//! `session` (the pure session state machine), `execute` (a session's driver: stream in, run,
//! stream out), `model` (which model serves a session).

pub mod auth;
mod execute;
mod model;
pub mod proto;
pub mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use crate::auth::GitlabSlot;
use crate::config::{Config, TlsPaths};
use crate::features::agent::{catalog, sessions::Sessions};
use crate::features::routing::Routing;
use crate::state::ExpandedLogging;
use proto::duo_workflow_server::{DuoWorkflow, DuoWorkflowServer};
use session::MAX_MESSAGE;

/// The gRPC service name, without a package (GitLab's clients call `/DuoWorkflow/<Method>`).
pub const SERVICE: &str = "DuoWorkflow";
/// Largest metadata block (GitLab sends large model-metadata and feature-flag headers).
const MAX_METADATA: u32 = 24 * 1024;
/// Server keepalive pings; clients may ping as often (Workhorse pings every 20 s).
const KEEPALIVE: Duration = Duration::from_secs(20);

/// What the service reaches. Cheap to clone.
#[derive(Clone)]
pub struct AgentState {
    pub config: Arc<Config>,
    pub gitlab: Arc<GitlabSlot>,
    /// Which model serves a session (models, upstreams, the admin's feature routes).
    pub routing: Routing,
    pub sessions: Arc<Sessions>,
    pub expanded_logging: ExpandedLogging,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the TLS files for the Agent Platform service: {0}")]
    Tls(String),
    #[error("Agent Platform service failed: {0}")]
    Serve(String),
}

/// Serves the Agent Platform on `listener` until `shutdown` resolves; then reports NOT_SERVING,
/// stops accepting, and lets running sessions finish for up to `drain`.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AgentState,
    tls: Option<TlsPaths>,
    shutdown: impl Future<Output = ()> + Send,
    drain: Duration,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status(SERVICE, tonic_health::ServingStatus::Serving).await;
    let service = DuoWorkflowServer::new(Service { state })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE))
        .http2_keepalive_timeout(Some(KEEPALIVE))
        .http2_max_header_list_size(MAX_METADATA)
        .tcp_nodelay(true);
    if let Some(paths) = &tls {
        let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| ServeError::Tls(format!("{}: {e}", p.display())));
        let identity = Identity::from_pem(read(&paths.cert)?, read(&paths.key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServeError::Tls(crate::error_chain(&e)))?;
    }
    let addr = listener.local_addr().map_err(|e| ServeError::Serve(e.to_string()))?;
    listener.set_nonblocking(true).map_err(|e| ServeError::Serve(e.to_string()))?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| ServeError::Serve(e.to_string()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = {
        let reporter = reporter.clone();
        async move {
            shutdown.await;
            for name in ["", SERVICE] {
                reporter.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
            }
            tracing::info!("Agent Platform service: not serving; finishing running sessions");
            let _ = stop_tx.send(true);
        }
    };
    tracing::info!(addr = %addr, tls = tls.is_some(), "agent platform listening");
    let server = builder
        .add_service(health)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
    let deadline = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = server => result.map_err(|e| ServeError::Serve(crate::error_chain(&e))),
        () = deadline => {
            tracing::warn!("Agent Platform sessions still running at the shutdown deadline were cut off");
            Ok(())
        }
    }
}

/// Asks the service at `addr` for its `grpc.health.v1` status of "" and `DuoWorkflow` (what GitLab's
/// troubleshooting script checks). With `tls`, the certificate in `ca_pem` is trusted for the name
/// `localhost`. `Ok` carries the status, `Err` why no answer came.
pub async fn probe_health(addr: std::net::SocketAddr, tls: Option<Vec<u8>>) -> Result<String, String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5));
    if let Some(pem) = tls {
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)).domain_name("localhost");
        endpoint = endpoint.tls_config(config).map_err(|e| crate::error_chain(&e))?;
    }
    let channel = endpoint.connect().await.map_err(|e| crate::error_chain(&e))?;
    let mut client = HealthClient::new(channel);
    let mut answers = Vec::new();
    for service in ["", SERVICE] {
        let request = HealthCheckRequest { service: service.to_string() };
        let status =
            client.check(request).await.map_err(|e| format!("{}: {}", e.code(), e.message()))?.into_inner().status;
        let name = tonic_health::pb::health_check_response::ServingStatus::try_from(status)
            .map(|s| s.as_str_name().to_string())
            .unwrap_or_else(|_| status.to_string());
        answers.push(name);
    }
    if answers.iter().all(|a| a == "SERVING") {
        Ok("SERVING".into())
    } else {
        Err(format!("health is {} (server) / {} (DuoWorkflow)", answers[0], answers[1]))
    }
}

/// The `DuoWorkflow` service.
pub struct Service {
    pub(crate) state: AgentState,
}

impl Service {
    async fn caller<T>(&self, request: &Request<T>) -> Result<crate::auth::gitlab::Principal, Status> {
        let headers = auth::headers(request.metadata());
        auth::authenticate(&self.state.gitlab.get(), &headers).await
    }
}

type ActionStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::Action, Status>> + Send>>;
type TrackStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::TrackSelfHostedAction, Status>> + Send>>;

#[tonic::async_trait]
impl DuoWorkflow for Service {
    type ExecuteWorkflowStream = ActionStream;
    type TrackSelfHostedExecuteWorkflowStream = TrackStream;

    async fn execute_workflow(
        &self,
        request: Request<tonic::Streaming<proto::ClientEvent>>,
    ) -> Result<Response<Self::ExecuteWorkflowStream>, Status> {
        execute::execute(&self.state, request).await
    }

    async fn generate_token(
        &self,
        request: Request<proto::GenerateTokenRequest>,
    ) -> Result<Response<proto::GenerateTokenResponse>, Status> {
        let caller = self.caller(&request).await?;
        let definition = request.get_ref().workflow_definition.clone().unwrap_or_default();
        let start = proto::StartWorkflowRequest { workflow_definition: definition, ..Default::default() };
        let needs = session::needs(&start);
        if !auth::may_mint(&caller, needs, self.state.config.agent.chat_scope) {
            return Err(Status::permission_denied("Unauthorized to generate token"));
        }
        let (token, expires_at) = self.state.gitlab.get().mint_workflow_token(&caller).map_err(|e| match e {
            crate::auth::gitlab::AuthError::Unauthorized(message) => Status::invalid_argument(message),
            crate::auth::gitlab::AuthError::Setup(detail) => {
                tracing::error!(%detail, "could not mint a workflow token");
                Status::internal("Failed to generate token")
            }
        })?;
        tracing::info!(user = caller.global_user_id.as_deref().unwrap_or("-"), "minted an Agent Platform token");
        Ok(Response::new(proto::GenerateTokenResponse {
            token,
            expires_at: expires_at as i64,
            server_capabilities: catalog::CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        }))
    }

    async fn list_capabilities(
        &self,
        request: Request<proto::ListCapabilitiesRequest>,
    ) -> Result<Response<proto::ListCapabilitiesResponse>, Status> {
        self.caller(&request).await?;
        let capabilities = catalog::CAPABILITIES
            .iter()
            .map(|c| proto::Capability { name: c.to_string(), metadata: String::new() })
            .collect();
        Ok(Response::new(proto::ListCapabilitiesResponse { capabilities }))
    }

    async fn list_tools(
        &self,
        request: Request<proto::ListToolsRequest>,
    ) -> Result<Response<proto::ListToolsResponse>, Status> {
        self.caller(&request).await?;
        let tools = catalog::list_tools().iter().map(session::json_to_struct).collect();
        Ok(Response::new(proto::ListToolsResponse { tools, eval_dataset: Vec::new() }))
    }

    async fn list_flows(
        &self,
        request: Request<proto::ListFlowsRequest>,
    ) -> Result<Response<proto::ListFlowsResponse>, Status> {
        self.caller(&request).await?;
        // No Flow Registry yet: no flow configs to list, whatever the filters.
        Ok(Response::new(proto::ListFlowsResponse { configs: Vec::new() }))
    }

    async fn track_self_hosted_execute_workflow(
        &self,
        _request: Request<tonic::Streaming<proto::TrackSelfHostedClientEvent>>,
    ) -> Result<Response<Self::TrackSelfHostedExecuteWorkflowStream>, Status> {
        Err(Status::unimplemented("self-hosted usage tracking is a GitLab cloud service; airgate does not offer it"))
    }

    async fn validate_flow_config(
        &self,
        request: Request<proto::ValidateFlowConfigRequest>,
    ) -> Result<Response<proto::ValidateFlowConfigResponse>, Status> {
        self.caller(&request).await?;
        let errors = match &request.get_ref().flow_config {
            None => vec!["Missing required field: flow_config".to_string()],
            Some(config) => catalog::validate(&session::struct_to_json(config)),
        };
        Ok(Response::new(proto::ValidateFlowConfigResponse { valid: errors.is_empty(), errors }))
    }
}
