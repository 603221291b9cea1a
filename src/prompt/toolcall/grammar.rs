//! GBNF grammars for constrained decoding: each tool's argument grammar (converted from its JSON schema by the engine) wrapped in the model's call syntax, an optional JSON answer (`response_format`), optional reasoning before either, and the lazy triggers for `tool_choice: auto`.
//!
//! Every converted schema is renamed into its own namespace (`t0-…`, `t1-…`, `answer-…`) so several
//! of them live in one grammar. Calls are written the way the model's template writes them, with
//! a little whitespace freedom where JSON allows it, so a trigger that fires mid-token never meets a
//! grammar that refuses what the model already wrote.

use std::collections::HashSet;
use std::fmt::Write;

use super::{DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, DEEPSEEK_CALLS_BEGIN, DEEPSEEK_CALLS_END, DEEPSEEK_SEP};
use super::{Syntax, ThinkTags};

/// The grammar's entry rule.
pub const ROOT: &str = "airgate-root";

/// Most calls one answer may make when parallel calls are allowed (a model that keeps repeating its
/// call stops there).
pub const MAX_PARALLEL: usize = 8;

/// What starts a lazy grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Literal text (or a special token's text).
    Word(String),
    /// A regular expression searched in the output; with `^…$` it must match the whole output so
    /// far. The grammar applies from its first capturing group (else from the match).
    Pattern(String),
}

/// A grammar ready for the sampler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    pub text: String,
    pub root: &'static str,
    /// Empty: the grammar applies from the first token. Otherwise free text until one of these.
    pub triggers: Vec<Trigger>,
}

/// Which calls the grammar allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Free text, calls constrained once one starts (lazy).
    Auto,
    /// One or more calls (any tool), nothing else.
    Required,
    /// A call of the tool at this index, nothing else.
    Named(usize),
}

