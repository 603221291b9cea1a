//! Tests of GitLab auth against a fake GitLab OIDC issuer on loopback: token checks, key refresh, user access tokens, the key file, bypass, logs.

use super::*;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use rsa::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

mod tokens;

const GITLAB_KID: &str = "gitlab-kid-1";
const INSTANCE: &str = "5a2b0f6e-1111-4c4c-9d9d-abcdefabcdef";
const USER: &str = "777";
const REALM: &str = "self-managed";

const FAST: Timing = Timing {
    fetch_timeout: Duration::from_millis(500),
    min_interval: Duration::from_secs(60),
    max_age: Duration::from_secs(86_400),
};

/// A test RSA key: its PKCS#1 PEM, signing key and public JWK.
struct TestKey {
    private: rsa::RsaPrivateKey,
    pem: String,
    encoding: EncodingKey,
}

impl TestKey {
    fn generate() -> TestKey {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = private.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        TestKey { private, pem, encoding }
    }

    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    fn public_pem(&self) -> String {
        self.private.to_public_key().to_pkcs1_pem(LineEnding::LF).unwrap()
    }
}

/// The fake GitLab's key. Key generation is slow in debug builds: two keys are shared by all tests.
fn gitlab_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

/// airgate's own key, written into each test's data dir (and, as "another key", signing forgeries).
fn airgate_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

/// A fake GitLab: discovery + JWKS (counting hits), after `redirects` extra hops to the discovery document.
#[derive(Clone)]
struct FakeGitlab {
    url: String,
    jwks: Arc<Mutex<Value>>,
    jwks_hits: Arc<AtomicUsize>,
    redirects: usize,
}

async fn discovery(State(s): State<FakeGitlab>) -> Response {
    if s.redirects > 0 {
        return Redirect::temporary("/hop/1").into_response();
    }
    axum::Json(json!({ "issuer": s.url, "jwks_uri": format!("{}/oauth/discovery/keys", s.url) })).into_response()
}

async fn hop(State(s): State<FakeGitlab>, UrlPath(n): UrlPath<usize>) -> Response {
    let target =
        if n >= s.redirects { "/.well-known/openid-configuration-real".into() } else { format!("/hop/{}", n + 1) };
    Redirect::temporary(&target).into_response()
}

async fn jwks(State(s): State<FakeGitlab>) -> axum::Json<Value> {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(s.jwks.lock().unwrap().clone())
}

async fn fake_gitlab_with(redirects: usize) -> FakeGitlab {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let keys = json!({ "keys": [gitlab_key().jwk(GITLAB_KID)] });
    let state = FakeGitlab { url, jwks: Arc::new(Mutex::new(keys)), jwks_hits: Arc::default(), redirects };
    let real = |State(s): State<FakeGitlab>| async move { discovery(State(FakeGitlab { redirects: 0, ..s })).await };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/openid-configuration-real", get(real))
        .route("/hop/{n}", get(hop))
        .route("/oauth/discovery/keys", get(jwks))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    state
}

async fn fake_gitlab() -> FakeGitlab {
    fake_gitlab_with(0).await
}

/// A data dir holding airgate's test key.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(keys::KEY_FILE);
    std::fs::write(&path, &airgate_key().pem).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

fn auth(dir: &tempfile::TempDir, url: Option<&str>, timing: Timing) -> GitlabAuth {
    GitlabAuth::with_timing(dir.path(), None, url.map(str::to_owned), false, timing).unwrap()
}

/// Claims as a self-managed GitLab issues them (§4.3).
fn gitlab_claims(scopes: &[&str]) -> Value {
    let now = now_secs();
    json!({
        "iss": "https://gitlab.example.com", "aud": ["gitlab-ai-gateway", "gitlab-observability-backend"],
        "sub": INSTANCE, "gitlab_realm": REALM, "scopes": scopes,
        "iat": now, "nbf": now, "exp": now + 3600, "jti": "4f1c5a61-0c1e-4a39-9f0f-1d2e3f4a5b6c",
    })
}

