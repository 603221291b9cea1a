//! Tests of the configuration document: parsing with line-and-key errors, planning against a node
//! (changes listed, files checked, secrets resolved), export and its round trip.

use std::collections::BTreeMap;

use super::*;
use crate::store::ConfigSet;

/// Secrets from a fixed table.
struct Fixed(BTreeMap<&'static str, &'static str>);

impl Secrets for Fixed {
    fn env(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.to_string())
    }
}

fn no_secrets() -> Fixed {
    Fixed(BTreeMap::new())
}

fn model_path() -> String {
    std::fs::canonicalize(crate::engine::test_model_path()).unwrap().display().to_string()
}

/// A document serving the test model, routing chat to an upstream and keeping one API key.
fn sample() -> String {
    format!(
        r#"gitlab_url = "https://gitlab.example.com"

[settings]
default_model = "gemma"
repetition_guard = false

[settings.output_caps]
duo_chat = 1024

[[models]]
name = "gemma"
path = "{}"
ctx_size = 2048
embeddings = true
pooling = "last"

[[endpoints]]
name = "vllm"
url = "http://vllm.internal:8000/v1"
model = "Qwen2.5-Coder-7B"
family = "qwen2p5-coder-7b"
api_key = {{ env = "VLLM_KEY" }}

[features]
duo_chat = {{ kind = "remote", endpoint = "vllm" }}
code_generations = {{ kind = "disabled" }}

[[api_keys]]
name = "ci"
sha256 = "{}"
"#,
        model_path(),
        "ab".repeat(32)
    )
}

#[test]
fn a_sample_document_parses() {
    let doc = Document::parse(&sample()).unwrap();
    assert_eq!(doc.models.len(), 1);
    assert_eq!(doc.endpoints[0].api_key, Some(SecretRef::Env("VLLM_KEY".into())));
    assert_eq!(doc.features[&Feature::CodeGenerations], RouteTarget::Disabled);
    assert!(doc.models[0].load, "models load unless told otherwise");
}

#[test]
fn errors_name_the_line_and_the_key() {
    let cases = [
        // (document, what the error must say)
        ("gitlab_url = \"ftp://x\"\n", "line 1, key `gitlab_url`"),
        ("listen = \"0.0.0.0:1\"\n", "unknown field `listen`"),
        ("[[models]]\nname = \"a\"\npath = \"rel/a.gguf\"\n", "line 3, key `models[0].path`"),
        (
            "[[models]]\nname = \"a\"\npath = \"/a.gguf\"\n[[models]]\nname = \"a\"\npath = \"/b.gguf\"\n",
            "line 5, key `models[1].name`: `a` is listed twice",
        ),
        (
            "[features]\nduo_chat = { kind = \"local\", model = \"nope\" }\n",
            "line 2, key `features.duo_chat`: names model `nope`",
        ),
        ("[features]\nduo_chatt = { kind = \"disabled\" }\n", "duo_chatt"),
        ("[[api_keys]]\nname = \"k\"\nsha256 = \"xyz\"\n", "line 3, key `api_keys[0].sha256`"),
        ("[settings]\ndefault_model = \"ghost\"\n", "line 2, key `settings.default_model`"),
        (
            "[settings.output_caps]\nduo_chat = 0\n",
            "key `settings.output_caps.duo_chat`: the output cap of duo_chat must be between 1",
        ),
        ("[settings.output_caps]\nembeddings_code = 10\n", "embeddings_code generates no text"),
        ("[[models]]\nname = \"a\"\npath = \"/a.gguf\"\npooling = \"max\"\n", "key `models[0].pooling`"),
        ("[[models]]\nname = \"a\"\npath = \"/a.gguf\"\nspeculation = \"yes\"\n", "key `models[0].speculation`"),
        (
            "[[endpoints]]\nname = \"e\"\nurl = \"http://h/v1\"\nmodel = \"m\"\napi_key = { env = \"9X\" }\n",
            "line 5, key `endpoints[0].api_key`",
        ),
        ("gitlab_url = ", "line 1"),
    ];
    for (text, want) in cases {
        let err = Document::parse(text).unwrap_err().0;
        assert!(err.contains(want), "{text:?}\n  gave: {err}\n  want: {want}");
    }
}

#[test]
fn planning_on_an_empty_node_adds_everything_and_resolves_the_key() {
    let text = sample();
    let doc = Document::parse(&text).unwrap();
    let secrets = Fixed(BTreeMap::from([("VLLM_KEY", "sk-upstream-key")]));
    let plan = plan(&ConfigSet::default(), &doc, &text, "/etc/airgate/fleet.toml", &secrets).unwrap();
    let lines: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
    assert!(lines.iter().any(|l| l.starts_with("+ model gemma")), "{lines:?}");
    assert!(lines.contains(&"+ endpoint vllm (http://vllm.internal:8000/v1)".to_string()), "{lines:?}");
    assert!(lines.contains(&"+ API key ci".to_string()), "{lines:?}");
    assert!(lines.contains(&"~ feature duo_chat: default model → remote endpoint vllm".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("sk-upstream-key")), "a key never shows: {lines:?}");
    let e = &plan.set.endpoints[0];
    assert_eq!(
        (e.api_key.as_deref(), e.api_key_ref.clone()),
        (Some("sk-upstream-key"), doc.endpoints[0].api_key.clone())
    );
    let m = &plan.set.models[0];
    assert_eq!((m.ctx_size, m.autoload, m.size > 0), (Some(2048), Some(true), true));
    assert_eq!(plan.set.api_keys[0].id, "ab".repeat(8));
    assert_eq!(plan.set.applied.as_ref().unwrap().source, "/etc/airgate/fleet.toml");
}

