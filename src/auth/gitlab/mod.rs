//! GitLab authentication: trusts the GitLab instance's OIDC keys (JWKS) and airgate's own signing key, verifies RS256 tokens and the X-Gitlab-* header cross-checks, mints user access tokens.
//!
//! Decisions beyond §4.2: tokens must carry `exp` and `aud` (30 s leeway on `exp`/`nbf`); a token
//! without `kid` is tried against every trusted key (as GitLab's Python gateway does); header fields that
//! could fetch keys (`jku`, `x5u`, `jwk`) are ignored; a missing `sub` fails the `sub` cross-check.
//! Tokens, keys and `Authorization` values never reach a log line or an error message.

mod bypass;
mod keys;
pub use bypass::Bypass;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use keys::{Jwks, OwnKey, Timing};

pub const AUDIENCE: &str = "gitlab-ai-gateway";
pub const OWN_ISSUER: &str = "gitlab-ai-gateway";
/// The Agent Platform service's audience, and the issuer of the tokens it mints (`GenerateToken`).
pub const WORKFLOW_AUDIENCE: &str = "gitlab-duo-workflow-service";

/// Which service a token is presented to: its `aud` must name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The AI Gateway HTTP API.
    Gateway,
    /// The Agent Platform (Duo Workflow) gRPC service.
    Workflow,
}

impl Audience {
    fn name(self) -> &'static str {
        match self {
            Audience::Gateway => AUDIENCE,
            Audience::Workflow => WORKFLOW_AUDIENCE,
        }
    }
}

/// Unit primitives the Agent Platform service serves: a token it mints carries the caller's scopes among these.
pub const WORKFLOW_SCOPES: &[&str] = &[
    "duo_agent_platform",
    "duo_workflow_execute_workflow",
    "duo_chat",
    "self_hosted_duo_agent_platform",
    "self_hosted_models",
    "documentation_search",
    "include_file_context",
    "include_snippet_context",
    "include_repository_context",
    "include_directory_context",
    "include_issue_context",
    "include_merge_request_context",
    "include_dependency_context",
    "include_local_git_context",
    "include_terminal_context",
    "include_os_information_context",
    "include_user_rule_context",
    "include_agent_user_environment_context",
];
/// Claims a minted workflow token copies from the caller's token when present.
const PROPAGATED_CLAIMS: [&str; 3] = ["skip_usage_cutoff", "tool_access_policies", "gitlab_root_namespace_id"];

/// Scopes a user access token can carry (§2.4).
const USER_TOKEN_SCOPES: [&str; 2] = ["complete_code", "ai_gateway_model_provider_proxy"];
const USER_TOKEN_TTL_SECS: u64 = 3600;
/// The realm whose user access tokens carry `gitlab_instance_uid` (§2.4).
const SELF_MANAGED: &str = "self-managed";
const LEEWAY_SECS: u64 = 30;

const AUTH_TYPE_HEADER: &str = "X-Gitlab-Authentication-Type";
const REALM_HEADER: &str = "X-Gitlab-Realm";
const INSTANCE_ID_HEADER: &str = "X-Gitlab-Instance-Id";
const GLOBAL_USER_ID_HEADER: &str = "X-Gitlab-Global-User-Id";

const NO_HEADER: &str = "No authorization header presented";
const INVALID_HEADER: &str = "Invalid authorization header";
const NOT_OIDC: &str = "Invalid authentication token type - only OIDC is supported";
const FORBIDDEN: &str = "Forbidden by auth provider";

