//! GitLab searches, the generic REST/GraphQL readers, the documentation search, and the GitLab write tools (merge requests, issues, comments), which need approval unless the session pre-approved them.

use serde_json::{Map, Value, json};

use super::args::{Args, encode, id_from, opt_bool, opt_string, project, query, string, strings, url_arg};
use super::gitlab::get;
use super::{Builtin, Invocation, Privilege, object_schema};
use crate::features::agent::client::ClientAction;

fn send(method: &str, path: String, body: Value) -> Invocation {
    Invocation::Client(ClientAction::Http { method: method.into(), path, body: Some(body.to_string()) })
}

fn search_schema(with_ref: bool) -> Value {
    let mut fields = vec![
        ("id", "string", "the project or group id (or full path) to search in", true),
        ("search", "string", "the words to look for", true),
        ("search_type", "string", "`projects` (default) or `groups`", false),
        ("state", "string", "`opened` or `closed`", false),
    ];
    if with_ref {
        fields.truncate(2);
        fields.push(("ref", "string", "branch or tag to search (default: the default branch)", false));
    }
    object_schema(&fields)
}

fn search(args: &Args, scope: &str) -> Result<Invocation, String> {
    let kind = match opt_string(args, "search_type").as_deref() {
        None | Some("projects") => "projects",
        Some("groups") => "groups",
        Some(other) => return Err(format!("`search_type` is `{other}`; use `projects` or `groups`")),
    };
    let q = query(&[
        ("scope", Some(scope.into())),
        ("search", Some(string(args, "search")?)),
        ("state", opt_string(args, "state")),
        ("ref", opt_string(args, "ref")),
    ]);
    Ok(get(format!("/api/v4/{kind}/{}/search{q}", encode(&string(args, "id")?))))
}

/// True when a GraphQL document contains an operation other than a query.
fn is_mutation(document: &str) -> bool {
    let code: String = document.lines().map(|l| l.split('#').next().unwrap_or_default()).collect::<Vec<_>>().join(" ");
    code.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == "mutation" || w == "subscription")
}