fn sign_with(claims: &Value, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn gitlab_token(claims: &Value) -> String {
    sign_with(claims, Algorithm::RS256, Some(GITLAB_KID), &gitlab_key().encoding)
}

/// The headers Rails sends (§4.3).
fn rails_headers(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    for (k, v) in [
        (AUTH_TYPE_HEADER, "oidc"),
        (REALM_HEADER, REALM),
        (INSTANCE_ID_HEADER, INSTANCE),
        (GLOBAL_USER_ID_HEADER, USER),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}

fn with(mut headers: HeaderMap, name: &'static str, value: Option<&str>) -> HeaderMap {
    match value {
        Some(v) => headers.insert(name, HeaderValue::from_str(v).unwrap()),
        None => headers.remove(name),
    };
    headers
}

/// The 401 message, or "ok".
async fn outcome(auth: &GitlabAuth, headers: &HeaderMap) -> String {
    match auth.verify(headers).await {
        Ok(_) => "ok".into(),
        Err(AuthError::Unauthorized(m)) => m,
        Err(e @ AuthError::Setup(_)) => panic!("setup error: {e}"),
    }
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn valid_gitlab_token_yields_its_scopes() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&format!("{}/", gitlab.url)), FAST);
    assert_eq!(auth.refresh_keys().await, Ok(1));
    let status = auth.status();
    assert_eq!((status.gitlab_url.as_deref(), status.keys, status.last_error), (Some(gitlab.url.as_str()), 1, None));
    assert!(status.last_success.is_some_and(|t| t.abs_diff(now_secs()) < 60));

    let token = gitlab_token(&gitlab_claims(&["complete_code", "duo_chat"]));
    let p = auth.verify(&rails_headers(&token)).await.unwrap();
    assert_eq!((p.subject.as_str(), p.issuer.as_str()), (INSTANCE, "https://gitlab.example.com"));
    assert_eq!(p.scopes, BTreeSet::from(["complete_code".to_string(), "duo_chat".to_string()]));
    assert!(p.has_scope("duo_chat") && !p.has_scope("generate_code") && !p.gateway_issued && !p.bypass);
    assert_eq!(
        (p.realm.as_deref(), p.instance_id.as_deref(), p.global_user_id.as_deref()),
        (Some(REALM), Some(INSTANCE), Some(USER))
    );

    // Scheme in any case; `aud` as a plain string; no `scopes` claim = no scopes; no `kid` = try every key.
    let mut claims = gitlab_claims(&[]);
    claims["aud"] = json!(AUDIENCE);
    claims.as_object_mut().unwrap().remove("scopes");
    let token = gitlab_token(&claims);
    let headers = with(rails_headers(&token), "authorization", Some(&format!("bEaReR {token}")));
    assert!(auth.verify(&headers).await.unwrap().scopes.is_empty());
    let no_kid = sign_with(&gitlab_claims(&["duo_chat"]), Algorithm::RS256, None, &gitlab_key().encoding);
    assert!(auth.verify(&rails_headers(&no_kid)).await.unwrap().has_scope("duo_chat"));
    assert_eq!(gitlab.jwks_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn authorization_and_type_headers() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST);
    let token = gitlab_token(&gitlab_claims(&["complete_code"]));
    let good = rails_headers(&token);
    let cases = [
        (with(good.clone(), "authorization", None), NO_HEADER),
        (with(good.clone(), "authorization", Some(&format!("Basic {token}"))), INVALID_HEADER),
        (with(good.clone(), "authorization", Some(&format!("Token {token}"))), INVALID_HEADER),
        (with(good.clone(), "authorization", Some("Bearer")), INVALID_HEADER),
        (with(good.clone(), "authorization", Some("Bearer   ")), INVALID_HEADER),
        (with(good.clone(), "authorization", Some(&format!("Bearer{token}"))), INVALID_HEADER),
        (with(good.clone(), "authorization", Some("Bearer not.a.jwt")), FORBIDDEN),
        (with(good.clone(), "authorization", Some("Bearer garbage")), FORBIDDEN),
        (with(good.clone(), AUTH_TYPE_HEADER, None), NOT_OIDC),
        (with(good.clone(), AUTH_TYPE_HEADER, Some("saml")), NOT_OIDC),
        (with(good.clone(), AUTH_TYPE_HEADER, Some("")), NOT_OIDC),
        (with(good.clone(), AUTH_TYPE_HEADER, Some("OIDC")), "ok"),
        (with(good.clone(), "authorization", Some(&format!("BEARER  {token} "))), "ok"),
        (good, "ok"),
    ];
    for (i, (headers, want)) in cases.iter().enumerate() {
        assert_eq!(outcome(&auth, headers).await, *want, "case {i}");
    }
}