#[test]
fn an_unset_secret_or_a_missing_file_stops_the_plan_and_names_the_key() {
    let text = sample();
    let doc = Document::parse(&text).unwrap();
    let err = plan(&ConfigSet::default(), &doc, &text, "f", &no_secrets()).unwrap_err().0;
    assert!(err.contains("key `endpoints[0].api_key`") && err.contains("VLLM_KEY is not set"), "{err}");
    let gone = text.replace(&model_path(), "/nonexistent/model.gguf");
    let doc = Document::parse(&gone).unwrap();
    let secrets = Fixed(BTreeMap::from([("VLLM_KEY", "k")]));
    let err = plan(&ConfigSet::default(), &doc, &gone, "f", &secrets).unwrap_err().0;
    assert!(err.contains("key `models[0].path`") && err.contains("/nonexistent/model.gguf"), "{err}");
}

#[test]
fn a_wrong_sha256_is_refused() {
    let text = sample().replace("ctx_size = 2048", &format!("sha256 = \"{}\"", "0".repeat(64)));
    let doc = Document::parse(&text).unwrap();
    let secrets = Fixed(BTreeMap::from([("VLLM_KEY", "k")]));
    let err = plan(&ConfigSet::default(), &doc, &text, "f", &secrets).unwrap_err().0;
    assert!(err.contains("key `models[0].sha256`") && err.contains("the file"), "{err}");
}

#[test]
fn export_reads_back_as_the_document_and_planning_it_again_changes_nothing() {
    let text = sample();
    let doc = Document::parse(&text).unwrap();
    let secrets = Fixed(BTreeMap::from([("VLLM_KEY", "sk-upstream-key")]));
    let first = plan(&ConfigSet::default(), &doc, &text, "f", &secrets).unwrap();
    let (exported, warnings) = export(&first.set);
    assert!(warnings.is_empty(), "{warnings:?}");
    let rendered = exported.render();
    assert!(!rendered.contains("sk-upstream-key"), "{rendered}");
    let reparsed = Document::parse(&rendered).unwrap();
    assert_eq!(reparsed.render(), rendered, "export is stable");
    let again = plan(&first.set, &reparsed, &rendered, "f", &secrets).unwrap();
    assert_eq!(again.changes, vec![], "applying the export changes nothing");
    // The output caps, the guard switch and a model's embeddings travel with the document.
    assert_eq!(first.set.runaway.cap(crate::store::Feature::DuoChat), Some(1024));
    assert!(!first.set.runaway.guard());
    assert_eq!((first.set.models[0].embeddings, first.set.models[0].pooling.as_deref()), (Some(true), Some("last")));
    assert!(rendered.contains("repetition_guard = false") && rendered.contains("duo_chat = 1024"), "{rendered}");
    // Removing things is a change too, and a changed reference replaces the key.
    let mut fewer = reparsed.clone();
    fewer.api_keys.clear();
    fewer.endpoints[0].api_key = Some(SecretRef::Env("OTHER".into()));
    let secrets = Fixed(BTreeMap::from([("OTHER", "sk-other")]));
    let lines: Vec<String> = plan(&first.set, &fewer, &fewer.render(), "f", &secrets)
        .unwrap()
        .changes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(lines, ["~ endpoint vllm: API key replaced", "- API key ci (revoked)"]);
}

#[test]
fn parameters_recorded_from_the_boot_config_read_as_unset() {
    let text = sample();
    let doc = Document::parse(&text).unwrap();
    let secrets = Fixed(BTreeMap::from([("VLLM_KEY", "k")]));
    let mut set = plan(&ConfigSet::default(), &doc, &text, "f", &secrets).unwrap().set;
    // The next start records what it used for the parameters the document left unset.
    set.models[0].threads = Some(2);
    set.recorded.insert("gemma".into(), crate::store::RecordedParams { threads: Some(2), ..Default::default() });
    assert_eq!(plan(&set, &doc, &text, "f", &secrets).unwrap().changes, vec![], "no drift");
    assert_eq!(export(&set).0.models[0].threads, None);
    // A value an admin changed since is drift.
    set.models[0].ctx_size = Some(4096);
    let drift: Vec<String> =
        plan(&set, &doc, &text, "f", &secrets).unwrap().changes.iter().map(ToString::to_string).collect();
    assert_eq!(drift, ["~ model gemma: ctx_size 4096 → 2048"]);
}

#[test]
fn an_endpoint_key_typed_in_the_ui_exports_as_a_named_variable() {
    let mut set = ConfigSet::default();
    set.endpoints.push(crate::store::EndpointRecord {
        name: "lab-llm".into(),
        url: "http://h/v1".into(),
        model: "m".into(),
        family: None,
        api_key: Some("typed".into()),
        api_key_ref: None,
        created_at: 1,
    });
    let (doc, warnings) = export(&set);
    assert_eq!(doc.endpoints[0].api_key, Some(SecretRef::Env("AIRGATE_ENDPOINT_LAB_LLM_KEY".into())));
    assert!(warnings[0].contains("AIRGATE_ENDPOINT_LAB_LLM_KEY"), "{warnings:?}");
    assert!(!doc.render().contains("typed"));
}
