//! GitLab read tools: projects, issues and work items, merge requests, pipelines and jobs, repository files and commits, the current user. Each becomes a REST `GET` the client runs with the user's own token.

use serde_json::Value;

use super::args::{Args, GitlabUrl, encode, id_from, opt_bool, opt_int, opt_string, project, query, string, url_arg};
use super::{Builtin, Context, Invocation, Privilege, object_schema};
use crate::features::agent::client::ClientAction;

/// A `GET` of a GitLab REST path.
pub(super) fn get(path: String) -> Invocation {
    Invocation::Client(ClientAction::Http { method: "GET".into(), path, body: None })
}

const URL: (&str, &str, &str, bool) = ("url", "string", "a GitLab web URL of the resource; instead of the ids", false);
const PROJECT: (&str, &str, &str, bool) =
    ("project_id", "string", "the project's numeric id or full path (default: this session's project)", false);

fn schema_with(extra: &[(&str, &str, &str, bool)]) -> Value {
    let mut fields = vec![URL, PROJECT];
    fields.extend_from_slice(extra);
    object_schema(&fields)
}

/// The project path segment and the parsed URL of a call.
fn target(args: &Args, ctx: &Context) -> Result<(String, Option<GitlabUrl>), String> {
    let url = url_arg(args)?;
    let project = project(args, url.as_ref(), ctx.project_id.as_deref())?;
    Ok((project, url))
}

fn page(args: &Args) -> Option<String> {
    opt_int(args, "page").map(|p| p.max(1).to_string())
}

