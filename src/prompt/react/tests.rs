//! Tests for the ReAct prompt builder, request shapes and sampling parameters.

use serde_json::json;

use super::*;

fn turns(value: serde_json::Value) -> Vec<ChatTurn> {
    serde_json::from_value(value).expect("valid turns")
}

fn all_tools() -> Vec<&'static Tool> {
    TOOLS.iter().collect()
}

fn build_with(turns: &[ChatTurn], legacy: &[LegacyStep], tools: &[&'static Tool]) -> Result<ReactPrompt, ReactError> {
    let unavailable = vec!["Pipelines".to_string(), "Vulnerabilities".to_string()];
    build(&ReactInput {
        turns,
        legacy_steps: legacy,
        tools,
        unavailable_resources: &unavailable,
        date: "November 22, 2026",
    })
}

fn ok(value: serde_json::Value) -> ReactPrompt {
    build_with(&turns(value), &[], &all_tools()).expect("builds")
}

fn err(value: serde_json::Value) -> String {
    match build_with(&turns(value), &[], &all_tools()) {
        Err(ReactError::Invalid(message)) => message,
        Ok(prompt) => panic!("expected an error, got {prompt:?}"),
    }
}

fn user(content: &str) -> Message {
    Message::user(content)
}

fn assistant(content: &str) -> Message {
    Message { role: "assistant".into(), content: content.into() }
}

#[test]
fn simple_question_builds_system_user_and_bare_prefill() {
    let prompt = ok(json!([{"role": "user", "content": "how do I rebase?"}]));
    assert_eq!(prompt.messages.len(), 2);
    assert_eq!(prompt.messages[0].role, "system");
    assert_eq!(prompt.messages[1], user("Question: how do I rebase?"));
    assert_eq!(prompt.prefill, "Thought:");
}

#[test]
fn system_prompt_with_all_tools_is_compact_and_complete() {
    let system = &ok(json!([{"role": "user", "content": "hi"}])).messages[0].content;
    assert!(system.chars().count() < 3000, "{} chars", system.chars().count());
    assert!(system.contains("GitLab Duo Chat"));
    assert!(system.contains("November 22, 2026"));
    for tool in TOOLS {
        assert!(system.contains(&format!("- {}: {}", tool.name, tool.description)), "{}", tool.name);
        assert!(system.contains(tool.example), "{}", tool.name);
    }
    assert!(system.contains("issues, epics, merge requests, commits, CI jobs, work items, GitLab documentation"));
    assert!(system.contains("Pipelines, Vulnerabilities"));
    assert!(
        system.contains(
            "Thought: <what you think about the question>\nAction: DirectAnswer\nFinal Answer: <your answer>"
        )
    );
    assert!(system.contains("Thought: <why a tool helps>\nAction: <tool name>\nAction Input: <what to ask the tool>"));
    // One worked example of a direct answer, and no "Begin!"-style last line.
    assert_eq!(system.matches("\nQuestion: ").count(), 1);
    assert_eq!(system.matches("Action: DirectAnswer\nFinal Answer: ").count(), 2);
    assert!(system.lines().last().unwrap().starts_with("Final Answer: "));
    assert!(!system.to_lowercase().contains("begin"));
    assert!(!system.contains("\n\n\n"), "no runs of blank lines:\n{system}");
}

#[test]
fn zero_tool_prompt_has_no_tool_section_or_format() {
    let t = turns(json!([{"role": "user", "content": "hi"}]));
    let prompt = build_with(&t, &[], &[]).unwrap();
    let system = &prompt.messages[0].content;
    for absent in ["Action Input", "<tool name>", "Observation", "Tools", "tool", "issue_reader"] {
        assert!(!system.contains(absent), "{absent:?} in\n{system}");
    }
    assert!(system.contains("Action: DirectAnswer\nFinal Answer: <your answer>"));
    assert!(system.contains("Pipelines, Vulnerabilities"));
    assert!(!system.contains("\n\n\n"), "{system}");
}

#[test]
fn resources_follow_the_offered_tools_and_unavailable_may_be_empty() {
    let t = turns(json!([{"role": "user", "content": "hi"}]));
    let tools = offered_tools(|s| s == "ask_issue" || s == "ask_epic", None);
    let prompt = build(&ReactInput {
        turns: &t,
        legacy_steps: &[],
        tools: &tools,
        unavailable_resources: &[],
        date: "May 1, 2026",
    })
    .unwrap();
    let system = &prompt.messages[0].content;
    assert!(system.contains("you can read issues, epics."), "{system}");
    assert!(!system.contains("cannot read"), "{system}");
    assert!(!system.contains("merge_request_reader"));
    assert!(system.contains("May 1, 2026"));
}

#[test]
fn page_context_forms() {
    let table = [
        (json!({"type": "issue", "title": "Login broken"}), "The user is looking at issue \"Login broken\"."),
        (json!({"type": "epic", "title": "Q3"}), "The user is looking at epic \"Q3\"."),
        (json!({"type": "merge_request", "title": "Fix it"}), "The user is looking at merge request \"Fix it\"."),
        (json!({"type": "commit", "title": "abc123"}), "The user is looking at commit \"abc123\"."),
        (json!({"type": "work_item", "title": "Task 1"}), "The user is looking at work item \"Task 1\"."),
        (json!({"type": "issue"}), "The user is looking at an issue."),
        (json!({"type": "merge_request", "title": " "}), "The user is looking at a merge request."),
        (json!({"type": "build"}), "The user is looking at a CI job log."),
        (json!({"type": "build", "title": "rspec 1/4"}), "The user is looking at the log of CI job \"rspec 1/4\"."),
        (
            json!({"type": "issue", "content": "Title: Login broken\nSteps…"}),
            "<context type=\"issue\">\nTitle: Login broken\nSteps…\n</context>",
        ),
        (json!({"type": "snippet", "content": "x = 1"}), "<context type=\"snippet\">\nx = 1\n</context>"),
    ];
    for (context, block) in table {
        let prompt = ok(json!([{"role": "user", "content": "What is this?", "context": context}]));
        assert_eq!(prompt.messages[1], user(&format!("{block}\n\nQuestion: What is this?")), "{context}");
    }
}

#[test]
fn current_file_both_ways() {
    let selected = ok(json!([{"role": "user", "content": "explain",
        "current_file": {"file_path": "app/x.rb", "data": "def a; end", "selected_code": true}}]));
    assert_eq!(
        selected.messages[1],
        user("The user selected this code in app/x.rb:\n<code>\ndef a; end\n</code>\n\nQuestion: explain")
    );
    let open = ok(json!([{"role": "user", "content": "explain",
        "current_file": {"file_path": "app/x.rb", "data": "def a; end"}}]));
    assert_eq!(
        open.messages[1],
        user("The user has app/x.rb open:\n<content>\ndef a; end\n</content>\n\nQuestion: explain")
    );
}

#[test]
fn blocks_come_in_order_and_additional_context_is_tagged() {
    let prompt = ok(json!([{"role": "user", "content": "why?",
    "context": {"type": "issue", "title": "T"},
    "current_file": {"file_path": "a.rs", "data": "fn a() {}", "selected_code": true},
    "additional_context": [
        {"category": "file", "id": "src/\"x\".rs", "content": "fn x() {}", "metadata": {"a": 1}},
        {"category": "local_git", "content": "diff"},
        {"category": "terminal", "id": "t1"}
    ]}]));
    let want = "The user is looking at issue \"T\".\n\n\
        The user selected this code in a.rs:\n<code>\nfn a() {}\n</code>\n\n\
        <additional_context id=\"src/&quot;x&quot;.rs\" category=\"file\">\nfn x() {}\n</additional_context>\n\n\
        <additional_context category=\"local_git\">\ndiff\n</additional_context>\n\n\
        <additional_context id=\"t1\" category=\"terminal\">\n\n</additional_context>\n\n\
        Question: why?";
    assert_eq!(prompt.messages[1], user(want));
}

#[test]
fn history_renders_user_and_assistant_turns() {
    let prompt = ok(json!([
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer one"},
        {"role": "user", "content": "what about issue 12?"},
        {"role": "assistant", "content": "It is about login.",
         "agent_scratchpad": [{"action": {"thought": "Need the issue", "tool": "issue_reader", "tool_input": "Read issue #12", "type": "action"},
                               "observation": "{\"title\": \"Login\"}"}]},
        {"role": "user", "content": "thanks, and now?"}
    ]));
    assert_eq!(
        prompt.messages[1..],
        [
            user("Question: first"),
            assistant("answer one"),
            user("Question: what about issue 12?"),
            assistant(
                "Thought: Need the issue\nAction: issue_reader\nAction Input: Read issue #12\nObservation: {\"title\": \"Login\"}\nFinal Answer: It is about login."
            ),
            user("Question: thanks, and now?"),
        ]
    );
    assert_eq!(prompt.prefill, "Thought:");
}

#[test]
fn in_progress_assistant_turn_becomes_the_prefill() {
    let prompt = ok(json!([
        {"role": "user", "content": "previous question"},
        {"role": "assistant", "content": "previous answer"},
        {"role": "user", "content": "What is this issue about?", "context": {"type": "issue", "title": "Login broken"}},
        {"role": "assistant", "content": null,
         "agent_scratchpad": [
            {"action": {"thought": "Need the issue", "tool": "issue_reader", "tool_input": "Read issue #12", "type": "action"},
             "observation": "{\"title\": \"Login broken\"}"},
            {"action": {"thought": "And the MR", "tool": "merge_request_reader", "tool_input": "!3"}, "observation": "diff"}
         ]}
    ]));
    assert_eq!(prompt.messages.len(), 4);
    assert_eq!(prompt.messages[3].role, "user");
    assert_eq!(
        prompt.prefill,
        "Thought: Need the issue\nAction: issue_reader\nAction Input: Read issue #12\nObservation: {\"title\": \"Login broken\"}\n\
         Thought: And the MR\nAction: merge_request_reader\nAction Input: !3\nObservation: diff\nThought:"
    );
}

#[test]
fn legacy_steps_become_the_prefill_when_no_turn_has_a_scratchpad() {
    let options: LegacyOptions = serde_json::from_value(json!({"agent_scratchpad": {"agent_type": "react",
        "steps": [{"thought": "Look it up", "tool": "gitlab_documentation", "tool_input": "runners", "observation": "docs text"}]}}))
    .unwrap();
    let steps = options.agent_scratchpad.unwrap().steps;
    let t = turns(json!([{"role": "user", "content": "how do runners work?"}]));
    let prompt = build_with(&t, &steps, &all_tools()).unwrap();
    assert_eq!(
        prompt.prefill,
        "Thought: Look it up\nAction: gitlab_documentation\nAction Input: runners\nObservation: docs text\nThought:"
    );
    // An in-progress turn with its own scratchpad wins over the legacy steps.
    let t = turns(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": null, "agent_scratchpad": [{"action": {"tool": "issue_reader", "tool_input": "#1"}, "observation": "o"}]}
    ]));
    let prompt = build_with(&t, &steps, &all_tools()).unwrap();
    assert_eq!(prompt.prefill, "Thought: \nAction: issue_reader\nAction Input: #1\nObservation: o\nThought:");
    // An in-progress turn without steps falls back to them.
    let t = turns(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": null}]));
    let prompt = build_with(&t, &steps, &all_tools()).unwrap();
    assert!(prompt.prefill.starts_with("Thought: Look it up\n"));
}

