//! Configuration as code: the document `airgate apply` reads and `airgate export` writes (TOML), its
//! checks (errors name the line and key), and what applying it changes (`plan`).
//!
//! The document owns a node's models, remote endpoints, feature routes, `/v1` API keys (as
//! digests), the GitLab URL, the shared signing key and the shared settings; whatever it does not
//! list is removed. Secrets never appear in it: endpoint keys are references to an environment
//! variable or a file, API keys are SHA-256 digests. Several airgates applying one file hold the
//! same configuration; what stays per node (admin sessions, the KV cache, the request log) is not in it.

mod plan;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use plan::{Change, Plan, ProcessEnv, Secrets, export, plan};

use crate::prompt::Family;
use crate::store::{Feature, RouteTarget, SecretRef};

/// The first line of an exported document.
const HEADER: &str = "# airgate configuration (`airgate export`); apply with `airgate apply FILE`.\n\n";

/// A whole node configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The GitLab instance whose signing keys airgate trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_url: Option<String>,
    /// A signing key file the replicas share, so a user access token minted by one verifies on all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_signing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Settings::is_empty")]
    pub settings: Settings,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointDoc>,
    /// Feature → target; an unlisted feature uses the default model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<Feature, RouteTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeyDoc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded_logging: Option<bool>,
    /// Output caps per feature, in tokens (a feature left out has GitLab's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_caps: BTreeMap<Feature, u32>,
    /// The repetition guard on GitLab features (left out: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_guard: Option<bool>,
}

impl Settings {
    fn is_empty(&self) -> bool {
        self.default_model.is_none()
            && self.expanded_logging.is_none()
            && self.output_caps.is_empty()
            && self.repetition_guard.is_none()
    }
}

/// A GGUF model this node serves. Unset parameters follow the boot config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDoc {
    pub name: String,
    pub path: String,
    /// Checked against the file when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_layers: Option<u32>,
    /// A generation model serves `/v1/embeddings` too (left out: the boot config's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<bool>,
    /// Embeddings pooling: `mean`, `cls` or `last` (left out: automatic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<String>,
    /// Speculative decoding for code completions and generations: `off`, `exact` or `fast` (left
    /// out: the boot config's choice, else the engine's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculation: Option<String>,
    /// Loaded at start (default true); false keeps it registered but unloaded.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub load: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// An OpenAI-compatible upstream (vLLM, KServe, llama-server, another airgate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDoc {
    pub name: String,
    pub url: String,
    /// The model identifier the upstream serves.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `{ env = "VAR" }` or `{ file = "/path" }`; never the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretRef>,
}

/// A `/v1` API key, by the SHA-256 of the key (hex): the key itself stays with whoever holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyDoc {
    pub name: String,
    pub sha256: String,
    /// The key's first characters, shown in the admin UI to tell keys apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A document that cannot be applied; the message names the line (when the text has it) and the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FleetError(pub String);

impl Document {
    /// Parses and checks a document. Files it names (models, key files, the signing key) are checked
    /// when it is planned against a node, not here.
    pub fn parse(text: &str) -> Result<Document, FleetError> {
        let doc: Document = toml::from_str(text).map_err(|e| FleetError(crate::config::toml_error(text, &e)))?;
        let problems = doc.problems();
        match problems.first() {
            None => Ok(doc),
            Some((key, message)) => {
                let more = match problems.len() {
                    1 => String::new(),
                    n => format!(" (and {} more problem{})", n - 1, if n > 2 { "s" } else { "" }),
                };
                Err(FleetError(format!("{}: {message}{more}", at(text, key))))
            }
        }
    }

    /// The document as `airgate export` writes it: sorted, so the same configuration reads the same.
    pub fn render(&self) -> String {
        let mut doc = self.clone();
        doc.models.sort_by(|a, b| a.name.cmp(&b.name));
        doc.endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        doc.api_keys.sort_by(|a, b| a.name.cmp(&b.name));
        let body = toml::to_string_pretty(&doc).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        format!("{HEADER}{body}")
    }

