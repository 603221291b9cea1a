//! The agent's tool catalogue as pure descriptions: name, JSON Schema, the privilege that grants it, and how a call becomes a client action, a GitLab request or a docs search. Nothing here runs a tool.
//!
//! Submodules: `local` (files and commands, run by the IDE or CLI), `gitlab` (GitLab read tools),
//! `gitlab_write` (GitLab write tools and searches), `args` (argument checks against the schema,
//! GitLab URL parsing), `policy` (paths a file tool may touch).

mod args;
mod gitlab;
mod gitlab_write;
mod local;
mod policy;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

pub use args::{Args, check_arguments};
pub use local::{split_words, suggested_patterns};
pub use policy::path_allowed;

use super::client::ClientAction;
use super::model::ToolDef;

/// The workflow privileges GitLab grants a session (`agentPrivilegesNames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    ReadWriteFiles,
    /// Not one of Rails' privileges, but honoured: the read half of `read_write_files`.
    ReadOnlyFiles,
    ReadOnlyGitlab,
    ReadWriteGitlab,
    RunCommands,
    UseGit,
    RunMcpTools,
}

impl Privilege {
    pub fn parse(name: &str) -> Option<Privilege> {
        Some(match name {
            "read_write_files" => Privilege::ReadWriteFiles,
            "read_only_files" => Privilege::ReadOnlyFiles,
            "read_only_gitlab" => Privilege::ReadOnlyGitlab,
            "read_write_gitlab" => Privilege::ReadWriteGitlab,
            "run_commands" => Privilege::RunCommands,
            "use_git" => Privilege::UseGit,
            "run_mcp_tools" => Privilege::RunMcpTools,
            _ => return None,
        })
    }

    /// True when holding `self` grants tools registered under `needed`.
    pub fn grants(self, needed: Privilege) -> bool {
        self == needed
            || matches!((self, needed), (Privilege::ReadWriteFiles, Privilege::ReadOnlyFiles))
            || matches!((self, needed), (Privilege::ReadWriteGitlab, Privilege::ReadOnlyGitlab))
    }
}

/// What a tool call turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// An action the client runs (files, commands, MCP tools, GitLab requests).
    Client(ClientAction),
    /// A search of airgate's own documentation index.
    Docs { query: String },
}

/// What a tool plan may know about the session.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The workflow's project (numeric id), if it has one.
    pub project_id: Option<String>,
    /// The project's default branch.
    pub default_branch: Option<String>,
    /// The client runs shell command lines (`shell_command`).
    pub shell: bool,
    /// `read_file` takes `offset`/`limit` (`read_file_chunked`).
    pub chunked_reads: bool,
    /// Command tools take a `timeout` (`command_timeout`).
    pub command_timeout: bool,
    /// The project's Duo context exclusion rules (gitignore-like patterns).
    pub exclusions: Vec<String>,
}

/// A tool airgate knows.
pub struct Builtin {
    pub name: &'static str,
    pub privilege: Privilege,
    pub description: &'static str,
    /// JSON Schema of the arguments object.
    pub schema: fn(&Context) -> Value,
    pub plan: fn(&Args, &Context) -> Result<Invocation, String>,
    /// The tool card's caption in the chat ("Read file app/main.py").
    pub caption: fn(&Args) -> String,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin").field("name", &self.name).finish()
    }
}

/// Every built-in tool, grouped by privilege.
pub fn builtins() -> impl Iterator<Item = &'static Builtin> {
    local::TOOLS.iter().chain(gitlab::TOOLS).chain(gitlab_write::TOOLS)
}

pub fn builtin(name: &str) -> Option<&'static Builtin> {
    builtins().find(|b| b.name == name)
}

/// Tools that only read airgate's own data: never need approval.
const INTERNAL: &[&str] = &["gitlab_documentation_search"];

/// Search tools dropped when GitLab's own MCP server offers `search`.
const SEARCH_TOOLS: &[&str] = &["gitlab_issue_search", "gitlab_merge_request_search", "gitlab_blob_search"];

/// An MCP tool the client offered.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    pub name: String,
    pub description: String,
    /// JSON Schema text as the client sent it.
    pub input_schema: String,
}

/// One tool of a session's toolset.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub parameters: Value,
    pub kind: ToolKind,
}

