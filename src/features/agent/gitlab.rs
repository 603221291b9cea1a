//! The GitLab side of a session, as requests the client runs: the workflow query (its shape chosen by the GitLab version, since GraphQL refuses unknown fields), status events, checkpoints; and what their answers mean.

use serde_json::{Value, json};

use super::client::ClientAction;
use super::tools::Privilege;
use super::ui::StatusEvent;

/// A GitLab version from `x-gitlab-version` (`18.9.1-ee`): major, minor, patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GitlabVersion(pub u32, pub u32, pub u32);

impl GitlabVersion {
    pub fn parse(text: &str) -> Option<GitlabVersion> {
        let core = text.trim().trim_start_matches('v').split(['-', '+', ' ']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next().unwrap_or(Ok(0)).ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(GitlabVersion(major, minor, patch))
    }
}

/// Which fields the workflow query may select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryShape {
    /// 18.3+: namespace, context exclusions, archived/stalled.
    pub namespace: bool,
    /// 18.8+: `latestCheckpoint` (before: `firstCheckpoint`).
    pub latest_checkpoint: bool,
    /// 19.0+: `latestCheckpoint.compressedCheckpoint` instead of `checkpoint`.
    pub compressed: bool,
}

impl QueryShape {
    /// The shape for a GitLab version; an unknown version gets the oldest (every 18.x knows it).
    pub fn for_version(version: Option<GitlabVersion>) -> QueryShape {
        let v = version.unwrap_or(GitlabVersion(18, 2, 0));
        QueryShape {
            namespace: v >= GitlabVersion(18, 3, 0),
            latest_checkpoint: v >= GitlabVersion(18, 8, 0),
            compressed: v >= GitlabVersion(19, 0, 0),
        }
    }

    /// The query text.
    pub fn query(self) -> String {
        let mut project = String::from(
            "id name description httpUrlToRepo webUrl languages { name share } statisticsDetailsPaths { repository }",
        );
        let mut workflow = String::from(
            "statusName projectId agentPrivilegesNames preApprovedAgentPrivilegesNames mcpEnabled allowAgentToRequestUser",
        );
        if self.namespace {
            project.push_str(" duoContextExclusionSettings { exclusionRules }");
            workflow.push_str(" namespaceId namespace { id name description webUrl } archived stalled");
        }
        if self.latest_checkpoint {
            let body = if self.compressed { "compressedCheckpoint" } else { "checkpoint" };
            workflow.push_str(&format!(" latestCheckpoint {{ threadTs parentTs metadata {body} }}"));
        } else {
            workflow.push_str(" firstCheckpoint { checkpoint }");
        }
        format!(
            "query($workflowId: AiDuoWorkflowsWorkflowID!) {{ duoWorkflowWorkflows(workflowId: $workflowId) \
             {{ nodes {{ {workflow} project {{ {project} }} }} }} }}"
        )
    }
}

/// The GraphQL request for workflow `id`.
pub fn workflow_query(id: &str, shape: QueryShape) -> ClientAction {
    let body = json!({
        "query": shape.query(),
        "variables": { "workflowId": format!("gid://gitlab/Ai::DuoWorkflows::Workflow/{id}") },
    });
    ClientAction::Http { method: "POST".into(), path: "/api/graphql".into(), body: Some(body.to_string()) }
}

/// What the workflow query tells about the session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workflow {
    pub status: String,
    /// The project's numeric id, if the session has a project.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_description: Option<String>,
    pub web_url: Option<String>,
    pub default_branch: Option<String>,
    pub languages: Vec<String>,
    pub namespace_id: Option<String>,
    pub namespace_name: Option<String>,
    pub privileges: Vec<Privilege>,
    pub preapproved: Vec<Privilege>,
    pub mcp_enabled: bool,
    pub archived: bool,
    pub stalled: bool,
    pub exclusions: Vec<String>,
    /// `latestCheckpoint` (18.8+) or `firstCheckpoint` (older): JSON null when there is none.
    pub checkpoint: Value,
    /// True when the query shape had a latest checkpoint (older ones need the REST list).
    pub has_latest: bool,
}

/// Why the workflow query's answer cannot start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowError {
    /// No such workflow (or not this user's): GitLab answered errors or no nodes.
    NotFound(String),
    /// The answer could not be read (transport error, non-JSON, HTTP error).
    Failed(String),
}