#[test]
fn unanswered_assistant_turns_are_dropped_and_neighbours_merged() {
    let prompt = ok(json!([
        {"role": "user", "content": "one", "agent_scratchpad": null},
        {"role": "assistant", "content": null,
         "agent_scratchpad": [{"action": {"tool": "issue_reader", "tool_input": "#1"}, "observation": "old"}]},
        {"role": "user", "content": "two"}
    ]));
    assert_eq!(prompt.messages[1..], [user("Question: one\n\nQuestion: two")]);
    // The stale step belongs to the earlier question, not this one.
    assert_eq!(prompt.prefill, "Thought:");
}

#[test]
fn validation_errors_name_the_field() {
    let table = [
        (json!([]), "messages: at least one message is required"),
        (
            json!([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]),
            "messages[1]: role `system` is not accepted; send user and assistant messages only",
        ),
        (
            json!([{"role": "user", "content": "a", "agent_scratchpad": []}]),
            "messages[0].agent_scratchpad: only assistant messages may carry a scratchpad",
        ),
        (
            json!([{"role": "user", "content": "a", "additional_context": [{"category": "file"}, {"category": "pipeline"}]}]),
            "messages[0].additional_context[1].category: `pipeline` is not supported; expected one of file, snippet, merge_request, issue, dependency, local_git, terminal, repository, directory, os_information, agent_user_environment",
        ),
        (
            json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c", "context": {"type": "pipeline", "title": "x"}}]),
            "messages[2].context.type: `pipeline` is not supported; expected one of issue, epic, merge_request, commit, work_item, build",
        ),
        (
            json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
            "messages[1]: the conversation must end with a user message; only assistant messages with null content may follow it",
        ),
        (
            json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": null}]),
            "messages[1]: the conversation must end with a user message; only assistant messages with null content may follow it",
        ),
        (json!([{"role": "assistant", "content": null}]), "messages: the conversation has no user message"),
    ];
    for (value, want) in table {
        assert_eq!(err(value.clone()), want, "{value}");
    }
}

