//! Tests for the prompt registry: the shipped table, version resolution and rendering.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::*;

const TODAY: &str = "March 05, 2026";

/// (prompt id, unit primitive, required inputs, optional inputs), as the protocol spec lists them.
const TABLE: &[(&str, &str, &[&str], &[&str])] = &[
    ("chat/explain_code", "explain_code", &["file_content", "input", "language_info", "selected_text"], &[]),
    ("chat/write_tests", "write_tests", &["file_content", "input", "language_info", "libraries", "selected_text"], &[]),
    (
        "chat/refactor_code",
        "refactor_code",
        &["file_content", "file_content_reuse", "input", "language_info", "libraries", "selected_text"],
        &[],
    ),
    (
        "chat/fix_code",
        "fix_code",
        &["file_content", "file_content_reuse", "input", "language_info", "libraries", "selected_text"],
        &[],
    ),
    ("chat/troubleshoot_job", "troubleshoot_job", &["language_info", "selected_text"], &[]),
    (
        "chat/explain_vulnerability",
        "explain_vulnerability",
        &["identifiers", "language_info", "title", "vulnerability_description", "vulnerability_info"],
        &[],
    ),
    ("chat/summarize_comments", "summarize_comments", &["notes_content"], &[]),
    ("chat/issue_reader", "ask_issue", &["input", "suggestions"], &[]),
    ("chat/epic_reader", "ask_epic", &["input", "suggestions"], &[]),
    ("chat/merge_request_reader", "ask_merge_request", &["input", "suggestions"], &[]),
    ("chat/commit_reader", "ask_commit", &["input", "suggestions"], &[]),
    ("chat/build_reader", "ask_build", &["input", "suggestions"], &[]),
    ("chat/work_item_reader", "ask_work_item", &["input", "suggestions"], &[]),
    ("chat/documentation_search", "documentation_search", &["question", "documents", "content_id"], &[]),
    ("generate_commit_message", "generate_commit_message", &["diff"], &[]),
    ("summarize_new_merge_request", "summarize_new_merge_request", &["extracted_diff"], &[]),
    ("summarize_review", "summarize_review", &["draft_notes_content"], &[]),
    (
        "review_merge_request",
        "review_merge_request",
        &[
            "mr_title",
            "mr_description",
            "diff_lines",
            "full_content_section",
            "custom_instructions_section",
            "current_date",
        ],
        &[],
    ),
    (
        "resolve_vulnerability",
        "resolve_vulnerability",
        &["name", "filename", "identifiers", "source_code", "vulnerable_code", "vulnerability_description"],
        &[],
    ),
    ("glab_ask_git_command", "glab_ask_git_command", &["prompt"], &[]),
    ("generate_description", "generate_issue_description", &["content"], &["template"]),
    ("categorize_question", "duo_chat", &["question"], &["previous_answer"]),
    ("measure_comment_temperature", "measure_comment_temperature", &["content"], &[]),
    ("model_configuration/check", "complete_code", &[], &[]),
];

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

/// A distinct marker value per input; `documents` becomes a one-element list carrying the marker as content.
fn marker_inputs(def: &PromptDef) -> (Map<String, Value>, Vec<String>) {
    let mut inputs = Map::new();
    let mut markers = Vec::new();
    for (i, name) in def.inputs.iter().chain(def.optional_inputs).enumerate() {
        let marker = format!("MARK{i}_{name}");
        let value = if *name == "documents" {
            json!([{"id": "doc-1", "content": marker, "metadata": {"source": "doc/index.md"}}])
        } else {
            json!(marker)
        };
        inputs.insert(name.to_string(), value);
        markers.push(marker);
    }
    (inputs, markers)
}

fn text(rendered: &Rendered) -> String {
    rendered.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n")
}

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().expect("an object").clone()
}

#[test]
fn every_table_id_resolves_to_its_definition() {
    for (id, unit, inputs, optional) in TABLE {
        for constraint in [Some("^1.0.0"), None] {
            let def = resolve(id, constraint).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(def.id, *id);
            assert_eq!(def.version, "1.0.0", "{id} {constraint:?}");
            assert_eq!(def.unit_primitive, *unit, "{id}");
            assert_eq!(sorted(def.inputs), sorted(inputs), "{id} required inputs");
            assert_eq!(sorted(def.optional_inputs), sorted(optional), "{id} optional inputs");
        }
    }
}

#[test]
fn ids_lists_every_table_id_once() {
    let ids = ids();
    for (id, ..) in TABLE {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id}");
    }
    assert_eq!(ids.len(), TABLE.len(), "{ids:?}");
}

