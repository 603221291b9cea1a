//! Embeddings on the real default model (allowed to embed in its config table): `/v1/embeddings` in
//! OpenAI's shape (and the official client), GitLab's code-embeddings endpoints with GitLab-shaped
//! tokens, their 422 cases, routing to an upstream, and a model that does not embed.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::gitlab::{call_json, issuer_url};
use crate::issuer;
use crate::support::{TestServer, client, model_path};
use crate::upstream::{Reply, Upstream};

pub const MODEL: &str = "gemma-3-270m-q4_k_m";

/// The default model with embeddings allowed (its table in the config file), trusting the fake GitLab.
pub fn embedding_server() -> TestServer {
    let config =
        format!("models = [{{ path = \"{}\", name = \"{MODEL}\", embeddings = true }}]\n", model_path().display());
    TestServer::builder().without_default_model().config(&config).arg("--gitlab-url").arg(issuer_url()).start()
}

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let r = client().post(server.url(path)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn vectors(v: &Value) -> Vec<Vec<f32>> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (norm(a) * norm(b))
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test]
async fn openai_embeddings_on_the_default_model() {
    let server = embedding_server();
    let texts =
        ["def add(a, b):\n    return a + b\n", "The harbour was quiet at dawn.", "def add(a, b):\n    return a + b\n"];
    let (s, v) = post(&server, "/v1/embeddings", json!({ "model": MODEL, "input": texts })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["object"].as_str(), v["model"].as_str()), (Some("list"), Some(MODEL)));
    let got = vectors(&v);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|x| x.len() == 640 && (norm(x) - 1.0).abs() < 1e-3), "640 wide, unit length");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][1]["object"], "embedding");
    // The same text twice in one decode: the same vector up to rounding (measured 0.9999); code and
    // prose far apart (measured -0.09).
    assert!(cosine(&got[0], &got[2]) > 0.999 && cosine(&got[0], &got[1]) < 0.5);
    let tokens = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(tokens > 10 && v["usage"]["total_tokens"] == tokens, "{v}");

    // base64: the same floats, little-endian.
    let (_, b) =
        post(&server, "/v1/embeddings", json!({ "model": MODEL, "input": texts[0], "encoding_format": "base64" }))
            .await;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(decoded.len(), 640);
    assert!(cosine(&decoded, &got[0]) > 0.999);

    // dimensions: cut and scaled back to unit length; more than the model has is a 400 naming it.
    let (_, d) = post(&server, "/v1/embeddings", json!({ "input": texts[..2], "dimensions": 8 })).await;
    assert!(vectors(&d).iter().all(|x| x.len() == 8 && (norm(x) - 1.0).abs() < 1e-3), "{d}");
    assert_eq!(d["model"], MODEL, "no model named: the embeddings route (here the default model)");
    let (s, e) = post(&server, "/v1/embeddings", json!({ "input": "x", "dimensions": 641 })).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("dimensions")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("640-dimensional"), "{e}");

    // Token ids, one array or several.
    let (s, t) = post(&server, "/v1/embeddings", json!({ "input": [[2, 1596, 2134], [2, 20057]] })).await;
    assert_eq!((s, vectors(&t).len(), t["usage"]["prompt_tokens"].as_u64()), (200, 2, Some(5)), "{t}");
    let (s, _) = post(&server, "/v1/embeddings", json!({ "input": [2, 1596] })).await;
    assert_eq!(s, 200);

    // Bad input: 400 in OpenAI's shape, naming the field (and the limit).
    let long = "word ".repeat(1100);
    for (body, param, needle) in [
        (json!({ "input": long }), "input", "at most 1024 tokens"),
        (json!({ "input": [] }), "input", "nothing to embed"),
        (json!({ "input": ["ok", ""] }), "input", "input[1] is an empty string"),
        (json!({ "input": [[2, 999999]] }), "input", "token id 999999"),
        (json!({ "input": ["a", 1] }), "input", "input"),
        (json!({ "input": "a", "encoding_format": "hex" }), "encoding_format", "`float` or `base64`"),
        (json!({ "model": MODEL }), "", "input"),
    ] {
        let (s, e) = post(&server, "/v1/embeddings", body.clone()).await;
        assert_eq!(s, 400, "{body}: {e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
        if !param.is_empty() {
            assert_eq!(e["error"]["param"], param, "{body}: {e}");
        }
    }
    let (s, e) = post(&server, "/v1/embeddings", json!({ "model": "nope", "input": "a" })).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("model_not_found")), "{e}");

    let metrics = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("airgate_embedding_inputs_total") && l.contains("feature=\"openai\"")),
        "{metrics}"
    );
}

