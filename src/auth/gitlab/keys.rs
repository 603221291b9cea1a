//! Key material for GitLab auth: airgate's own RS256 signing key (a PEM file in the data dir) and the GitLab instance's JWKS, fetched through OIDC discovery and cached.

use std::io::{ErrorKind as IoErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, KeyStatus, now_secs};

/// File name of airgate's signing key inside the data dir.
pub(super) const KEY_FILE: &str = "jwt_signing_key.pem";
const KEY_BITS: usize = 2048;
/// Largest discovery document or JWK set accepted.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
const MAX_REDIRECTS: usize = 3;

/// When GitLab's keys are fetched. Tests shorten these.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// Limit for one whole refresh (discovery + JWKS); also the most a request waits for one.
    pub fetch_timeout: Duration,
    /// Refreshes triggered by requests (unknown `kid`, stale keys) happen at most this often.
    pub min_interval: Duration,
    /// Keys older than this are refreshed in the background on the next request.
    pub max_age: Duration,
}

pub(super) const TIMING: Timing = Timing {
    fetch_timeout: Duration::from_secs(5),
    min_interval: Duration::from_secs(60),
    max_age: Duration::from_secs(24 * 3600),
};

/// airgate's own signing key: signs user access tokens and verifies them when they come back.
pub(super) struct OwnKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

impl OwnKey {
    /// Loads `<dir>/jwt_signing_key.pem` (PKCS#1 or PKCS#8 PEM, RSA ≥ 2048 bits) or, if it does not exist,
    /// generates one and writes it with mode 0600 (write to a temporary file, then link it into place).
    pub fn load_or_create(dir: &Path) -> Result<OwnKey, AuthError> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == IoErrorKind::NotFound => Self::from_key(create(dir, &path)?),
            _ => Self::load(&path),
        }
    }

    /// Loads an existing key file (a fleet's shared key; never created here).
    pub fn load(path: &Path) -> Result<OwnKey, AuthError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| setup(format!("cannot read the JWT signing key {}: {e}", path.display())))?;
        warn_if_readable_by_others(path);
        Self::from_key(parse_private_key(path, &pem)?)
    }

    fn from_key(key: RsaPrivateKey) -> Result<OwnKey, AuthError> {
        let public = key.to_public_key();
        let der = key.to_pkcs1_der().map_err(|_| setup("cannot encode the JWT signing key".into()))?;
        let public_der = public.to_pkcs1_der().map_err(|_| setup("cannot encode the JWT signing key".into()))?;
        Ok(OwnKey {
            // Derived from the public key: a replaced key file gets a new kid.
            kid: format!("airgate-{}", &hex::encode(Sha256::digest(public_der.as_bytes()))[..16]),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_raw_components(&public.n().to_bytes_be(), &public.e().to_bytes_be()),
        })
    }
}

fn setup(message: String) -> AuthError {
    AuthError::Setup(message)
}

fn parse_private_key(path: &Path, pem: &str) -> Result<RsaPrivateKey, AuthError> {
    let key = RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|_| setup(format!("{} is not an RSA private key in PEM form (PKCS#1 or PKCS#8)", path.display())))?;
    if key.size() * 8 < KEY_BITS {
        let bits = key.size() * 8;
        return Err(setup(format!(
            "the JWT signing key {} has {bits} bits; at least {KEY_BITS} are required",
            path.display()
        )));
    }
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        let mode = meta.permissions().mode() & 0o777;
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the JWT signing key is readable by other users; chmod 600 it");
    }
}

fn create(dir: &Path, path: &Path) -> Result<RsaPrivateKey, AuthError> {
    tracing::info!(path = %path.display(), "generating airgate's JWT signing key (RSA {KEY_BITS})");
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
        .map_err(|e| setup(format!("cannot generate a JWT signing key: {e}")))?;
    let pem = key.to_pkcs1_pem(LineEnding::LF).map_err(|_| setup("cannot encode the JWT signing key".into()))?;
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| {
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            file.write_all(pem.as_bytes())?;
            file.sync_all()
        })
        // A hard link never replaces an existing file: if another process won the race, its key is used.
        .and_then(|()| match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != IoErrorKind::AlreadyExists => std::fs::rename(&tmp, path), // no hard links here
            other => other,
        });
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(key)
        }
        Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| setup(format!("cannot read the JWT signing key {}: {e}", path.display())))?;
            parse_private_key(path, &pem)
        }
        Err(e) => Err(setup(format!("cannot write the JWT signing key {}: {e}", path.display()))),
    }
}

/// One key from GitLab's JWK set.
#[derive(Clone, Debug)]
pub(super) struct GitlabKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
}

