//! gRPC metadata → the same GitLab verifier as the HTTP gateway (audience `gitlab-duo-workflow-service`), the unit-primitive checks of each RPC, and the metadata that shapes a session.

use tonic::Status;
use tonic::codegen::http;
use tonic::metadata::MetadataMap;

use super::session::{ClientInfo, Needs};
use crate::auth::gitlab::{Audience, AuthError, GitlabAuth, Principal};
use crate::config::ChatScope;
use crate::features::agent::gitlab::GitlabVersion;

/// The gRPC metadata as HTTP headers (the verifier reads those).
pub fn headers(metadata: &MetadataMap) -> http::HeaderMap {
    metadata.clone().into_headers()
}

/// Verifies the caller's token; every failure is UNAUTHENTICATED with GitLab's message.
pub async fn authenticate(auth: &GitlabAuth, headers: &http::HeaderMap) -> Result<Principal, Status> {
    match auth.verify_for(headers, Audience::Workflow).await {
        Ok(principal) => Ok(principal),
        Err(AuthError::Unauthorized(message)) => {
            tracing::info!(reason = %message, "Agent Platform authentication failed");
            Err(Status::unauthenticated(message))
        }
        Err(AuthError::Setup(detail)) => {
            tracing::error!(%detail, "Agent Platform authentication is not set up");
            Err(Status::internal("authentication is not available"))
        }
    }
}

/// True when the caller may run a flow that needs `needs`.
pub fn allowed(caller: &Principal, needs: Needs, chat: ChatScope) -> bool {
    let platform = caller.has_scope("duo_agent_platform") || caller.has_scope("duo_workflow_execute_workflow");
    match (needs, chat) {
        (Needs::Chat, ChatScope::DuoChat) => caller.has_scope("duo_chat"),
        (Needs::Chat, ChatScope::AgentPlatform) => {
            caller.has_scope("duo_chat") || platform || caller.has_scope("self_hosted_duo_agent_platform")
        }
        (Needs::AgentPlatform, _) => platform || caller.has_scope("self_hosted_duo_agent_platform"),
    }
}

/// `GenerateToken`: Agent Platform scope, and not a token this service minted (no refreshing its
/// own tokens); never with `auth.bypass` (nobody is authenticated then).
pub fn may_mint(caller: &Principal, needs: Needs, chat: ChatScope) -> bool {
    !caller.gateway_issued && !caller.bypass && allowed(caller, needs, chat)
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// What the metadata says about the client.
pub fn client_info(headers: &http::HeaderMap) -> ClientInfo {
    let list = |name: &str| -> Vec<String> {
        header(headers, name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    };
    ClientInfo {
        gitlab_version: header(headers, "x-gitlab-version").and_then(GitlabVersion::parse),
        feature_flags: list("x-gitlab-enabled-feature-flags"),
        language_server: header(headers, "x-gitlab-language-server-version").and_then(GitlabVersion::parse),
        mcp_search: list("x-gitlab-enabled-mcp-server-tools").iter().any(|t| t == "search"),
    }
}

/// The request's correlation id (`x-request-id`, `x-gitlab-correlation-id`), or a new one.
pub fn correlation_id(headers: &http::HeaderMap) -> String {
    header(headers, "x-request-id")
        .or_else(|| header(headers, "x-gitlab-correlation-id"))
        .filter(|v| v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Prompts and model output are logged when GitLab asks for verbose AI logs.
pub fn verbose_logs(headers: &http::HeaderMap) -> bool {
    ["x-gitlab-enabled-instance-verbose-ai-logs", "x-gitlab-extended-logging"]
        .iter()
        .any(|h| header(headers, h).is_some_and(|v| v.eq_ignore_ascii_case("true")))
}

/// `x-gitlab-agent-platform-model-metadata`, the model GitLab's admin chose (absent or unreadable: none).
pub fn model_metadata(headers: &http::HeaderMap) -> Option<crate::features::routing::ModelRequest> {
    let raw = header(headers, "x-gitlab-agent-platform-model-metadata")?;
    match serde_json::from_str(raw) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable x-gitlab-agent-platform-model-metadata; using the configured model");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn caller(scopes: &[&str]) -> Principal {
        Principal {
            subject: "i".into(),
            issuer: "https://gitlab.example.com".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            gateway_issued: false,
            realm: None,
            instance_id: None,
            instance_uid: None,
            global_user_id: Some("7".into()),
            bypass: false,
            propagated: Default::default(),
        }
    }

    #[test]
    fn scope_rules() {
        use ChatScope::{AgentPlatform as Lenient, DuoChat};
        use Needs::{AgentPlatform as Platform, Chat};
        let table: &[(&[&str], Needs, ChatScope, bool)] = &[
            (&["duo_chat"], Chat, DuoChat, true),
            (&["duo_agent_platform"], Chat, DuoChat, false),
            (&["duo_agent_platform"], Chat, Lenient, true),
            (&["self_hosted_duo_agent_platform"], Chat, Lenient, true),
            (&["complete_code"], Chat, Lenient, false),
            (&["duo_agent_platform"], Platform, DuoChat, true),
            (&["duo_workflow_execute_workflow"], Platform, DuoChat, true),
            (&["duo_chat"], Platform, Lenient, false),
            (&[], Platform, Lenient, false),
        ];
        for (scopes, needs, chat, ok) in table {
            assert_eq!(allowed(&caller(scopes), *needs, *chat), *ok, "{scopes:?} {needs:?} {chat:?}");
        }
        let minted = Principal { gateway_issued: true, ..caller(&["duo_agent_platform"]) };
        assert!(!may_mint(&minted, Platform, Lenient));
        let bypass = Principal { bypass: true, ..caller(&[]) };
        assert!(allowed(&bypass, Platform, DuoChat) && !may_mint(&bypass, Platform, DuoChat));
        assert!(may_mint(&caller(&["duo_agent_platform"]), Platform, Lenient));
    }

    #[test]
    fn metadata_is_read() {
        let mut h = http::HeaderMap::new();
        h.insert("x-gitlab-version", "18.9.1-ee".parse().unwrap());
        h.insert("x-gitlab-enabled-feature-flags", "a, duo_workflow_compress_checkpoint".parse().unwrap());
        h.insert("x-gitlab-enabled-mcp-server-tools", "search,semantic".parse().unwrap());
        h.insert("x-gitlab-language-server-version", "8.60.0".parse().unwrap());
        h.insert("x-request-id", "abc-123".parse().unwrap());
        h.insert(
            "x-gitlab-agent-platform-model-metadata",
            r#"{"provider":"openai","name":"general","endpoint":"http://llm:8000/v1","api_key":null,"identifier":"custom_openai/Qwen"}"#
                .parse()
                .unwrap(),
        );
        let info = client_info(&h);
        assert_eq!(info.gitlab_version, Some(GitlabVersion(18, 9, 1)));
        assert_eq!(info.feature_flags, vec!["a".to_string(), "duo_workflow_compress_checkpoint".to_string()]);
        assert!(info.mcp_search);
        assert_eq!(info.language_server, Some(GitlabVersion(8, 60, 0)));
        assert_eq!(correlation_id(&h), "abc-123");
        let model = model_metadata(&h).unwrap();
        assert_eq!(model.identifier.as_deref(), Some("custom_openai/Qwen"));
        h.insert("x-gitlab-agent-platform-model-metadata", "{not json".parse().unwrap());
        assert!(model_metadata(&h).is_none());
        assert_eq!(correlation_id(&http::HeaderMap::new()).len(), 36);
    }
}