/// Who is calling, after verification.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub issuer: String,
    pub scopes: BTreeSet<String>,
    /// Minted by airgate itself (`/v1/code/user_access_token`).
    pub gateway_issued: bool,
    pub realm: Option<String>,
    pub instance_id: Option<String>,
    /// The `gitlab_instance_uid` claim, when the token carried one (Cloud Connector tokens do).
    pub instance_uid: Option<String>,
    pub global_user_id: Option<String>,
    /// `auth.bypass`: every scope check passes.
    pub bypass: bool,
    /// Claims a token minted for this caller carries over (`skip_usage_cutoff`, `tool_access_policies`, …).
    pub propagated: serde_json::Map<String, serde_json::Value>,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.bypass || self.scopes.contains(scope)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401; the message is GitLab's wording, e.g. "No authorization header presented",
    /// "Invalid authorization header", "Invalid authentication token type - only OIDC is supported",
    /// "Forbidden by auth provider", "Header mismatch 'X-Gitlab-Instance-Id'".
    #[error("{0}")]
    Unauthorized(String),
    /// Setup problems (key file unreadable…): never shown to clients in detail.
    #[error("{0}")]
    Setup(String),
}

/// For the admin/diagnostics: the state of GitLab's cached keys.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyStatus {
    pub gitlab_url: Option<String>,
    /// Last successful key fetch, epoch seconds.
    pub last_success: Option<u64>,
    /// GitLab keys cached (airgate's own key not counted).
    pub keys: usize,
    pub last_error: Option<String>,
}

/// Verifies GitLab and airgate tokens; mints airgate's user access tokens. Share as `Arc<GitlabAuth>`.
pub struct GitlabAuth {
    own: OwnKey,
    jwks: Option<Arc<Jwks>>,
    bypass: Bypass,
    /// The bypass ran out and that was logged.
    bypass_ended: std::sync::atomic::AtomicBool,
    validation: Validation,
    workflow_validation: Validation,
}

impl std::fmt::Debug for GitlabAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.jwks.as_ref().map(|j| j.base());
        f.debug_struct("GitlabAuth")
            .field("kid", &self.own.kid)
            .field("gitlab_url", &url)
            .field("bypass", &self.bypass)
            .finish()
    }
}

/// Claims read from a verified token (`exp`, `nbf` and `aud` are checked by jsonwebtoken).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    gitlab_realm: Option<String>,
    #[serde(default)]
    gitlab_instance_id: Option<String>,
    #[serde(default)]
    gitlab_instance_uid: Option<String>,
    #[serde(default)]
    skip_usage_cutoff: Option<serde_json::Value>,
    #[serde(default)]
    tool_access_policies: Option<serde_json::Value>,
    #[serde(default)]
    gitlab_root_namespace_id: Option<serde_json::Value>,
}

/// Claims of a user access token (§2.4).
#[derive(Serialize)]
struct UserTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gitlab_realm: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gitlab_instance_id: Option<&'a str>,
    /// Self-managed only: the instance's unique id (the extra claim GitLab's gateway adds there).
    #[serde(skip_serializing_if = "Option::is_none")]
    gitlab_instance_uid: Option<&'a str>,
    scopes: Vec<&'a str>,
}

impl GitlabAuth {
    /// Loads (or on first start generates, RSA 2048, file mode 0600, written atomically) airgate's signing key at `<data_dir>/jwt_signing_key.pem`;
    /// `gitlab_url` is the instance whose OIDC keys are trusted (None: only airgate's own key). Does no network I/O.
    /// Generating the key is CPU-bound (well under a second in release builds): call it off the async threads.
    pub fn new(
        data_dir: &Path,
        gitlab_url: Option<String>,
        bypass: impl Into<Bypass>,
    ) -> Result<GitlabAuth, AuthError> {
        Self::with_timing(data_dir, None, gitlab_url, bypass, keys::TIMING)
    }

    /// [`GitlabAuth::new`], signing with the key file `shared` when given (a fleet's replicas share
    /// one, so a user access token minted by one verifies on all); that file must exist.
    pub fn with_key(
        data_dir: &Path,
        shared: Option<&Path>,
        gitlab_url: Option<String>,
        bypass: impl Into<Bypass>,
    ) -> Result<GitlabAuth, AuthError> {
        Self::with_timing(data_dir, shared, gitlab_url, bypass, keys::TIMING)
    }