    /// Every problem as (key path, message), in document order.
    fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: String, message: String| out.push((key, message));
        if let Some(url) = &self.gitlab_url
            && !is_http_url(url)
        {
            bad("gitlab_url".into(), "must be an http:// or https:// URL".into());
        }
        if let Some(path) = &self.jwt_signing_key
            && !path.starts_with('/')
        {
            bad("jwt_signing_key".into(), "must be an absolute path".into());
        }
        let models: BTreeSet<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
        let endpoints: BTreeSet<&str> = self.endpoints.iter().map(|e| e.name.as_str()).collect();
        if let Some(name) = &self.settings.default_model
            && !models.contains(name.as_str())
        {
            bad("settings.default_model".into(), format!("names `{name}`, which is not among the models"));
        }
        let mut seen = BTreeSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let key = |k: &str| format!("models[{i}].{k}");
            if !valid_name(&m.name, 128) {
                bad(key("name"), "must be 1 to 128 characters of letters, digits, '.', '_' and '-'".into());
            } else if !seen.insert(m.name.as_str()) {
                bad(key("name"), format!("`{}` is listed twice", m.name));
            }
            if !m.path.starts_with('/') {
                bad(key("path"), "must be an absolute path".into());
            }
            if let Some(sha) = &m.sha256
                && !is_sha256(sha)
            {
                bad(key("sha256"), "must be 64 lower-case hex digits".into());
            }
            if let Some(f) = &m.family
                && let Err(e) = Family::parse(f)
            {
                bad(key("family"), e.to_string());
            }
            if let Some(p) = m.pooling.as_deref().filter(|p| !crate::config::POOLING_NAMES.contains(p)) {
                bad(key("pooling"), format!("`{p}` is not one of mean, cls, last"));
            }
            if let Some(s) = m.speculation.as_deref().filter(|s| !crate::config::SPECULATION_NAMES.contains(s)) {
                bad(key("speculation"), format!("`{s}` is not one of off, exact, fast"));
            }
            for (field, value) in [("ctx_size", m.ctx_size), ("parallel", m.parallel)] {
                if value == Some(0) {
                    bad(key(field), "must be at least 1 (leave it out for the boot config's value)".into());
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let key = |k: &str| format!("endpoints[{i}].{k}");
            if !valid_name(&e.name, 64) {
                bad(key("name"), "must be 1 to 64 characters of letters, digits, '.', '_' and '-'".into());
            } else if !seen.insert(e.name.as_str()) {
                bad(key("name"), format!("`{}` is listed twice", e.name));
            }
            if !is_http_url(&e.url) {
                bad(key("url"), "must be an http:// or https:// URL, e.g. http://10.0.0.5:8000/v1".into());
            }
            if e.model.trim().is_empty() || e.model.len() > 256 {
                bad(key("model"), "must name the model the upstream serves (1 to 256 characters)".into());
            }
            if let Some(f) = &e.family
                && let Err(err) = Family::parse(f)
            {
                bad(key("family"), err.to_string());
            }
            match &e.api_key {
                Some(SecretRef::Env(var)) if !valid_env_name(var) => {
                    bad(key("api_key"), format!("`{var}` is not an environment variable name"));
                }
                Some(SecretRef::File(path)) if !path.starts_with('/') => {
                    bad(key("api_key"), "a key file must be an absolute path".into());
                }
                _ => {}
            }
        }
        for (feature, cap) in &self.settings.output_caps {
            if let Err(e) = crate::features::caps::check_cap(*feature, *cap) {
                bad(format!("settings.output_caps.{}", feature.as_str()), e);
            }
        }
        for (feature, target) in &self.features {
            let key = format!("features.{}", feature.as_str());
            match target {
                RouteTarget::Local { model } if !models.contains(model.as_str()) => {
                    bad(key, format!("names model `{model}`, which is not among the models"));
                }
                RouteTarget::Remote { endpoint } if !endpoints.contains(endpoint.as_str()) => {
                    bad(key, format!("names endpoint `{endpoint}`, which is not among the endpoints"));
                }
                _ => {}
            }
        }
        let (mut names, mut digests) = (BTreeSet::new(), BTreeSet::new());
        for (i, k) in self.api_keys.iter().enumerate() {
            let key = |f: &str| format!("api_keys[{i}].{f}");
            if k.name.trim().is_empty() || k.name.len() > 64 {
                bad(key("name"), "must be 1 to 64 characters".into());
            } else if !names.insert(k.name.as_str()) {
                bad(key("name"), format!("`{}` is listed twice", k.name));
            }
            if !is_sha256(&k.sha256) {
                bad(key("sha256"), "must be the key's SHA-256: 64 lower-case hex digits".into());
            } else if !digests.insert(k.sha256.as_str()) {
                bad(key("sha256"), "the same key is listed twice".into());
            }
        }
        out
    }
}

fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// "line N, key `models[1].path`" for a key path of the document, or just the key when the line
/// cannot be found (an inline table, say).
fn at(text: &str, key: &str) -> String {
    match line_of(text, key) {
        Some(n) => format!("line {n}, key `{key}`"),
        None => format!("key `{key}`"),
    }
}

/// The line of `key` (`a`, `settings.b`, `models[2].path`, `features.duo_chat`) in the text.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let key_of = |line: &str| line.split('=').next().map(str::trim).filter(|_| line.contains('=')).map(str::to_string);
    // The section the key lives in, the index of that section among its `[[...]]` siblings, the field.
    let (section, index, field) = match key.split_once('.') {
        None => (None, 0, key),
        Some((head, field)) => match head.split_once('[') {
            Some((name, rest)) => (Some(name), rest.trim_end_matches(']').parse().ok()?, field),
            None => (Some(head), 0, field),
        },
    };
    let mut start = 0;
    if let Some(section) = section {
        let headers = [format!("[[{section}]]"), format!("[{section}]")];
        let found = lines.iter().enumerate().filter(|(_, l)| headers.iter().any(|h| l.trim() == h)).nth(index)?;
        start = found.0 + 1;
    }
    for (n, line) in lines.iter().enumerate().skip(start) {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            return None;
        }
        if key_of(trimmed).as_deref() == Some(field) {
            return Some(n + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests;
