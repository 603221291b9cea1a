//! The admin API: first-run setup, sessions, CSRF, lockout, the admin CLI beside a running server, API keys, endpoints, routes, durability.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestServer, client};

pub const PASSWORD: &str = "correct horse battery staple";

/// An admin API client that carries the session cookie and CSRF token by hand.
pub struct Admin {
    base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Admin {
    pub fn new(server: &TestServer) -> Admin {
        Self::with_client(server, client())
    }

    pub fn with_client(server: &TestServer, http: reqwest::Client) -> Admin {
        Admin { base: server.base.clone(), http, cookie: None, csrf: None }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(Method::GET, path, None).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.send(Method::POST, path, Some(body)).await;
        (s, v)
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.send(Method::PUT, path, Some(body)).await;
        (s, v)
    }

    pub async fn delete(&self, path: &str) -> StatusCode {
        self.send(Method::DELETE, path, None).await.0
    }

    /// Keeps the session of a sign-in answer.
    fn keep(&mut self, body: &Value, headers: &reqwest::header::HeaderMap) {
        let set = headers.get("set-cookie").expect("a session cookie").to_str().unwrap();
        self.cookie = Some(set.split(';').next().unwrap().to_string());
        self.csrf = Some(body["csrf"].as_str().unwrap().to_string());
    }

    pub async fn login(&mut self, user: &str, password: &str) -> (StatusCode, Value) {
        let (s, v, h) =
            self.send(Method::POST, "/api/admin/login", Some(json!({"username": user, "password": password}))).await;
        if s == StatusCode::OK {
            self.keep(&v, &h);
        }
        (s, v)
    }
}

fn setup_token_from_log(server: &TestServer) -> String {
    assert!(server.log_appears("setup_token", Duration::from_secs(10)), "no setup token logged");
    let logs = server.logs();
    let line = logs.lines().find(|l| l.contains("setup_token")).unwrap();
    let v: Value = serde_json::from_str(line).unwrap();
    v["setup_token"].as_str().unwrap().to_string()
}

/// Runs `airgate <args>` against the server's data dir, feeding `stdin`.
pub fn cli(data_dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let config = data_dir.parent().unwrap().join("cli.toml");
    std::fs::write(&config, "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Creates admin `root` with the logged setup token; returns its signed-in client.
pub async fn set_up(server: &TestServer) -> Admin {
    set_up_with(server, Admin::new(server)).await
}

/// [`set_up`] through the given client.
pub async fn set_up_with(server: &TestServer, mut admin: Admin) -> Admin {
    let token = setup_token_from_log(server);
    let body = json!({"setup_token": token, "username": "root", "password": PASSWORD});
    let (s, v, h) = admin.send(Method::POST, "/api/admin/setup", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    admin.keep(&v, &h);
    admin
}

/// A server without a model (the admin API needs none), set up with admin `root`, signed in.
async fn signed_in() -> (TestServer, Admin) {
    let server = TestServer::builder().without_default_model().no_wait().start();
    let admin = set_up(&server).await;
    (server, admin)
}

#[tokio::test]
async fn the_ui_is_served_with_a_strict_content_security_policy() {
    let server = TestServer::builder().without_default_model().no_wait().start();
    for path in ["/admin/", "/admin/js/app.js", "/admin/app.css"] {
        let r = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'self'"), "{path}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    let js = client().get(server.url("/admin/js/app.js")).send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"), "module scripts need a JS type");
    assert_eq!(client().get(server.url("/admin/nope.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ui_files_carry_an_etag_and_a_current_copy_gets_a_304() {
    let server = TestServer::builder().without_default_model().no_wait().start();
    let first = client().get(server.url("/admin/js/app.js")).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "no-cache", "the browser revalidates every time");
    let tag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(tag.starts_with('"') && tag.len() == 34, "{tag}");
    let other = client().get(server.url("/admin/app.css")).send().await.unwrap();
    assert_ne!(other.headers()["etag"].to_str().unwrap(), tag, "a tag per file content");
    let again = client().get(server.url("/admin/js/app.js")).header("if-none-match", &tag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = client().get(server.url("/admin/js/app.js")).header("if-none-match", "\"0\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test]
async fn first_run_setup_needs_the_token_and_runs_once() {
    let server = TestServer::builder().without_default_model().no_wait().start();
    let mut admin = Admin::new(&server);
    let (s, v) = admin.get("/api/admin/status").await;
    assert_eq!((s, v["setup_required"].as_bool()), (StatusCode::OK, Some(true)), "{v}");
    let logged = setup_token_from_log(&server);
    // The CLI prints the same token through the running server's socket.
    let out = cli(&server.data_dir(), &["admin", "setup-token"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), logged);

    let (s, v) =
        admin.post("/api/admin/setup", json!({"setup_token": "guess", "username": "root", "password": PASSWORD})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["setup_token"].is_string(), "{v}");
    let (s, v) =
        admin.post("/api/admin/setup", json!({"setup_token": logged, "username": "a b", "password": "short"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["username"].is_string() && v["error"]["fields"]["password"].is_string(), "{v}");

    let (s, v, h) = admin
        .send(
            Method::POST,
            "/api/admin/setup",
            Some(json!({"setup_token": logged, "username": "root", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let cookie = h.get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("airgate_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict")
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag ({cookie})");
    admin.keep(&v, &h);
    assert_eq!(admin.get("/api/admin/session").await.1["user"], "root");
    let (s, _) = admin.get("/api/admin/status").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(admin.get("/api/admin/status").await.1["setup_required"], false);
    let (s, _) =
        admin.post("/api/admin/setup", json!({"setup_token": logged, "username": "eve", "password": PASSWORD})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let out = cli(&server.data_dir(), &["admin", "setup-token"], "");
    assert!(!out.status.success(), "no token once an admin exists");
    // Neither the password nor the session id is in the log.
    let cookie_value = cookie.split(';').next().unwrap().trim_start_matches("airgate_session=");
    assert!(!server.logs().contains(PASSWORD) && !server.logs().contains(cookie_value));
}

/// `(method, path)` of every route the admin router serves, read from its source (`.route("…", get(…).post(…))`
/// in `src/api/admin/`), paths as written (`{name}`).
fn routed_admin_endpoints() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/admin");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in text.split(".route(\"/api/admin").skip(1) {
            let call = call.split(")\n").next().unwrap();
            let (tail, handlers) = call.split_once('"').unwrap();
            for method in ["get", "post", "put", "delete"] {
                let called = handlers
                    .match_indices(&format!("{method}("))
                    .any(|(i, _)| handlers[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_')));
                if called {
                    out.insert((method.to_uppercase(), format!("/api/admin{tail}")));
                }
            }
        }
    }
    out
}

/// `(method, path, needs a session)` of every endpoint docs/admin-api.md lists
/// (`GET /a · PUT` and `POST /a/x · /y` expanded).
fn documented_admin_endpoints() -> Vec<(String, String, bool)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/admin-api.md"));
    let mut out = Vec::new();
    for line in doc.unwrap().lines() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let cell = rest.split(" |").next().unwrap();
        let session = !cell.contains("(no session");
        let mut parts = cell.split(" · ").map(|p| p.split('`').find(|s| !s.is_empty()).unwrap().trim());
        let (method, path) = parts.next().unwrap().split_once(' ').unwrap();
        let path = path.split('?').next().unwrap().to_string();
        out.push((method.to_string(), path.clone(), session));
        for more in parts {
            if more.starts_with('/') {
                let parent = &path[..path.rfind('/').unwrap()];
                out.push((method.to_string(), format!("{parent}{more}"), session));
            } else {
                out.push((more.to_string(), path.clone(), session));
            }
        }
    }
    out
}

/// Every admin endpoint: 401 without a session; the state-changing ones 403 without the CSRF token.
/// The list is the router's (read from its source) and must match docs/admin-api.md, so a new
/// handler that forgets the `Admin` extractor (or its documentation) fails here.
#[tokio::test]
async fn every_endpoint_needs_a_session_and_changes_need_csrf() {
    let (_server, admin) = signed_in().await;
    let documented = documented_admin_endpoints();
    let routed = routed_admin_endpoints();
    let listed: BTreeSet<_> = documented.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    assert_eq!(routed, listed, "the admin router and docs/admin-api.md disagree");
    let public: Vec<_> = documented.iter().filter(|e| !e.2).map(|(m, p, _)| format!("{m} {p}")).collect();
    assert_eq!(public, ["GET /api/admin/status", "POST /api/admin/setup", "POST /api/admin/login"]);
    assert!(routed.len() >= 40, "{routed:?}");
    let endpoints: Vec<(Method, String)> = documented
        .iter()
        .filter(|e| e.2)
        .map(|(m, p, _)| {
            fn value(s: &str) -> &str {
                match s {
                    "{feature}" => "duo_chat",
                    s if s.starts_with('{') => "x",
                    s => s,
                }
            }
            let path = p.split('/').map(value).collect::<Vec<_>>().join("/");
            (Method::from_bytes(m.as_bytes()).unwrap(), path)
        })
        .collect();
    let anonymous = Admin { cookie: None, csrf: None, ..Admin::new(&_server) };
    let no_csrf = Admin { cookie: admin.cookie.clone(), csrf: None, ..Admin::new(&_server) };
    let wrong_csrf = Admin { cookie: admin.cookie.clone(), csrf: Some("x".repeat(43)), ..Admin::new(&_server) };
    let forged = Admin { cookie: Some("airgate_session=forged".into()), ..Admin::new(&_server) };
    for (method, path) in &endpoints {
        let path = path.as_str();
        let body = (*method != Method::GET).then(|| json!({}));
        let (s, v, _) = anonymous.send(method.clone(), path, body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} without a session: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        assert_eq!(forged.send(method.clone(), path, body.clone()).await.0, StatusCode::UNAUTHORIZED, "{path}");
        if *method != Method::GET {
            let (s, v, _) = no_csrf.send(method.clone(), path, body.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} without CSRF: {v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("CSRF"), "{v}");
            assert_eq!(wrong_csrf.send(method.clone(), path, body).await.0, StatusCode::FORBIDDEN, "{path}");
        }
    }
    // Logging out ends the session for good.
    assert_eq!(admin.post("/api/admin/logout", json!({})).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin.get("/api/admin/session").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_passwords_lock_out_and_reset_password_on_the_cli_lifts_it() {
    let (server, _root) = signed_in().await;
    let mut admin = Admin::new(&server);
    for i in 0..5 {
        let (s, v) = admin.login("root", "wrong password!").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {v}");
        assert_eq!(v["error"]["message"], "wrong user name or password");
    }
    let (s, v, h) =
        admin.send(Method::POST, "/api/admin/login", Some(json!({"username": "root", "password": PASSWORD}))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "locked even with the right password: {v}");
    assert!(h.get("retry-after").is_some());
    assert!(v["error"]["message"].as_str().unwrap().contains("try again in"), "{v}");
    // An unknown user is refused the same way.
    assert_eq!(admin.login("nobody", PASSWORD).await.0, StatusCode::UNAUTHORIZED);

    let new_password = "a completely new passphrase";
    let out =
        cli(&server.data_dir(), &["admin", "reset-password", "root", "--password-stdin"], &format!("{new_password}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(admin.login("root", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = admin.login("root", new_password).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let out = cli(&server.data_dir(), &["admin", "create", "bob", "--password-stdin"], "short\n");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("at least 12"));
    let out = cli(&server.data_dir(), &["admin", "create", "bob", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Admin::new(&server).login("bob", PASSWORD).await.0, StatusCode::OK);
    let audit = admin.get("/api/admin/audit").await.1;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for want in ["setup", "lockout", "reset_password", "create_admin", "login"] {
        assert!(actions.contains(&want), "{want} missing in {actions:?}");
    }
    assert!(!server.logs().contains(new_password));
}

#[tokio::test]
async fn admins_are_managed_and_the_last_one_stays() {
    let (_server, admin) = signed_in().await;
    let (s, v) = admin.post("/api/admin/users", json!({"username": "alice", "password": "short"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["password"].as_str().unwrap().contains("12"), "{v}");
    let (s, v) = admin.post("/api/admin/users", json!({"username": "alice"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["password"].is_string(), "missing field named: {v}");
    let (s, v) = admin.post("/api/admin/users", json!({"username": "alice", "password": PASSWORD})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v.get("password_hash").is_none());
    assert_eq!(
        admin.post("/api/admin/users", json!({"username": "alice", "password": PASSWORD})).await.0,
        StatusCode::CONFLICT
    );
    let users = admin.get("/api/admin/users").await.1;
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(!users.to_string().contains("argon2"), "{users}");
    assert_eq!(admin.delete("/api/admin/users/alice").await, StatusCode::NO_CONTENT);
    let (s, v, _) = admin.send(Method::DELETE, "/api/admin/users/root", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("last admin"));
}

#[tokio::test]
async fn api_keys_are_shown_once_and_guard_v1_until_revoked() {
    let (server, admin) = signed_in().await;
    let http = client();
    assert_eq!(http.get(server.url("/v1/models")).send().await.unwrap().status(), StatusCode::OK);
    let (s, v) = admin.post("/api/admin/api-keys", json!({"name": ""})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["name"].is_string());
    let (s, first) = admin.post("/api/admin/api-keys", json!({"name": "VS Code fleet"})).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let key = first["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("ag-") && key.starts_with(first["prefix"].as_str().unwrap()));
    let (_, second) = admin.post("/api/admin/api-keys", json!({"name": "CI"})).await;

    let listed = admin.get("/api/admin/api-keys").await.1;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&key), "the key is shown only once");
    assert_eq!(http.get(server.url("/v1/models")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let with_key = http.get(server.url("/v1/models")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(with_key.status(), StatusCode::OK);
    let listed = admin.get("/api/admin/api-keys").await.1;
    let row = listed.as_array().unwrap().iter().find(|k| k["id"] == first["id"]).unwrap();
    assert!(row["last_used_at"].is_u64(), "{row}");

    let id = first["id"].as_str().unwrap();
    assert_eq!(admin.delete(&format!("/api/admin/api-keys/{id}")).await, StatusCode::NO_CONTENT);
    assert_eq!(admin.delete(&format!("/api/admin/api-keys/{id}")).await, StatusCode::NOT_FOUND);
    let revoked = http.get(server.url("/v1/models")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED, "a revoked key stops working at once");
    let other = http.get(server.url("/v1/models")).bearer_auth(second["key"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert!(!server.logs().contains(&key));
}

#[tokio::test]
async fn endpoints_keep_their_key_secret_and_features_route_to_them() {
    let (server, admin) = signed_in().await;
    let secret = "sk-upstream-very-secret-123";
    let (s, v) = admin
        .post("/api/admin/endpoints", json!({"name": "bad name", "url": "ftp://x", "model": "", "family": "nope"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for field in ["name", "url", "model", "family"] {
        assert!(v["error"]["fields"][field].is_string(), "{field}: {v}");
    }
    let body = json!({"name": "vllm", "url": "http://127.0.0.1:9/v1", "model": "mistral-7b", "family": "mistral", "api_key": secret});
    let (s, v) = admin.post("/api/admin/endpoints", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["has_api_key"], true);
    assert_eq!(admin.post("/api/admin/endpoints", body).await.0, StatusCode::CONFLICT);
    // Updating without a key keeps it.
    let (s, v) =
        admin.put("/api/admin/endpoints/vllm", json!({"url": "http://127.0.0.1:9/v1/", "model": "mistral-7b"})).await;
    assert_eq!((s, v["has_api_key"].as_bool()), (StatusCode::OK, Some(true)), "{v}");
    // Another host (or port, or scheme) needs the key again: the stored one never follows unasked.
    let moved = json!({"url": "http://127.0.0.2:9/v1", "model": "mistral-7b"});
    let (s, v) = admin.put("/api/admin/endpoints/vllm", moved).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["fields"]["api_key"].as_str().unwrap().contains("another host"), "{v}");
    // A password in the URL is masked in answers and the audit log, and kept when sent back masked.
    let with_password = json!({"url": "http://svc:pw-in-url-77@127.0.0.1:9/v1", "model": "mistral-7b"});
    let (s, v) = admin.put("/api/admin/endpoints/vllm", with_password).await;
    assert_eq!((s, v["url"].as_str()), (StatusCode::OK, Some("http://svc:***@127.0.0.1:9/v1")), "{v}");
    let (s, v) = admin.put("/api/admin/endpoints/vllm", json!({"url": v["url"], "model": "mistral-7b"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = admin.post("/api/admin/endpoints/vllm/test", json!({})).await;
    assert_eq!((s, v["ok"].as_bool()), (StatusCode::OK, Some(false)), "nothing listens on port 9: {v}");
    let audit = admin.get("/api/admin/audit").await.1.to_string();
    assert!(!audit.contains("pw-in-url-77") && audit.contains("svc:***@"), "{audit}");

    let (s, v) = admin.put("/api/admin/features/duo_chat", json!({"kind": "remote", "endpoint": "vllm"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["effective"], "remote endpoint vllm");
    let (s, v) = admin.put("/api/admin/features/duo_chat", json!({"kind": "local", "model": "nope"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["model"].is_string());
    let (s, v) = admin.put("/api/admin/features/duo_chat", json!({"kind": "sideways"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(admin.put("/api/admin/features/no_such", json!({"kind": "disabled"})).await.0, StatusCode::NOT_FOUND);
    let features = admin.get("/api/admin/features").await.1;
    let features = features.as_array().unwrap();
    assert_eq!(features.len(), 19);
    let explain = features.iter().find(|f| f["feature"] == "duo_chat_explain_code").unwrap();
    assert_eq!(explain["route"]["kind"], "default");
    assert_eq!(explain["effective"], "remote endpoint vllm (as General Chat)");
    assert_eq!(admin.delete("/api/admin/endpoints/vllm").await, StatusCode::CONFLICT, "still routed to");

    let everything = format!(
        "{}{}{}",
        admin.get("/api/admin/endpoints").await.1,
        admin.get("/api/admin/features").await.1,
        admin.get("/api/admin/audit").await.1
    );
    assert!(!everything.contains(secret) && !server.logs().contains(secret), "the upstream key leaked");
    assert!(!everything.contains("pw-in-url-77"), "the URL's password leaked");
    assert_eq!(admin.put("/api/admin/features/duo_chat", json!({"kind": "default"})).await.0, StatusCode::OK);
    assert_eq!(admin.delete("/api/admin/endpoints/vllm").await, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_disabled_feature_refuses_gitlab_requests() {
    let server = TestServer::builder().args(["--auth-bypass", "--max-output-tokens", "16"]).start();
    let admin = set_up(&server).await;
    let ask = || async {
        client()
            .post(server.url("/v1/prompts/generate_commit_message"))
            .json(&json!({"inputs": {"diff": "diff --git a/x b/x\n+hello\n"}, "prompt_version": "^1.0.0"}))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ask().await.status(), StatusCode::OK);
    let (s, v) = admin.put("/api/admin/features/generate_commit_message", json!({"kind": "disabled"})).await;
    assert_eq!((s, v["effective"].as_str()), (StatusCode::OK, Some("disabled")), "{v}");
    let refused = ask().await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("disabled by the airgate administrator"));
}

/// Settings survive a restart, and `kill -9` in the middle of writes loses none that were acknowledged.
#[tokio::test]
async fn settings_survive_restart_and_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::builder().without_default_model().no_wait().data_dir(&data).start();
    let admin = set_up(&server).await;
    let (_, key) = admin.post("/api/admin/api-keys", json!({"name": "ci"})).await;
    let key = key["key"].as_str().unwrap().to_string();
    assert_eq!(admin.put("/api/admin/features/code_generations", json!({"kind": "disabled"})).await.0, StatusCode::OK);

    // Writes in a loop; the server is killed while they run.
    let writer = {
        let admin = admin_clone(&admin);
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..10_000 {
                let body = json!({"name": format!("e{i}"), "url": "http://10.0.0.1:8000/v1", "model": "m"});
                match admin
                    .http
                    .post(format!("{}/api/admin/endpoints", admin.base))
                    .header("cookie", admin.cookie.clone().unwrap())
                    .header("x-csrf-token", admin.csrf.clone().unwrap())
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::CREATED => acknowledged.push(format!("e{i}")),
                    _ => break,
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill();
    let acknowledged = writer.await.unwrap();
    assert!(acknowledged.len() > 3, "the writer made too few writes ({}) to test anything", acknowledged.len());

    let server = TestServer::builder().without_default_model().no_wait().data_dir(&data).start();
    let mut admin = Admin::new(&server);
    let (s, v) = admin.login("root", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "the admin survived: {v}");
    let endpoints = admin.get("/api/admin/endpoints").await.1;
    let names: std::collections::HashSet<&str> =
        endpoints.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    for name in &acknowledged {
        assert!(names.contains(name.as_str()), "acknowledged endpoint {name} was lost");
    }
    let features = admin.get("/api/admin/features").await.1;
    let generation = features.as_array().unwrap().iter().find(|f| f["feature"] == "code_generations").unwrap();
    assert_eq!(generation["route"]["kind"], "disabled");
    let models = client().get(server.url("/v1/models")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(models.status(), StatusCode::OK, "the API key survived");
    assert_eq!(client().get(server.url("/v1/models")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

fn admin_clone(a: &Admin) -> Admin {
    Admin { base: a.base.clone(), http: client(), cookie: a.cookie.clone(), csrf: a.csrf.clone() }
}

#[tokio::test]
async fn admin_cli_works_on_a_stopped_server_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let out = cli(&data, &["admin", "create", "ops", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&data, &["admin", "create", "ops", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = cli(&data, &["admin", "reset-password", "ghost", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin named `ghost`"));
    let server = TestServer::builder().without_default_model().no_wait().data_dir(&data).start();
    let mut admin = Admin::new(&server);
    assert_eq!(admin.get("/api/admin/status").await.1["setup_required"], false);
    assert!(!server.logs().contains("setup_token"), "no setup token once an admin exists");
    assert_eq!(admin.login("ops", PASSWORD).await.0, StatusCode::OK);
}