    fn with_timing(
        data_dir: &Path,
        shared: Option<&Path>,
        gitlab_url: Option<String>,
        bypass: impl Into<Bypass>,
        timing: Timing,
    ) -> Result<Self, AuthError> {
        let bypass = bypass.into();
        let own = match shared {
            Some(file) => OwnKey::load(file)?,
            None => OwnKey::load_or_create(data_dir)?,
        };
        let jwks = match gitlab_url {
            Some(url) => Some(Arc::new(Jwks::new(url.trim_end_matches('/').to_owned(), timing)?)),
            None => None,
        };
        if bypass.active() {
            tracing::warn!(
                expires_in_s = bypass.expires_in(),
                "AUTHENTICATION BYPASS IS ON (auth.bypass): every GitLab API request is accepted without a token \
                 and passes every scope check (a request may name only registered model endpoints). Use it only \
                 for troubleshooting, never on a reachable network; it turns itself off after auth.bypass_minutes \
                 unless that is 0."
            );
        }
        let validation_for = |audience: &str| {
            let mut validation = Validation::new(Algorithm::RS256);
            validation.leeway = LEEWAY_SECS;
            validation.validate_nbf = true; // off by default in jsonwebtoken
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "aud"]); // `aud` is otherwise only checked when present
            validation
        };
        let (validation, workflow_validation) = (validation_for(AUDIENCE), validation_for(WORKFLOW_AUDIENCE));
        Ok(GitlabAuth { own, jwks, bypass, bypass_ended: Default::default(), validation, workflow_validation })
    }

    /// Fetches `<gitlab_url>/.well-known/openid-configuration`, then its `jwks_uri`, and caches the keys.
    /// Call once in the background at start; never panics; logs failures. `Ok(0)` without a GitLab URL.
    pub async fn refresh_keys(&self) -> Result<usize, String> {
        match &self.jwks {
            Some(jwks) => jwks.refresh().await,
            None => Ok(0),
        }
    }

    /// The bypass as configured (active or run out).
    pub fn bypass(&self) -> Bypass {
        self.bypass
    }

    /// Verifies a request's headers (Authorization: Bearer <jwt>, scheme case-insensitive; X-Gitlab-Authentication-Type: oidc;
    /// X-Gitlab-Realm / X-Gitlab-Instance-Id / X-Gitlab-Global-User-Id cross-checks).
    pub async fn verify(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        self.verify_for(headers, Audience::Gateway).await
    }

    /// `verify` for tokens presented to `audience`: the `aud` claim must name it, and a token of
    /// airgate's own key whose issuer is that service counts as one it minted (its `sub` is then
    /// checked against X-Gitlab-Global-User-Id).
    pub async fn verify_for(&self, headers: &HeaderMap, audience: Audience) -> Result<Principal, AuthError> {
        if self.bypass.active() {
            tracing::warn!("authentication bypass is on: request not authenticated");
            return Ok(bypass_principal(headers));
        }
        if self.bypass != Bypass::Off && !self.bypass_ended.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!("auth.bypass ran out (auth.bypass_minutes): GitLab tokens are checked again");
        }
        let token = bearer_token(headers)?;
        if !header_str(headers, AUTH_TYPE_HEADER).is_some_and(|t| t.trim().eq_ignore_ascii_case("oidc")) {
            return Err(AuthError::Unauthorized(NOT_OIDC.into()));
        }
        if let Some(jwks) = &self.jwks {
            jwks.spawn_refresh_if_stale();
        }
        let (claims, own_key) = self.decode(token, audience).await?;

        let (realm, instance_id, user_id) = (
            header_str(headers, REALM_HEADER),
            header_str(headers, INSTANCE_ID_HEADER),
            header_str(headers, GLOBAL_USER_ID_HEADER),
        );
        if claims.gitlab_realm.as_deref().is_some_and(|claim| Some(claim) != realm) {
            return Err(mismatch(REALM_HEADER));
        }
        if claims.gitlab_instance_id.as_deref().is_some_and(|claim| Some(claim) != instance_id) {
            return Err(mismatch(INSTANCE_ID_HEADER));
        }
        let own_issuer = match audience {
            Audience::Gateway => OWN_ISSUER,
            Audience::Workflow => WORKFLOW_AUDIENCE,
        };
        let gateway_issued = own_key && claims.iss.as_deref() == Some(own_issuer);
        let (sub_header, sub_expected) =
            if gateway_issued { (GLOBAL_USER_ID_HEADER, user_id) } else { (INSTANCE_ID_HEADER, instance_id) };
        if claims.sub.is_none() || claims.sub.as_deref() != sub_expected {
            return Err(mismatch(sub_header));
        }
        let mut propagated = serde_json::Map::new();
        for (name, value) in PROPAGATED_CLAIMS.iter().zip([
            claims.skip_usage_cutoff,
            claims.tool_access_policies,
            claims.gitlab_root_namespace_id,
        ]) {
            if let Some(v) = value.filter(|v| !v.is_null()) {
                propagated.insert((*name).to_string(), v);
            }
        }
        Ok(Principal {
            propagated,
            subject: claims.sub.unwrap_or_default(),
            issuer: claims.iss.unwrap_or_default(),
            scopes: claims.scopes.unwrap_or_default().into_iter().collect(),
            gateway_issued,
            realm: claims.gitlab_realm.or(realm.map(str::to_owned)),
            instance_id: claims.gitlab_instance_id.or(instance_id.map(str::to_owned)),
            instance_uid: claims.gitlab_instance_uid,
            global_user_id: user_id.map(str::to_owned),
            bypass: false,
        })
    }

    /// Checks alg, key and claims; returns the claims and whether airgate's own key signed the token.
    async fn decode(&self, token: &str, audience: Audience) -> Result<(Claims, bool), AuthError> {
        let validation = match audience {
            Audience::Gateway => &self.validation,
            Audience::Workflow => &self.workflow_validation,
        };
        // `alg: none` and unknown algorithms fail here: jsonwebtoken's `Algorithm` has no such variant.
        let header = jsonwebtoken::decode_header(token).map_err(|e| rejected(reason(e.kind())))?;
        if header.alg != Algorithm::RS256 {
            return Err(rejected("algorithm is not RS256"));
        }
        let mut candidates = self.candidates(header.kid.as_deref());
        if candidates.is_empty()
            && let (Some(kid), Some(jwks)) = (header.kid.as_deref(), &self.jwks)
        {
            tracing::debug!("token signed by a key id not in the cache; refreshing GitLab's keys");
            let _ = tokio::time::timeout(jwks.timing.fetch_timeout, tokio::spawn(jwks.clone().refresh_if_due())).await;
            candidates = self.candidates(Some(kid));
        }
        if candidates.is_empty() {
            return Err(rejected("unknown signing key id"));
        }
        for (key, own_key) in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key, validation) {
                Ok(data) => return Ok((data.claims, own_key)),
                // Another key may fit (tokens without `kid`, or a key GitLab published malformed).
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_)) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::InvalidAudience) => {
                    return Err(rejected(&format!("audience is not {}", audience.name())));
                }
                Err(e) => return Err(rejected(reason(e.kind()))),
            }
        }
        Err(rejected(reason(&ErrorKind::InvalidSignature)))
    }

    /// Keys to try: the one with this `kid` (airgate's own first), or all of them when the token has no `kid`.
    fn candidates(&self, kid: Option<&str>) -> Vec<(DecodingKey, bool)> {
        let mut keys = Vec::new();
        if kid.is_none_or(|k| k == self.own.kid) {
            keys.push((self.own.decoding.clone(), true));
            if kid.is_some() {
                return keys;
            }
        }
        if let Some(jwks) = &self.jwks {
            keys.extend(jwks.lookup(kid).into_iter().map(|k| (k.key, false)));
        }
        keys
    }

    /// Mints an RS256 token for IDE direct access (§2.4): iss = aud = "gitlab-ai-gateway", sub = caller's global user id,
    /// iat/nbf/exp (+1 h), jti, gitlab_realm, gitlab_instance_id, scopes = the caller's scopes ∩ {complete_code,
    /// ai_gateway_model_provider_proxy}, and for realm `self-managed` the extra claim `gitlab_instance_uid` (the
    /// caller's own `gitlab_instance_uid` claim, else its instance id). Returns (token, expires_at epoch secs).
    ///
    /// Refuses (Unauthorized) callers that are gateway-issued, hold neither scope, or sent no
    /// X-Gitlab-Global-User-Id; the handler should check the first two itself and answer 403 (§2.4).
    pub fn mint_user_token(&self, caller: &Principal) -> Result<(String, u64), AuthError> {
        let scopes: Vec<&str> = USER_TOKEN_SCOPES.into_iter().filter(|s| caller.has_scope(s)).collect();
        if caller.gateway_issued || scopes.is_empty() {
            return Err(AuthError::Unauthorized("Unauthorized to create user access token".into()));
        }
        let Some(sub) = caller.global_user_id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(AuthError::Unauthorized(format!("Missing header '{GLOBAL_USER_ID_HEADER}'")));
        };
        let now = now_secs();
        let exp = now + USER_TOKEN_TTL_SECS;
        let claims = UserTokenClaims {
            iss: OWN_ISSUER,
            aud: AUDIENCE,
            sub,
            iat: now,
            nbf: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
            gitlab_realm: caller.realm.as_deref(),
            gitlab_instance_id: caller.instance_id.as_deref(),
            gitlab_instance_uid: if caller.realm.as_deref() == Some(SELF_MANAGED) {
                caller.instance_uid.as_deref().or(caller.instance_id.as_deref())
            } else {
                None
            },
            scopes,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.own.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.own.encoding)
            .map_err(|e| AuthError::Setup(format!("cannot sign a user access token: {}", reason(e.kind()))))?;
        Ok((token, exp))
    }

    /// Mints the Agent Platform's token for the IDE's direct connection (`GenerateToken`): iss = aud =
    /// "gitlab-duo-workflow-service", sub = the caller's global user id, one hour, the caller's
    /// realm and instance id, scopes = the caller's scopes among [`WORKFLOW_SCOPES`], and the
    /// caller's `gitlab_instance_uid` and propagated claims. Returns (token, expires_at epoch secs).
    /// The caller's checks (scope, not a token this service minted) are the handler's.
    pub fn mint_workflow_token(&self, caller: &Principal) -> Result<(String, u64), AuthError> {
        let Some(sub) = caller.global_user_id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(AuthError::Unauthorized(format!("Missing header '{GLOBAL_USER_ID_HEADER}'")));
        };
        let now = now_secs();
        let exp = now + USER_TOKEN_TTL_SECS;
        let scopes: Vec<&str> = WORKFLOW_SCOPES.iter().copied().filter(|s| caller.scopes.contains(*s)).collect();
        let mut claims = serde_json::json!({
            "iss": WORKFLOW_AUDIENCE,
            "aud": WORKFLOW_AUDIENCE,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": uuid::Uuid::new_v4().to_string(),
            "scopes": scopes,
        });
        let extra = [
            ("gitlab_realm", caller.realm.as_deref()),
            ("gitlab_instance_id", caller.instance_id.as_deref()),
            ("gitlab_instance_uid", caller.instance_uid.as_deref()),
        ];
        for (name, value) in extra {
            if let Some(v) = value {
                claims[name] = serde_json::Value::String(v.to_string());
            }
        }
        for (name, value) in &caller.propagated {
            claims[name.as_str()] = value.clone();
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.own.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.own.encoding)
            .map_err(|e| AuthError::Setup(format!("cannot sign a workflow token: {}", reason(e.kind()))))?;
        Ok((token, exp))
    }

    /// For the admin/diagnostics: last successful key fetch (epoch secs), number of GitLab keys cached, last error.
    pub fn status(&self) -> KeyStatus {
        match &self.jwks {
            Some(jwks) => jwks.status(),
            None => KeyStatus { gitlab_url: None, last_success: None, keys: 0, last_error: None },
        }
    }
}