/// Reads the workflow query's answer.
pub fn parse_workflow(status: i32, body: &str, shape: QueryShape) -> Result<Workflow, WorkflowError> {
    if !(200..300).contains(&status) {
        return Err(WorkflowError::Failed(format!("GitLab answered the workflow query with HTTP {status}")));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| WorkflowError::Failed(format!("the workflow query's answer is not JSON: {e}")))?;
    if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
        let text: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
        return Err(WorkflowError::NotFound(text.join("; ")));
    }
    let node = &v["data"]["duoWorkflowWorkflows"]["nodes"][0];
    if !node.is_object() {
        return Err(WorkflowError::NotFound("Workflow not found".into()));
    }
    let s = |v: &Value| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string()));
    let gid = |v: &Value| s(v).map(|id| id.rsplit('/').next().unwrap_or_default().to_string());
    let privileges = |v: &Value| -> Vec<Privilege> {
        v.as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str().and_then(Privilege::parse)).collect())
            .unwrap_or_default()
    };
    let project = &node["project"];
    let default_branch = project["statisticsDetailsPaths"]["repository"]
        .as_str()
        .and_then(|p| p.split_once("/-/tree/").map(|(_, b)| b.to_string()));
    let languages = project["languages"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let exclusions = project["duoContextExclusionSettings"]["exclusionRules"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let checkpoint =
        if shape.latest_checkpoint { node["latestCheckpoint"].clone() } else { node["firstCheckpoint"].clone() };
    Ok(Workflow {
        status: node["statusName"].as_str().unwrap_or("created").to_string(),
        project_id: gid(&node["projectId"]).or_else(|| gid(&project["id"])).filter(|p| !p.is_empty()),
        project_name: s(&project["name"]),
        project_description: s(&project["description"]),
        web_url: s(&project["webUrl"]).or_else(|| s(&node["namespace"]["webUrl"])),
        default_branch,
        languages,
        namespace_id: gid(&node["namespaceId"]).or_else(|| gid(&node["namespace"]["id"])).filter(|p| !p.is_empty()),
        namespace_name: s(&node["namespace"]["name"]),
        privileges: privileges(&node["agentPrivilegesNames"]),
        preapproved: privileges(&node["preApprovedAgentPrivilegesNames"]),
        mcp_enabled: node["mcpEnabled"].as_bool().unwrap_or(false),
        archived: node["archived"].as_bool().unwrap_or(false),
        stalled: node["stalled"].as_bool().unwrap_or(false),
        exclusions,
        checkpoint,
        has_latest: shape.latest_checkpoint,
    })
}

/// The event that starts a run from the workflow's GitLab status.
pub fn start_event(status: &str) -> StatusEvent {
    match status {
        "created" => StatusEvent::Start,
        "input_required" | "plan_approval_required" | "tool_call_approval_required" => StatusEvent::Resume,
        _ => StatusEvent::Retry,
    }
}

fn workflow_path(id: &str) -> String {
    format!("/api/v4/ai/duo_workflows/workflows/{id}")
}

/// `PATCH …/workflows/<id>` with a status event.
pub fn status_request(id: &str, event: StatusEvent) -> ClientAction {
    ClientAction::Http {
        method: "PATCH".into(),
        path: workflow_path(id),
        body: Some(json!({ "status_event": event.as_str() }).to_string()),
    }
}

/// `POST …/workflows/<id>/checkpoints`.
pub fn checkpoint_request(id: &str, body: String) -> ClientAction {
    ClientAction::Http { method: "POST".into(), path: format!("{}/checkpoints", workflow_path(id)), body: Some(body) }
}

/// `GET …/workflows/<id>/checkpoints?per_page=1`: the newest checkpoint (GitLab before 18.8).
pub fn latest_checkpoint_request(id: &str) -> ClientAction {
    ClientAction::Http {
        method: "GET".into(),
        path: format!("{}/checkpoints?per_page=1&accept_compressed=true", workflow_path(id)),
        body: None,
    }
}

/// The newest checkpoint record of the REST list's answer.
pub fn parse_checkpoint_list(status: i32, body: &str) -> Result<Value, String> {
    if !(200..300).contains(&status) {
        return Err(format!("GitLab answered the checkpoint list with HTTP {status}"));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| format!("the checkpoint list is not JSON: {e}"))?;
    Ok(v.as_array().and_then(|a| a.first().cloned()).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(GitlabVersion::parse("18.9.1-ee"), Some(GitlabVersion(18, 9, 1)));
        assert_eq!(GitlabVersion::parse("18.10"), Some(GitlabVersion(18, 10, 0)));
        assert_eq!(GitlabVersion::parse("v19.0.0-pre"), Some(GitlabVersion(19, 0, 0)));
        assert_eq!(GitlabVersion::parse("main"), None);
        assert!(GitlabVersion(18, 10, 0) > GitlabVersion(18, 9, 5));
    }

    #[test]
    fn query_shape_follows_the_version() {
        let at = |v: &str| QueryShape::for_version(GitlabVersion::parse(v)).query();
        let old = at("18.2.0");
        assert!(old.contains("firstCheckpoint") && !old.contains("namespace {") && !old.contains("archived"));
        let mid = at("18.5.3");
        assert!(mid.contains("namespace {") && mid.contains("archived") && mid.contains("firstCheckpoint"));
        assert!(mid.contains("duoContextExclusionSettings"));
        let new = at("18.9.1-ee");
        assert!(new.contains("latestCheckpoint { threadTs parentTs metadata checkpoint }"));
        assert!(at("19.1.0").contains("compressedCheckpoint"));
        // No version: the oldest shape, which every 18.x instance accepts.
        assert_eq!(QueryShape::for_version(None).query(), old);
        // Balanced braces.
        for q in [old, mid, new] {
            assert_eq!(q.matches('{').count(), q.matches('}').count());
        }
    }

    #[test]
    fn reads_the_workflow() {
        let body = json!({"data": {"duoWorkflowWorkflows": {"nodes": [{
            "statusName": "input_required",
            "projectId": "gid://gitlab/Project/12",
            "project": {"id": "gid://gitlab/Project/12", "name": "shop", "webUrl": "https://gitlab.example.com/acme/shop",
                "statisticsDetailsPaths": {"repository": "/acme/shop/-/tree/main"},
                "languages": [{"name": "Python", "share": 90.0}],
                "duoContextExclusionSettings": {"exclusionRules": ["secrets/**"]}},
            "agentPrivilegesNames": ["read_write_files", "read_only_gitlab", "bogus"],
            "preApprovedAgentPrivilegesNames": ["read_only_gitlab"],
            "mcpEnabled": true,
            "latestCheckpoint": {"threadTs": "t1", "checkpoint": {"channel_values": {}}},
            "archived": false, "stalled": false
        }]}}});
        let shape = QueryShape::for_version(Some(GitlabVersion(18, 9, 0)));
        let w = parse_workflow(200, &body.to_string(), shape).unwrap();
        assert_eq!(w.status, "input_required");
        assert_eq!(w.project_id.as_deref(), Some("12"));
        assert_eq!(w.default_branch.as_deref(), Some("main"));
        assert_eq!(w.privileges, vec![Privilege::ReadWriteFiles, Privilege::ReadOnlyGitlab]);
        assert_eq!(w.preapproved, vec![Privilege::ReadOnlyGitlab]);
        assert_eq!(w.languages, vec!["Python".to_string()]);
        assert_eq!(w.exclusions, vec!["secrets/**".to_string()]);
        assert!(w.mcp_enabled && w.has_latest);
        assert_eq!(w.checkpoint["threadTs"], "t1");
        assert_eq!(start_event(&w.status), StatusEvent::Resume);
    }

    #[test]
    fn workflow_errors() {
        let shape = QueryShape::for_version(None);
        let not_found = json!({"errors": [{"message": "Workflow not found"}]}).to_string();
        assert_eq!(parse_workflow(200, &not_found, shape), Err(WorkflowError::NotFound("Workflow not found".into())));
        let empty = json!({"data": {"duoWorkflowWorkflows": {"nodes": []}}}).to_string();
        assert!(matches!(parse_workflow(200, &empty, shape), Err(WorkflowError::NotFound(_))));
        assert!(matches!(parse_workflow(500, "", shape), Err(WorkflowError::Failed(_))));
        assert!(matches!(parse_workflow(200, "<html>", shape), Err(WorkflowError::Failed(_))));
    }

    #[test]
    fn start_events() {
        assert_eq!(start_event("created"), StatusEvent::Start);
        assert_eq!(start_event("tool_call_approval_required"), StatusEvent::Resume);
        assert_eq!(start_event("failed"), StatusEvent::Retry);
        assert_eq!(start_event("stopped"), StatusEvent::Retry);
        assert_eq!(start_event("running"), StatusEvent::Retry);
    }
}