#[tokio::test]
async fn time_and_audience_claims() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST);
    let now = now_secs();
    let cases: [(&str, Value, &str); 11] = [
        ("exp", json!(now - 120), FORBIDDEN),
        ("exp", json!(now - 10), "ok"), // within the 30 s leeway
        ("exp", Value::Null, FORBIDDEN),
        ("exp", json!("soon"), FORBIDDEN),
        ("nbf", json!(now + 120), FORBIDDEN),
        ("nbf", json!(now + 10), "ok"),
        ("aud", json!("someone-else"), FORBIDDEN),
        ("aud", json!(["someone-else", "gitlab-observability-backend"]), FORBIDDEN),
        ("aud", json!([]), FORBIDDEN),
        ("aud", Value::Null, FORBIDDEN),
        ("aud", json!(["gitlab-ai-gateway"]), "ok"),
    ];
    for (claim, value, want) in cases {
        let mut claims = gitlab_claims(&["complete_code"]);
        match value {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(claim);
            }
            v => claims[claim] = v,
        }
        assert_eq!(outcome(&auth, &rails_headers(&gitlab_token(&claims))).await, want, "{claim} = {}", claims[claim]);
    }
    let mut claims = gitlab_claims(&[]);
    claims["scopes"] = json!("complete_code"); // not an array
    assert_eq!(outcome(&auth, &rails_headers(&gitlab_token(&claims))).await, FORBIDDEN);
}

#[tokio::test]
async fn forbidden_algorithms_and_keys() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST);
    auth.refresh_keys().await.unwrap();
    let claims = gitlab_claims(&["complete_code"]);
    let unsigned = |alg: &str| {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": GITLAB_KID });
        format!("{}.{}.", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
    };
    let gitlab_pem = gitlab_key().public_pem();
    let own_pem = airgate_key().public_pem();
    let hs256 = |pem: &str, kid: &str| {
        sign_with(&claims, Algorithm::HS256, Some(kid), &EncodingKey::from_secret(pem.as_bytes()))
    };
    let rsa_alg = |alg| sign_with(&claims, alg, Some(GITLAB_KID), &gitlab_key().encoding);
    let tokens = [
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        ("alg RS256 without signature", unsigned("RS256")),
        ("HS256 with GitLab's public key", hs256(&gitlab_pem, GITLAB_KID)),
        ("HS256 with airgate's public key", hs256(&own_pem, &auth.own.kid)),
        ("RS384", rsa_alg(Algorithm::RS384)),
        ("RS512", rsa_alg(Algorithm::RS512)),
        ("PS256", rsa_alg(Algorithm::PS256)),
        (
            "another key under GitLab's kid",
            sign_with(&claims, Algorithm::RS256, Some(GITLAB_KID), &airgate_key().encoding),
        ),
        (
            "another key under airgate's kid",
            sign_with(&claims, Algorithm::RS256, Some(&auth.own.kid), &gitlab_key().encoding),
        ),
    ];
    for (name, token) in tokens {
        assert_eq!(outcome(&auth, &rails_headers(&token)).await, FORBIDDEN, "{name}");
    }
    // A tampered payload fails the signature.
    let good = gitlab_token(&claims);
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims.clone();
    forged["scopes"] = json!(["complete_code", "duo_chat"]);
    let tampered = format!("{}.{}.{}", parts[0], b64url(forged.to_string().as_bytes()), parts[2]);
    assert_eq!(outcome(&auth, &rails_headers(&tampered)).await, FORBIDDEN);
    assert_eq!(outcome(&auth, &rails_headers(&good)).await, "ok");
}

