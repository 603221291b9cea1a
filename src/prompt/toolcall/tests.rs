//! Tool-call parser tables (every syntax, every way of chunking the text), syntax detection, grammar assembly and the schema subset.

use serde_json::json;

use super::grammar::{self, Choice, Spec, ToolRules, Trigger};
use super::schema::{check, validate};
use super::*;

/// What a whole output parses into, with calls assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Content(String),
    Reasoning(String),
    Call(String, String),
    /// A call the output ended inside.
    Cut(String, String),
    Malformed(String),
}

fn content(s: &str) -> Out {
    Out::Content(s.into())
}
fn reasoning(s: &str) -> Out {
    Out::Reasoning(s.into())
}
fn call(name: &str, args: &str) -> Out {
    Out::Call(name.into(), args.into())
}
fn malformed(s: &str) -> Out {
    Out::Malformed(s.into())
}

/// Assembles pieces, checking their order rules on the way (a call's arguments only between its
/// start and end, indexes counting up from 0).
fn assemble(pieces: Vec<Piece>) -> Vec<Out> {
    let mut out: Vec<Out> = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    let mut next_index = 0;
    for piece in pieces {
        match piece {
            Piece::Content(s) => match out.last_mut() {
                Some(Out::Content(c)) if open.is_none() => c.push_str(&s),
                _ => out.push(Out::Content(s)),
            },
            Piece::Reasoning(s) => match out.last_mut() {
                Some(Out::Reasoning(c)) if open.is_none() => c.push_str(&s),
                _ => out.push(Out::Reasoning(s)),
            },
            Piece::Malformed(s) => out.push(Out::Malformed(s)),
            Piece::CallStart { index, name } => {
                assert!(open.is_none(), "call {index} starts inside another");
                assert_eq!(index, next_index, "call indexes count up");
                next_index += 1;
                open = Some((index, name, String::new()));
            }
            Piece::CallArgs { index, fragment } => {
                let (i, _, args) = open.as_mut().expect("arguments outside a call");
                assert_eq!(*i, index);
                args.push_str(&fragment);
            }
            Piece::CallEnd { index, complete } => {
                let (i, name, args) = open.take().expect("end without start");
                assert_eq!(i, index);
                out.push(if complete { Out::Call(name, args) } else { Out::Cut(name, args) });
            }
        }
    }
    assert!(open.is_none(), "a call was left open");
    out
}

