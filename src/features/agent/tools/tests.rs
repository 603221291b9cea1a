//! Tool catalogue tests: selection by privilege, plans of calls into actions and GitLab requests, argument checks.

use serde_json::{Value, json};

use super::args::{GitlabUrl, parse_gitlab_url};
use super::*;

fn args(v: Value) -> Args {
    v.as_object().unwrap().clone()
}

fn ctx() -> Context {
    Context { project_id: Some("12".into()), default_branch: Some("main".into()), ..Context::default() }
}

fn plan(name: &str, a: Value) -> Result<Invocation, String> {
    let tool = toolset(&Selection { privileges: &ALL, ..Selection::default() }, &ctx())
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"));
    tool.plan(&args(a), &ctx())
}

fn http_path(i: Result<Invocation, String>) -> (String, String, Option<String>) {
    match i {
        Ok(Invocation::Client(ClientAction::Http { method, path, body })) => (method, path, body),
        other => panic!("{other:?}"),
    }
}

const ALL: [Privilege; 6] = [
    Privilege::ReadWriteFiles,
    Privilege::ReadOnlyGitlab,
    Privilege::ReadWriteGitlab,
    Privilege::RunCommands,
    Privilege::UseGit,
    Privilege::RunMcpTools,
];

#[test]
fn privileges_choose_the_tools() {
    let names = |privileges: &[Privilege]| -> Vec<String> {
        toolset(&Selection { privileges, ..Selection::default() }, &ctx()).into_iter().map(|t| t.name).collect()
    };
    let web = names(&[Privilege::ReadOnlyGitlab, Privilege::ReadWriteGitlab]);
    assert!(web.contains(&"get_issue".into()) && web.contains(&"create_merge_request_note".into()));
    assert!(web.contains(&"gitlab_documentation_search".into()));
    assert!(!web.iter().any(|n| n == "read_file" || n == "run_command"));
    let read_only = names(&[Privilege::ReadOnlyGitlab]);
    assert!(!read_only.contains(&"create_issue".into()));
    let files = names(&[Privilege::ReadOnlyFiles]);
    assert!(files.contains(&"read_file".into()) && !files.contains(&"edit_file".into()));
    assert!(names(&[Privilege::ReadWriteFiles]).contains(&"edit_file".into()));
    assert!(names(&[]).is_empty());
    // Every tool name is unique and every schema is an object schema.
    let all = toolset(&Selection { privileges: &ALL, ..Selection::default() }, &ctx());
    let mut seen = std::collections::BTreeSet::new();
    for t in &all {
        assert!(seen.insert(t.name.clone()), "{} twice", t.name);
        assert_eq!(t.parameters["type"], "object", "{}", t.name);
        assert!(!t.description.is_empty());
    }
    // Searches go when GitLab's MCP server offers them; old clients keep only airgate's own tools.
    let without = toolset(&Selection { privileges: &ALL, without_search: true, ..Selection::default() }, &ctx());
    assert!(!without.iter().any(|t| t.name == "gitlab_issue_search"));
    let old = toolset(&Selection { privileges: &ALL, client_too_old: true, ..Selection::default() }, &ctx());
    assert_eq!(old.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["gitlab_documentation_search"]);
    // A custom agent's toolset narrows it.
    let only = vec!["get_issue".to_string(), "read_file".to_string()];
    let narrowed = toolset(
        &Selection { privileges: &[Privilege::ReadOnlyGitlab], only: Some(&only), ..Selection::default() },
        &ctx(),
    );
    assert_eq!(narrowed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["get_issue"]);
}

