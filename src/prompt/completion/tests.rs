//! Tests for completion prompts: every family's layout, stops and parameters, FIM for local models, budgets.

use super::super::{Estimate, TokenCount};
use super::*;

const PREFIX: &str = "def fib(n):\n    ";
const SUFFIX: &str = "\n\nprint(fib(10))\n";

fn input<'a>(context: &'a [(String, String)]) -> CompletionInput<'a> {
    CompletionInput { file_name: "app/main.py", language: "python", prefix: PREFIX, suffix: SUFFIX, context }
}

fn chat(plan: &PromptPlan) -> &[Message] {
    match &plan.prompt {
        Built::Chat(messages) => messages,
        Built::Raw(text) => panic!("expected chat, got raw {text:?}"),
    }
}

fn total_tokens(plan: &PromptPlan, tokens: &dyn TokenCount) -> usize {
    match &plan.prompt {
        Built::Chat(messages) => messages.iter().map(|m| tokens.count(&m.content)).sum(),
        Built::Raw(text) => tokens.count(text),
    }
}

/// (family, roles, exact user message, stops, temperature, max_tokens)
type Row = (Family, &'static [&'static str], String, &'static [&'static str], f32, u32);

fn layouts() -> Vec<Row> {
    let mistral_user = format!("<s>[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}");
    let mistral_stops: &[&str] = &["[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"];
    vec![
        (Family::Codestral, &["system", "user"], mistral_user.clone(), mistral_stops, 0.32, 64),
        (Family::Mistral, &["system", "user"], mistral_user.clone(), mistral_stops, 0.0, 64),
        (Family::Mixtral, &["system", "user"], mistral_user, mistral_stops, 0.0, 64),
        (
            Family::Codegemma,
            &["user"],
            format!("<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"),
            &["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"],
            0.95,
            128,
        ),
        (
            Family::Codellama,
            &["user"],
            format!("<PRE> {PREFIX} <SUF> {SUFFIX} <MID>"),
            &["<PRE>", "<SUF>", "<MID>", "<EOT>"],
            0.95,
            128,
        ),
        (
            Family::Deepseekcoder,
            &["user"],
            format!("<｜fim▁begin｜>{PREFIX}<｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>"),
            &[],
            0.0,
            128,
        ),
        (
            Family::Gpt,
            &["system", "user"],
            format!("------\nLanguage: python\n\n<|prefix|>{PREFIX}<|suffix|>{SUFFIX}"),
            &[],
            1.0,
            64,
        ),
        (
            Family::Qwen,
            &["system", "user"],
            format!("<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"),
            QWEN_TOKENS,
            0.0,
            48,
        ),
        (
            Family::Qwen25Coder7b,
            &["system", "user"],
            format!("<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"),
            &[
                "<|fim_prefix|>",
                "<|fim_suffix|>",
                "<|fim_middle|>",
                "<|fim_pad|>",
                "<|repo_name|>",
                "<|file_sep|>",
                "<|im_start|>",
                "<|im_end|>",
                "\n\n",
            ],
            0.95,
            48,
        ),
        (
            Family::Codestral2501,
            &["system", "user"],
            format!("<s>[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}"),
            CODESTRAL_25,
            0.7,
            48,
        ),
        (
            Family::Codestral2508,
            &["system", "user"],
            format!("<s>[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}"),
            CODESTRAL_25,
            0.7,
            48,
        ),
    ]
}

const QWEN_TOKENS: &[&str] = &[
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<|im_start|>",
    "<|im_end|>",
];

/// The gateway's `MODEL_STOP_TOKENS` for codestral-2501 and -2508.
const CODESTRAL_25: &[&str] = &["\n\n", "\n+++++", "[PREFIX]", "</s>[SUFFIX]", "[MIDDLE]"];

#[test]
fn named_completion_models_add_their_stop_sets_to_raw_fim() {
    assert_eq!(fim_stops(Family::Codestral2501), CODESTRAL_25);
    assert_eq!(fim_stops(Family::Codestral2508), CODESTRAL_25);
    assert_eq!(fim_stops(Family::Qwen25Coder7b).last(), Some(&"\n\n"));
    assert_eq!(&fim_stops(Family::Qwen25Coder7b)[..8], QWEN_TOKENS);
    for family in [Family::Codestral, Family::Qwen, Family::General, Family::Codegemma] {
        assert!(fim_stops(family).is_empty(), "{family}");
    }
}