#[tokio::test]
async fn header_mismatches() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST);
    let mut claims = gitlab_claims(&["complete_code"]);
    claims["gitlab_instance_id"] = json!(INSTANCE);
    let good = rails_headers(&gitlab_token(&claims));
    let realm = format!("Header mismatch '{REALM_HEADER}'");
    let instance = format!("Header mismatch '{INSTANCE_ID_HEADER}'");
    let cases = [
        (with(good.clone(), REALM_HEADER, Some("saas")), realm.as_str()),
        (with(good.clone(), REALM_HEADER, None), &realm),
        (with(good.clone(), INSTANCE_ID_HEADER, Some("other-instance")), &instance),
        (with(good.clone(), INSTANCE_ID_HEADER, None), &instance),
        (with(good.clone(), GLOBAL_USER_ID_HEADER, Some("someone-else")), "ok"), // not checked for GitLab tokens
        (with(good, GLOBAL_USER_ID_HEADER, None), "ok"),
    ];
    for (i, (headers, want)) in cases.iter().enumerate() {
        assert_eq!(outcome(&auth, headers).await, *want, "case {i}");
    }
    // Without realm / instance claims only `sub` is cross-checked, against X-Gitlab-Instance-Id.
    let mut bare = gitlab_claims(&[]);
    bare.as_object_mut().unwrap().remove("gitlab_realm");
    let headers = rails_headers(&gitlab_token(&bare));
    assert_eq!(outcome(&auth, &with(headers.clone(), REALM_HEADER, Some("saas"))).await, "ok");
    assert_eq!(outcome(&auth, &with(headers, INSTANCE_ID_HEADER, Some("x"))).await, instance);
    bare["sub"] = json!("not-the-instance");
    assert_eq!(outcome(&auth, &rails_headers(&gitlab_token(&bare))).await, instance);
    bare.as_object_mut().unwrap().remove("sub");
    assert_eq!(outcome(&auth, &rails_headers(&gitlab_token(&bare))).await, instance);
}

#[tokio::test]
async fn unknown_kid_refreshes_at_most_once_a_minute() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST); // nothing fetched yet
    let claims = gitlab_claims(&["complete_code"]);
    let unknown = sign_with(&claims, Algorithm::RS256, Some("rotated-away"), &gitlab_key().encoding);
    assert_eq!(outcome(&auth, &rails_headers(&unknown)).await, FORBIDDEN);
    assert_eq!(gitlab.jwks_hits.load(Ordering::SeqCst), 1, "the unknown kid triggers a fetch");
    assert_eq!(outcome(&auth, &rails_headers(&unknown)).await, FORBIDDEN);
    assert_eq!(outcome(&auth, &rails_headers(&gitlab_token(&claims))).await, "ok");
    assert_eq!(gitlab.jwks_hits.load(Ordering::SeqCst), 1, "no second fetch within a minute");
    assert_eq!(auth.status().keys, 1);
}

