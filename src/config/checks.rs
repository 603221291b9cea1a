//! Checks beyond the file's shape: what the config allows but is unsafe (plain-http GitLab, the auth bypass, an open `/v1`; `config check`, `doctor` and the server's start say it), a URL's form, a writable data dir, the machine's physical cores.

use std::path::Path;

use super::Config;

impl Config {
    /// What is allowed but unsafe: `config check`, `doctor` and the server's start say it.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(url) = self.gitlab_url.as_deref().filter(|u| u.to_ascii_lowercase().starts_with("http://")) {
            out.push(plain_http_warning(url));
        }
        if self.auth_bypass {
            let until = match self.auth_bypass_minutes {
                0 => "pinned on (auth.bypass_minutes = 0)".to_string(),
                m => format!("for {m} minutes after each start"),
            };
            out.push(format!("auth.bypass accepts every GitLab API request without a token, {until}"));
        }
        if self.v1_open {
            out.push("auth.v1_open serves /v1 without an API key, whatever keys exist".into());
        }
        out
    }
}

/// Why an `http://` GitLab URL is unsafe.
pub fn plain_http_warning(url: &str) -> String {
    format!(
        "gitlab_url {url} is plain http: GitLab's signing keys travel unprotected, so anyone on the path can \
         swap them and forge tokens; use https://"
    )
}

pub(super) fn ensure_writable(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create directory: {e}"))?;
    let probe = dir.join(format!(".airgate-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("directory is not writable: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Accepts `http(s)://HOST[...]` without whitespace; strips trailing slashes.
pub(super) fn check_url(url: &str) -> Result<String, String> {
    let lower = url.to_ascii_lowercase();
    let rest = ["https://", "http://"].iter().find_map(|s| lower.starts_with(s).then(|| &url[s.len()..]));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !url.chars().any(char::is_whitespace) => Ok(url.trim_end_matches('/').to_owned()),
        _ => Err(format!("{url:?} is not an http:// or https:// URL with a host")),
    }
}

/// Physical cores (from /proc/cpuinfo), capped by the CPUs this process may use; at least 1.
pub(super) fn default_threads() -> u32 {
    let avail = std::thread::available_parallelism().map_or(1, |n| n.get());
    let physical = std::fs::read_to_string("/proc/cpuinfo").ok().map(|info| {
        let mut cores = std::collections::HashSet::new();
        for block in info.split("\n\n") {
            let field = |k: &str| block.lines().find(|l| l.starts_with(k)).and_then(|l| l.split(':').nth(1));
            if let (Some(p), Some(c)) = (field("physical id"), field("core id")) {
                cores.insert((p.trim().to_owned(), c.trim().to_owned()));
            }
        }
        cores.len()
    });
    let n = match physical {
        Some(p) if p > 0 => p.min(avail),
        _ => avail,
    };
    u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}