pub static TOOLS: &[Builtin] = &[
    Builtin {
        name: "get_project",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get a GitLab project's details: name, description, default branch, URLs.",
        schema: |_| schema_with(&[]),
        plan: |a, c| Ok(get(format!("/api/v4/projects/{}", target(a, c)?.0))),
        caption: |_| "Get project".into(),
    },
    Builtin {
        name: "get_issue",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get one issue of a project: title, description, state, labels, assignees.",
        schema: |_| schema_with(&[("issue_iid", "integer", "the issue's number within the project", false)]),
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let iid = id_from(url.as_ref(), &["issues", "work_items"], a, "issue_iid")?;
            Ok(get(format!("/api/v4/projects/{project}/issues/{}", encode(&iid))))
        },
        caption: |a| {
            format!("Get issue {}", opt_string(a, "issue_iid").or_else(|| opt_string(a, "url")).unwrap_or_default())
        },
    },
    Builtin {
        name: "list_issue_notes",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List the comments of an issue, oldest first.",
        schema: |_| {
            schema_with(&[
                ("issue_iid", "integer", "the issue's number within the project", false),
                ("page", "integer", "page of 50 comments (default 1)", false),
            ])
        },
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let iid = id_from(url.as_ref(), &["issues", "work_items"], a, "issue_iid")?;
            let q = query(&[("sort", Some("asc".into())), ("per_page", Some("50".into())), ("page", page(a))]);
            Ok(get(format!("/api/v4/projects/{project}/issues/{}/notes{q}", encode(&iid))))
        },
        caption: |_| "Read issue comments".into(),
    },
    Builtin {
        name: "get_work_item",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get a work item (issue, task or epic) by URL, or by project or group id and number.",
        schema: |_| {
            schema_with(&[
                ("group_id", "string", "the group's id or full path, for group work items (epics)", false),
                ("work_item_iid", "integer", "the work item's number", false),
            ])
        },
        plan: |a, c| work_item(a, c, ""),
        caption: |_| "Get work item".into(),
    },
    Builtin {
        name: "get_work_item_notes",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List the comments of a work item (issue, task or epic), oldest first.",
        schema: |_| {
            schema_with(&[
                ("group_id", "string", "the group's id or full path, for group work items (epics)", false),
                ("work_item_iid", "integer", "the work item's number", false),
            ])
        },
        plan: |a, c| work_item(a, c, "/notes?sort=asc&per_page=50"),
        caption: |_| "Read work item comments".into(),
    },
    Builtin {
        name: "list_work_items",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List issues of a project or group, newest first; filter by state, search text, labels or assignee.",
        schema: |_| {
            schema_with(&[
                ("group_id", "string", "list a group's work items instead of a project's", false),
                ("state", "string", "`opened`, `closed` or `all` (default `opened`)", false),
                ("search", "string", "words in the title or description", false),
                ("labels", "string", "comma-separated label names", false),
                ("assignee_username", "string", "only those assigned to this user", false),
                ("page", "integer", "page of 20 (default 1)", false),
            ])
        },
        plan: |a, c| {
            let q = query(&[
                ("state", opt_string(a, "state").or(Some("opened".into()))),
                ("search", opt_string(a, "search")),
                ("labels", opt_string(a, "labels")),
                ("assignee_username", opt_string(a, "assignee_username")),
                ("per_page", Some("20".into())),
                ("page", page(a)),
            ]);
            match opt_string(a, "group_id") {
                Some(group) => Ok(get(format!("/api/v4/groups/{}/issues{q}", encode(&group)))),
                None => Ok(get(format!("/api/v4/projects/{}/issues{q}", target(a, c)?.0))),
            }
        },
        caption: |_| "List work items".into(),
    },
    Builtin {
        name: "get_merge_request",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get one merge request: title, description, branches, state, author, pipeline.",
        schema: |_| {
            schema_with(&[("merge_request_iid", "integer", "the merge request's number in the project", false)])
        },
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let iid = id_from(url.as_ref(), &["merge_requests"], a, "merge_request_iid")?;
            Ok(get(format!("/api/v4/projects/{project}/merge_requests/{}", encode(&iid))))
        },
        caption: |a| {
            format!(
                "Get merge request {}",
                opt_string(a, "merge_request_iid").or_else(|| opt_string(a, "url")).unwrap_or_default()
            )
        },
    },
    Builtin {
        name: "list_merge_request_diffs",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List the file changes (diffs) of a merge request.",
        schema: |_| {
            schema_with(&[
                ("merge_request_iid", "integer", "the merge request's number in the project", false),
                ("page", "integer", "page of 20 files (default 1)", false),
            ])
        },
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let iid = id_from(url.as_ref(), &["merge_requests"], a, "merge_request_iid")?;
            let q = query(&[("per_page", Some("20".into())), ("page", page(a))]);
            Ok(get(format!("/api/v4/projects/{project}/merge_requests/{}/diffs{q}", encode(&iid))))
        },
        caption: |_| "Read merge request changes".into(),
    },
    Builtin {
        name: "list_all_merge_request_notes",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List the comments of a merge request, oldest first.",
        schema: |_| {
            schema_with(&[("merge_request_iid", "integer", "the merge request's number in the project", false)])
        },
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let iid = id_from(url.as_ref(), &["merge_requests"], a, "merge_request_iid")?;
            Ok(get(format!("/api/v4/projects/{project}/merge_requests/{}/notes?sort=asc&per_page=100", encode(&iid))))
        },
        caption: |_| "Read merge request comments".into(),
    },
    Builtin {
        name: "get_pipeline_failing_jobs",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List the failed jobs of a CI pipeline.",
        schema: |_| schema_with(&[("pipeline_id", "integer", "the pipeline's id", false)]),
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let id = id_from(url.as_ref(), &["pipelines"], a, "pipeline_id")?;
            Ok(get(format!(
                "/api/v4/projects/{project}/pipelines/{}/jobs?scope%5B%5D=failed&per_page=100",
                encode(&id)
            )))
        },
        caption: |_| "Get failed pipeline jobs".into(),
    },
    Builtin {
        name: "get_job_logs",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get the log (trace) of a CI job, to find out why it failed.",
        schema: |_| schema_with(&[("job_id", "integer", "the job's id", false)]),
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let id = id_from(url.as_ref(), &["jobs"], a, "job_id")?;
            Ok(get(format!("/api/v4/projects/{project}/jobs/{}/trace", encode(&id))))
        },
        caption: |_| "Read job log".into(),
    },
    Builtin {
        name: "get_repository_file",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Read a file from the project's repository on GitLab (not the local working copy).",
        schema: |_| {
            schema_with(&[
                ("file_path", "string", "the file's path in the repository", false),
                ("ref", "string", "branch, tag or commit (default: the default branch)", false),
            ])
        },
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let (file, reference) = match &url {
                Some(u) if u.kind == "blob" && u.rest.len() > 1 => (u.rest[1..].join("/"), Some(u.rest[0].clone())),
                _ => (string(a, "file_path")?, opt_string(a, "ref")),
            };
            let reference = reference.or_else(|| c.default_branch.clone()).unwrap_or_else(|| "HEAD".into());
            let q = query(&[("ref", Some(reference))]);
            Ok(get(format!("/api/v4/projects/{project}/repository/files/{}/raw{q}", encode(&file))))
        },
        caption: |a| format!("Read repository file {}", opt_string(a, "file_path").unwrap_or_default()),
    },
    Builtin {
        name: "list_repository_tree",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List files and directories of the project's repository on GitLab.",
        schema: |_| {
            schema_with(&[
                ("path", "string", "directory inside the repository (default: the root)", false),
                ("ref", "string", "branch, tag or commit", false),
                ("recursive", "boolean", "include subdirectories (default false)", false),
                ("page", "integer", "page of 100 entries (default 1)", false),
            ])
        },
        plan: |a, c| {
            let (project, _) = target(a, c)?;
            let q = query(&[
                ("path", opt_string(a, "path")),
                ("ref", opt_string(a, "ref")),
                ("recursive", opt_bool(a, "recursive").map(|b| b.to_string())),
                ("per_page", Some("100".into())),
                ("page", page(a)),
            ]);
            Ok(get(format!("/api/v4/projects/{project}/repository/tree{q}")))
        },
        caption: |_| "List repository files".into(),
    },
    Builtin {
        name: "get_commit",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get one commit: message, author, dates, parent commits.",
        schema: |_| schema_with(&[("commit_sha", "string", "the commit's SHA (or a branch or tag)", false)]),
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let sha = id_from(url.as_ref(), &["commit", "commits"], a, "commit_sha")?;
            Ok(get(format!("/api/v4/projects/{project}/repository/commits/{}", encode(&sha))))
        },
        caption: |_| "Get commit".into(),
    },
    Builtin {
        name: "get_commit_diff",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get the changes (diff) a commit made.",
        schema: |_| schema_with(&[("commit_sha", "string", "the commit's SHA", false)]),
        plan: |a, c| {
            let (project, url) = target(a, c)?;
            let sha = id_from(url.as_ref(), &["commit", "commits"], a, "commit_sha")?;
            Ok(get(format!("/api/v4/projects/{project}/repository/commits/{}/diff", encode(&sha))))
        },
        caption: |_| "Read commit changes".into(),
    },
    Builtin {
        name: "list_commits",
        privilege: Privilege::ReadOnlyGitlab,
        description: "List commits of the repository, newest first; filter by branch, path, author or dates (ISO 8601).",
        schema: |_| {
            schema_with(&[
                ("ref_name", "string", "branch or tag (default: the default branch)", false),
                ("path", "string", "only commits touching this file or directory", false),
                ("author", "string", "only commits by this author", false),
                ("since", "string", "only commits after this date", false),
                ("until", "string", "only commits before this date", false),
                ("page", "integer", "page of 20 (default 1)", false),
            ])
        },
        plan: |a, c| {
            let (project, _) = target(a, c)?;
            let q = query(&[
                ("ref_name", opt_string(a, "ref_name")),
                ("path", opt_string(a, "path")),
                ("author", opt_string(a, "author")),
                ("since", opt_string(a, "since")),
                ("until", opt_string(a, "until")),
                ("per_page", Some("20".into())),
                ("page", page(a)),
            ]);
            Ok(get(format!("/api/v4/projects/{project}/repository/commits{q}")))
        },
        caption: |_| "List commits".into(),
    },
    Builtin {
        name: "get_current_user",
        privilege: Privilege::ReadOnlyGitlab,
        description: "Get the GitLab user you are working for: username, name, and profile.",
        schema: |_| object_schema(&[]),
        plan: |_, _| Ok(get("/api/v4/user".into())),
        caption: |_| "Get current user".into(),
    },
];

/// A work item by URL (`/-/issues/N`, `/-/work_items/N`, `/-/epics/N` of a group), project issue or group epic.
fn work_item(args: &Args, ctx: &Context, suffix: &str) -> Result<Invocation, String> {
    let url = url_arg(args)?;
    if let Some(u) = &url
        && u.kind == "epics"
    {
        let iid = u.rest.first().ok_or("the URL names no epic number")?;
        let group = u.project.trim_start_matches("groups/");
        return Ok(get(format!("/api/v4/groups/{}/epics/{}{suffix}", encode(group), encode(iid))));
    }
    if url.is_none()
        && let Some(group) = opt_string(args, "group_id")
    {
        let iid = string(args, "work_item_iid")?;
        return Ok(get(format!("/api/v4/groups/{}/epics/{}{suffix}", encode(&group), encode(&iid))));
    }
    let project = project(args, url.as_ref(), ctx.project_id.as_deref())?;
    let iid = id_from(url.as_ref(), &["work_items", "issues"], args, "work_item_iid")?;
    Ok(get(format!("/api/v4/projects/{project}/issues/{}{suffix}", encode(&iid))))
}