#[test]
fn definitions_are_unique_and_versions_parse() {
    for (i, a) in PROMPTS.iter().enumerate() {
        assert!(version::Version::parse(a.version).is_ok(), "{} {}", a.id, a.version);
        assert!(!a.unit_primitive.is_empty());
        for b in &PROMPTS[i + 1..] {
            assert!(!(a.id == b.id && a.version == b.version), "duplicate {} {}", a.id, a.version);
            if a.id == b.id {
                assert_eq!(a.unit_primitive, b.unit_primitive, "{}", a.id);
                assert_ne!(a.user, b.user, "{}: versions must differ", a.id);
            }
        }
    }
}

#[test]
fn two_versions_of_summaries() {
    for id in ["summarize_new_merge_request", "summarize_review"] {
        assert_eq!(resolve(id, Some("^2.0.0")).unwrap().version, "2.0.0", "{id}");
        assert_eq!(resolve(id, Some("^1.0.0")).unwrap().version, "1.0.0", "{id}");
        assert_eq!(resolve(id, None).unwrap().version, "1.0.0", "{id}");
        assert_eq!(resolve(id, Some(">=1.0.0")).unwrap().version, "2.0.0", "{id}: highest match wins");
        assert_eq!(resolve(id, Some("*")).unwrap().version, "2.0.0", "{id}");
        assert_eq!(resolve(id, Some("2.0.0")).unwrap().version, "2.0.0", "{id}");
        assert!(matches!(resolve(id, Some("^3.0.0")), Err(RegistryError::BadVersion(_))));
    }
}

#[test]
fn tilde_without_a_matching_version_is_bad() {
    let Err(RegistryError::BadVersion(message)) = resolve("chat/explain_code", Some("~1.1")) else {
        panic!("~1.1 must not match 1.0.0");
    };
    assert!(message.contains("`~1.1`") && message.contains("1.0.0"), "{message}");
}

#[test]
fn exact_versions() {
    assert_eq!(resolve("chat/explain_code", Some("1.0.0")).unwrap().version, "1.0.0");
    assert_eq!(resolve("chat/explain_code", Some("==1.0.0")).unwrap().version, "1.0.0");
    assert_eq!(resolve("chat/explain_code", Some("~1.0")).unwrap().version, "1.0.0");
    assert_eq!(resolve("chat/explain_code", Some(">=1.0.0,<2.0.0")).unwrap().version, "1.0.0");
    assert!(matches!(resolve("chat/explain_code", Some("1.0.1")), Err(RegistryError::BadVersion(_))));
}

#[test]
fn unmatched_and_unparsable_constraints_are_bad() {
    for constraint in ["^3.0.0", "^2.0.0", "nonsense!!", "amazon_q/1.0.0", ">=", "1.0.0.0.0"] {
        let Err(RegistryError::BadVersion(message)) = resolve("generate_commit_message", Some(constraint)) else {
            panic!("{constraint} must be rejected");
        };
        assert!(message.contains(constraint), "{message}");
        assert!(message.contains("1.0.0"), "lists the shipped versions: {message}");
    }
}

#[test]
fn blank_constraint_means_default() {
    assert_eq!(resolve("summarize_review", Some("")).unwrap().version, "1.0.0");
    assert_eq!(resolve("summarize_review", Some("  ")).unwrap().version, "1.0.0");
}

#[test]
fn unknown_prompts() {
    for id in ["chat/nope", "", "chat", "explain_code", "chat/explain_code/"] {
        assert!(matches!(resolve(id, None), Err(RegistryError::UnknownPrompt(ref s)) if s == id), "{id}");
    }
    assert_eq!(RegistryError::UnknownPrompt("x/y".into()).to_string(), "prompt `x/y` not found");
}

