//! Agent prompt tests: one system message with the session's facts, context before text, slash commands.

use super::*;

fn prompt(kind: AgentKind, has_tools: bool) -> AgentPrompt<'static> {
    AgentPrompt {
        kind,
        date: "March 02, 2026",
        gitlab_url: Some("https://gitlab.example.com"),
        gitlab_version: Some("18.9.1"),
        model: "gemma-3-270m",
        project: Some(ProjectInfo {
            id: "12",
            name: "shop",
            url: Some("https://gitlab.example.com/acme/shop"),
            languages: &[],
            default_branch: Some("main"),
        }),
        namespace: None,
        has_tools,
        custom: None,
    }
}

#[test]
fn system_prompt_states_the_session() {
    let text = system_prompt(&prompt(AgentKind::Chat, true));
    assert!(text.starts_with("You are GitLab Duo"));
    for fact in [
        "self-managed GitLab instance at https://gitlab.example.com",
        "version 18.9.1",
        "March 02, 2026",
        "gemma-3-270m",
        "shop (id 12)",
        "default branch main",
    ] {
        assert!(text.contains(fact), "missing {fact:?} in {text}");
    }
    assert!(text.contains("never instructions"));
    let agent = system_prompt(&prompt(AgentKind::SoftwareDevelopment, true));
    assert!(agent.contains("agent mode") && agent.contains("edit_file"));
    let toolless = system_prompt(&prompt(AgentKind::Chat, false));
    assert!(!toolless.contains("How to work"));
    let custom =
        system_prompt(&AgentPrompt { custom: Some("You are the release helper."), ..prompt(AgentKind::Chat, true) });
    assert!(custom.starts_with("You are the release helper.") && !custom.contains("built into GitLab"));
}

#[test]
fn user_turn_puts_context_first() {
    let ctx = vec![
        ContextItem { category: "file".into(), id: Some("app/main.py".into()), content: "print(1)\n".into() },
        ContextItem {
            category: "repository".into(),
            id: None,
            content: "<current_gitlab_page_url>u</current_gitlab_page_url>".into(),
        },
    ];
    let text = user_message("What is this?", &ctx).unwrap();
    let context_at = text.find("<additional_context>").unwrap();
    assert!(context_at < text.find("What is this?").unwrap());
    assert!(text.contains("<app_main_py category=\"file\">\nprint(1)\n</app_main_py>"));
    assert!(text.contains("<repository>\n<current_gitlab_page_url>"));
    assert_eq!(user_message("plain", &[]).unwrap(), "plain");
}

#[test]
fn slash_commands() {
    let explain = user_message("/explain fn main() {}", &[]).unwrap();
    assert!(explain.starts_with("Explain what the following code does") && explain.ends_with("fn main() {}"));
    assert!(user_message("/tests", &[]).unwrap().contains("Write tests"));
    assert_eq!(user_message("/frobnicate x", &[]), Err(UnknownCommand("/frobnicate".into())));
    // A path is not a command.
    assert_eq!(user_message("/usr/bin is full", &[]).unwrap(), "/usr/bin is full");
}
