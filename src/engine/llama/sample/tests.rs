//! Constrained decoding on the real model: a grammar holds the whole answer, a lazy one only what follows its trigger, every tool-call syntax's grammar compiles, and special tokens show as text when asked.

use serde_json::json;

use super::super::{LlamaEngine, LoadParams, Stopping, grammar_sampler, schema_grammar, special_tokens};
use crate::engine::{Constraint, Engine, GenerateRequest, Prompt, SamplingParams, collect};
use crate::prompt::toolcall::grammar::{self, Choice, Spec, ToolRules};
use crate::prompt::toolcall::{Syntax, THINK};

fn engine() -> LlamaEngine {
    LlamaEngine::load(LoadParams {
        name: "test".into(),
        path: crate::engine::test_model_path(),
        ctx_size: 512,
        parallel: 1,
        threads: 2,
        batch_size: 128,
        queue_depth: 4,
        queue_wait: std::time::Duration::from_secs(60),
        max_output_tokens: 0,
        prefix_reuse: true,
        speculation: Default::default(),
        mlock: false,
        gpu_layers: 0,
        stopping: Stopping::default(),
        embeddings: Default::default(),
    })
    .unwrap()
}

async fn run(engine: &LlamaEngine, prompt: &str, temperature: f32, constraint: Constraint) -> String {
    let req = GenerateRequest {
        max_tokens: Some(48),
        sampling: SamplingParams { temperature, ..SamplingParams::default() },
        constraint: Some(constraint),
        ..GenerateRequest::new(Prompt::Text(prompt.into()), "test")
    };
    let out = collect(engine.generate(req).await.unwrap()).await.unwrap();
    out.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grammars_hold_the_output() {
    let engine = engine();
    // The whole answer, sampled hot: always the shape, and the answer ends when the grammar does.
    let whole =
        Constraint { grammar: r#"root ::= "{\"n\": " [0-9] [0-9]? "}""#.into(), root: "root".into(), triggers: vec![] };
    let shape = regex::Regex::new(r#"^\{"n": [0-9]{1,2}\}$"#).unwrap();
    for _ in 0..5 {
        let text = run(&engine, "Some JSON:", 1.5, whole.clone()).await;
        assert!(shape.is_match(&text), "{text:?}");
    }
    // Lazy: free text until the first newline, then exactly what the grammar says.
    let lazy =
        Constraint { grammar: r#"root ::= "\nEND""#.into(), root: "root".into(), triggers: vec![regex::escape("\n")] };
    let text = run(&engine, "Shopping list:\n1. apples\n2. pears\n3.", 0.0, lazy).await;
    let (free, tail) = text.split_once('\n').unwrap_or_else(|| panic!("no newline in {text:?}"));
    assert_eq!(tail, "END", "{text:?}");
    assert!(!free.is_empty() && !free.contains("END"), "{text:?}");
    // A grammar that does not parse is refused before the request is queued.
    let broken = Constraint { grammar: "root ::= (".into(), root: "root".into(), triggers: vec![] };
    let req = GenerateRequest { constraint: Some(broken), ..GenerateRequest::new(Prompt::Text("x".into()), "test") };
    let err = engine.generate(req).await.unwrap_err();
    assert!(err.to_string().contains("grammar"), "{err}");
}

#[test]
fn every_syntax_grammar_compiles_with_llama_cpp() {
    let engine = engine();
    let params = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city"],
        "$defs": {"Unused": {"type": "string"}},
    });
    let gbnf = schema_grammar(&params).unwrap();
    assert!(gbnf.contains("root ::="), "{gbnf}");
    let tools = vec![
        ToolRules { name: "get_weather".into(), gbnf: gbnf.clone() },
        ToolRules { name: "get-time.v2".into(), gbnf: gbnf.clone() },
    ];
    let syntaxes = Syntax::ALL;
    for syntax in syntaxes {
        for (choice, answer, think, in_reasoning) in [
            (Choice::Auto, None, None, false),
            (Choice::Required, None, Some(THINK), false),
            (Choice::Named(1), None, Some(THINK), true),
            (Choice::Auto, Some(gbnf.clone()), None, false),
        ] {
            let spec = Spec { syntax, tools: tools.clone(), choice, parallel: true, answer, think, in_reasoning };
            let g = grammar::build(&spec).unwrap();
            let c = Constraint {
                grammar: g.text.clone(),
                root: g.root.into(),
                triggers: g
                    .triggers
                    .iter()
                    .map(|t| match t {
                        grammar::Trigger::Word(w) => regex::escape(w),
                        grammar::Trigger::Pattern(p) => p.clone(),
                    })
                    .collect(),
            };
            if let Err(e) = grammar_sampler(&engine.model, &c) {
                panic!("{syntax:?} {choice:?}: {e}\n{}", g.text);
            }
        }
    }
    assert!(schema_grammar(&json!({"$ref": "#/nowhere"})).is_err());
}

#[test]
fn special_tokens_are_found_by_text() {
    let engine = engine();
    let found = special_tokens(&engine.model, &["<start_of_turn>".into(), "two words".into(), "<end_of_turn>".into()]);
    assert_eq!(found.len(), 2, "{found:?}");
}