#[test]
fn every_input_is_rendered() {
    for def in PROMPTS {
        let (inputs, markers) = marker_inputs(def);
        let rendered = render(def, &inputs, TODAY).unwrap_or_else(|e| panic!("{} {}: {e}", def.id, def.version));
        let all = text(&rendered);
        for marker in &markers {
            assert!(all.contains(marker.as_str()), "{} {} does not render {marker}:\n{all}", def.id, def.version);
        }
        assert_eq!(rendered.version, def.version);
        assert_eq!(rendered.max_tokens, def.max_tokens);
        assert_eq!(rendered.temperature, def.temperature);
        assert_eq!(rendered.prefill.as_deref(), def.prefill);
        assert_eq!(rendered.stop, def.stop.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
}

#[test]
fn short_string_inputs_render() {
    for def in PROMPTS {
        let mut inputs = Map::new();
        for name in def.inputs {
            let value = if *name == "documents" {
                json!([{"id": "d1", "content": "docs text", "metadata": {}}])
            } else {
                json!(format!("v-{name}"))
            };
            inputs.insert(name.to_string(), value);
        }
        let rendered = render(def, &inputs, TODAY).unwrap_or_else(|e| panic!("{}: {e}", def.id));
        let all = text(&rendered);
        for name in def.inputs {
            let expected = if *name == "documents" { "docs text".to_string() } else { format!("v-{name}") };
            assert!(all.contains(&expected), "{} missing {expected}", def.id);
        }
        let roles: Vec<&str> = rendered.messages.iter().map(|m| m.role.as_str()).collect();
        let expected_roles: &[&str] = if def.system.is_some() { &["system", "user"] } else { &["user"] };
        assert_eq!(roles, expected_roles, "{}", def.id);
        assert!(rendered.messages.iter().all(|m| !m.content.is_empty() && m.content.trim() == m.content));
    }
}

#[test]
fn empty_inputs_report_every_missing_one() {
    for def in PROMPTS {
        let result = render(def, &Map::new(), TODAY);
        let required: Vec<&str> = def.inputs.iter().copied().filter(|n| *n != "current_date").collect();
        if required.is_empty() {
            assert!(result.is_ok(), "{}: {result:?}", def.id);
        } else {
            assert_eq!(result, Err(RegistryError::MissingInputs(sorted(&required))), "{}", def.id);
        }
    }
}

#[test]
fn only_the_missing_inputs_are_named() {
    let def = resolve("chat/refactor_code", None).unwrap();
    let inputs = obj(json!({"input": "", "selected_text": "x = 1", "libraries": "", "extra": "ignored"}));
    let err = render(def, &inputs, TODAY).unwrap_err();
    assert_eq!(
        err,
        RegistryError::MissingInputs(vec!["file_content".into(), "file_content_reuse".into(), "language_info".into()])
    );
    assert_eq!(err.to_string(), "missing prompt inputs: file_content, file_content_reuse, language_info");
}

#[test]
fn empty_strings_and_nulls_count_as_present() {
    let def = resolve("chat/explain_code", None).unwrap();
    let inputs = obj(json!({"file_content": "", "input": null, "language_info": "", "selected_text": "fn main() {}"}));
    let rendered = render(def, &inputs, TODAY).unwrap();
    let all = text(&rendered);
    assert!(all.contains("fn main() {}"));
    assert!(!all.contains("none") && !all.contains("null"), "{all}");
}

#[test]
fn current_date_is_added_when_absent() {
    let def = resolve("review_merge_request", None).unwrap();
    let mut inputs = marker_inputs(def).0;
    inputs.remove("current_date");
    assert!(text(&render(def, &inputs, TODAY).unwrap()).contains(TODAY));
    inputs.insert("current_date".into(), json!("January 01, 2030"));
    let all = text(&render(def, &inputs, TODAY).unwrap());
    assert!(all.contains("January 01, 2030") && !all.contains(TODAY), "{all}");
}

#[test]
fn no_html_escaping() {
    let def = resolve("chat/explain_code", None).unwrap();
    let code = r#"if a < b && c > d { println!("<tag attr='x'>"); }"#;
    let inputs = obj(json!({"file_content": "", "input": "", "language_info": "", "selected_text": code}));
    assert!(text(&render(def, &inputs, TODAY).unwrap()).contains(code));
}

#[test]
fn optional_inputs_may_be_absent() {
    let def = resolve("generate_description", None).unwrap();
    let plain = render(def, &obj(json!({"content": "Login fails"})), TODAY).unwrap();
    assert!(text(&plain).contains("Login fails") && !text(&plain).contains("<template>"));
    let with = render(def, &obj(json!({"content": "Login fails", "template": "## Steps"})), TODAY).unwrap();
    assert!(text(&with).contains("<template>\n## Steps\n</template>"));

    let def = resolve("categorize_question", None).unwrap();
    let first = render(def, &obj(json!({"question": "How do I rebase?"})), TODAY).unwrap();
    assert!(!text(&first).contains("<previous_answer>"));
    let follow = render(def, &obj(json!({"question": "q", "previous_answer": null})), TODAY).unwrap();
    assert_eq!(text(&first).replace("How do I rebase?", "q"), text(&follow));
}

#[test]
fn non_string_values_render() {
    let def = resolve("chat/issue_reader", None).unwrap();
    let inputs = obj(json!({"input": 42, "suggestions": ["tried #1", {"note": true}]}));
    let all = text(&render(def, &inputs, TODAY).unwrap());
    assert!(all.contains("Question: 42") && all.contains("tried #1"), "{all}");
}

#[test]
fn documents_render_with_content_ids() {
    let def = resolve("chat/documentation_search", None).unwrap();
    let inputs = obj(json!({
        "question": "How do I create a project?",
        "content_id": "ATTRS",
        "documents": [
            {"id": "a1b2", "content": "Select New project.", "metadata": {"source_url": "https://docs"}},
            {"content": "Second excerpt without id"},
            "a bare string document"
        ]
    }));
    let all = text(&render(def, &inputs, TODAY).unwrap());
    assert!(all.contains("CONTENT: Select New project.\nATTRS: CNT-IDX-a1b2"), "{all}");
    assert!(all.contains("Second excerpt without id\nATTRS: CNT-IDX-2"), "{all}");
    let none = obj(json!({"question": "q", "content_id": "ATTRS", "documents": []}));
    assert!(text(&render(def, &none, TODAY).unwrap()).contains("(none found)"));
    let as_text = obj(json!({"question": "q", "content_id": "ATTRS", "documents": "preformatted docs"}));
    assert!(text(&render(def, &as_text, TODAY).unwrap()).contains("preformatted docs"));
}

#[test]
fn wrong_input_types_fail_to_render() {
    let def = resolve("chat/documentation_search", None).unwrap();
    let inputs = obj(json!({"question": "q", "content_id": "ATTRS", "documents": 42}));
    let Err(RegistryError::Render(message)) = render(def, &inputs, TODAY) else { panic!("42 is not a list") };
    assert!(message.contains("chat/documentation_search"), "{message}");
}

#[test]
fn readers_prefill_the_json_answer() {
    for id in ids().into_iter().filter(|id| id.ends_with("_reader")) {
        let def = resolve(id, None).unwrap();
        let prefill = def.prefill.expect("reader prefill");
        assert!(prefill.starts_with("```json") && prefill.ends_with("\"ResourceIdentifierType\": \""), "{id}");
        let system = def.system.unwrap();
        assert!(system.contains("ResourceIdentifier") && system.contains("\"current\""), "{id}");
    }
}

#[test]
fn parameters() {
    for def in PROMPTS {
        assert!((0.0..=0.3).contains(&def.temperature), "{}", def.id);
        assert!(def.max_tokens >= 16 && def.max_tokens <= 2048, "{}", def.id);
    }
    let check = resolve("model_configuration/check", None).unwrap();
    assert_eq!((check.max_tokens, check.temperature, check.system), (16, 0.0, None));
    let rendered = render(check, &Map::new(), TODAY).unwrap();
    assert_eq!(rendered.messages.len(), 1);
    assert!(rendered.messages[0].content.to_lowercase().contains("hello"));
}

#[test]
fn fixed_text_is_compact() {
    for def in PROMPTS {
        let mut inputs = Map::new();
        for name in def.inputs.iter().chain(def.optional_inputs) {
            inputs.insert(name.to_string(), if *name == "documents" { json!([]) } else { json!("") });
        }
        for message in render(def, &inputs, TODAY).unwrap().messages {
            let size = message.content.chars().count();
            assert!(size < 1500, "{} {} {}: {size} characters", def.id, def.version, message.role);
        }
    }
}

#[test]
fn all_templates_compile() {
    let compiled = compiled();
    for (index, def) in PROMPTS.iter().enumerate() {
        assert!(compiled.names.contains_key(&(index, Role::User)), "{} user", def.id);
        assert_eq!(compiled.names.contains_key(&(index, Role::System)), def.system.is_some(), "{} system", def.id);
    }
}

#[test]
fn a_definition_outside_the_table_renders() {
    let def = PromptDef { user: "Hi {{ who }} on {{ current_date }}", system: None, ..PROMPTS[0] };
    let def = PromptDef { inputs: &["who"], ..def };
    let rendered = render(&def, &obj(json!({"who": "<you>"})), TODAY).unwrap();
    assert_eq!(rendered.messages, vec![Message::user(format!("Hi <you> on {TODAY}"))]);
}

#[test]
fn rendering_is_cheap() {
    let def = resolve("review_merge_request", None).unwrap();
    let inputs = marker_inputs(def).0;
    render(def, &inputs, TODAY).unwrap();
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        render(def, &inputs, TODAY).unwrap();
    }
    let each = start.elapsed() / rounds;
    assert!(each.as_micros() < 1000, "{each:?} per render");
}