/// Parses `text` whole, one character at a time, and split at every point; all must agree.
fn parse_all_ways(syntax: Syntax, think: Option<ThinkTags>, in_reasoning: bool, text: &str) -> Vec<Out> {
    let run = |chunks: &[&str]| {
        let mut p = Parser::new(syntax, true, think, in_reasoning);
        let mut pieces = Vec::new();
        for c in chunks {
            pieces.extend(p.push(c));
        }
        pieces.extend(p.finish());
        assemble(pieces)
    };
    let whole = run(&[text]);
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let by_char = run(&chars.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(by_char, whole, "one character at a time: {text:?}");
    for (at, _) in text.char_indices().skip(1) {
        let split = run(&[&text[..at], &text[at..]]);
        assert_eq!(split, whole, "split at {at}: {text:?}");
    }
    whole
}

#[test]
fn hermes_calls_content_and_reasoning() {
    let table: Vec<(&str, Vec<Out>)> = vec![
        ("Just text.", vec![content("Just text.")]),
        (
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            vec![call("get_weather", r#"{"city": "Paris"}"#)],
        ),
        (
            "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, {\"y\": \"}\"}]}}\n</tool_call>",
            vec![content("Let me check.\n"), call("a", "{}"), call("b", r#"{"x": [1, {"y": "}"}]}"#)],
        ),
        (
            "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"w\", \"arguments\": {\"q\": \"a<b\"}}\n</tool_call>",
            vec![reasoning("\nThe user wants weather.\n"), call("w", r#"{"q": "a<b"}"#)],
        ),
        ("<think>short</think>\n\nThe answer is 4.", vec![reasoning("short"), content("The answer is 4.")]),
        // Arguments before the name, and arguments encoded as a string.
        ("<tool_call>{\"arguments\": {\"n\": 1}, \"name\": \"f\"}</tool_call>", vec![call("f", r#"{"n": 1}"#)]),
        ("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"n\\\": 2}\"}</tool_call>", vec![call("f", r#"{"n": 2}"#)]),
        // Not a call object.
        ("<tool_call>oops</tool_call> after", vec![malformed("<tool_call>"), content("oops</tool_call> after")]),
        // Cut off by max_tokens inside the arguments.
        (
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"lo",
            vec![Out::Cut("f".into(), r#"{"a": "lo"#.into())],
        ),
        // The same bare object form is read without the tags too.
        ("{\"name\": \"f\", \"arguments\": {}}", vec![call("f", "{}")]),
        // A lone `<` or `{` in prose is just text.
        ("1 < 2 and {x} or {\"a\": 1}", vec![content("1 < 2 and {x} or {\"a\": 1}")]),
    ];
    for (text, want) in table {
        assert_eq!(parse_all_ways(Syntax::Hermes, Some(THINK), false, text), want, "{text:?}");
    }
}

#[test]
fn reasoning_opened_by_the_prompt() {
    // DeepSeek R1's template ends the prompt with `<think>\n`: the output starts inside reasoning.
    let got = parse_all_ways(Syntax::DeepSeekR1, Some(THINK), true, "Hmm, 2+2.\n</think>\n\n4");
    assert_eq!(got, vec![reasoning("Hmm, 2+2.\n"), content("4")]);
    // Never closed: all of it was reasoning.
    assert_eq!(parse_all_ways(Syntax::Hermes, Some(THINK), true, "thinking on"), vec![reasoning("thinking on")]);
    // A leaked closing tag is dropped.
    assert_eq!(parse_all_ways(Syntax::Hermes, Some(THINK), false, "a</think> b"), vec![content("ab")]);
    // Without tags configured, think tags are ordinary text.
    assert_eq!(parse_all_ways(Syntax::Json, None, false, "<think>x</think>"), vec![content("<think>x</think>")]);
}

#[test]
fn llama3_json_with_and_without_python_tag() {
    let table: Vec<(&str, Vec<Out>)> = vec![
        (
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
            vec![call("get_weather", r#"{"city": "Oslo"}"#)],
        ),
        ("<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}", vec![call("f", r#"{"a": 1}"#)]),
        (
            "{\"type\": \"function\", \"name\": \"f\", \"parameters\": {}}; {\"name\": \"g\", \"parameters\": {\"b\": true}}",
            vec![call("f", "{}"), call("g", r#"{"b": true}"#)],
        ),
        ("Paris is the capital.", vec![content("Paris is the capital.")]),
        // A built-in tool call in Python syntax is not a JSON call.
        (
            "<|python_tag|>brave_search.call(query=\"x\")",
            vec![malformed("<|python_tag|>"), content("brave_search.call(query=\"x\")")],
        ),
    ];
    for (text, want) in table {
        assert_eq!(parse_all_ways(Syntax::Llama3, None, false, text), want, "{text:?}");
    }
}

#[test]
fn mistral_both_forms() {
    let array = "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}, \"id\": \"abcdefghi\"}, {\"name\": \"b\", \"arguments\": {}}]";
    assert_eq!(
        parse_all_ways(Syntax::MistralArray, None, false, array),
        vec![call("a", r#"{"x": 1}"#), call("b", "{}")]
    );
    let args = "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}[TOOL_CALLS]b[CALL_ID]abc123XYZ[ARGS]{}";
    assert_eq!(
        parse_all_ways(Syntax::MistralArgs, None, false, args),
        vec![call("get_weather", r#"{"city": "Rome"}"#), call("b", "{}")]
    );
    assert_eq!(parse_all_ways(Syntax::MistralArgs, None, false, "No tools needed."), vec![content("No tools needed.")]);
    assert_eq!(
        parse_all_ways(Syntax::MistralArgs, Some(MISTRAL_THINK), false, "[THINK]hm[/THINK]ok"),
        vec![reasoning("hm"), content("ok")]
    );
}

#[test]
fn deepseek_forms() {
    let v31 = format!(
        "Sure.{DEEPSEEK_CALLS_BEGIN}{DEEPSEEK_CALL_BEGIN}get_time{DEEPSEEK_SEP}{{\"tz\": \"UTC\"}}{DEEPSEEK_CALL_END}{DEEPSEEK_CALL_BEGIN}f{DEEPSEEK_SEP}{{}}{DEEPSEEK_CALL_END}{DEEPSEEK_CALLS_END}"
    );
    assert_eq!(
        parse_all_ways(Syntax::DeepSeekV31, Some(THINK), false, &v31),
        vec![content("Sure."), call("get_time", r#"{"tz": "UTC"}"#), call("f", "{}")]
    );
    let r1 = format!(
        "{DEEPSEEK_CALLS_BEGIN}{DEEPSEEK_CALL_BEGIN}function{DEEPSEEK_SEP}get_time\n```json\n{{\"tz\": \"UTC\"}}\n```{DEEPSEEK_CALL_END}{DEEPSEEK_CALLS_END}"
    );
    assert_eq!(parse_all_ways(Syntax::DeepSeekR1, Some(THINK), false, &r1), vec![call("get_time", r#"{"tz": "UTC"}"#)]);
}

#[test]
fn harmony_channels() {
    let text = "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Lima\"}";
    assert_eq!(
        parse_all_ways(Syntax::Harmony, None, false, text),
        vec![reasoning("Need the weather."), call("get_weather", r#"{"city": "Lima"}"#)]
    );
    let answer = "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>It is 4.";
    assert_eq!(parse_all_ways(Syntax::Harmony, None, false, answer), vec![reasoning("Easy."), content("It is 4.")]);
    // The recipient first (how the template writes past calls), right after the prompt's `<|start|>assistant`.
    let first = " to=functions.get_time<|channel|>commentary json<|message|>{\"tz\": \"UTC\"}";
    assert_eq!(parse_all_ways(Syntax::Harmony, None, false, first), vec![call("get_time", r#"{"tz": "UTC"}"#)]);
    // A model that skips the format entirely.
    assert_eq!(parse_all_ways(Syntax::Harmony, None, false, "plain"), vec![content("plain")]);
}

#[test]
fn json_fallback_finds_objects_in_prose() {
    let text =
        "I'll call it: {\"name\": \"lookup\", \"arguments\": {\"id\": 7}}\n{\"name\": \"more\", \"arguments\": {}}";
    assert_eq!(
        parse_all_ways(Syntax::Json, None, false, text),
        vec![content("I'll call it: "), call("lookup", r#"{"id": 7}"#), call("more", "{}")]
    );
}

#[test]
fn tools_off_means_all_text() {
    let mut p = Parser::new(Syntax::Hermes, false, Some(THINK), false);
    let mut pieces = p.push("<think>r</think><tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>");
    pieces.extend(p.finish());
    assert_eq!(
        assemble(pieces),
        vec![reasoning("r"), content("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>")]
    );
}

#[test]
fn syntax_detection_from_templates() {
    let table = [
        ("qwen2.5-instruct", Syntax::Hermes),
        ("qwen3", Syntax::Hermes),
        ("llama3.1", Syntax::Llama3),
        ("llama3.2", Syntax::Llama3),
        ("mistral-small-3.2-v7-tekken", Syntax::MistralArgs),
        ("devstral-small-2507", Syntax::MistralArgs),
        ("mistral-nemo-2407", Syntax::MistralArray),
        ("gpt-oss", Syntax::Harmony),
        ("deepseek-v3.1", Syntax::DeepSeekV31),
        ("deepseek-r1-distill-qwen", Syntax::DeepSeekR1),
        ("gemma3", Syntax::Json),
    ];
    for (name, want) in table {
        let path = format!("{}/tests/fixtures/chat_templates/{name}.jinja", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(Syntax::detect(Some(&text)), want, "{name}");
    }
    assert_eq!(Syntax::detect(None), Syntax::Json);
    let qwen3 =
        std::fs::read_to_string(format!("{}/tests/fixtures/chat_templates/qwen3.jinja", env!("CARGO_MANIFEST_DIR")));
    assert_eq!(ThinkTags::detect(qwen3.ok().as_deref()), Some(THINK));
    assert!(THINK.opened_by("<｜Assistant｜><think>\n"));
    assert!(!THINK.opened_by("<|im_start|>assistant\n"));
}

#[test]
fn short_ids_are_nine_alphanumerics_and_stable() {
    let a = short_id("call_8f3e2d1c0b9a");
    assert_eq!(a.len(), 9);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(a, short_id("call_8f3e2d1c0b9a"));
    assert_ne!(a, short_id("call_other"));
    assert_eq!(short_id("abcDEF123"), "abcDEF123");
}

/// What `json_schema_to_grammar` gives for `{"type":"object","properties":{"city":{"type":"string"}}}`
/// (shape only; the engine test converts real schemas).
const CITY_GBNF: &str = r#"char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})
city-kv ::= "\"city\"" space ":" space string
root ::= "{" space  (city-kv )? "}" space
space ::= | " " | "\n"{1,2} [ \t]{0,20}
string ::= "\"" char* "\"" space
"#;

#[test]
fn schema_rules_are_renamed_into_their_namespace() {
    let g = grammar::namespaced(CITY_GBNF, "t0");
    assert!(g.contains("t0-root ::= \"{\" t0-space  (t0-city-kv )? \"}\" t0-space\n"), "{g}");
    assert!(g.contains("t0-city-kv ::= \"\\\"city\\\"\" t0-space \":\" t0-space t0-string\n"), "{g}");
    // Literals, classes and counts are untouched.
    assert!(g.contains(r#"t0-char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})"#), "{g}");
    assert!(g.contains("t0-space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n"), "{g}");
}

fn spec(syntax: Syntax, choice: Choice) -> Spec {
    Spec {
        syntax,
        tools: vec![
            ToolRules { name: "get_weather".into(), gbnf: CITY_GBNF.into() },
            ToolRules { name: "other".into(), gbnf: CITY_GBNF.into() },
        ],
        choice,
        parallel: false,
        answer: None,
        think: None,
        in_reasoning: false,
    }
}

#[test]
fn grammar_shapes() {
    assert!(grammar::build(&Spec { tools: vec![], ..spec(Syntax::Hermes, Choice::Auto) }).is_none());
    // auto: lazy, triggered where the syntax opens a call.
    let g = grammar::build(&spec(Syntax::Hermes, Choice::Auto)).unwrap();
    assert_eq!(g.triggers, vec![Trigger::Word("<tool_call>".into())]);
    assert!(g.text.contains("block ::= \"<tool_call>\" ws call ws \"</tool_call>\""), "{}", g.text);
    assert!(g.text.contains("\"\\\"get_weather\\\"\""), "{}", g.text);
    assert!(g.text.contains("airgate-root ::= calls"), "{}", g.text);
    // required: the whole answer, from the first token.
    let g = grammar::build(&spec(Syntax::Json, Choice::Required)).unwrap();
    assert!(g.triggers.is_empty());
    assert!(g.text.contains("t0-root") && g.text.contains("t1-root"), "{}", g.text);
    // named: only that tool's rules.
    let g = grammar::build(&spec(Syntax::Json, Choice::Named(1))).unwrap();
    assert!(g.text.contains("t1-root") && !g.text.contains("t0-root"), "{}", g.text);
    // parallel calls repeat; reasoning may come first.
    let g =
        grammar::build(&Spec { parallel: true, think: Some(THINK), ..spec(Syntax::Hermes, Choice::Required) }).unwrap();
    assert!(g.text.contains("calls ::= block ( ws block ){0,7}"), "{}", g.text);
    assert!(g.text.contains("airgate-root ::= think? calls"), "{}", g.text);
    let g = grammar::build(&Spec { think: Some(THINK), in_reasoning: true, ..spec(Syntax::Hermes, Choice::Required) })
        .unwrap();
    assert!(g.text.contains("airgate-root ::= think-text \"</think>\" ws calls"), "{}", g.text);
    // An answer format alone, and together with optional calls.
    let answer = Spec { tools: vec![], answer: Some(CITY_GBNF.into()), ..spec(Syntax::Json, Choice::Auto) };
    let g = grammar::build(&answer).unwrap();
    assert!(g.text.contains("airgate-root ::= answer-body") && g.text.contains("answer-root"), "{}", g.text);
    let both = Spec { answer: Some(CITY_GBNF.into()), ..spec(Syntax::Json, Choice::Auto) };
    assert!(grammar::build(&both).unwrap().text.contains("( calls | answer-body )"));
    // Name-first syntaxes put the bare name in the literal.
    let g = grammar::build(&spec(Syntax::MistralArgs, Choice::Required)).unwrap();
    assert!(g.text.contains("\"[TOOL_CALLS]get_weather[ARGS]\" t0-root"), "{}", g.text);
    let g = grammar::build(&spec(Syntax::Harmony, Choice::Required)).unwrap();
    assert!(g.text.contains("call-a ::= \"<|channel|>commentary to=functions.\" ( \"get_weather\""), "{}", g.text);
    assert!(g.text.contains("call-b ::= \"to=functions.\" ( \"get_weather<|channel|>commentary\""), "{}", g.text);
}

#[test]
fn literals_escape_quotes_backslashes_and_newlines() {
    assert_eq!(grammar::lit("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
}

#[test]
fn schema_subset_is_checked_with_paths() {
    let ok = json!({
        "type": "object",
        "title": "Args",
        "properties": {
            "city": {"type": "string", "description": "City", "minLength": 1},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"enum": ["c", "f"]},
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "maxItems": 3},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["city"],
        "additionalProperties": false,
        "$defs": {"Tag": {"type": "string"}},
    });
    check(&ok).unwrap();
    let table = [
        (json!({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}), "`not`", "#/properties/a"),
        (json!({"type": "number", "minimum": 0}), "integers only", "#"),
        (json!({"type": "string", "format": "email"}), "`email`", "#"),
        (json!({"type": "string", "pattern": "\\d+"}), "anchored", "#"),
        (json!({"type": "string", "pattern": "^\\d+$"}), "\\d", "#"),
        (json!({"type": "string", "pattern": "^(?=a)b$"}), "lookarounds", "#"),
        (json!({"$ref": "http://example.com/s.json"}), "outside", "#"),
        (json!({"$ref": "#/$defs/Missing"}), "does not resolve", "#"),
        (json!({"type": "array", "uniqueItems": true}), "`uniqueItems`", "#"),
        (json!({"type": "object", "patternProperties": {}}), "`patternProperties`", "#"),
        (json!({"type": "thing"}), "unknown type", "#"),
        (json!({"anyOf": []}), "non-empty", "#"),
    ];
    for (schema, needle, path) in table {
        let e = check(&schema).unwrap_err();
        assert!(e.message.contains(needle), "{schema}: {e}");
        assert_eq!(e.path, path, "{schema}");
    }
}

#[test]
fn validation_follows_the_subset() {
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "days": {"type": "integer", "minimum": 1},
            "unit": {"enum": ["c", "f"]},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "maxItems": 2},
            "when": {"type": "string", "format": "date"},
        },
        "required": ["city"],
        "additionalProperties": false,
        "$defs": {"Tag": {"type": "string"}},
    });
    validate(
        &schema,
        &json!({"city": "Oslo", "days": 3, "unit": "c", "code": "OSL", "tags": ["a"], "when": "2026-01-02"}),
    )
    .unwrap();
    validate(&schema, &json!({"city": "Oslo", "days": 2.0})).unwrap();
    let table = [
        (json!({}), "missing required property `city`"),
        (json!({"city": 5}), "$.city: expected string"),
        (json!({"city": "O"}), "at least 2 characters"),
        (json!({"city": "Oslo", "days": 0}), "minimum"),
        (json!({"city": "Oslo", "days": 1.5}), "expected integer"),
        (json!({"city": "Oslo", "unit": "k"}), "not one of"),
        (json!({"city": "Oslo", "code": "osl"}), "pattern"),
        (json!({"city": "Oslo", "tags": [1]}), "$.tags[0]: expected string"),
        (json!({"city": "Oslo", "tags": ["a", "b", "c"]}), "at most 2 items"),
        (json!({"city": "Oslo", "when": "tomorrow"}), "not a date"),
        (json!({"city": "Oslo", "extra": 1}), "`extra` is not allowed"),
        (json!([]), "expected object"),
    ];
    for (value, needle) in table {
        let e = validate(&schema, &value).unwrap_err();
        assert!(e.contains(needle), "{value}: {e}");
    }
}