#[derive(Default)]
struct Cache {
    keys: Vec<GitlabKey>,
    /// Epoch seconds and instant of the last successful fetch.
    last_success: Option<(u64, Instant)>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// The GitLab instance's OIDC keys: fetched on demand, cached, refreshed single-flight.
pub(super) struct Jwks {
    base: String,
    client: reqwest::Client,
    pub timing: Timing,
    cache: RwLock<Cache>,
    /// Held for the duration of a fetch: one at a time.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

impl Jwks {
    /// `base`: the GitLab URL without trailing slash. Builds the HTTP client; no network I/O.
    pub fn new(base: String, timing: Timing) -> Result<Jwks, AuthError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            // `previous` starts with the original URL; redirects stay on its host (http → https is fine).
            let origin = attempt.previous().first().map(|u| u.host_str().map(str::to_owned));
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if origin.is_some_and(|host| host.as_deref() != attempt.url().host_str()) {
                attempt.error("redirect to another host")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(timing.fetch_timeout)
            .timeout(timing.fetch_timeout)
            .redirect(redirects)
            .user_agent(concat!("airgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                setup(format!("cannot build the HTTP client for GitLab's keys: {}", crate::error_chain(&e)))
            })?;
        Ok(Jwks { base, client, timing, cache: RwLock::default(), refreshing: tokio::sync::Mutex::new(()) })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Cached keys with this `kid`, or every cached key when the token names none.
    pub fn lookup(&self, kid: Option<&str>) -> Vec<GitlabKey> {
        let cache = crate::sync::read(&self.cache);
        cache.keys.iter().filter(|k| kid.is_none() || k.kid.as_deref() == kid).cloned().collect()
    }

    /// Fetches now (after any fetch already under way).
    pub async fn refresh(&self) -> Result<usize, String> {
        let _flight = self.refreshing.lock().await;
        self.fetch_and_store().await
    }

    /// Fetches unless a fetch was attempted within `min_interval`; waits for a fetch already under way.
    /// Run it as a task: a caller that gives up waiting does not cancel the fetch.
    pub async fn refresh_if_due(self: Arc<Self>) {
        let _flight = self.refreshing.lock().await;
        let recent = crate::sync::read(&self.cache).last_attempt;
        if recent.is_none_or(|at| at.elapsed() >= self.timing.min_interval) {
            let _ = self.fetch_and_store().await;
        }
    }

    /// Keys older than `max_age` (or never fetched): refresh in the background, without delaying the caller.
    pub fn spawn_refresh_if_stale(self: &Arc<Self>) {
        let due = {
            let c = crate::sync::read(&self.cache);
            c.last_success.is_none_or(|(_, at)| at.elapsed() >= self.timing.max_age)
                && c.last_attempt.is_none_or(|at| at.elapsed() >= self.timing.min_interval)
        };
        if due && self.refreshing.try_lock().is_ok() {
            tokio::spawn(Arc::clone(self).refresh_if_due());
        }
    }

    pub fn status(&self) -> KeyStatus {
        let c = crate::sync::read(&self.cache);
        KeyStatus {
            gitlab_url: Some(self.base.clone()),
            last_success: c.last_success.map(|(secs, _)| secs),
            keys: c.keys.len(),
            last_error: c.last_error.clone(),
        }
    }

    async fn fetch_and_store(&self) -> Result<usize, String> {
        // Counted when it starts: a fetch that never finishes still limits the next one.
        crate::sync::write(&self.cache).last_attempt = Some(Instant::now());
        let limit = self.timing.fetch_timeout;
        let fetched = tokio::time::timeout(limit, self.fetch())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", limit.as_millis())));
        let mut c = crate::sync::write(&self.cache);
        match fetched {
            Ok(keys) => {
                let n = keys.len();
                tracing::info!(gitlab_url = %self.base, keys = n, "fetched GitLab's token signing keys");
                (c.keys, c.last_success, c.last_error) = (keys, Some((now_secs(), Instant::now())), None);
                Ok(n)
            }
            Err(e) => {
                let message = format!("cannot fetch GitLab's token signing keys from {}: {e}", self.base);
                tracing::warn!("{message}");
                c.last_error = Some(message.clone());
                Err(message)
            }
        }
    }

    /// Discovery document, then its `jwks_uri`.
    async fn fetch(&self) -> Result<Vec<GitlabKey>, String> {
        let discovery_url = reqwest::Url::parse(&format!("{}/.well-known/openid-configuration", self.base))
            .map_err(|e| format!("bad GitLab URL: {e}"))?;
        let doc: Discovery = serde_json::from_slice(&self.get(&discovery_url).await?)
            .map_err(|e| format!("{discovery_url} is not an OpenID configuration: {e}"))?;
        let jwks_url =
            discovery_url.join(&doc.jwks_uri).map_err(|e| format!("bad jwks_uri {:?}: {e}", doc.jwks_uri))?;
        match (discovery_url.scheme(), jwks_url.scheme()) {
            ("https", "https") | ("http", "http" | "https") => {}
            _ => return Err(format!("refusing jwks_uri {jwks_url}: scheme differs from the GitLab URL's")),
        }
        if jwks_url.host_str() != discovery_url.host_str() {
            tracing::info!(jwks_uri = %jwks_url, gitlab_url = %self.base, "GitLab's discovery document puts its keys on another host");
        }
        parse_jwk_set(&self.get(&jwks_url).await?).map_err(|e| format!("{jwks_url}: {e}"))
    }

    async fn get(&self, url: &reqwest::Url) -> Result<Vec<u8>, String> {
        let fail = |e: reqwest::Error| format!("GET {url}: {}", crate::error_chain(&e));
        let mut response =
            self.client.get(url.clone()).header("accept", "application/json").send().await.map_err(fail)?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: answer larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Keeps the RSA keys meant for RS256 signatures; other keys (EC, encryption, other algorithms) are skipped.
pub(super) fn parse_jwk_set(body: &[u8]) -> Result<Vec<GitlabKey>, String> {
    let set: RawJwkSet = serde_json::from_slice(body).map_err(|e| format!("not a JWK set: {e}"))?;
    let total = set.keys.len();
    let keys: Vec<GitlabKey> = set
        .keys
        .into_iter()
        .filter_map(|raw| serde_json::from_value::<Jwk>(raw).ok())
        .filter(|jwk| {
            matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                && matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
                && matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature))
        })
        .filter_map(|jwk| Some(GitlabKey { key: DecodingKey::from_jwk(&jwk).ok()?, kid: jwk.common.key_id }))
        .collect();
    if keys.is_empty() {
        return Err(format!("none of its {total} keys is an RS256 signing key"));
    }
    Ok(keys)
}
