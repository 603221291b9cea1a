//! Doctor checks against the running server: the port answers, and every feature answers a real GitLab-shaped request signed with airgate's own key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};

use super::Check;
use super::local::Env;
use crate::features::routing::Feature;
use crate::prompt::registry;

const INSTANCE_ID: &str = "airgate-doctor";
const REALM: &str = "self-managed";
/// How long one feature may take to start answering (a cold CPU model can be slow).
const FIRST_CHUNK: Duration = Duration::from_secs(90);

/// The listening port, `/healthz`, then one request per feature.
pub(super) async fn server(env: &Env, checks: &mut Vec<Check>) {
    let addr = loopback(env.config.listen);
    let start = "start it (`systemctl start airgate`) and read `journalctl -u airgate`";
    match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => checks.push(Check::pass("port", format!("{addr} accepts connections"))),
        Ok(Err(e)) => return checks.push(Check::fail("port", format!("nothing listens on {addr}: {e}"), start)),
        Err(_) => return checks.push(Check::fail("port", format!("{addr} does not answer within 3 s"), start)),
    }
    let tls = env.config.tls.is_some() || crate::http::tls::uploaded_paths(&env.config.data_dir).cert.is_file();
    let base = format!("{}://{addr}", if tls { "https" } else { "http" });
    let client = match crate::http::tls::loopback_client() {
        Ok(c) => c,
        Err(e) => return checks.push(Check::fail("features", e, "report this as a bug")),
    };
    match client.get(format!("{base}/monitoring/healthz")).timeout(Duration::from_secs(5)).send().await {
        Ok(r) if r.status().is_success() => {
            checks.push(Check::pass("health", format!("{base}/monitoring/healthz answers")))
        }
        Ok(r) => {
            checks.push(Check::fail("health", format!("{base}/monitoring/healthz answered {}", r.status()), start))
        }
        Err(e) => {
            let fix = "check that the port belongs to airgate and the tls settings match";
            return checks.push(Check::fail(
                "health",
                format!("{base}/monitoring/healthz: {}", crate::error_chain(&e)),
                fix,
            ));
        }
    }
    checks.push(agent_platform(env, tls).await);
    let scopes = scopes();
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let token = match crate::auth::gitlab::mint_local_token(
        &env.config.data_dir,
        env.signing_key.as_deref().map(std::path::Path::new),
        INSTANCE_ID,
        REALM,
        &scopes,
    ) {
        Ok(t) => t,
        Err(e) => {
            let fix = "run the doctor as root or as the service user, who can read the data dir";
            return checks.push(Check::fail("features", e.to_string(), fix));
        }
    };
    for feature in Feature::ALL {
        checks.push(feature_check(&client, &base, &token, feature).await);
    }
}

/// The Agent Platform (gRPC) service answers `grpc.health.v1` with SERVING, as GitLab's
/// troubleshooting script checks it.
async fn agent_platform(env: &Env, tls: bool) -> Check {
    let addr = loopback(env.config.dws_listen);
    let cert = if tls {
        let uploaded = crate::http::tls::uploaded_paths(&env.config.data_dir);
        let path =
            if uploaded.cert.is_file() { Some(uploaded.cert) } else { env.config.tls.as_ref().map(|t| t.cert.clone()) };
        path.and_then(|p| std::fs::read(p).ok())
    } else {
        None
    };
    match crate::agent::probe_health(addr, cert).await {
        Ok(status) => Check::pass("agent platform", format!("gRPC health at {addr}: {status}")),
        Err(e) if tls => Check::warn(
            "agent platform",
            format!("no gRPC health answer over TLS from {addr}: {e}"),
            "the doctor trusts the configured certificate for the name localhost; check that GitLab trusts it and that it names this host",
        ),
        Err(e) => Check::fail(
            "agent platform",
            format!("no gRPC health answer from {addr}: {e}"),
            "check dws_listen in the config and `journalctl -u airgate`; GitLab's Agentic Chat needs this service",
        ),
    }
}

fn loopback(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port()),
        _ => listen,
    }
}