/// A tool and the GBNF its argument schema converted to (its entry rule is `root`).
#[derive(Debug, Clone)]
pub struct ToolRules {
    pub name: String,
    pub gbnf: String,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Spec {
    pub syntax: Syntax,
    pub tools: Vec<ToolRules>,
    pub choice: Choice,
    pub parallel: bool,
    /// A JSON answer's grammar (`response_format`), entry rule `root`.
    pub answer: Option<String>,
    pub think: Option<ThinkTags>,
    /// The prompt left the model inside its reasoning.
    pub in_reasoning: bool,
}

/// The grammar for `spec`; `None` when nothing is constrained (no tools and no answer format).
pub fn build(spec: &Spec) -> Option<Grammar> {
    let has_tools = !spec.tools.is_empty();
    if !has_tools && spec.answer.is_none() {
        return None;
    }
    let mut g = String::new();
    let _ = writeln!(g, "ws ::= [ \\t\\n]{{0,8}}");
    let allowed: Vec<usize> = match spec.choice {
        Choice::Named(i) if i < spec.tools.len() => vec![i],
        _ => (0..spec.tools.len()).collect(),
    };
    for i in &allowed {
        g.push_str(&namespaced(&spec.tools[*i].gbnf, &format!("t{i}")));
    }
    if let Some(answer) = &spec.answer {
        g.push_str(&namespaced(answer, "answer"));
    }
    let calls = has_tools.then(|| call_rules(&mut g, spec, &allowed));
    let lazy = has_tools && spec.choice == Choice::Auto && spec.answer.is_none();
    if lazy {
        let _ = writeln!(g, "{ROOT} ::= calls");
        return Some(Grammar { text: g, root: ROOT, triggers: triggers(spec.syntax) });
    }
    let body = match (calls, &spec.answer) {
        (Some(_), Some(_)) if spec.choice == Choice::Auto => "( calls | answer-body )".to_string(),
        (Some(_), _) => "calls".to_string(),
        (None, _) => "answer-body".to_string(),
    };
    if spec.answer.is_some() {
        let body = if spec.syntax == Syntax::Harmony {
            "\"<|channel|>final<|message|>\" answer-root".to_string()
        } else {
            "answer-root".to_string()
        };
        let _ = writeln!(g, "answer-body ::= {body}");
    }
    let prefix = reasoning_prefix(&mut g, spec);
    let _ = writeln!(g, "{ROOT} ::= {prefix}{body}");
    Some(Grammar { text: g, root: ROOT, triggers: Vec::new() })
}

/// Rules `call` (one call of any allowed tool) and `calls` (one, or several when parallel).
fn call_rules(g: &mut String, spec: &Spec, allowed: &[usize]) -> String {
    let alt = |f: &dyn Fn(&str, &str) -> String| -> String {
        allowed.iter().map(|&i| f(&spec.tools[i].name, &format!("t{i}-root"))).collect::<Vec<_>>().join(" | ")
    };
    let object = |key: &'static str| {
        move |name: &str, args: &str| {
            format!(
                "\"{{\" ws \"\\\"name\\\"\" ws \":\" ws {} ws \",\" ws \"\\\"{key}\\\"\" ws \":\" ws {args} ws \"}}\"",
                lit(&json_name(name))
            )
        }
    };
    let many = spec.parallel;
    let more = |item: &str, sep: &str| {
        if many { format!(" ( {sep}{item} ){{0,{}}}", MAX_PARALLEL - 1) } else { String::new() }
    };
    match spec.syntax {
        Syntax::Hermes => {
            let _ = writeln!(g, "call ::= {}", alt(&object("arguments")));
            let _ = writeln!(g, "block ::= {} ws call ws {}", lit("<tool_call>"), lit("</tool_call>"));
            let _ = writeln!(g, "calls ::= block{}", more("block", "ws "));
        }
        Syntax::Json => {
            let _ = writeln!(g, "call ::= {}", alt(&object("arguments")));
            let _ = writeln!(g, "calls ::= call{}", more("call", "ws "));
        }
        Syntax::Llama3 => {
            let _ = writeln!(g, "call ::= {}", alt(&object("parameters")));
            let _ = writeln!(g, "calls ::= ( {} ws )? call", lit("<|python_tag|>"));
        }
        Syntax::MistralArray => {
            let _ = writeln!(g, "call ::= {}", alt(&object("arguments")));
            let _ = writeln!(g, "calls ::= {} ws call{} ws \"]\"", lit("[TOOL_CALLS]["), more("call", "ws \",\" ws "));
        }
        Syntax::MistralArgs => {
            let _ = writeln!(g, "call ::= {}", alt(&|n, a| format!("{} {a}", lit(&format!("[TOOL_CALLS]{n}[ARGS]")))));
            let _ = writeln!(g, "calls ::= call{}", more("call", "ws "));
        }
        Syntax::DeepSeekV31 | Syntax::DeepSeekR1 => {
            let r1 = spec.syntax == Syntax::DeepSeekR1;
            let call = alt(&|n, a| {
                if r1 {
                    format!(
                        "{} ws {a} ws {}",
                        lit(&format!("{DEEPSEEK_CALL_BEGIN}function{DEEPSEEK_SEP}{n}\n```json\n")),
                        lit(&format!("```{DEEPSEEK_CALL_END}"))
                    )
                } else {
                    format!(
                        "{} ws {a} ws {}",
                        lit(&format!("{DEEPSEEK_CALL_BEGIN}{n}{DEEPSEEK_SEP}")),
                        lit(DEEPSEEK_CALL_END)
                    )
                }
            });
            let _ = writeln!(g, "call ::= {call}");
            let _ = writeln!(
                g,
                "calls ::= {} call{} {}",
                lit(DEEPSEEK_CALLS_BEGIN),
                more("call", "ws "),
                lit(DEEPSEEK_CALLS_END)
            );
        }
        Syntax::Harmony => {
            // `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>ARGS`, or the
            // recipient first: `to=functions.NAME<|channel|>commentary json<|message|>ARGS`.
            let channel_first =
                alt(&|n, a| format!("{} \" \"? ( {} )? {} {a}", lit(n), lit("<|constrain|>json"), lit("<|message|>")));
            let recipient_first = alt(&|n, a| {
                format!(
                    "{} ( {} | {} )? {} {a}",
                    lit(&format!("{n}<|channel|>commentary")),
                    lit(" json"),
                    lit(" <|constrain|>json"),
                    lit("<|message|>")
                )
            });
            let _ = writeln!(g, "call-a ::= {} ( {channel_first} )", lit("<|channel|>commentary to=functions."));
            let _ = writeln!(g, "call-b ::= {} ( {recipient_first} )", lit("to=functions."));
            let _ = writeln!(g, "calls ::= call-a | \" \"? call-b");
        }
    }
    "calls".into()
}