#[test]
fn request_shapes_ignore_unknown_keys_and_default_optional_fields() {
    let t = turns(json!([{"role": "user", "content": "q", "extra": 1,
        "current_file": {"file_path": "a", "unknown": true},
        "additional_context": [{"category": "snippet", "whatever": 2}]}]));
    let file = t[0].current_file.as_ref().unwrap();
    assert_eq!((file.data.as_str(), file.selected_code), ("", false));
    assert!(serde_json::from_value::<Vec<ChatTurn>>(json!([{"role": "tool", "content": "x"}])).is_err());
    let step: ScratchpadEntry = serde_json::from_value(json!({"action": {"tool": "t"}})).unwrap();
    assert_eq!(
        (step.action.thought.as_str(), step.action.tool_input.as_str(), step.observation.as_str()),
        ("", "", "")
    );
}

#[test]
fn context_scopes_are_deduplicated_in_order() {
    let t = turns(json!([{"role": "user", "content": "q", "additional_context": [
        {"category": "file"}, {"category": "local_git"}, {"category": "file"}, {"category": "snippet"}]},
        {"role": "user", "content": "q"}]));
    assert_eq!(t[0].context_scopes(), ["include_file_context", "include_local_git_context", "include_snippet_context"]);
    assert!(t[1].context_scopes().is_empty());
}

#[test]
fn params_per_family() {
    for family in Family::ALL {
        let p = params(family);
        assert_eq!(p.temperature, 0.1, "{family}");
        let (tokens, stop): (u32, &[&str]) = match family {
            Family::Gpt => (8192, &["\nQuestion:"]),
            Family::Llama3 => (4096, &["Observation:", "\nQuestion:"]),
            _ => (8192, &["Observation:", "\nQuestion:"]),
        };
        assert_eq!(p.max_tokens, tokens, "{family}");
        assert_eq!(p.stop, stop, "{family}");
    }
}
