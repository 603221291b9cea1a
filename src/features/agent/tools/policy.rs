//! Which paths a file tool may touch: no traversal, no absolute paths, never secrets or editor/VCS internals, and not what the project's Duo context exclusion rules exclude.

/// Paths no tool reads or writes (gitignore-like: a name matches at any depth, a path with a `/` from the root).
const DENIED: &[&str] = &[
    ".config/nvim",
    ".docker",
    ".emacs.d",
    ".env",
    ".env.*",
    ".git",
    ".gitlab/duo",
    ".gitlab/rules",
    ".gnupg",
    ".idea",
    ".metadata",
    ".settings",
    ".ssh",
    ".sublime-project",
    ".sublime-workspace",
    ".vim",
    ".vimrc",
    ".vscode",
    "Dockerfile.secrets",
    "!.env.example",
];

/// Checks a path an agent tool wants to use; the error is what the model is told.
pub fn path_allowed(path: &str, exclusions: &[String]) -> Result<(), String> {
    let normal = path.replace('\\', "/");
    let mut trimmed = normal.as_str();
    while let Some(rest) = trimmed.strip_prefix("./") {
        trimmed = rest;
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.contains("%2e%2e") || trimmed.split('/').any(|c| c == "..") {
        return Err(format!("access denied: `{path}` leaves the project directory"));
    }
    if trimmed.starts_with('/') || trimmed.starts_with('~') || trimmed.get(1..3) == Some(":/") {
        return Err(format!("access denied: `{path}` is an absolute path; use a path relative to the project"));
    }
    if trimmed.is_empty() || trimmed == "." {
        return Ok(());
    }
    let denied: Vec<String> = DENIED.iter().map(|s| s.to_string()).collect();
    for candidate in [trimmed, lower.as_str()] {
        if let Some(pattern) = excluded(candidate, &denied) {
            return Err(format!("access denied: `{path}` matches the protected pattern `{pattern}`"));
        }
    }
    if let Some(pattern) = excluded(trimmed, exclusions) {
        return Err(format!("`{path}` is excluded from Duo's context by the project's rule `{pattern}`"));
    }
    Ok(())
}

/// The pattern that excludes `path` (the last matching one wins, `!` re-includes), if any.
fn excluded(path: &str, patterns: &[String]) -> Option<String> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut verdict = None;
    for raw in patterns {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match raw.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, raw),
        };
        if matches(pattern, &components) {
            verdict = if negated { None } else { Some(raw.to_string()) };
        }
    }
    verdict
}

/// gitignore-like: a pattern without an inner `/` matches any component (and everything under it);
/// one with a `/` matches from the root; `**` spans components; a match on a directory covers its contents.
fn matches(pattern: &str, components: &[&str]) -> bool {
    let pattern = pattern.trim_end_matches('/');
    let anchored = pattern.trim_start_matches('/').contains('/') || pattern.starts_with('/');
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return false;
    }
    if anchored {
        (1..=components.len()).any(|end| glob_path(&parts, &components[..end]))
    } else {
        components.iter().any(|c| glob(parts[0], c))
    }
}

/// Components against pattern parts, `**` matching zero or more components.
fn glob_path(parts: &[&str], components: &[&str]) -> bool {
    match parts.split_first() {
        None => components.is_empty(),
        Some((&"**", rest)) => (0..=components.len()).any(|skip| glob_path(rest, &components[skip..])),
        Some((first, rest)) => {
            components.split_first().is_some_and(|(c, more)| glob(first, c) && glob_path(rest, more))
        }
    }
}

/// One component against `*`/`?` wildcards.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_and_excluded_paths() {
        let rules = vec!["secrets/**".to_string(), "*.pem".to_string(), "!public.pem".to_string()];
        let table: &[(&str, bool)] = &[
            ("app/main.py", true),
            ("./app/main.py", true),
            (".", true),
            ("../etc/passwd", false),
            ("a/../../b", false),
            ("%2e%2e/x", false),
            ("/etc/passwd", false),
            ("~/.ssh/id_rsa", false),
            ("C:/x", false),
            (".env", false),
            (".env.production", false),
            (".env.example", true),
            ("config/.env", false),
            (".git/config", false),
            (".GIT/config", false),
            (".gitlab/duo/chat.yml", false),
            (".gitlab/ci.yml", true),
            (".gitlab-ci.yml", true),
            ("src/.vscode/settings.json", false),
            ("Dockerfile.secrets", false),
            ("Dockerfile", true),
            ("secrets/db.txt", false),
            ("lib/secrets/db.txt", true),
            ("certs/server.pem", false),
            ("public.pem", true),
        ];
        for (path, ok) in table {
            assert_eq!(path_allowed(path, &rules).is_ok(), *ok, "{path}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*.rs", "main.rs"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("*.rs", "main.rb"));
        assert!(glob("*", ""));
        assert!(glob_path(&["**", "x"], &["a", "b", "x"]));
        assert!(glob_path(&["a", "**"], &["a"]));
    }
}