pub static TOOLS: &[Builtin] = &[
    Builtin {
        name: "gitlab_issue_search",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Search the issues of a project or group by words in their title or description.",
        schema: |_| search_schema(false),
        plan: |a, _| search(a, "issues"),
        caption: |a| format!("Search issues for {}", opt_string(a, "search").unwrap_or_default()),
    },
    Builtin {
        name: "gitlab_merge_request_search",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Search the merge requests of a project or group by words in their title or description.",
        schema: |_| search_schema(false),
        plan: |a, _| search(a, "merge_requests"),
        caption: |a| format!("Search merge requests for {}", opt_string(a, "search").unwrap_or_default()),
    },
    Builtin {
        name: "gitlab_blob_search",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Search the code of a project's repository on GitLab for words.",
        schema: |_| search_schema(true),
        plan: |a, _| search(a, "blobs"),
        caption: |a| format!("Search code for {}", opt_string(a, "search").unwrap_or_default()),
    },
    Builtin {
        name: "gitlab_api_get",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Read anything else from GitLab's REST API with a GET request. `endpoint` starts with /api/v4/.",
        schema: |_| {
            object_schema(&[
                ("endpoint", "string", "the REST path, e.g. /api/v4/projects/12/releases", true),
                ("params", "object", "query parameters", false),
            ])
        },
        plan: |a, _| {
            let endpoint = string(a, "endpoint")?;
            if !endpoint.starts_with("/api/v4/") || endpoint.contains("..") {
                return Err("`endpoint` must be a GitLab REST path starting with /api/v4/".into());
            }
            let params: Vec<(String, Option<String>)> = a
                .get("params")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (encode(k), Some(v.as_str().map_or_else(|| v.to_string(), str::to_string))))
                        .collect()
                })
                .unwrap_or_default();
            let pairs: Vec<(&str, Option<String>)> = params.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let q = query(&pairs);
            let joiner = if endpoint.contains('?') && !q.is_empty() { "&" } else { "" };
            let q = if joiner.is_empty() { q } else { q.replacen('?', "&", 1) };
            Ok(get(format!("{endpoint}{q}")))
        },
        caption: |a| format!("GET {}", opt_string(a, "endpoint").unwrap_or_default()),
    },
    Builtin {
        name: "gitlab_graphql",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Run a read-only GraphQL query against GitLab's API (no mutations).",
        schema: |_| {
            object_schema(&[
                ("query", "string", "the GraphQL query document", true),
                ("variables", "object", "the query's variables", false),
            ])
        },
        plan: |a, _| {
            let document = string(a, "query")?;
            if is_mutation(&document) {
                return Err("only queries are allowed; this document contains a mutation or subscription".into());
            }
            let variables = a.get("variables").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
            Ok(send("POST", "/api/graphql".into(), json!({"query": document, "variables": variables})))
        },
        caption: |_| "Query GitLab (GraphQL)".into(),
    },
    Builtin {
        name: "gitlab_documentation_search",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Search GitLab's product documentation (how to use and administer GitLab). \
                      Cite the pages you used as sources.",
        schema: |_| object_schema(&[("search", "string", "what to look up, in a few words", true)]),
        plan: |a, _| Ok(Invocation::Docs { query: string(a, "search")? }),
        caption: |a| format!("Search documentation for {}", opt_string(a, "search").unwrap_or_default()),
    },
    Builtin {
        name: "create_issue",
        privilege: Privilege::ReadWriteGitlab,
        description: "Create an issue in a project.",
        schema: |_| {
            object_schema(&[
                ("project_id", "string", "the project (default: this session's project)", false),
                ("title", "string", "the issue's title", true),
                ("description", "string", "the issue's description (Markdown)", false),
                ("labels", "string", "comma-separated label names", false),
            ])
        },
        plan: |a, c| {
            let project = project(a, None, c.project_id.as_deref())?;
            let mut body = Map::new();
            body.insert("title".into(), json!(string(a, "title")?));
            if let Some(d) = opt_string(a, "description") {
                body.insert("description".into(), json!(d));
            }
            if let Some(l) = labels(a) {
                body.insert("labels".into(), json!(l));
            }
            Ok(send("POST", format!("/api/v4/projects/{project}/issues"), Value::Object(body)))
        },
        caption: |a| format!("Create issue {}", opt_string(a, "title").unwrap_or_default()),
    },
    Builtin {
        name: "create_issue_note",
        privilege: Privilege::ReadWriteGitlab,
        description: "Add a comment to an issue.",
        schema: |_| {
            object_schema(&[
                ("url", "string", "the issue's web URL; instead of the ids", false),
                ("project_id", "string", "the project (default: this session's project)", false),
                ("issue_iid", "integer", "the issue's number", false),
                ("body", "string", "the comment (Markdown)", true),
            ])
        },
        plan: |a, c| {
            let url = url_arg(a)?;
            let project = project(a, url.as_ref(), c.project_id.as_deref())?;
            let iid = id_from(url.as_ref(), &["issues", "work_items"], a, "issue_iid")?;
            let body = json!({"body": string(a, "body")?});
            Ok(send("POST", format!("/api/v4/projects/{project}/issues/{}/notes", encode(&iid)), body))
        },
        caption: |_| "Comment on issue".into(),
    },
    Builtin {
        name: "create_merge_request",
        privilege: Privilege::ReadWriteGitlab,
        description: "Open a merge request from one branch into another.",
        schema: |_| {
            object_schema(&[
                ("project_id", "string", "the project (default: this session's project)", false),
                ("source_branch", "string", "the branch with the changes", true),
                ("target_branch", "string", "the branch to merge into", true),
                ("title", "string", "the merge request's title", true),
                ("description", "string", "its description (Markdown)", false),
                ("remove_source_branch", "boolean", "delete the source branch when merged", false),
                ("squash", "boolean", "squash the commits when merged", false),
            ])
        },
        plan: |a, c| {
            let project = project(a, None, c.project_id.as_deref())?;
            let mut body = Map::new();
            for key in ["source_branch", "target_branch", "title"] {
                body.insert(key.into(), json!(string(a, key)?));
            }
            if let Some(d) = opt_string(a, "description") {
                body.insert("description".into(), json!(d));
            }
            for key in ["remove_source_branch", "squash"] {
                if let Some(b) = opt_bool(a, key) {
                    body.insert(key.into(), json!(b));
                }
            }
            Ok(send("POST", format!("/api/v4/projects/{project}/merge_requests"), Value::Object(body)))
        },
        caption: |a| format!("Create merge request {}", opt_string(a, "title").unwrap_or_default()),
    },
    Builtin {
        name: "update_merge_request",
        privilege: Privilege::ReadWriteGitlab,
        description: "Change a merge request's title, description, target branch, labels or state (`close`, `reopen`).",
        schema: |_| {
            object_schema(&[
                ("url", "string", "the merge request's web URL; instead of the ids", false),
                ("project_id", "string", "the project (default: this session's project)", false),
                ("merge_request_iid", "integer", "the merge request's number", false),
                ("title", "string", "new title", false),
                ("description", "string", "new description", false),
                ("target_branch", "string", "new target branch", false),
                ("labels", "string", "comma-separated labels (replaces the current ones)", false),
                ("state_event", "string", "`close` or `reopen`", false),
            ])
        },
        plan: |a, c| {
            let url = url_arg(a)?;
            let project = project(a, url.as_ref(), c.project_id.as_deref())?;
            let iid = id_from(url.as_ref(), &["merge_requests"], a, "merge_request_iid")?;
            let mut body = Map::new();
            for key in ["title", "description", "target_branch", "state_event"] {
                if let Some(v) = opt_string(a, key) {
                    body.insert(key.into(), json!(v));
                }
            }
            if let Some(l) = labels(a) {
                body.insert("labels".into(), json!(l));
            }
            if body.is_empty() {
                return Err(
                    "nothing to change: give at least one of title, description, target_branch, labels, state_event"
                        .into(),
                );
            }
            Ok(send("PUT", format!("/api/v4/projects/{project}/merge_requests/{}", encode(&iid)), Value::Object(body)))
        },
        caption: |_| "Update merge request".into(),
    },
    Builtin {
        name: "create_merge_request_note",
        privilege: Privilege::ReadWriteGitlab,
        description: "Add a comment to a merge request.",
        schema: |_| {
            object_schema(&[
                ("url", "string", "the merge request's web URL; instead of the ids", false),
                ("project_id", "string", "the project (default: this session's project)", false),
                ("merge_request_iid", "integer", "the merge request's number", false),
                ("body", "string", "the comment (Markdown)", true),
                ("internal", "boolean", "visible to project members only", false),
            ])
        },
        plan: |a, c| {
            let url = url_arg(a)?;
            let project = project(a, url.as_ref(), c.project_id.as_deref())?;
            let iid = id_from(url.as_ref(), &["merge_requests"], a, "merge_request_iid")?;
            let mut body = json!({"body": string(a, "body")?});
            if let Some(internal) = opt_bool(a, "internal") {
                body["internal"] = json!(internal);
            }
            Ok(send("POST", format!("/api/v4/projects/{project}/merge_requests/{}/notes", encode(&iid)), body))
        },
        caption: |_| "Comment on merge request".into(),
    },
];

/// Labels as one comma-separated string, or a list (joined with commas).
fn labels(args: &Args) -> Option<String> {
    let list = strings(args, "labels");
    (!list.is_empty()).then(|| list.join(","))
}

#[cfg(test)]
mod tests {
    use super::is_mutation;

    #[test]
    fn mutations_are_refused() {
        assert!(is_mutation("mutation { createIssue(input: {}) { errors } }"));
        assert!(is_mutation("  # a comment\nmutation X { a }"));
        assert!(!is_mutation("query { currentUser { username } }"));
        assert!(!is_mutation("{ project(fullPath: \"a/b\") { name } } # mutation in a comment"));
    }
}