/// Issuer of the tokens `airgate doctor` mints with airgate's own key; the server treats them as
/// instance tokens (not gateway-issued), so they reach every endpoint their scopes allow.
pub const LOCAL_ISSUER: &str = "airgate-doctor";
const LOCAL_TOKEN_TTL_SECS: u64 = 300;

/// A five-minute RS256 token signed with the key in `data_dir` (never creates one), shaped like a
/// GitLab instance token for `instance_id` in `realm` with `scopes`: how `airgate doctor` calls the
/// real HTTP API end to end. Whoever can read the key file can do this anyway.
/// With `shared`, the fleet's shared key file signs instead.
pub fn mint_local_token(
    data_dir: &Path,
    shared: Option<&Path>,
    instance_id: &str,
    realm: &str,
    scopes: &[&str],
) -> Result<String, AuthError> {
    let own = match shared {
        Some(file) => OwnKey::load(file)?,
        None if !data_dir.join(keys::KEY_FILE).is_file() => {
            return Err(AuthError::Setup(format!(
                "no JWT signing key in {} yet: the server makes it on its first start",
                data_dir.display()
            )));
        }
        None => OwnKey::load_or_create(data_dir)?,
    };
    let now = now_secs();
    let claims = UserTokenClaims {
        iss: LOCAL_ISSUER,
        aud: AUDIENCE,
        sub: instance_id,
        iat: now,
        nbf: now,
        exp: now + LOCAL_TOKEN_TTL_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
        gitlab_realm: Some(realm),
        gitlab_instance_id: Some(instance_id),
        gitlab_instance_uid: None,
        scopes: scopes.to_vec(),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(own.kid.clone());
    jsonwebtoken::encode(&header, &claims, &own.encoding)
        .map_err(|e| AuthError::Setup(format!("cannot sign a local token: {}", reason(e.kind()))))
}

/// Fetches `gitlab_url`'s OIDC discovery document and key set once (the server's timeouts and
/// limits); the number of keys, or why not.
pub async fn probe_gitlab_keys(gitlab_url: &str) -> Result<usize, String> {
    let jwks = Jwks::new(gitlab_url.trim_end_matches('/').to_owned(), keys::TIMING).map_err(|e| e.to_string())?;
    jwks.refresh().await
}

use crate::unix_now as now_secs;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| AuthError::Unauthorized(NO_HEADER.into()))?;
    let parsed = value.to_str().ok().and_then(|v| v.trim().split_once(' '));
    match parsed {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(AuthError::Unauthorized(INVALID_HEADER.into())),
    }
}

