//! Tests for code-generation prompts: layouts and parameters per family, default instruction, extras, budgets.

use super::super::{Estimate, TokenCount};
use super::*;
use serde_json::json;

const PREFIX: &str = "import json\n\n# fetch json from url and return dict\n";
const SUFFIX: &str = "\n\nif __name__ == \"__main__\":\n    main()\n";

fn input<'a>(instruction: Option<&'a str>, enhancer: Option<&'a serde_json::Value>) -> GenerationInput<'a> {
    GenerationInput {
        file_name: "app/main.py",
        language: "python",
        prefix: PREFIX,
        suffix: SUFFIX,
        instruction,
        enhancer,
    }
}

fn messages(plan: &PromptPlan) -> &[Message] {
    match &plan.prompt {
        Built::Chat(m) => m,
        Built::Raw(_) => panic!("generation prompts are chat"),
    }
}

fn total(plan: &PromptPlan) -> usize {
    messages(plan).iter().map(|m| Estimate.count(&m.content)).sum()
}

#[test]
fn params_per_family_follow_the_spec() {
    let table: [(Family, f32, u32, &[&str]); 15] = [
        (Family::Codestral, 0.3, 256, &[]),
        (Family::Mistral, 0.95, 256, &[]),
        (Family::Mixtral, 0.0, 4096, &[]),
        (Family::Codegemma, 0.95, 512, &[]),
        (Family::Codellama, 0.95, 256, &[]),
        (Family::Llama3, 0.0, 256, &[]),
        (Family::Gpt, 1.0, 512, &[]),
        (Family::Deepseekcoder, 0.95, 512, &[]),
        (Family::Claude3, 0.2, 2048, &["UNABLE_TO_GENERATE"]),
        (Family::General, 0.2, 2048, &["UNABLE_TO_GENERATE"]),
        (Family::Qwen, 0.2, 2048, &["UNABLE_TO_GENERATE"]),
        (Family::Qwen25Coder7b, 0.2, 2048, &["UNABLE_TO_GENERATE"]),
        (Family::Gemini, 0.2, 2048, &["UNABLE_TO_GENERATE"]),
        (Family::Codestral2501, 0.3, 256, &[]),
        (Family::Codestral2508, 0.3, 256, &[]),
    ];
    for (family, temperature, max_tokens, stop) in table {
        let plan = generation(family, &input(Some("x"), None), family.max_context_tokens(), &Estimate);
        assert_eq!((plan.temperature, plan.max_tokens), (temperature, max_tokens), "{family}");
        assert_eq!(plan.stop, stop, "{family}");
        let roles: Vec<&str> = messages(&plan).iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user"], "{family}");
    }
}

#[test]
fn layouts_place_code_cursor_and_instruction_per_family() {
    let code = format!("{PREFIX}{{{{cursor}}}}{SUFFIX}");
    let instruction = "use urllib only";
    // (family, system must contain, user must contain, user ends with)
    let table: [(Family, Vec<&str>, Vec<String>, &str); 7] = [
        (
            Family::Codestral,
            vec!["python", "app/main.py", "raw python code only"],
            vec![code.clone(), format!("Instruction: {instruction}")],
            "no markdown.",
        ),
        (
            Family::Mistral,
            vec!["autocomplete agent", "python", "app/main.py", "comment just before"],
            vec![format!("## Existing code:\n{code}"), format!("## Instruction:\n{instruction}")],
            "code only.",
        ),
        (
            Family::Codegemma,
            vec!["## Instructions", "{{cursor}}", "return nothing"],
            vec![format!("## Existing code:\n{code}")],
            "code only.",
        ),
        (Family::Gpt, vec!["## Instructions"], vec![format!("## Instruction:\n{instruction}")], "code only."),
        (Family::Deepseekcoder, vec!["DeepSeek Coder", "## Instructions"], vec![code.clone()], "### Response:\n"),
        (
            Family::General,
            vec!["<existing_code>", &code, "UNABLE_TO_GENERATE"],
            vec![instruction.to_string()],
            instruction,
        ),
        (
            Family::Qwen,
            vec!["python", "app/main.py", "{{cursor}}", "no reasoning", "UNABLE_TO_GENERATE"],
            vec![instruction.to_string(), code.clone()],
            SUFFIX,
        ),
    ];
    for (family, system_has, user_has, user_end) in table {
        let plan = generation(family, &input(Some(instruction), None), family.max_context_tokens(), &Estimate);
        let m = messages(&plan);
        for s in system_has {
            assert!(m[0].content.contains(s), "{family} system lacks {s:?}:\n{}", m[0].content);
        }
        for s in user_has {
            assert!(m[1].content.contains(&s), "{family} user lacks {s:?}:\n{}", m[1].content);
        }
        assert!(m[1].content.ends_with(user_end), "{family}: {:?}", m[1].content);
    }
}