#[tokio::test]
async fn concurrent_unknown_kids_fetch_once() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = Arc::new(auth(&dir, Some(&gitlab.url), FAST));
    let token = gitlab_token(&gitlab_claims(&["complete_code"]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (auth, headers) = (auth.clone(), rails_headers(&token));
        tasks.spawn(async move { auth.verify(&headers).await.map(|p| p.subject) });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap(), INSTANCE);
    }
    assert_eq!(gitlab.jwks_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rotated_and_stale_keys_are_refetched() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let timing = Timing { min_interval: Duration::ZERO, ..FAST };
    let auth = auth(&dir, Some(&gitlab.url), timing);
    auth.refresh_keys().await.unwrap();
    // GitLab rotates to a new key: a token under the new kid makes airgate fetch again.
    *gitlab.jwks.lock().unwrap() =
        json!({ "keys": [airgate_key().jwk("gitlab-kid-2"), { "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA" }] });
    let claims = gitlab_claims(&["complete_code"]);
    let rotated = sign_with(&claims, Algorithm::RS256, Some("gitlab-kid-2"), &airgate_key().encoding);
    assert_eq!(outcome(&auth, &rails_headers(&rotated)).await, "ok");
    assert_eq!((gitlab.jwks_hits.load(Ordering::SeqCst), auth.status().keys), (2, 1));
    assert_eq!(outcome(&auth, &rails_headers(&gitlab_token(&claims))).await, FORBIDDEN, "the old key is gone");

    // Keys older than max_age are refreshed in the background by the next request.
    let auth = self::auth(&dir, Some(&gitlab.url), Timing { max_age: Duration::ZERO, ..timing });
    auth.refresh_keys().await.unwrap();
    let before = gitlab.jwks_hits.load(Ordering::SeqCst);
    assert_eq!(outcome(&auth, &rails_headers(&rotated)).await, "ok");
    let deadline = Instant::now() + Duration::from_secs(5);
    while gitlab.jwks_hits.load(Ordering::SeqCst) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gitlab.jwks_hits.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn redirects_are_limited() {
    let dir = data_dir();
    for (hops, ok) in [(2, true), (3, false)] {
        // The discovery path redirects to /hop/1 and then `hops` more times: 3 and 4 redirects in all.
        let gitlab = fake_gitlab_with(hops).await;
        let result = auth(&dir, Some(&gitlab.url), FAST).refresh_keys().await;
        assert_eq!(result.is_ok(), ok, "{result:?}");
        if !ok {
            assert!(result.unwrap_err().contains("redirects"));
        }
    }
}

#[tokio::test]
async fn unreachable_gitlab_fails_fast() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    let dir = data_dir();
    let token = gitlab_token(&gitlab_claims(&["complete_code"]));
    let timing = Timing { fetch_timeout: Duration::from_millis(300), ..FAST };
    for url in [closed, silent_url] {
        let auth = auth(&dir, Some(&url), timing);
        let started = Instant::now();
        let err = auth.refresh_keys().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3) && err.contains(&url), "{err}");
        assert_eq!((auth.status().last_error, auth.status().keys), (Some(err), 0));

        let auth = self::auth(&dir, Some(&url), timing);
        for _ in 0..2 {
            let started = Instant::now();
            assert_eq!(outcome(&auth, &rails_headers(&token)).await, FORBIDDEN);
            assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        }
    }
    // One connection per fetch: refresh_keys, then the first verify; the second verify does not retry.
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bypass_accepts_everything() {
    let dir = data_dir();
    let auth = GitlabAuth::with_timing(dir.path(), None, None, true, FAST).unwrap();
    let p = auth.verify(&HeaderMap::new()).await.unwrap();
    assert!(p.bypass && p.has_scope("anything") && !p.gateway_issued && p.scopes.is_empty());
    let p = auth.verify(&rails_headers("not-a-token")).await.unwrap();
    assert_eq!(
        (p.subject.as_str(), p.global_user_id.as_deref(), p.instance_id.as_deref()),
        (USER, Some(USER), Some(INSTANCE))
    );
    // The bypass caller may mint a user token with both scopes.
    let (token, _) = auth.mint_user_token(&p).unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&token).unwrap().claims;
    assert_eq!(claims["scopes"], json!(["complete_code", "ai_gateway_model_provider_proxy"]));
}