fn mismatch(header: &str) -> AuthError {
    AuthError::Unauthorized(format!("Header mismatch '{header}'"))
}

/// A token that failed verification: the client sees GitLab's message, the log the reason (never the token).
fn rejected(reason: &str) -> AuthError {
    tracing::info!(reason, "GitLab token rejected");
    AuthError::Unauthorized(FORBIDDEN.into())
}

/// A short, token-free description of a jsonwebtoken error (its own messages can quote claim values).
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired (exp)",
        ErrorKind::ImmatureSignature => "not valid yet (nbf)",
        ErrorKind::InvalidAudience => "audience does not match",
        ErrorKind::MissingRequiredClaim(_) => "exp or aud claim missing",
        ErrorKind::InvalidClaimFormat(_) => "exp or nbf is not a number",
        ErrorKind::InvalidSignature => "signature does not match",
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key",
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => "malformed token",
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => "unusable key",
        _ => "rejected by jsonwebtoken",
    }
}

fn bypass_principal(headers: &HeaderMap) -> Principal {
    let get = |name| header_str(headers, name).map(str::to_owned);
    let (realm, instance_id, global_user_id) = (get(REALM_HEADER), get(INSTANCE_ID_HEADER), get(GLOBAL_USER_ID_HEADER));
    Principal {
        subject: global_user_id.clone().or_else(|| instance_id.clone()).unwrap_or_else(|| "auth-bypass".into()),
        issuer: "auth-bypass".into(),
        scopes: BTreeSet::new(),
        gateway_issued: false,
        realm,
        instance_id,
        instance_uid: None,
        global_user_id,
        bypass: true,
        propagated: serde_json::Map::new(),
    }
}