/// What may come before the constrained part: the model's reasoning (a Harmony analysis message,
/// or a think block, already open when the prompt opened it).
fn reasoning_prefix(g: &mut String, spec: &Spec) -> String {
    if spec.syntax == Syntax::Harmony {
        let _ = writeln!(g, "analysis-text ::= [^<]*");
        let _ = writeln!(
            g,
            "analysis ::= {} analysis-text {}",
            lit("<|channel|>analysis<|message|>"),
            lit("<|end|><|start|>assistant")
        );
        return "analysis? ".into();
    }
    let Some(think) = spec.think else { return String::new() };
    // Any text that does not contain the closing tag's first two characters in a row.
    let close = think.close;
    let mut chars = close.chars();
    let (a, b) = (chars.next().unwrap_or('<'), chars.next().unwrap_or('/'));
    let _ = writeln!(g, "think-text ::= ( [^{}] | {} [^{}] )*", class_char(a), lit(&a.to_string()), class_char(b));
    if spec.in_reasoning {
        format!("think-text {} ws ", lit(close))
    } else {
        let _ = writeln!(g, "think ::= {} think-text {} ws", lit(think.open), lit(close));
        "think? ".into()
    }
}

/// The lazy triggers of each syntax: where a call starts.
pub fn triggers(syntax: Syntax) -> Vec<Trigger> {
    match syntax {
        Syntax::Hermes => vec![Trigger::Word("<tool_call>".into())],
        Syntax::Json => vec![Trigger::Pattern(r#"\{\s*"name""#.into())],
        Syntax::Llama3 => {
            vec![Trigger::Word("<|python_tag|>".into()), Trigger::Pattern(r#"^\s*(\{\s*"name")[\s\S]*$"#.into())]
        }
        Syntax::MistralArray => vec![Trigger::Word("[TOOL_CALLS][".into())],
        Syntax::MistralArgs => vec![Trigger::Word("[TOOL_CALLS]".into())],
        Syntax::DeepSeekV31 | Syntax::DeepSeekR1 => vec![Trigger::Word(DEEPSEEK_CALLS_BEGIN.into())],
        Syntax::Harmony => vec![
            Trigger::Word("<|channel|>commentary to=functions.".into()),
            Trigger::Pattern(r"^\s*(to=functions\.)[\s\S]*$".into()),
            Trigger::Pattern(r"<\|start\|>assistant\s*(to=functions\.)".into()),
        ],
    }
}

/// A character inside a GBNF character class.
fn class_char(c: char) -> String {
    if matches!(c, '[' | ']' | '\\' | '-') { format!("\\{c}") } else { c.to_string() }
}

/// A tool name as the JSON string the call carries (with its quotes).
fn json_name(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_default()
}

/// A GBNF string literal.
pub fn lit(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `gbnf` with every rule it defines renamed `{prefix}-{name}` (in definitions and references).
pub fn namespaced(gbnf: &str, prefix: &str) -> String {
    let rules: Vec<(&str, &str)> = gbnf
        .lines()
        .filter_map(|line| line.split_once("::=").map(|(name, body)| (name.trim(), body)))
        .filter(|(name, _)| !name.is_empty())
        .collect();
    let defined: HashSet<&str> = rules.iter().map(|(name, _)| *name).collect();
    let mut out = String::new();
    for (name, body) in rules {
        let _ = writeln!(out, "{prefix}-{name} ::={}", rename_refs(body, &defined, prefix));
    }
    out
}

/// Rule references in a rule body renamed; literals, character classes and repetition counts kept.
fn rename_refs(body: &str, defined: &HashSet<&str>, prefix: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16);
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '[' => {
                let close = if c == '"' { '"' } else { ']' };
                out.push(c);
                while let Some((_, d)) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    } else if d == close {
                        break;
                    }
                }
            }
            '{' => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '}' {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '-' || d == '_' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &body[i..end];
                if defined.contains(word) {
                    let _ = write!(out, "{prefix}-{word}");
                } else {
                    out.push_str(word);
                }
            }
            c => out.push(c),
        }
    }
    out
}