/// Every unit primitive a feature request may need.
fn scopes() -> Vec<String> {
    let mut out: Vec<String> = [
        "complete_code",
        "generate_code",
        "duo_chat",
        "duo_classic_chat",
        "documentation_search",
        "generate_embeddings_codebase",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for id in registry::ids() {
        if let Ok(def) = registry::resolve(id, None)
            && !out.iter().any(|s| s == def.unit_primitive)
        {
            out.push(def.unit_primitive.to_string());
        }
    }
    out
}

/// The request GitLab would send for `feature`, or `None` when no airgate endpoint serves it alone.
fn request_for(feature: Feature) -> Option<(String, Value)> {
    let ask = "airgate doctor check: reply with the single word OK.";
    Some(match feature {
        Feature::CodeCompletions => (
            "/v2/code/completions".into(),
            json!({ "current_file": { "file_name": "doctor.py", "content_above_cursor": "def add(a, b):\n    ",
                    "content_below_cursor": "\n" }, "stream": true }),
        ),
        Feature::CodeGenerations => (
            "/v4/code/suggestions".into(),
            json!({ "prompt_components": [{ "type": "code_editor_generation", "payload": {
                "file_name": "doctor.py", "content_above_cursor": "# return the sum of two numbers\n",
                "content_below_cursor": "", "language_identifier": "Python", "stream": true,
                "prompt_id": "code_suggestions/generations", "prompt_version": "^1.0.0" } }] }),
        ),
        Feature::DuoChat => ("/v2/chat/agent".into(), json!({ "messages": [{ "role": "user", "content": ask }] })),
        Feature::EmbeddingsCode => (
            "/v1/embeddings/code_embeddings/search".into(),
            json!({ "model_metadata": { "provider": "gitlab", "identifier": "airgate_doctor" },
                    "contents": ["def add(a, b):\n    return a + b\n"] }),
        ),
        other => {
            // The prompt GitLab calls for this feature; chat sub-features prefer their `chat/` prompt.
            let mut defs: Vec<_> = registry::ids()
                .into_iter()
                .filter_map(|id| registry::resolve(id, None).ok())
                .filter(|d| Feature::for_unit_primitive(d.unit_primitive) == other)
                .collect();
            defs.sort_by_key(|d| !d.id.starts_with("chat/"));
            let def = defs.first()?;
            let inputs: serde_json::Map<String, Value> =
                def.inputs.iter().map(|name| (name.to_string(), Value::String(ask.into()))).collect();
            (format!("/v2/prompts/{}", def.id), json!({ "inputs": inputs, "stream": true }))
        }
    })
}

/// Sends the feature's request; passes when a 200 answer starts arriving (the rest is dropped,
/// which the server treats as a cancelled request).
async fn feature_check(client: &reqwest::Client, base: &str, token: &str, feature: Feature) -> Check {
    let name = format!("feature {}", feature.as_str());
    let Some((path, body)) = request_for(feature) else {
        return Check::skip(name, "no airgate endpoint serves this feature on its own; nothing to call");
    };
    let started = std::time::Instant::now();
    let sent = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("X-Gitlab-Authentication-Type", "oidc")
        .header("X-Gitlab-Realm", REALM)
        .header("X-Gitlab-Instance-Id", INSTANCE_ID)
        .header("X-Gitlab-Global-User-Id", "airgate-doctor")
        .header("X-Request-ID", format!("doctor-{}", feature.as_str()))
        .json(&body)
        .send();
    let fix = "see the admin UI's request log (filter by correlation id doctor-…) and `journalctl -u airgate`";
    let mut response = match tokio::time::timeout(FIRST_CHUNK, sent).await {
        Err(_) => return Check::fail(name, format!("{path}: no answer within {} s", FIRST_CHUNK.as_secs()), fix),
        Ok(Err(e)) => return Check::fail(name, format!("{path}: {}", crate::error_chain(&e)), fix),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        if feature == Feature::EmbeddingsCode && text.contains("does not serve embeddings") {
            // Only GitLab's semantic code search needs it; the admin may not use it.
            return Check::skip(
                name,
                "no model serves embeddings (route Code Embeddings to an embeddings model to use GitLab's semantic code search)",
            );
        }
        if status == reqwest::StatusCode::FORBIDDEN && text.contains("disabled") {
            return Check::skip(name, "disabled by an administrator");
        }
        let message: String = text.chars().take(200).collect();
        return Check::fail(name, format!("{path} answered {status}: {message}"), fix);
    }
    // An SSE generation opens with metadata before the model says anything: wait for its text.
    let needle = path.starts_with("/v4/").then_some("event: stream_end");
    let mut seen = String::new();
    loop {
        match tokio::time::timeout(FIRST_CHUNK, response.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            // A completion streams raw text, and a sampled one may be empty: the model answered.
            // Every other answer has framing (SSE events, a usage line), so nothing at all is a fault.
            Ok(Ok(None)) if seen.is_empty() && feature == Feature::CodeCompletions => {
                let ms = started.elapsed().as_millis();
                return Check::pass(name, format!("{path} answered in {ms} ms (an empty completion)"));
            }
            Ok(Ok(None)) if seen.is_empty() => {
                return Check::fail(name, format!("{path} answered 200 with an empty body"), fix);
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return Check::fail(name, format!("{path}: {}", crate::error_chain(&e)), fix),
            Err(_) => return Check::fail(name, format!("{path}: no output within {} s", FIRST_CHUNK.as_secs()), fix),
        }
        if seen.contains(r#""type":"error""#) {
            return Check::fail(name, format!("{path}: {}", seen.trim()), fix);
        }
        if needle.is_none_or(|n| seen.contains(n) || seen.contains("event: content_chunk")) {
            break;
        }
    }
    Check::pass(name, format!("{path} answered in {} ms", started.elapsed().as_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_but_the_agent_platform_has_a_request() {
        for feature in Feature::ALL {
            let platform = matches!(feature, Feature::DuoAgentPlatform | Feature::DuoAgentPlatformAgenticChat);
            assert_eq!(request_for(feature).is_none(), platform, "{feature:?}");
        }
    }

    #[test]
    fn unspecified_listen_addresses_become_loopback() {
        assert_eq!(loopback("0.0.0.0:5052".parse().unwrap()), "127.0.0.1:5052".parse().unwrap());
        assert_eq!(loopback("[::]:1".parse().unwrap()), "[::1]:1".parse().unwrap());
        assert_eq!(loopback("10.0.0.2:80".parse().unwrap()), "10.0.0.2:80".parse().unwrap());
    }
}
