//! What the config allows but is unsafe (plain-http GitLab, the auth bypass, an open `/v1`): `config check`, `doctor` and the server's start say it.

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