#[tokio::test]
async fn a_bypass_that_ran_out_checks_tokens_again() {
    let dir = data_dir();
    let past = Bypass::Until(std::time::Instant::now() - std::time::Duration::from_secs(1));
    let auth = GitlabAuth::with_timing(dir.path(), None, None, past, FAST).unwrap();
    assert!(auth.verify(&HeaderMap::new()).await.is_err(), "an expired bypass still let a caller in");
    assert_eq!((Bypass::from_config(true, 0), Bypass::from_config(false, 5)), (Bypass::Pinned, Bypass::Off));
    let hour = Bypass::from_config(true, 60);
    assert!(hour.active() && (3590..=3600).contains(&hour.expires_in().unwrap()), "{hour:?}");
}

/// Captures this thread's log output at TRACE level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_name_reasons_never_tokens() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // With a single live dispatcher tracing decides callsite interest from whichever thread hits a callsite
    // first (other tests' threads have none); a second one makes it ask every registered dispatcher.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST);
    let mut expired = gitlab_claims(&["complete_code"]);
    expired["exp"] = json!(now_secs() - 3600);
    let tokens = [gitlab_token(&gitlab_claims(&["complete_code"])), gitlab_token(&expired), "a.b.c".to_string()];
    let mut seen = Vec::new();
    for token in &tokens {
        let result = auth.verify(&rails_headers(token)).await;
        seen.push(format!("{result:?}"));
        if let Ok(p) = result {
            seen.push(auth.mint_user_token(&p).unwrap().0);
        }
    }
    let bypass = GitlabAuth::with_timing(dir.path(), None, None, true, FAST).unwrap();
    bypass.verify(&rails_headers(&tokens[0])).await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("expired (exp)") && text.contains("malformed token"), "{text}");
    assert!(
        text.contains("AUTHENTICATION BYPASS IS ON")
            && text.contains("authentication bypass is on: request not authenticated")
    );
    let minted = &seen[1];
    for secret in tokens.iter().take(2).chain([minted]) {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!text.contains(signature) && !seen[0].contains(signature) && !seen[2].contains(signature), "{text}");
    }
    assert!(!text.contains("Bearer") && !text.contains("PRIVATE KEY"), "{text}");
    assert!(!format!("{auth:?}").contains("PRIVATE") && format!("{auth:?}").contains(&auth.own.kid));
}

#[test]
fn jwk_sets_keep_only_rs256_signing_keys() {
    let good = gitlab_key().jwk("sig-key");
    let mut enc = gitlab_key().jwk("enc-key");
    enc["use"] = json!("enc");
    let mut rs512 = gitlab_key().jwk("rs512-key");
    rs512["alg"] = json!("RS512");
    let mut no_alg = gitlab_key().jwk("no-alg");
    no_alg.as_object_mut().unwrap().remove("alg");
    let ec = json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "ec" });
    let set = json!({ "keys": [enc, good, "junk", rs512, ec, { "kty": "oct", "k": "c2VjcmV0" }, no_alg] });
    let keys = keys::parse_jwk_set(set.to_string().as_bytes()).unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref()).collect();
    assert_eq!(kids, [Some("sig-key"), Some("no-alg")]);
    assert!(keys::parse_jwk_set(br#"{"keys":[]}"#).unwrap_err().contains("0 keys"));
    assert!(keys::parse_jwk_set(b"<html>").is_err());
}

#[test]
fn principal_and_auth_are_shareable() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<GitlabAuth>();
    shareable::<Principal>();
    let p = bypass_principal(&HeaderMap::new());
    assert_eq!((p.subject.as_str(), p.has_scope("x")), ("auth-bypass", true));
    assert!(!Principal { bypass: false, ..p }.has_scope("x"));
}