#[test]
fn every_fim_family_has_its_exact_layout_stops_and_params() {
    for (family, roles, user, stops, temperature, max_tokens) in layouts() {
        let plan = completion(family, &input(&[]), family.max_context_tokens(), &Estimate);
        let messages = chat(&plan);
        let got_roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(got_roles, roles, "{family}");
        assert_eq!(messages.last().unwrap().content, user, "{family}");
        assert_eq!(plan.stop, stops.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{family}");
        assert_eq!((plan.temperature, plan.max_tokens), (temperature, max_tokens), "{family}");
        assert_eq!((plan.context_tokens_used, plan.context_tokens_sent), (0, 0));
    }
}

#[test]
fn deepseek_markers_use_full_width_bars_and_lower_blocks() {
    let plan = completion(Family::Deepseekcoder, &input(&[]), 16_000, &Estimate);
    let user = &chat(&plan)[0].content;
    assert!(user.starts_with("<\u{ff5c}fim\u{2581}begin\u{ff5c}>"));
    assert!(user.contains("<\u{ff5c}fim\u{2581}hole\u{ff5c}>"));
    assert!(user.ends_with("<\u{ff5c}fim\u{2581}end\u{ff5c}>"));
}

#[test]
fn system_messages_name_language_and_file_where_the_layout_does() {
    let table = [
        (Family::Codestral, true, false),
        (Family::Mistral, true, true),
        (Family::Mixtral, true, true),
        (Family::Llama3, true, false),
    ];
    for (family, has_lang, has_file) in table {
        let plan = completion(family, &input(&[]), 100_000, &Estimate);
        let system = &chat(&plan)[0];
        assert_eq!(system.role, "system");
        assert_eq!(system.content.contains("python"), has_lang, "{family}");
        assert_eq!(system.content.contains("app/main.py"), has_file, "{family}");
    }
}

#[test]
fn llama3_marks_the_cursor_with_a_code_placeholder() {
    let plan = completion(Family::Llama3, &input(&[]), 128_000, &Estimate);
    let messages = chat(&plan);
    assert_eq!(messages.len(), 2);
    let user = &messages[1].content;
    assert!(user.contains("CONTEXT"));
    assert!(user.contains(&format!("{PREFIX}|CODE|{SUFFIX}")), "{user}");
    assert!(user.contains("app/main.py"));
    assert!(plan.stop.is_empty());
    assert_eq!((plan.temperature, plan.max_tokens), (0.0, 64));
}

#[test]
fn claude_general_and_gemini_use_the_xml_sectioned_base_prompt() {
    for family in [Family::Claude3, Family::General, Family::Gemini] {
        let plan = completion(family, &input(&[]), family.max_context_tokens(), &Estimate);
        let messages = chat(&plan);
        assert_eq!(messages.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(), ["system", "user"]);
        let user = &messages[1].content;
        for section in [
            "<language>python</language>",
            "<file_name>app/main.py</file_name>",
            &format!("<prefix>{PREFIX}</prefix>"),
            &format!("<suffix>{SUFFIX}</suffix>"),
        ] {
            assert!(user.contains(section), "{family}: {section}");
        }
        assert!(plan.stop.is_empty());
        let temperature = if family == Family::Gemini { 1.0 } else { 0.0 };
        assert_eq!((plan.temperature, plan.max_tokens), (temperature, 128));
    }
}

#[test]
fn context_snippets_are_prepended_to_the_prefix_in_every_layout() {
    let ctx = vec![("utils.py".to_string(), "def helper():\n    pass".to_string())];
    for family in Family::ALL {
        let plan = completion(family, &input(&ctx), family.max_context_tokens(), &Estimate);
        let user = &chat(&plan).last().unwrap().content;
        assert!(user.contains(&format!("def helper():\n    pass\n{PREFIX}")), "{family}: {user}");
        let sent = Estimate.count("def helper():\n    pass");
        assert_eq!((plan.context_tokens_used, plan.context_tokens_sent), (sent, sent), "{family}");
    }
}

#[test]
fn prompts_fit_the_budget_after_the_template_is_counted() {
    let prefix = "x = 1\n".repeat(5000);
    let suffix = "y = 2\n".repeat(5000);
    let ctx = vec![("a".to_string(), "z = 3\n".repeat(5000))];
    let input =
        CompletionInput { file_name: "a.py", language: "python", prefix: &prefix, suffix: &suffix, context: &ctx };
    for family in Family::ALL {
        for budget in [0, 1, 10, 100, 500, 2000] {
            let plan = completion(family, &input, budget, &Estimate);
            let fixed = total_tokens(
                &completion(family, &CompletionInput { prefix: "", suffix: "", context: &[], ..input }, 0, &Estimate),
                &Estimate,
            );
            assert!(total_tokens(&plan, &Estimate) <= budget.max(fixed), "{family} {budget}");
            if budget > fixed + 100 {
                // The kept prefix is the text nearest the cursor; the kept suffix is its start.
                let user = &chat(&plan).last().unwrap().content;
                assert!(user.contains("x = 1\nx = 1\n"), "{family} {budget}");
                assert!(plan.context_tokens_used <= plan.context_tokens_sent);
            }
        }
    }
}

#[test]
fn truncation_keeps_code_nearest_the_cursor() {
    let prefix: String = (0..1000).map(|i| format!("line{i}\n")).collect();
    let suffix: String = (0..1000).map(|i| format!("after{i}\n")).collect();
    let input = CompletionInput { file_name: "a.rs", language: "rust", prefix: &prefix, suffix: &suffix, context: &[] };
    let plan = fim_raw("<PRE>", "<SUF>", "<MID>", &input, 1000, &Estimate);
    let Built::Raw(text) = &plan.prompt else { panic!() };
    assert!(Estimate.count(text) <= 1000);
    let kept_prefix = &text["<PRE>".len()..text.find("<SUF>").unwrap()];
    let kept_suffix = &text[text.find("<SUF>").unwrap() + 5..text.len() - 5];
    assert!(kept_prefix.ends_with("line998\nline999\n") && !kept_prefix.contains("line0\n"));
    assert!(kept_prefix.starts_with("line"), "cut at a line start: {:?}", &kept_prefix[..20]);
    assert!(kept_suffix.starts_with("after0\nafter1\n") && !kept_suffix.contains("after999"));
    assert!(kept_suffix.ends_with('\n'), "cut after a newline");
    // 1000 - 3 marker tokens = 997 → 69 for the suffix, 928 for the prefix.
    assert!(Estimate.count(kept_suffix) <= 69 && Estimate.count(kept_suffix) >= 69 - 9);
    assert!(Estimate.count(kept_prefix) <= 928 && Estimate.count(kept_prefix) >= 928 - 9);
}

#[test]
fn fim_raw_builds_prefix_suffix_middle_with_the_given_tokens() {
    let table = [
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
        ("<PRE>", "<SUF>", "<MID>"),
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ];
    for (p, s, m) in table {
        let plan = fim_raw(p, s, m, &input(&[]), 4096, &Estimate);
        assert_eq!(plan.prompt, Built::Raw(format!("{p}{PREFIX}{s}{SUFFIX}{m}")));
        assert_eq!(plan.stop, [p, s, m]);
        assert_eq!((plan.temperature, plan.max_tokens), (FIM_RAW_TEMPERATURE, FIM_RAW_MAX_TOKENS));
    }
}

#[test]
fn fim_raw_puts_context_before_the_prefix_and_counts_it() {
    let ctx = vec![("a.py".to_string(), "import os".to_string()), ("b.py".to_string(), String::new())];
    let plan = fim_raw("<P>", "<S>", "<M>", &input(&ctx), 4096, &Estimate);
    assert_eq!(plan.prompt, Built::Raw(format!("<P>import os\n{PREFIX}<S>{SUFFIX}<M>")));
    assert_eq!((plan.context_tokens_used, plan.context_tokens_sent), (3, 3));
    // With no room left for it, the context is dropped but still reported as sent.
    let plan = fim_raw("<P>", "<S>", "<M>", &input(&ctx), 8, &Estimate);
    assert_eq!((plan.context_tokens_used, plan.context_tokens_sent), (0, 3));
}

#[test]
fn tiny_budgets_never_panic() {
    let ctx = vec![("é".to_string(), "ü".repeat(10))];
    let input =
        CompletionInput {
            file_name: "é.py", language: "python", prefix: "héllo\nwörld", suffix: "ñ\n", context: &ctx
        };
    for budget in 0..8 {
        let plan = fim_raw("", "", "", &input, budget, &Estimate);
        assert!(total_tokens(&plan, &Estimate) <= budget);
        assert!(plan.stop.is_empty());
        for family in Family::ALL {
            completion(family, &input, budget, &Estimate);
        }
    }
}
