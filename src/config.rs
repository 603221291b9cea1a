//! Boot configuration: defaults → /etc/airgate/airgate.toml (or --config) → AIRGATE_* environment → flags, validated.
//!
//! Every layer replaces the one below it key by key (lists are replaced whole, `tls.cert` and
//! `tls.key` individually). Empty environment variables count as unset. Errors name the key and
//! where the offending value came from (flag, environment variable, config file, default) but
//! never an API key.

use serde::{Deserialize, Serialize};
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/airgate/airgate.toml";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/airgate";
const MIN_API_KEY_LEN: usize = 16;

/// Commented sample `airgate.toml`; every setting line is commented out, so it parses to the defaults.
pub const SAMPLE_CONFIG: &str = include_str!("config/airgate.sample.toml");

// Command-line flags for every configuration key; environment variables are applied by `Config::resolve`
// (no clap `env`, so tests can inject them). A plain comment: a doc comment would become subcommand help.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Config file [default: /etc/airgate/airgate.toml, if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address [default: 0.0.0.0:5052]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Listen address of the GitLab Duo Agent Platform service (gRPC) [default: 0.0.0.0:50052]
    #[arg(long, value_name = "ADDR:PORT")]
    pub dws_listen: Option<SocketAddr>,
    /// State directory [default: /var/lib/airgate]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// GGUF model to serve, optionally named (repeatable; the first is the default model)
    #[arg(long = "model", value_name = "PATH[:NAME]")]
    pub models: Vec<String>,
    /// Inference threads per model; 0 = physical cores [default: 0]
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Context tokens per sequence slot [default: 4096]
    #[arg(long, value_name = "TOKENS")]
    pub ctx_size: Option<u32>,
    /// Sequence slots per model [default: 4]
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// llama.cpp batch size [default: 512]
    #[arg(long, value_name = "TOKENS")]
    pub batch_size: Option<u32>,
    /// Requests waiting per model [default: 64]
    #[arg(long, value_name = "N")]
    pub queue_depth: Option<usize>,
    /// Seconds a request may wait for a slot before a 503 with Retry-After [default: 60]
    #[arg(long, value_name = "SECS")]
    pub queue_wait_secs: Option<u64>,
    /// Most tokens one request may generate, whatever it asks for; 0 = no cap but the context [default: 0]
    #[arg(long, value_name = "TOKENS")]
    pub max_output_tokens: Option<u32>,
    /// Evaluate every prompt in full instead of reusing a slot's cached prefix (benchmark baseline)
    #[arg(long)]
    pub no_prefix_reuse: bool,
    /// Lock model weights in RAM (mlock) so they are never paged out; needs LimitMEMLOCK [default: off]
    #[arg(long)]
    pub mlock: bool,
    /// TLS certificate chain (PEM); requires --tls-key
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); requires --tls-cert
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// GitLab instance URL
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    /// Static API key, at least 16 characters (repeatable)
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Maximum request body size in bytes [default: 16777216]
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Graceful shutdown timeout [default: 30]
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout_secs: Option<u64>,
    /// Log format [default: auto]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter directives [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Accept GitLab API requests without authentication (troubleshooting only)
    #[arg(long)]
    pub auth_bypass: bool,
    /// Minutes until --auth-bypass turns itself off; 0 = never [default: 60]
    #[arg(long, value_name = "MINUTES")]
    pub auth_bypass_minutes: Option<u64>,
    /// Serve /v1 without an API key whatever keys exist (a lab on a closed network)
    #[arg(long)]
    pub v1_open: bool,
    /// Most client connections open at once [default: 4096]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers, or sit idle between requests [default: 30]
    #[arg(long, value_name = "SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Log request contents (prompts, code, model answers)
    #[arg(long)]
    pub logging_expanded: bool,
    /// Also write the log to this file
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Apply this configuration file (`airgate apply`) at every start, before the models load
    #[arg(long, value_name = "FILE")]
    pub apply: Option<PathBuf>,
    #[command(flatten)]
    pub agent: AgentArgs,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    /// The Agent Platform (gRPC) listener.
    pub dws_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// True when the default data dir was not writable and `resolve_data_dir` fell back to the user's data dir.
    pub data_dir_fallback: bool,
    /// The first model is the default model.
    pub models: Vec<ModelSpec>,
    pub threads: u32,
    pub ctx_size: u32,
    pub parallel: u32,
    pub batch_size: u32,
    pub queue_depth: usize,
    /// The longest a request waits for a slot (then 503 + Retry-After).
    pub queue_wait_secs: u64,
    /// 0 = no cap beyond the context.
    pub max_output_tokens: u32,
    /// Reuse the KV cache of a slot whose tokens start like the new prompt.
    pub prefix_reuse: bool,
    /// Lock model weights in RAM (`mlock`).
    pub mlock: bool,
    pub tls: Option<TlsPaths>,
    /// Without trailing slash.
    pub gitlab_url: Option<String>,
    pub api_keys: Vec<Secret>,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub log_format: LogFormat,
    pub log_level: String,
    /// `[auth] bypass`: GitLab API requests are not authenticated.
    pub auth_bypass: bool,
    /// `[auth] bypass_minutes`: the bypass turns itself off after this long; 0 = pinned on.
    pub auth_bypass_minutes: u64,
    /// `[auth] v1_open`: `/v1` needs no API key, whatever keys exist.
    pub v1_open: bool,
    /// Client connections open at once; a connection past them is closed at once.
    pub max_connections: usize,
    /// A client sends a request's headers within this, and idles between requests no longer.
    pub header_timeout_secs: u64,
    /// `[logging] expanded`: request contents are logged.
    pub logging_expanded: bool,
    /// `[logging] to_file`.
    pub log_file: Option<PathBuf>,
    /// A configuration file (`airgate apply`) applied at every start.
    pub apply: Option<PathBuf>,
    /// `[agent]`: the Agent Platform service's limits and policies.
    pub agent: AgentConfig,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    pub path: PathBuf,
    pub name: String,
    /// Let this generation model serve embeddings too (`embeddings = true` in its table); an
    /// embeddings model always does.
    pub embeddings: bool,
    /// Pooling for its embeddings (`mean`, `cls` or `last`) instead of the model's own (or mean).
    pub pooling: Option<String>,
    /// Speculative decoding for code completions and generations: `off`, `exact` or `fast`
    /// (`None`: the engine's default).
    pub speculation: Option<String>,
}

