//! The table of shipped prompt definitions: ids, versions, unit primitives, inputs, templates and parameters.
//!
//! Template sources live in `templates/` (one file per message); the chat readers share one user template.

use super::PromptDef;

macro_rules! template {
    ($name:literal) => {
        include_str!(concat!("templates/", $name, ".jinja"))
    };
}

/// Sampling defaults for chat-style features; entries override what differs.
const fn chat(
    id: &'static str,
    unit_primitive: &'static str,
    inputs: &'static [&'static str],
    system: &'static str,
    user: &'static str,
) -> PromptDef {
    PromptDef {
        id,
        version: "1.0.0",
        unit_primitive,
        inputs,
        optional_inputs: &[],
        system: Some(system),
        user,
        prefill: None,
        temperature: 0.2,
        max_tokens: 2048,
        stop: &[],
    }
}

/// The reader tools answer with the rest of a JSON object whose opening the prefill supplies; Rails prepends
/// the same opening when the reply lacks the `ResourceIdentifierType` key, so the reply parses either way.
const fn reader(id: &'static str, unit_primitive: &'static str, system: &'static str) -> PromptDef {
    PromptDef {
        prefill: Some(READER_PREFILL),
        temperature: 0.1,
        max_tokens: 256,
        stop: &["\nQuestion:"],
        ..chat(id, unit_primitive, &["input", "suggestions"], system, template!("reader.user"))
    }
}

const READER_PREFILL: &str = "```json\n{\n  \"ResourceIdentifierType\": \"";

const CODE_TASK: &[&str] =
    &["file_content", "file_content_reuse", "input", "language_info", "libraries", "selected_text"];

pub static PROMPTS: &[PromptDef] = &[
    chat(
        "chat/explain_code",
        "explain_code",
        &["file_content", "input", "language_info", "selected_text"],
        template!("explain_code.system"),
        template!("explain_code.user"),
    ),
    chat(
        "chat/write_tests",
        "write_tests",
        &["file_content", "input", "language_info", "libraries", "selected_text"],
        template!("write_tests.system"),
        template!("write_tests.user"),
    ),
    chat(
        "chat/refactor_code",
        "refactor_code",
        CODE_TASK,
        template!("refactor_code.system"),
        template!("refactor_code.user"),
    ),
    PromptDef {
        temperature: 0.1,
        ..chat("chat/fix_code", "fix_code", CODE_TASK, template!("fix_code.system"), template!("fix_code.user"))
    },
    chat(
        "chat/troubleshoot_job",
        "troubleshoot_job",
        &["language_info", "selected_text"],
        template!("troubleshoot_job.system"),
        template!("troubleshoot_job.user"),
    ),
    chat(
        "chat/explain_vulnerability",
        "explain_vulnerability",
        &["identifiers", "language_info", "title", "vulnerability_description", "vulnerability_info"],
        template!("explain_vulnerability.system"),
        template!("explain_vulnerability.user"),
    ),
    chat(
        "chat/summarize_comments",
        "summarize_comments",
        &["notes_content"],
        template!("summarize_comments.system"),
        template!("summarize_comments.user"),
    ),
    reader("chat/issue_reader", "ask_issue", template!("issue_reader.system")),
    reader("chat/epic_reader", "ask_epic", template!("epic_reader.system")),
    reader("chat/merge_request_reader", "ask_merge_request", template!("merge_request_reader.system")),
    reader("chat/commit_reader", "ask_commit", template!("commit_reader.system")),
    reader("chat/build_reader", "ask_build", template!("build_reader.system")),
    reader("chat/work_item_reader", "ask_work_item", template!("work_item_reader.system")),
    chat(
        "chat/documentation_search",
        "documentation_search",
        &["question", "documents", "content_id"],
        template!("documentation_search.system"),
        template!("documentation_search.user"),
    ),
    chat(
        "generate_commit_message",
        "generate_commit_message",
        &["diff"],
        template!("generate_commit_message.system"),
        template!("generate_commit_message.user"),
    ),
    chat(
        "summarize_new_merge_request",
        "summarize_new_merge_request",
        &["extracted_diff"],
        template!("summarize_new_merge_request.system"),
        template!("summarize_new_merge_request.user"),
    ),
    PromptDef {
        version: "2.0.0",
        ..chat(
            "summarize_new_merge_request",
            "summarize_new_merge_request",
            &["extracted_diff"],
            template!("summarize_new_merge_request_v2.system"),
            template!("summarize_new_merge_request_v2.user"),
        )
    },
    chat(
        "summarize_review",
        "summarize_review",
        &["draft_notes_content"],
        template!("summarize_review.system"),
        template!("summarize_review.user"),
    ),
    PromptDef {
        version: "2.0.0",
        ..chat(
            "summarize_review",
            "summarize_review",
            &["draft_notes_content"],
            template!("summarize_review_v2.system"),
            template!("summarize_review_v2.user"),
        )
    },
    PromptDef {
        temperature: 0.1,
        ..chat(
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
            template!("review_merge_request.system"),
            template!("review_merge_request.user"),
        )
    },
    PromptDef {
        temperature: 0.1,
        ..chat(
            "resolve_vulnerability",
            "resolve_vulnerability",
            &["name", "filename", "identifiers", "source_code", "vulnerable_code", "vulnerability_description"],
            template!("resolve_vulnerability.system"),
            template!("resolve_vulnerability.user"),
        )
    },
    PromptDef {
        max_tokens: 1024,
        ..chat(
            "glab_ask_git_command",
            "glab_ask_git_command",
            &["prompt"],
            template!("glab_ask_git_command.system"),
            template!("glab_ask_git_command.user"),
        )
    },
    PromptDef {
        optional_inputs: &["template"],
        temperature: 0.3,
        ..chat(
            "generate_description",
            "generate_issue_description",
            &["content"],
            template!("generate_description.system"),
            template!("generate_description.user"),
        )
    },
    PromptDef {
        optional_inputs: &["previous_answer"],
        temperature: 0.1,
        max_tokens: 256,
        ..chat(
            "categorize_question",
            "duo_chat",
            &["question"],
            template!("categorize_question.system"),
            template!("categorize_question.user"),
        )
    },
    PromptDef {
        temperature: 0.1,
        max_tokens: 512,
        ..chat(
            "measure_comment_temperature",
            "measure_comment_temperature",
            &["content"],
            template!("measure_comment_temperature.system"),
            template!("measure_comment_temperature.user"),
        )
    },
    PromptDef {
        system: None,
        temperature: 0.0,
        max_tokens: 16,
        // A greeting is one line; stopping there keeps GitLab's 3-second "Test connection" safe.
        stop: &["\n"],
        ..chat("model_configuration/check", "complete_code", &[], "", template!("model_configuration_check.user"))
    },
];