#[test]
fn mcp_tools_are_offered_when_enabled() {
    let mcp = vec![
        McpTool {
            name: "jira.search issues".into(),
            description: "Search Jira".into(),
            input_schema: r#"{"type":"object","properties":{"q":{"type":"string"}}}"#.into(),
        },
        McpTool { name: "broken".into(), description: "x".into(), input_schema: "not json".into() },
    ];
    let sel = Selection { privileges: &[], mcp: &mcp, mcp_enabled: true, ..Selection::default() };
    let tools = toolset(&sel, &ctx());
    assert_eq!(tools[0].name, "jira_search_issues");
    assert_eq!(tools[1].parameters["type"], "object");
    let call = tools[0].plan(&args(json!({"q": "bug"})), &ctx()).unwrap();
    assert_eq!(
        call,
        Invocation::Client(ClientAction::Mcp { name: "jira.search issues".into(), arguments: r#"{"q":"bug"}"#.into() })
    );
    assert!(toolset(&Selection { mcp_enabled: false, ..sel }, &ctx()).is_empty());
    assert_eq!(mcp_name(&"x".repeat(300)).len(), 128);
}

#[test]
fn local_tools_become_actions() {
    let ok = |name: &str, a: Value| match plan(name, a) {
        Ok(Invocation::Client(action)) => action,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        ok("read_file", json!({"file_path": "src/a.rs"})),
        ClientAction::ReadFile { path: "src/a.rs".into(), offset: None, limit: None }
    );
    assert_eq!(
        ok("mkdir", json!({"directory_path": "docs/new"})),
        ClientAction::Mkdir { directory: "./docs/new".into() }
    );
    assert_eq!(
        ok("grep", json!({"keywords": "TODO"})),
        ClientAction::Grep { directory: ".".into(), pattern: "TODO".into(), case_insensitive: true }
    );
    assert_eq!(
        ok("run_command", json!({"program": "ls", "args": "-la 'my dir'"})),
        ClientAction::RunCommand {
            program: "ls".into(),
            arguments: vec!["-la".into(), "my dir".into()],
            timeout: None
        }
    );
    assert_eq!(
        ok("run_git_command", json!({"command": "log", "args": "--oneline -5"})),
        ClientAction::RunCommand {
            program: "git".into(),
            arguments: vec!["log".into(), "--oneline".into(), "-5".into()],
            timeout: None
        }
    );
    assert!(plan("edit_file", json!({"file_path": ".git/config", "old_str": "a", "new_str": "b"})).is_err());
    assert!(plan("run_command", json!({"program": "echo", "args": "'unbalanced"})).is_err());
    // With the client's capabilities: chunked reads, shell command lines, timeouts.
    let caps = Context { chunked_reads: true, shell: true, command_timeout: true, ..ctx() };
    let tools = toolset(&Selection { privileges: &ALL, ..Selection::default() }, &caps);
    let tool = |n: &str| tools.iter().find(|t| t.name == n).unwrap();
    assert!(tool("read_file").parameters["properties"].get("offset").is_some());
    assert_eq!(
        tool("read_file").plan(&args(json!({"file_path": "a", "offset": 10})), &caps).unwrap(),
        Invocation::Client(ClientAction::ReadFile { path: "a".into(), offset: Some(10), limit: Some(2000) })
    );
    assert!(tool("run_command").parameters["properties"].get("command").is_some());
    assert_eq!(
        tool("run_command").plan(&args(json!({"command": "ls | wc -l"})), &caps).unwrap(),
        Invocation::Client(ClientAction::Shell { command: "ls | wc -l".into(), timeout: Some(120) })
    );
}

#[test]
fn gitlab_tools_become_requests() {
    let table: Vec<(&str, Value, &str, &str)> = vec![
        ("get_project", json!({}), "GET", "/api/v4/projects/12"),
        ("get_issue", json!({"issue_iid": 5}), "GET", "/api/v4/projects/12/issues/5"),
        (
            "get_issue",
            json!({"url": "https://gitlab.example.com/acme/shop/-/issues/9#note_1"}),
            "GET",
            "/api/v4/projects/acme%2Fshop/issues/9",
        ),
        (
            "get_merge_request",
            json!({"url": "https://gitlab.example.com/a/b/-/merge_requests/3/diffs"}),
            "GET",
            "/api/v4/projects/a%2Fb/merge_requests/3",
        ),
        (
            "get_merge_request",
            json!({"project_id": "a/b", "merge_request_iid": "7"}),
            "GET",
            "/api/v4/projects/a%2Fb/merge_requests/7",
        ),
        ("get_job_logs", json!({"job_id": 99}), "GET", "/api/v4/projects/12/jobs/99/trace"),
        (
            "get_pipeline_failing_jobs",
            json!({"pipeline_id": 4}),
            "GET",
            "/api/v4/projects/12/pipelines/4/jobs?scope%5B%5D=failed&per_page=100",
        ),
        (
            "get_repository_file",
            json!({"file_path": "src/main.rs"}),
            "GET",
            "/api/v4/projects/12/repository/files/src%2Fmain.rs/raw?ref=main",
        ),
        (
            "get_repository_file",
            json!({"url": "https://g.example/a/b/-/blob/dev/lib/x.rb"}),
            "GET",
            "/api/v4/projects/a%2Fb/repository/files/lib%2Fx.rb/raw?ref=dev",
        ),
        (
            "list_repository_tree",
            json!({"path": "src", "recursive": true}),
            "GET",
            "/api/v4/projects/12/repository/tree?path=src&recursive=true&per_page=100",
        ),
        (
            "list_commits",
            json!({"ref_name": "main", "page": 2}),
            "GET",
            "/api/v4/projects/12/repository/commits?ref_name=main&per_page=20&page=2",
        ),
        (
            "get_commit_diff",
            json!({"commit_sha": "abc123"}),
            "GET",
            "/api/v4/projects/12/repository/commits/abc123/diff",
        ),
        (
            "get_work_item",
            json!({"url": "https://g.example/groups/acme/-/epics/4"}),
            "GET",
            "/api/v4/groups/acme/epics/4",
        ),
        ("get_work_item", json!({"work_item_iid": 8}), "GET", "/api/v4/projects/12/issues/8"),
        (
            "list_work_items",
            json!({"search": "login bug"}),
            "GET",
            "/api/v4/projects/12/issues?state=opened&search=login%20bug&per_page=20",
        ),
        ("get_current_user", json!({}), "GET", "/api/v4/user"),
        (
            "gitlab_issue_search",
            json!({"id": "12", "search": "crash"}),
            "GET",
            "/api/v4/projects/12/search?scope=issues&search=crash",
        ),
        (
            "gitlab_blob_search",
            json!({"id": "a/b", "search": "fn main", "ref": "dev"}),
            "GET",
            "/api/v4/projects/a%2Fb/search?scope=blobs&search=fn%20main&ref=dev",
        ),
        (
            "gitlab_api_get",
            json!({"endpoint": "/api/v4/projects/12/releases", "params": {"per_page": 5}}),
            "GET",
            "/api/v4/projects/12/releases?per_page=5",
        ),
        ("gitlab_graphql", json!({"query": "{ currentUser { username } }"}), "POST", "/api/graphql"),
        (
            "create_merge_request_note",
            json!({"merge_request_iid": 3, "body": "LGTM"}),
            "POST",
            "/api/v4/projects/12/merge_requests/3/notes",
        ),
        ("create_issue", json!({"title": "Bug", "labels": ["a", "b"]}), "POST", "/api/v4/projects/12/issues"),
        (
            "update_merge_request",
            json!({"merge_request_iid": 3, "state_event": "close"}),
            "PUT",
            "/api/v4/projects/12/merge_requests/3",
        ),
    ];
    for (name, a, method, path) in table {
        let (m, p, _) = http_path(plan(name, a.clone()));
        assert_eq!((m.as_str(), p.as_str()), (method, path), "{name} {a}");
    }
    let (_, _, body) = http_path(plan("create_issue", json!({"title": "Bug", "labels": ["a", "b"]})));
    assert_eq!(serde_json::from_str::<Value>(&body.unwrap()).unwrap(), json!({"title": "Bug", "labels": "a,b"}));
    assert!(plan("gitlab_api_get", json!({"endpoint": "/admin/secrets"})).is_err());
    assert!(plan("gitlab_graphql", json!({"query": "mutation { destroy }"})).is_err());
    assert!(plan("get_issue", json!({"url": "https://g.example/a/b/-/merge_requests/3"})).is_err());
    assert!(plan("update_merge_request", json!({"merge_request_iid": 3})).is_err());
    assert_eq!(
        plan("gitlab_documentation_search", json!({"search": "runners"})),
        Ok(Invocation::Docs { query: "runners".into() })
    );
    // No project in the session and none given.
    let tool = toolset(&Selection { privileges: &ALL, ..Selection::default() }, &Context::default());
    let get_project = tool.iter().find(|t| t.name == "get_project").unwrap();
    assert!(get_project.plan(&Args::new(), &Context::default()).unwrap_err().contains("no project"));
}

#[test]
fn argument_checks() {
    let schema = object_schema(&[("a", "string", "", true), ("n", "integer", "", false), ("b", "boolean", "", false)]);
    assert!(check_arguments(&schema, &args(json!({"a": "x", "n": 3}))).is_ok());
    assert!(check_arguments(&schema, &args(json!({"a": "x", "n": "3"}))).is_ok(), "numeric strings pass as integers");
    assert!(check_arguments(&schema, &args(json!({"n": 3}))).unwrap_err().contains("`a`"));
    assert!(check_arguments(&schema, &args(json!({"a": 1}))).unwrap_err().contains("type string"));
    assert!(check_arguments(&schema, &args(json!({"a": "x", "b": "yes"}))).unwrap_err().contains("boolean"));
    assert!(check_arguments(&schema, &args(json!({"a": "x", "extra": [1]}))).is_ok(), "unknown keys are tolerated");
}

#[test]
fn urls_and_words() {
    assert_eq!(
        parse_gitlab_url("https://gitlab.example.com/g/sub/p/-/merge_requests/12?tab=diffs"),
        Some(GitlabUrl { project: "g/sub/p".into(), kind: "merge_requests".into(), rest: vec!["12".into()] })
    );
    assert_eq!(parse_gitlab_url("https://gitlab.example.com/g/p").unwrap().kind, "");
    assert_eq!(parse_gitlab_url("https://gitlab.example.com/"), None);
    assert_eq!(split_words(r#"a "b c" 'd e' f\ g"#).unwrap(), vec!["a", "b c", "d e", "f g"]);
    assert_eq!(split_words("").unwrap(), Vec::<String>::new());
    assert_eq!(suggested_patterns("npm run test -- --watch"), vec!["npm run test -- *", "npm run *"]);
    assert_eq!(suggested_patterns("ls"), Vec::<String>::new());
    assert_eq!(catalogue().len(), builtins().count());
    assert!(catalogue().iter().all(|t| t["type"] == "function" && t["function"]["parameters"]["type"] == "object"));
}