/// The names a model's `speculation` and `pooling` may take.
pub const SPECULATION_NAMES: [&str; 3] = ["off", "exact", "fast"];
pub const POOLING_NAMES: [&str; 3] = ["mean", "cls", "last"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise
    Auto,
    Json,
    Text,
}

impl FromStr for LogFormat {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true).map_err(|_| "expected auto, json or text")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Syntax error, wrong type or unknown key in the config file; `detail` has the line and key.
    #[error("config file {}: {detail}", path.display())]
    Parse { path: PathBuf, detail: String },
    /// A value failed validation; `origin` says where it came from ("flag --parallel", ...).
    #[error("invalid {key} (from {origin}): {message}")]
    Invalid { key: String, origin: String, message: String },
    #[error("data_dir {}: {message}", path.display())]
    DataDir { path: PathBuf, message: String },
}

fn invalid(key: &str, origin: &str, message: impl Into<String>) -> ConfigError {
    let (key, origin, message) = (key.into(), origin.into(), message.into());
    ConfigError::Invalid { key, origin, message }
}

fn env_var(key: &str) -> String {
    format!("AIRGATE_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// GitLab's own AI Gateway variables, read when the AIRGATE_ one is unset.
const AIGW_ALIASES: [(&str, &str); 4] = [
    ("gitlab_url", "AIGW_GITLAB_URL"),
    ("auth.bypass", "AIGW_AUTH__BYPASS_EXTERNAL"),
    ("logging.expanded", "AIGW_LOGGING__ENABLE_REQUEST_LOGGING"),
    ("logging.to_file", "AIGW_LOGGING__TO_FILE"),
];

/// The layers above the defaults: flags, environment, file.
struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file_origin: String,
}

impl Layers<'_> {
    fn env(&self, var: &str) -> Option<(String, String)> {
        let v = (self.env)(var).filter(|v| !v.trim().is_empty())?;
        Some((v.trim().to_owned(), format!("environment variable {var}")))
    }

    /// flag > AIRGATE_<KEY> (then its AIGW_ alias, if any) > file; with where it came from.
    fn pick<T: FromStr>(&self, key: &str, flag: Option<T>, file: Option<T>) -> Result<Option<(T, String)>, ConfigError>
    where
        T::Err: Display,
    {
        if let Some(v) = flag {
            return Ok(Some((v, format!("flag --{}", key.replace(['_', '.'], "-")))));
        }
        let alias = AIGW_ALIASES.iter().find(|(k, _)| *k == key).map(|(_, var)| *var);
        let from_env = self.env(&env_var(key)).or_else(|| alias.and_then(|var| self.env(var)));
        if let Some((s, origin)) = from_env {
            return match s.parse() {
                Ok(v) => Ok(Some((v, origin))),
                Err(e) => Err(invalid(key, &origin, format!("{s:?}: {e}"))),
            };
        }
        Ok(file.map(|v| (v, self.file_origin.clone())))
    }

    fn ranged<T>(
        &self,
        key: &str,
        flag: Option<T>,
        file: Option<T>,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display,
        T::Err: Display,
    {
        let (v, origin) = self.pick(key, flag, file)?.unwrap_or((default, "default".into()));
        if !range.contains(&v) {
            let msg = format!("{v} is outside {}..={}", range.start(), range.end());
            return Err(invalid(key, &origin, msg));
        }
        Ok(v)
    }

    /// Lists: flag (repeatable) > AIRGATE_<KEY> (comma-separated) > file; each layer replaces the whole list.
    fn list<T>(
        &self,
        key: &str,
        flag_name: &str,
        flag: &[String],
        file: Option<Vec<T>>,
        wrap: fn(String) -> T,
    ) -> (Vec<T>, String) {
        if !flag.is_empty() {
            return (flag.iter().cloned().map(wrap).collect(), format!("flag --{flag_name}"));
        }
        if let Some((s, origin)) = self.env(&env_var(key)) {
            let items = s.split(',').map(str::trim).filter(|s| !s.is_empty());
            return (items.map(|s| wrap(s.to_owned())).collect(), origin);
        }
        match file {
            Some(v) => (v, self.file_origin.clone()),
            None => (Vec::new(), "default".into()),
        }
    }
}

/// The local control socket a running server listens on: `<data_dir>/admin.sock` (mode 0600). The
/// `airgate admin`, `model`, `backup` commands and the doctor reach a running server through it.
pub fn admin_socket(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

impl Config {
    /// Real process: reads the file named by args (or the default path if it exists) and std::env.
    pub fn load(args: &ConfigArgs) -> Result<Config, ConfigError> {
        let path = args.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if args.config.is_none() && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let env = |k: &str| std::env::var(k).ok();
        Config::resolve(args, text.as_deref().map(|t| (path.as_path(), t)), &env)
    }

    /// Pure core used by load and by tests: `file` is (path, contents) of the config file if one is read; `env` looks up an environment variable.
    pub fn resolve(
        args: &ConfigArgs,
        file: Option<(&Path, &str)>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let f: FileConfig = match file {
            Some((path, text)) => toml::from_str(text)
                .map_err(|e| ConfigError::Parse { path: path.to_owned(), detail: parse_detail(text, &e) })?,
            None => FileConfig::default(),
        };
        let file_origin = file.map_or(String::new(), |(p, _)| format!("config file {}", p.display()));
        let l = Layers { env, file_origin };
        let a = args;

        let default_listen = SocketAddr::from(([0, 0, 0, 0], 5052));
        let listen = l.pick("listen", a.listen, f.listen)?.map_or(default_listen, |v| v.0);
        let default_dws = SocketAddr::from(([0, 0, 0, 0], 50052));
        let dws_listen = l.pick("dws_listen", a.dws_listen, f.dws_listen)?.map_or(default_dws, |v| v.0);
        if dws_listen == listen && listen.port() != 0 {
            return Err(invalid("dws_listen", "its setting", format!("{dws_listen} is the HTTP listen address too")));
        }
        let data_dir =
            l.pick("data_dir", a.data_dir.clone(), f.data_dir)?.map_or(PathBuf::from(DEFAULT_DATA_DIR), |v| v.0);

        let (entries, origin) = l.list("models", "model", &a.models, f.models, FileModel::Spec);
        let mut models: Vec<ModelSpec> = Vec::new();
        for entry in entries {
            let m = match entry {
                FileModel::Spec(s) => parse_model_spec(&s),
                FileModel::Table(t) => model_spec(&t.path.to_string_lossy(), t.name.as_deref()).and_then(|m| t.spec(m)),
            }
            .map_err(|e| invalid("models", &origin, e))?;
            if models.iter().any(|o| o.name == m.name) {
                return Err(invalid("models", &origin, format!("duplicate model name {:?}", m.name)));
            }
            models.push(m);
        }

        let threads = match l.ranged("threads", a.threads, f.threads, 0, 0..=4096)? {
            0 => default_threads(),
            n => n,
        };
        let ctx_size = l.ranged("ctx_size", a.ctx_size, f.ctx_size, 4096, 256..=1_048_576)?;
        let parallel = l.ranged("parallel", a.parallel, f.parallel, 4, 1..=64)?;
        let batch_size = l.ranged("batch_size", a.batch_size, f.batch_size, 512, 32..=8192)?;
        let queue_depth = l.ranged("queue_depth", a.queue_depth, f.queue_depth, 64, 1..=100_000)?;
        let queue_wait_secs = l.ranged("queue_wait_secs", a.queue_wait_secs, f.queue_wait_secs, 60, 1..=3600)?;
        let max_output_tokens =
            l.ranged("max_output_tokens", a.max_output_tokens, f.max_output_tokens, 0, 0..=1_048_576)?;
        let max_body_bytes = l.ranged("max_body_bytes", a.max_body_bytes, f.max_body_bytes, 16 << 20, 1..=1 << 40)?;
        let shutdown_timeout_secs =
            l.ranged("shutdown_timeout_secs", a.shutdown_timeout_secs, f.shutdown_timeout_secs, 30, 0..=86_400)?;

        let ft = f.tls.unwrap_or_default();
        let cert = l.pick("tls.cert", a.tls_cert.clone(), ft.cert)?;
        let key = l.pick("tls.key", a.tls_key.clone(), ft.key)?;
        let only = if cert.is_some() { "tls.cert" } else { "tls.key" };
        let tls = match (cert, key) {
            (Some((cert, _)), Some((key, _))) => Some(TlsPaths { cert, key }),
            (Some((_, o)), None) | (None, Some((_, o))) => {
                return Err(invalid(only, &o, "set both tls.cert and tls.key, or neither"));
            }
            (None, None) => None,
        };

        let gitlab_url = match l.pick("gitlab_url", a.gitlab_url.clone(), f.gitlab_url)? {
            Some((url, origin)) => Some(check_url(&url).map_err(|m| invalid("gitlab_url", &origin, m))?),
            None => None,
        };

        let (keys, origin) = l.list("api_keys", "api-key", &a.api_keys, f.api_keys, |s| s);
        for (i, k) in keys.iter().enumerate() {
            if k.chars().count() < MIN_API_KEY_LEN {
                let msg = format!("API key #{} is shorter than {MIN_API_KEY_LEN} characters", i + 1);
                return Err(invalid("api_keys", &origin, msg));
            }
        }

        let log_format = l.pick("log_format", a.log_format, f.log_format)?.map_or(LogFormat::Auto, |v| v.0);
        let (log_level, origin) =
            l.pick("log_level", a.log_level.clone(), f.log_level)?.unwrap_or(("info".into(), "default".into()));
        if log_level.trim().is_empty() {
            return Err(invalid("log_level", &origin, "must not be empty"));
        }

        let (fa, fl) = (f.auth.unwrap_or_default(), f.logging.unwrap_or_default());
        let switch = |key, flag: bool, file: Option<bool>| {
            Ok::<_, ConfigError>(l.pick(key, flag.then_some(Switch(true)), file.map(Switch))?.is_some_and(|v| v.0.0))
        };
        let auth_bypass = switch("auth.bypass", a.auth_bypass, fa.bypass)?;
        let auth_bypass_minutes =
            l.ranged("auth.bypass_minutes", a.auth_bypass_minutes, fa.bypass_minutes, 60, 0..=525_600)?;
        let v1_open = switch("auth.v1_open", a.v1_open, fa.v1_open)?;
        let max_connections =
            l.ranged("max_connections", a.max_connections, f.max_connections, 4096, 16..=1_000_000)?;
        let header_timeout_secs =
            l.ranged("header_timeout_secs", a.header_timeout_secs, f.header_timeout_secs, 30, 1..=3600)?;
        let logging_expanded = switch("logging.expanded", a.logging_expanded, fl.expanded)?;
        let log_file = l.pick("logging.to_file", a.log_file.clone(), fl.to_file)?.map(|v| v.0);
        let apply = match l.pick("apply", a.apply.clone(), f.apply)? {
            Some((path, origin)) if !path.is_absolute() => {
                return Err(invalid("apply", &origin, "must be an absolute path"));
            }
            other => other.map(|v| v.0),
        };
        let no_reuse = a.no_prefix_reuse.then_some(Switch(false));
        let prefix_reuse = l.pick("prefix_reuse", no_reuse, f.prefix_reuse.map(Switch))?.is_none_or(|v| v.0.0);
        let mlock = switch("mlock", a.mlock, f.mlock)?;

        let agent = agent::resolve(&l, &a.agent, f.agent.unwrap_or_default())?;

        Ok(Config {
            listen,
            dws_listen,
            data_dir,
            data_dir_fallback: false,
            models,
            threads,
            ctx_size,
            parallel,
            batch_size,
            queue_depth,
            queue_wait_secs,
            max_output_tokens,
            prefix_reuse,
            mlock,
            tls,
            gitlab_url,
            api_keys: keys.into_iter().map(Secret::new).collect(),
            max_body_bytes,
            shutdown_timeout_secs,
            log_format,
            log_level,
            auth_bypass,
            auth_bypass_minutes,
            v1_open,
            max_connections,
            header_timeout_secs,
            logging_expanded,
            log_file,
            apply,
            agent,
            config_file: file.map(|(p, _)| p.to_owned()),
        })
    }

    /// Creates `data_dir` and checks it is writable. Only when `data_dir` is the default
    /// (`/var/lib/airgate`, whether implicit or spelled out) does a failure fall back to
    /// `$XDG_DATA_HOME/airgate` (if absolute) or `$HOME/.local/share/airgate`, setting `data_dir_fallback`.
    pub fn resolve_data_dir(&mut self) -> Result<(), ConfigError> {
        self.resolve_data_dir_with(Path::new(DEFAULT_DATA_DIR), &|k| std::env::var_os(k).map(PathBuf::from))
    }

    fn resolve_data_dir_with(
        &mut self,
        default: &Path,
        env: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Result<(), ConfigError> {
        let err = match ensure_writable(&self.data_dir) {
            Ok(()) => return Ok(()),
            Err(e) if self.data_dir != default => {
                return Err(ConfigError::DataDir { path: self.data_dir.clone(), message: e });
            }
            Err(e) => e,
        };
        let base = env("XDG_DATA_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| env("HOME").filter(|p| p.is_absolute()).map(|h| h.join(".local/share")));
        let Some(fallback) = base.map(|b| b.join("airgate")) else {
            return Err(ConfigError::DataDir {
                path: self.data_dir.clone(),
                message: format!("{err}; no XDG_DATA_HOME or HOME to fall back to"),
            });
        };
        ensure_writable(&fallback).map_err(|e2| ConfigError::DataDir {
            path: self.data_dir.clone(),
            message: format!("{err}; fallback {} failed too: {e2}", fallback.display()),
        })?;
        self.data_dir = fallback;
        self.data_dir_fallback = true;
        Ok(())
    }

    /// TOML text of the effective config with secrets redacted ("***"), for `airgate config show`.
    pub fn to_redacted_toml(&self) -> String {
        let models = self.models.iter().map(|m| {
            FileModel::Table(ModelTable {
                path: m.path.clone(),
                name: Some(m.name.clone()),
                embeddings: m.embeddings.then_some(true),
                pooling: m.pooling.clone(),
                speculation: m.speculation.clone(),
            })
        });
        let f = FileConfig {
            listen: Some(self.listen),
            dws_listen: Some(self.dws_listen),
            data_dir: Some(self.data_dir.clone()),
            models: Some(models.collect()),
            threads: Some(self.threads),
            ctx_size: Some(self.ctx_size),
            parallel: Some(self.parallel),
            batch_size: Some(self.batch_size),
            queue_depth: Some(self.queue_depth),
            queue_wait_secs: Some(self.queue_wait_secs),
            max_output_tokens: Some(self.max_output_tokens),
            prefix_reuse: Some(self.prefix_reuse),
            mlock: Some(self.mlock),
            gitlab_url: self.gitlab_url.clone(),
            api_keys: Some(self.api_keys.iter().map(|k| k.to_string()).collect()),
            max_body_bytes: Some(self.max_body_bytes),
            shutdown_timeout_secs: Some(self.shutdown_timeout_secs),
            log_format: Some(self.log_format),
            log_level: Some(self.log_level.clone()),
            tls: self.tls.as_ref().map(|t| FileTls { cert: Some(t.cert.clone()), key: Some(t.key.clone()) }),
            max_connections: Some(self.max_connections),
            header_timeout_secs: Some(self.header_timeout_secs),
            apply: self.apply.clone(),
            auth: Some(FileAuth {
                bypass: Some(self.auth_bypass),
                bypass_minutes: Some(self.auth_bypass_minutes),
                v1_open: Some(self.v1_open),
            }),
            logging: Some(FileLogging { expanded: Some(self.logging_expanded), to_file: self.log_file.clone() }),
            agent: Some(self.agent.to_file()),
        };
        let mut out = String::from("# Effective airgate configuration (API keys redacted).\n");
        match &self.config_file {
            Some(p) => out += &format!("# Config file: {}\n", p.display()),
            None => out += "# Config file: none\n",
        }
        if self.data_dir_fallback {
            out += &format!("# data_dir: {DEFAULT_DATA_DIR} was not writable; fell back.\n");
        }
        out + &toml::to_string(&f).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
    }
}

mod agent;
mod checks;
mod file;
mod secret;
pub use checks::plain_http_warning;
use checks::{check_url, default_threads, ensure_writable};

pub use agent::{AgentArgs, AgentConfig, ChatScope};
/// A toml error as "line N, key `k`: message" (the key recovered from the source line).
pub(crate) use file::parse_detail as toml_error;
pub use file::parse_model_spec;
use file::{FileAuth, FileConfig, FileLogging, FileModel, FileTls, ModelTable, Switch, model_spec, parse_detail};
pub use secret::Secret;

#[cfg(test)]
mod tests;
