//! A fake GitLab instance for tests: OIDC discovery and JWKS on loopback, and GitLab-shaped tokens signed with a test RSA key.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub const KID: &str = "gitlab-test-key";
pub const INSTANCE_ID: &str = "5a2b0f6e-1111-4c4c-9d9d-abcdefabcdef";
pub const USER_ID: &str = "777";
pub const REALM: &str = "self-managed";

struct Keys {
    private_pem: String,
    jwk: Value,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let private_pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key();
        let jwk = json!({
            "kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        });
        Keys { private_pem, jwk }
    })
}

/// Serves discovery + JWKS on 127.0.0.1:0 until the test process ends; returns its base URL.
pub fn start() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            let base = format!("http://{addr}");
            let discovery = json!({ "issuer": base, "jwks_uri": format!("{base}/oauth/discovery/keys") });
            let app = Router::new()
                .route("/.well-known/openid-configuration", get(move || async move { Json(discovery) }))
                .route("/oauth/discovery/keys", get(|| async { Json(json!({ "keys": [keys().jwk.clone()] })) }));
            tx.send(base).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims as a self-managed GitLab issues them (§4.3).
pub fn claims(issuer: &str, scopes: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": ["gitlab-ai-gateway"],
        "sub": INSTANCE_ID,
        "gitlab_realm": REALM,
        "gitlab_instance_id": INSTANCE_ID,
        "scopes": scopes,
        "iat": now, "nbf": now, "exp": now + 3600,
        "jti": uuid_like(),
    })
}

fn uuid_like() -> String {
    format!("{:x}", now() ^ 0x5eed_1234)
}

pub fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    sign_with(&header, claims)
}

pub fn sign_with(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_rsa_pem(keys().private_pem.as_bytes()).unwrap()).unwrap()
}

/// A token with every scope code suggestions need.
pub fn token(issuer: &str) -> String {
    sign(&claims(issuer, &["complete_code", "generate_code", "duo_chat", "duo_classic_chat"]))
}

/// The headers Rails sends beside the token.
pub fn headers(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        ("x-gitlab-authentication-type", "oidc".into()),
        ("x-gitlab-realm", REALM.into()),
        ("x-gitlab-instance-id", INSTANCE_ID.into()),
        ("x-gitlab-global-user-id", USER_ID.into()),
        ("x-gitlab-version", "18.9.0".into()),
    ]
}

/// The HS256 "key confusion" attack: a token signed with the public key's bytes as an HMAC secret.
pub fn hs256_with_public_key(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.into());
    let secret = keys().jwk["n"].as_str().unwrap().as_bytes().to_vec();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret)).unwrap()
}

/// An unsigned token (`alg: none`).
pub fn alg_none(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": KID }).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}