#[derive(Debug, Clone)]
pub enum ToolKind {
    Builtin(&'static Builtin),
    /// Called on the client by its original name.
    Mcp {
        original: String,
    },
}

impl Tool {
    pub fn def(&self) -> ToolDef {
        ToolDef { name: self.name.clone(), description: self.description.clone(), parameters: self.parameters.clone() }
    }

    pub fn privilege(&self) -> Privilege {
        match &self.kind {
            ToolKind::Builtin(b) => b.privilege,
            ToolKind::Mcp { .. } => Privilege::RunMcpTools,
        }
    }

    pub fn is_internal(&self) -> bool {
        INTERNAL.contains(&self.name.as_str())
    }

    /// Turns a call's arguments into what runs it.
    pub fn plan(&self, args: &Args, ctx: &Context) -> Result<Invocation, String> {
        match &self.kind {
            ToolKind::Builtin(b) => (b.plan)(args, ctx),
            ToolKind::Mcp { original } => Ok(Invocation::Client(ClientAction::Mcp {
                name: original.clone(),
                arguments: Value::Object(args.clone()).to_string(),
            })),
        }
    }

    pub fn caption(&self, args: &Args) -> String {
        match &self.kind {
            ToolKind::Builtin(b) => (b.caption)(args),
            ToolKind::Mcp { original } => format!("Run MCP tool {original}"),
        }
    }
}

/// What decides a session's toolset.
#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    pub privileges: &'a [Privilege],
    /// Only these tools (a custom agent's toolset), when given.
    pub only: Option<&'a [String]>,
    /// Leave out the three search tools (GitLab's MCP server offers `search`).
    pub without_search: bool,
    /// MCP tools, offered when the workflow enables MCP.
    pub mcp: &'a [McpTool],
    pub mcp_enabled: bool,
    /// No tool runs on a language server older than 7.43.0 but airgate's own ones.
    pub client_too_old: bool,
}

/// The tools a session offers, in a stable order.
pub fn toolset(sel: &Selection<'_>, ctx: &Context) -> Vec<Tool> {
    let mut tools: Vec<Tool> = builtins()
        .filter(|b| sel.privileges.iter().any(|p| p.grants(b.privilege)))
        .filter(|b| !(sel.without_search && SEARCH_TOOLS.contains(&b.name)))
        .filter(|b| !sel.client_too_old || INTERNAL.contains(&b.name))
        .filter(|b| sel.only.is_none_or(|only| only.iter().any(|n| n == b.name)))
        .map(|b| Tool {
            name: b.name.into(),
            description: b.description.into(),
            parameters: (b.schema)(ctx),
            kind: ToolKind::Builtin(b),
        })
        .collect();
    if sel.mcp_enabled && !sel.client_too_old {
        for m in sel.mcp {
            let name = mcp_name(&m.name);
            if name.is_empty() || tools.iter().any(|t| t.name == name) {
                continue;
            }
            let parameters = serde_json::from_str::<Value>(&m.input_schema)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            tools.push(Tool {
                name,
                description: m.description.clone(),
                parameters,
                kind: ToolKind::Mcp { original: m.name.clone() },
            });
        }
    }
    tools
}

/// An MCP tool's name as the model sees it: `[A-Za-z0-9_-]`, at most 128 characters.
pub fn mcp_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).take(128).collect()
}

/// Every built-in tool in OpenAI function format (`ListTools`).
pub fn catalogue() -> Vec<Value> {
    let ctx = Context::default();
    builtins()
        .map(|b| {
            json!({
                "type": "function",
                "function": { "name": b.name, "description": b.description, "parameters": (b.schema)(&ctx) },
            })
        })
        .collect()
}

/// Builds a JSON Schema object from `(name, type, description, required)` rows.
pub(crate) fn object_schema(fields: &[(&str, &str, &str, bool)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, kind, description, needed) in fields {
        let prop = match *kind {
            "string[]" => json!({"type": "array", "items": {"type": "string"}, "description": description}),
            "integer[]" => json!({"type": "array", "items": {"type": "integer"}, "description": description}),
            kind => json!({"type": kind, "description": description}),
        };
        properties.insert((*name).to_string(), prop);
        if *needed {
            required.push(json!(name));
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
}