/// A generation model embeds only when allowed; `/v1/embeddings` is guarded by the API keys like all of `/v1`.
#[tokio::test]
async fn a_generation_model_does_not_embed_unless_allowed() {
    let key = "sk-embed-test-key-0123456789";
    let server = TestServer::builder().args(["--api-key", key]).start();
    let r = client().post(server.url("/v1/embeddings")).json(&json!({ "input": "a" })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client()
        .post(server.url("/v1/embeddings"))
        .bearer_auth(key)
        .json(&json!({ "input": "a" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "model", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("does not serve embeddings"), "{e}");
}

/// The official `openai` client (tests/python/openai_embeddings.py): base64 by default, floats,
/// `dimensions`, token ids, a too-long input.
#[test]
fn official_openai_client_embeds() {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/venv/bin/python")
    });
    assert!(python.is_file(), "python with `openai` missing at {}: run `make test`", python.display());
    let server = embedding_server();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_embeddings.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(["--base-url", &server.url("/v1"), "--model", MODEL, "--dims", "640", "--max-tokens", "1024"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
}

fn gitlab_token(scopes: &[&str]) -> String {
    issuer::sign(&issuer::claims(issuer_url(), scopes))
}

const PATHS: [&str; 3] =
    ["/v1/embeddings/code_embeddings", "/v1/embeddings/code_embeddings/index", "/v1/embeddings/code_embeddings/search"];

#[tokio::test]
async fn gitlab_code_embeddings() {
    let server = embedding_server();
    let token = gitlab_token(&["generate_embeddings_codebase"]);
    let contents = ["def add(a, b):\n    return a + b\n", "class Parser:\n    pass\n"];
    // A self-hosted model (`litellm`) whose identifier names airgate's own model.
    let litellm = json!({ "model_metadata": { "provider": "litellm", "name": "embedding", "identifier": format!("custom_openai/{MODEL}"),
        "endpoint": server.url("/v1"), "api_key": "ignored" }, "contents": contents });
    let mut first: Option<Vec<Vec<f32>>> = None;
    for path in PATHS {
        let (s, v) = call_json(&server, path, &token, &litellm).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!(
            v["model"],
            json!({ "engine": "litellm_embedding", "name": "embedding", "identifier": format!("custom_openai/{MODEL}") })
        );
        let predictions = v["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 2);
        assert_eq!((predictions[0]["index"].as_u64(), predictions[1]["index"].as_u64()), (Some(0), Some(1)));
        let got: Vec<Vec<f32>> = predictions
            .iter()
            .map(|p| p["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
            .collect();
        assert!(got.iter().all(|x| x.len() == 640 && (norm(x) - 1.0).abs() < 1e-3));
        // Indexing and searching embed alike: a query finds its chunk.
        match &first {
            None => first = Some(got),
            Some(f) => assert!(cosine(&f[0], &got[0]) > 0.999 && cosine(&f[1], &got[1]) > 0.999, "{path}"),
        }
    }

    // GitLab's own model (`gitlab`): served by the model routed to the feature (here the default).
    let gitlab = json!({ "model_metadata": { "provider": "gitlab", "identifier": "text_embedding_005_vertex" },
        "contents": contents, "dimensions": 16 });
    let (s, v) = call_json(&server, PATHS[2], &token, &gitlab).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["model"],
        json!({ "engine": "litellm_embedding", "name": MODEL, "identifier": "text_embedding_005_vertex" })
    );
    assert_eq!(v["predictions"][0]["embedding"].as_array().unwrap().len(), 16, "dimensions");

    // GitLab's 422s, with its messages.
    let meta = |m: Value| json!({ "model_metadata": m, "contents": ["x"] });
    for (body, detail) in [
        (meta(json!({ "provider": "openai", "identifier": "x" })), "Allowed providers are: gitlab|litellm."),
        (
            meta(json!({ "provider": "litellm", "identifier": "x", "endpoint": "http://m/v1" })),
            "Model `name` must be set when using `litellm` provider.",
        ),
        (
            meta(json!({ "provider": "litellm", "identifier": "x", "name": "mistral", "endpoint": "http://m/v1" })),
            "Model `name` must be 'embedding' when using `litellm` provider.",
        ),
        (
            meta(json!({ "provider": "litellm", "identifier": "x", "name": "embedding" })),
            "Model `endpoint` must be set when using `litellm` provider.",
        ),
        (meta(json!({ "provider": "gitlab" })), "model_metadata.identifier: Field required"),
    ] {
        let (s, v) = call_json(&server, PATHS[0], &token, &body).await;
        assert_eq!((s, v["detail"].as_str()), (422, Some(detail)), "{body}");
    }
    // Bad input is a 400 that names the limit; the wrong scope a 403; no token a 401.
    let long =
        json!({ "model_metadata": { "provider": "gitlab", "identifier": "x" }, "contents": ["word ".repeat(1100)] });
    let (s, v) = call_json(&server, PATHS[1], &token, &long).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("at most 1024 tokens"), "{v}");
    let (s, v) = call_json(&server, PATHS[1], &gitlab_token(&["complete_code"]), &gitlab).await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("Unauthorized to access 'embeddings_code'")));
    let r = client().post(server.url(PATHS[0])).json(&gitlab).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// A self-hosted embeddings model behind another server: airgate calls its `/v1/embeddings`.
#[tokio::test]
async fn gitlab_code_embeddings_from_an_upstream() {
    let answer = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[3.0,4.0]},{"object":"embedding","index":1,"embedding":[0.0,2.0]}],"model":"nomic","usage":{"prompt_tokens":11,"total_tokens":11}}"#;
    let upstream = Upstream::start(vec![
        Reply::Raw("200 OK", "", answer),
        Reply::Status("429 Too Many Requests", "retry-after: 7\r\n"),
    ])
    .await;
    let server = crate::gitlab::gitlab_server();
    let token = gitlab_token(&["generate_embeddings_codebase"]);
    let body = json!({ "model_metadata": { "provider": "litellm", "name": "embedding", "identifier": "custom_openai/nomic",
        "endpoint": upstream.url, "api_key": "sk-upstream" }, "contents": ["a", "b"] });
    let (s, v) = call_json(&server, PATHS[1], &token, &body).await;
    assert_eq!(s, 200, "{v}");
    // The upstream's vectors, scaled to unit length (as f32).
    let got: Vec<Vec<f64>> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
        .collect();
    assert_eq!((v["predictions"][0]["index"].as_u64(), v["predictions"][1]["index"].as_u64()), (Some(0), Some(1)));
    let close = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    assert!(close(&got[0], &[0.6, 0.8]) && close(&got[1], &[0.0, 1.0]), "{v}");
    let sent = &upstream.requests()[0];
    assert_eq!(sent["model"], "nomic");
    assert_eq!(sent["input"], json!(["a", "b"]));
    assert!(upstream.heads()[0].starts_with("POST /v1/embeddings "), "{}", upstream.heads()[0]);
    assert!(upstream.heads()[0].to_ascii_lowercase().contains("authorization: bearer sk-upstream"));
    // The upstream's rate limit reaches GitLab as a 429.
    let (s, _) = call_json(&server, PATHS[1], &token, &body).await;
    assert_eq!(s, 429);
}
