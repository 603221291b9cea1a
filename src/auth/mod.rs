//! Who may call what: GitLab tokens on the AI Gateway API (`gitlab`), API keys on the OpenAI-compatible `/v1` API, admin accounts (`admin`).

pub mod admin;
pub mod gitlab;
pub mod hashing;
pub mod throttle;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::http::{ApiError, OpenAiError};

/// API keys for `/v1`: those of the boot config and those an admin created (in the store), kept
/// only as SHA-256 digests and compared in constant time.
///
/// Whether `/v1` needs a key is explicit, never inferred from how many keys exist right now: it
/// is required once the first key exists (the store's `V1_KEY_REQUIRED`, set when a key is
/// created) and stays required when the last key is revoked; only an admin turns it off. The boot
/// config's `[auth] v1_open` serves `/v1` without a key whatever the setting (a lab).
#[derive(Default)]
pub struct ApiKeys {
    configured: Vec<[u8; 32]>,
    /// Admin-created keys: id and digest.
    stored: RwLock<Vec<(String, [u8; 32])>>,
    /// When each admin-created key was last presented (Unix seconds), by id.
    used: Mutex<HashMap<String, u64>>,
    /// The stored setting: a key is required.
    required: AtomicBool,
    /// The boot config opens `/v1` to everyone.
    open: bool,
}

impl ApiKeys {
    pub fn new(keys: &[Secret], open: bool) -> Self {
        ApiKeys { configured: keys.iter().map(|k| digest(k.expose())).collect(), open, ..Default::default() }
    }

    /// Applies the stored setting (at start, and when an admin or a new key changes it).
    pub fn set_required(&self, on: bool) {
        self.required.store(on, Ordering::Relaxed);
    }

    /// The stored setting, whatever the boot config says.
    pub fn required_setting(&self) -> bool {
        self.required.load(Ordering::Relaxed)
    }

    /// True when `/v1` checks keys: the setting, or keys in the boot config, unless it opens `/v1`.
    pub fn enforced(&self) -> bool {
        !self.open && (self.required_setting() || !self.configured.is_empty())
    }

    /// The boot config's `[auth] v1_open`.
    pub fn open_by_config(&self) -> bool {
        self.open
    }

    /// Replaces the admin-created keys (after a change in the store).
    pub fn set_stored(&self, keys: &[crate::store::ApiKeyRecord]) {
        let parsed = keys
            .iter()
            .filter_map(|k| {
                let bytes: [u8; 32] = hex::decode(&k.digest).ok()?.try_into().ok()?;
                Some((k.id.clone(), bytes))
            })
            .collect();
        *crate::sync::write(&self.stored) = parsed;
    }

    /// True when `presented` is one of the keys; the time taken does not depend on which or how much matched.
    pub fn verify(&self, presented: &str) -> bool {
        let candidate = digest(presented);
        let configured = self.configured.iter().fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(&candidate));
        let stored = crate::sync::read(&self.stored);
        let mut matched = None;
        for (id, d) in stored.iter() {
            if bool::from(d.ct_eq(&candidate)) {
                matched = Some(id.clone());
            }
        }
        drop(stored);
        if let Some(id) = &matched {
            crate::sync::lock(&self.used).insert(id.clone(), crate::unix_now());
        }
        bool::from(configured) || matched.is_some()
    }

    /// When the admin-created key `id` was last used since this process started.
    pub fn last_used(&self, id: &str) -> Option<u64> {
        crate::sync::lock(&self.used).get(id).copied()
    }
}

/// GitLab authentication, replaceable at run time when an admin changes the GitLab URL.
pub struct GitlabSlot(RwLock<Arc<gitlab::GitlabAuth>>);

impl GitlabSlot {
    pub fn new(auth: gitlab::GitlabAuth) -> Self {
        GitlabSlot(RwLock::new(Arc::new(auth)))
    }

    /// The current verifier (requests in flight keep the one they started with).
    pub fn get(&self) -> Arc<gitlab::GitlabAuth> {
        crate::sync::read(&self.0).clone()
    }

    pub fn replace(&self, auth: gitlab::GitlabAuth) {
        *crate::sync::write(&self.0) = Arc::new(auth);
    }
}

/// The verified GitLab caller of an AI Gateway endpoint; rejects with GitLab's 401 messages.
pub struct GitlabCaller(pub gitlab::Principal);

impl<S: Send + Sync> FromRequestParts<S> for GitlabCaller
where
    Arc<GitlabSlot>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<GitlabSlot>::from_ref(state).get();
        match auth.verify(&parts.headers).await {
            Ok(principal) => {
                crate::activity::note_authenticated();
                Ok(GitlabCaller(principal))
            }
            Err(gitlab::AuthError::Unauthorized(message)) => {
                tracing::info!(reason = %message, "GitLab authentication failed");
                Err(ApiError::Unauthorized(message))
            }
            Err(gitlab::AuthError::Setup(detail)) => Err(ApiError::Internal(detail)),
        }
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// `Authorization: Bearer <key>` on `/v1` when keys are required ([`ApiKeys::enforced`]).
pub async fn require_api_key(State(keys): State<Arc<ApiKeys>>, req: Request, next: Next) -> Response {
    if !keys.enforced() {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        Some(key) if keys.verify(key) => {
            crate::activity::note_authenticated();
            next.run(req).await
        }
        Some(_) => {
            tracing::warn!("rejected a /v1 request with an unknown API key");
            OpenAiError(ApiError::Unauthorized("the API key is not valid".into())).into_response()
        }
        None => OpenAiError(ApiError::Unauthorized(
            "this server requires an API key: send Authorization: Bearer <key>".into(),
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_configured_keys() {
        let keys = ApiKeys::new(&[Secret::new("0123456789abcdef-one"), Secret::new("0123456789abcdef-two")], false);
        assert!(keys.verify("0123456789abcdef-one"));
        assert!(keys.verify("0123456789abcdef-two"));
        assert!(!keys.verify("0123456789abcdef-thr"));
        assert!(!keys.verify(""));
        assert!(!ApiKeys::default().verify("x"));
    }

    #[test]
    fn a_key_is_required_by_the_setting_or_configured_keys_unless_the_config_opens_v1() {
        let none = ApiKeys::new(&[], false);
        assert!(!none.enforced());
        none.set_required(true);
        assert!(none.enforced(), "no key exists, yet the setting holds");
        assert!(ApiKeys::new(&[Secret::new("0123456789abcdef-one")], false).enforced());
        let lab = ApiKeys::new(&[Secret::new("0123456789abcdef-one")], true);
        lab.set_required(true);
        assert!(!lab.enforced() && lab.open_by_config());
    }
}
