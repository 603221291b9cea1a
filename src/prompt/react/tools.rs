//! The Duo Chat tool catalogue and the filter that decides which tools a request may use.

/// One tool the model may call; Rails runs it and posts the observation back.
#[derive(Debug, PartialEq, Eq)]
pub struct Tool {
    /// The name the model writes after `Action:` and Rails dispatches on.
    pub name: &'static str,
    /// The unit primitive (JWT scope) the caller needs for this tool.
    pub unit_primitive: &'static str,
    /// What the tool can read, as listed to the model ("issues", "CI jobs").
    pub resource: &'static str,
    /// Oldest GitLab (X-Gitlab-Version) whose Rails knows this tool.
    pub min_gitlab_version: Option<&'static str>,
    /// One line for the system prompt.
    pub description: &'static str,
    /// One example `Action Input:` for the system prompt.
    pub example: &'static str,
}

/// Every tool, in the order the system prompt lists them.
pub static TOOLS: &[Tool] = &[
    Tool {
        name: "issue_reader",
        unit_primitive: "ask_issue",
        resource: "issues",
        min_gitlab_version: None,
        description: "Reads one GitLab issue (title, description, comments) by number, URL or \"this issue\".",
        example: "Summarize issue #42",
    },
    Tool {
        name: "epic_reader",
        unit_primitive: "ask_epic",
        resource: "epics",
        min_gitlab_version: None,
        description: "Reads one GitLab epic by reference, URL or \"this epic\".",
        example: "What is the goal of epic &7?",
    },
    Tool {
        name: "merge_request_reader",
        unit_primitive: "ask_merge_request",
        resource: "merge requests",
        min_gitlab_version: Some("17.5.0-pre"),
        description: "Reads one merge request with its description and changes.",
        example: "What does merge request !15 change?",
    },
    Tool {
        name: "commit_reader",
        unit_primitive: "ask_commit",
        resource: "commits",
        min_gitlab_version: Some("17.5.0-pre"),
        description: "Reads one commit: message, author and diff.",
        example: "Explain commit 3f2a9c1",
    },
    Tool {
        name: "build_reader",
        unit_primitive: "ask_build",
        resource: "CI jobs",
        min_gitlab_version: Some("17.5.0-pre"),
        description: "Reads one CI job and its log.",
        example: "Why did job 1234 fail?",
    },
    Tool {
        name: "work_item_reader",
        unit_primitive: "ask_work_item",
        resource: "work items",
        min_gitlab_version: None,
        description: "Reads one work item (task, objective, key result…) by reference or URL.",
        example: "Summarize work item #88",
    },
    Tool {
        name: "gitlab_documentation",
        unit_primitive: "documentation_search",
        resource: "GitLab documentation",
        min_gitlab_version: None,
        description: "Searches the GitLab documentation; use it for how-to questions about GitLab features.",
        example: "How do I protect a branch?",
    },
];

/// Tools whose unit primitive the caller has, and whose minimum GitLab version `gitlab_version` (the
/// X-Gitlab-Version header, e.g. "17.10.1-ee", "18.9.0", "17.5.0-pre") meets. Missing or unparsable
/// version → version-gated tools are dropped.
pub fn offered_tools(has_scope: impl Fn(&str) -> bool, gitlab_version: Option<&str>) -> Vec<&'static Tool> {
    let version = gitlab_version.and_then(Version::parse);
    TOOLS
        .iter()
        .filter(|tool| has_scope(tool.unit_primitive))
        .filter(|tool| match tool.min_gitlab_version {
            None => true,
            Some(min) => match (version, Version::parse(min)) {
                (Some(have), Some(need)) => have >= need,
                _ => false,
            },
        })
        .collect()
}

/// A GitLab version: `MAJOR.MINOR[.PATCH][-suffix]`. A `pre`/`rc` suffix sorts before the release;
/// any other suffix (`ee`, `ce`) is an edition and sorts as the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    major: u32,
    minor: u32,
    patch: u32,
    /// false for pre-releases
    released: bool,
}

impl Version {
    fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let (numbers, suffix) = match text.split_once(['-', '+']) {
            Some((numbers, suffix)) => (numbers, Some(suffix)),
            None => (text, None),
        };
        let mut parts = numbers.split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = match parts.next() {
            Some(part) => number(Some(part))?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        let released = !suffix.is_some_and(|s| {
            let s = s.to_ascii_lowercase();
            s.starts_with("pre") || s.starts_with("rc")
        });
        Some(Version { major, minor, patch, released })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tools: &[&Tool]) -> Vec<&'static str> {
        tools.iter().map(|t| t.name).collect()
    }

    #[test]
    fn version_ordering_handles_pre_and_edition_suffixes() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("17.5.0-pre") >= v("17.5.0-pre"));
        assert!(v("17.5.0") > v("17.5.0-pre"));
        assert!(v("17.5.0-ee") > v("17.5.0-pre"));
        assert!(v("17.4.9") < v("17.5.0-pre"));
        assert!(v("17.10.1-ee") > v("17.5.0-pre"));
        assert!(v("18.0") > v("17.5.0-pre"));
        for bad in ["", "17", "x.y.z", "17.5.0.1", "17..5", "v17.5.0", "17.5.a"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn offered_tools_filters_by_scope_and_version() {
        let all = |_: &str| true;
        let gated = ["merge_request_reader", "commit_reader", "build_reader"];
        let ungated = ["issue_reader", "epic_reader", "work_item_reader", "gitlab_documentation"];
        let table: [(Option<&str>, bool); 9] = [
            (Some("17.10.1-ee"), true),
            (Some("18.9.0"), true),
            (Some("17.5.0-pre"), true),
            (Some("17.5.0"), true),
            (Some("17.4.9"), false),
            (Some("17.4.0-ee"), false),
            (Some("nonsense"), false),
            (Some(""), false),
            (None, false),
        ];
        for (version, with_gated) in table {
            let got = names(&offered_tools(all, version));
            let want: Vec<&str> = TOOLS.iter().map(|t| t.name).filter(|n| with_gated || !gated.contains(n)).collect();
            assert_eq!(got, want, "{version:?}");
            for name in ungated {
                assert!(got.contains(&name), "{version:?} {name}");
            }
        }
        let only_issue_and_docs = |scope: &str| scope == "ask_issue" || scope == "documentation_search";
        assert_eq!(
            names(&offered_tools(only_issue_and_docs, Some("18.0.0"))),
            ["issue_reader", "gitlab_documentation"]
        );
        assert!(offered_tools(|_: &str| false, Some("18.0.0")).is_empty());
        let mr_only = |scope: &str| scope == "ask_merge_request";
        assert_eq!(names(&offered_tools(mr_only, Some("17.5.0-pre"))), ["merge_request_reader"]);
        assert!(offered_tools(mr_only, None).is_empty());
    }

    #[test]
    fn catalogue_lines_are_single_lines() {
        for tool in TOOLS {
            assert!(!tool.description.contains('\n') && !tool.example.contains('\n'), "{}", tool.name);
        }
    }
}
