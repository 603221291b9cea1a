//! The config file's shape (every key optional, unknown keys refused), model specs `PATH[:NAME]`, and parse errors that name the line and key.

use serde::{Deserialize, Serialize, de};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use super::{ChatScope, LogFormat, ModelSpec};

/// Contents of the config file; `None` = not set there.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) listen: Option<SocketAddr>,
    pub(super) dws_listen: Option<SocketAddr>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) models: Option<Vec<FileModel>>,
    pub(super) threads: Option<u32>,
    pub(super) ctx_size: Option<u32>,
    pub(super) parallel: Option<u32>,
    pub(super) batch_size: Option<u32>,
    pub(super) queue_depth: Option<usize>,
    pub(super) queue_wait_secs: Option<u64>,
    pub(super) max_output_tokens: Option<u32>,
    pub(super) prefix_reuse: Option<bool>,
    pub(super) mlock: Option<bool>,
    pub(super) gitlab_url: Option<String>,
    pub(super) api_keys: Option<Vec<String>>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) max_connections: Option<usize>,
    pub(super) header_timeout_secs: Option<u64>,
    pub(super) shutdown_timeout_secs: Option<u64>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) log_level: Option<String>,
    pub(super) tls: Option<FileTls>,
    pub(super) auth: Option<FileAuth>,
    pub(super) logging: Option<FileLogging>,
    pub(super) apply: Option<PathBuf>,
    pub(super) agent: Option<FileAgent>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAgent {
    pub(super) max_sessions: Option<usize>,
    pub(super) idle_timeout_secs: Option<u64>,
    pub(super) max_iterations: Option<u32>,
    pub(super) max_tokens: Option<u32>,
    pub(super) chat_scope: Option<ChatScope>,
    pub(super) first_tool_choice: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTls {
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAuth {
    pub(super) bypass: Option<bool>,
    pub(super) bypass_minutes: Option<u64>,
    pub(super) v1_open: Option<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLogging {
    pub(super) expanded: Option<bool>,
    pub(super) to_file: Option<PathBuf>,
}

/// A boolean in the environment: true/false, 1/0 or yes/no, in any case.
#[derive(Debug, Clone, Copy)]
pub(super) struct Switch(pub(super) bool);

impl FromStr for Switch {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Switch(true)),
            "false" | "0" | "no" => Ok(Switch(false)),
            _ => Err("expected true/false, 1/0 or yes/no"),
        }
    }
}

/// A model entry: `"PATH[:NAME]"` or `{ path = "...", name = "..." }`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum FileModel {
    Spec(String),
    Table(ModelTable),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelTable {
    pub(super) path: PathBuf,
    pub(super) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) embeddings: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pooling: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) speculation: Option<String>,
}

impl ModelTable {
    /// The table's settings on the spec its path and name make, checked.
    pub(super) fn spec(&self, m: ModelSpec) -> Result<ModelSpec, String> {
        if let Some(p) = self.pooling.as_deref().filter(|p| !super::POOLING_NAMES.contains(p)) {
            return Err(format!("pooling {p:?} of model {:?} must be one of mean, cls, last", m.name));
        }
        if let Some(s) = self.speculation.as_deref().filter(|s| !super::SPECULATION_NAMES.contains(s)) {
            return Err(format!("speculation {s:?} of model {:?} must be one of off, exact, fast", m.name));
        }
        let (embeddings, pooling, speculation) =
            (self.embeddings.unwrap_or(false), self.pooling.clone(), self.speculation.clone());
        Ok(ModelSpec { embeddings, pooling, speculation, ..m })
    }
}

impl<'de> Deserialize<'de> for FileModel {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = FileModel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a "PATH[:NAME]" string or a { path = "...", name = "..." } table"#)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FileModel, E> {
                Ok(FileModel::Spec(s.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, m: A) -> Result<FileModel, A::Error> {
                ModelTable::deserialize(de::value::MapAccessDeserializer::new(m)).map(FileModel::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `PATH[:NAME]`. Rule: split at the last ':' unless the part after it is empty, contains
/// a '/' or ends with ".gguf" — then the whole string is the path (so `/m/a:b.gguf` is a path and
/// `/m/a:b.gguf:fast` is that path named "fast"). Use the table form for other paths containing ':'.
/// A given NAME must match `[A-Za-z0-9._-]{1,64}`; the default name is the file name minus a trailing
/// ".gguf", with other characters replaced by '_' and cut to 64 characters.
pub fn parse_model_spec(spec: &str) -> Result<ModelSpec, String> {
    let spec = spec.trim();
    if spec.ends_with(':') {
        return Err(format!("model spec {spec:?} has an empty name after ':'"));
    }
    match spec.rsplit_once(':') {
        Some((path, name))
            if !name.is_empty() && !name.contains('/') && !name.to_ascii_lowercase().ends_with(".gguf") =>
        {
            model_spec(path, Some(name))
        }
        _ => model_spec(spec, None),
    }
}

pub(super) fn model_spec(path: &str, name: Option<&str>) -> Result<ModelSpec, String> {
    if path.is_empty() {
        return Err("model path is empty".into());
    }
    let path = PathBuf::from(path);
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let name = match name {
        Some(n) => n.to_owned(),
        None => {
            let file = path.file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned());
            let stem = file.len() - if file.to_ascii_lowercase().ends_with(".gguf") { 5 } else { 0 };
            let clean = file[..stem].chars().map(|c| if valid(c) { c } else { '_' });
            clean.take(64).collect()
        }
    };
    if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
        let p = path.display();
        return Err(format!("model name {name:?} (for {p}) must match [A-Za-z0-9._-]{{1,64}}"));
    }
    Ok(ModelSpec { path, name, embeddings: false, pooling: None, speculation: None })
}

/// Turns a toml error into "line N, key `k`: message" (the key is recovered from the source line).
pub(crate) fn parse_detail(text: &str, err: &toml::de::Error) -> String {
    let Some(start) = err.span().map(|s| s.start.min(text.len())) else {
        return err.message().to_owned();
    };
    let line_no = text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let table = text.lines().take(line_no - 1).map(str::trim).filter(|l| l.starts_with('[')).last();
    let bare = |s: &str| s.trim().trim_matches(['[', ']']).trim().to_owned();
    let key = if line.starts_with('[') {
        Some(bare(line))
    } else {
        let k = line.split('=').next().map(str::trim).filter(|k| line.contains('=') && !k.is_empty());
        k.map(|k| table.map_or(k.to_owned(), |t| format!("{}.{k}", bare(t))))
    };
    let key_ok = |k: &String| k.chars().all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c));
    match key.filter(key_ok) {
        Some(k) => format!("line {line_no}, key `{k}`: {}", err.message()),
        None => format!("line {line_no}: {}", err.message()),
    }
}