#[test]
fn claude_user_message_is_just_the_instruction() {
    let plan = generation(Family::Claude3, &input(Some("  add retries  "), None), 200_000, &Estimate);
    assert_eq!(messages(&plan)[1].content, "add retries");
}

#[test]
fn missing_or_blank_instruction_defaults_to_the_comment_above_the_cursor() {
    for instruction in [None, Some(""), Some("   \n")] {
        for family in Family::ALL {
            let plan = generation(family, &input(instruction, None), family.max_context_tokens(), &Estimate);
            let all: String = messages(&plan).iter().map(|m| m.content.as_str()).collect();
            assert!(all.contains(DEFAULT_INSTRUCTION), "{family}");
            assert!(DEFAULT_INSTRUCTION.contains("comment just above the cursor"));
        }
    }
}

#[test]
fn extras_appear_for_families_with_sections_and_are_counted() {
    let enhancer = json!({
        "libraries": ["requests"],
        "examples_array": [{"example": "# sum", "response": "def s(a, b): return a + b", "trigger_type": "comment"}],
        "related_snippets": ["def helper(): ..."],
        "related_files": ["<file_content file_name=\"u.py\">X = 1</file_content>"]
    });
    for family in Family::ALL {
        let plan = generation(family, &input(Some("x"), Some(&enhancer)), family.max_context_tokens(), &Estimate);
        let system = &messages(&plan)[0].content;
        let with_sections = !matches!(
            family.base(),
            Family::Codegemma | Family::Codellama | Family::Llama3 | Family::Gpt | Family::Deepseekcoder
        );
        for needle in ["requests", "def s(a, b)", "def helper()", "u.py"] {
            assert_eq!(system.contains(needle), with_sections, "{family} {needle}");
        }
        assert!(plan.context_tokens_sent > 0);
        let want_used = if with_sections { plan.context_tokens_sent } else { 0 };
        assert_eq!(plan.context_tokens_used, want_used, "{family}");
    }
}

#[test]
fn budgets_hold_and_code_nearest_the_cursor_survives() {
    let prefix = "a = 1\n".repeat(20_000);
    let suffix = "b = 2\n".repeat(20_000);
    let instruction = "do it ".repeat(5_000);
    let enhancer = json!({"related_files": ["f = 3\n".repeat(20_000)], "libraries": ["numpy"]});
    let big = GenerationInput {
        prefix: &prefix,
        suffix: &suffix,
        instruction: Some(&instruction),
        enhancer: Some(&enhancer),
        ..input(None, None)
    };
    let empty = GenerationInput { prefix: "", suffix: "", instruction: Some(""), enhancer: None, ..input(None, None) };
    for family in Family::ALL {
        let fixed = total(&generation(family, &empty, 0, &Estimate));
        for budget in [0, 1, 50, 400, 1000, 4000, 30_000] {
            let plan = generation(family, &big, budget, &Estimate);
            assert!(total(&plan) <= budget.max(fixed), "{family} {budget}: {} > {budget}", total(&plan));
            assert!(plan.context_tokens_used <= plan.context_tokens_sent);
            if budget >= 4000 {
                let all: String = messages(&plan).iter().map(|m| m.content.as_str()).collect();
                assert!(all.contains("a = 1\na = 1\n{{cursor}}b = 2\nb = 2\n"), "{family} {budget}");
                // The code keeps at least two thirds of what the template and instruction leave.
                let code = (all.matches("a = 1\n").count() + all.matches("b = 2\n").count()) * 6 / 4;
                assert!(code + 20 >= (budget - fixed) / 2, "{family} {budget}: code {code}");
            }
        }
    }
}

#[test]
fn huge_and_zero_budgets_never_panic() {
    let enhancer = json!({"related_files": ["f = 3\n"], "libraries": ["numpy"]});
    for family in Family::ALL {
        for budget in [0, 1, 2, 3, usize::MAX] {
            let plan = generation(family, &input(Some("é"), Some(&enhancer)), budget, &Estimate);
            assert!(plan.context_tokens_used <= plan.context_tokens_sent);
        }
    }
}

#[test]
fn small_code_leaves_room_for_extras() {
    let enhancer = json!({"related_files": ["f = 3\n".repeat(2_000)]});
    let plan = generation(Family::Codestral, &input(Some("x"), Some(&enhancer)), 3000, &Estimate);
    assert!(plan.context_tokens_used > 2000, "{}", plan.context_tokens_used);
    assert!(total(&plan) <= 3000);
}
