//! What applying a document changes on a node (`plan`: the new configuration set and the list of
//! changes, checked against the files it names), and the document a node's configuration reads as
//! (`export`). Planning the last applied document again lists the node's drift from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::{ApiKeyDoc, Document, EndpointDoc, FleetError, ModelDoc, Settings, at};
use crate::store::{
    ApiKeyRecord, AppliedRecord, ConfigSet, EndpointRecord, Feature, ModelRecord, RecordedParams, RouteTarget,
    RunawayPolicy, SecretRef,
};

/// One line of a plan: `+ model gemma`, `~ endpoint vllm: url …`, `- API key ci`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub sign: char,
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.sign, self.what)
    }
}

/// The configuration set a document makes, and what differs from the node's.
#[derive(Debug)]
pub struct Plan {
    pub set: ConfigSet,
    pub changes: Vec<Change>,
}

/// Where the secrets a document references are read: environment variables and files.
pub trait Secrets {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the key file {path}: {e}"))
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Secrets for ProcessEnv {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

fn add(changes: &mut Vec<Change>, sign: char, what: impl Into<String>) {
    changes.push(Change { sign, what: what.into() });
}

fn show<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "(unset)".to_string(), ToString::to_string)
}

/// Plans `doc` (the text `text`, read from `source`) against the node's configuration `current`.
/// Files the document names are checked here: model files (a valid GGUF; the SHA-256 when given),
/// key files and the signing key. Nothing is written.
pub fn plan(
    current: &ConfigSet,
    doc: &Document,
    text: &str,
    source: &str,
    secrets: &dyn Secrets,
) -> Result<Plan, FleetError> {
    let mut changes = Vec::new();
    let now = crate::unix_now();
    let fail = |key: String, message: String| FleetError(format!("{}: {message}", at(text, &key)));

    let mut models = Vec::new();
    for (i, m) in doc.models.iter().enumerate() {
        let existing = current.models.iter().find(|r| r.name == m.name);
        let record = model_record(m, existing, now).map_err(|(field, e)| fail(format!("models[{i}].{field}"), e))?;
        match existing {
            None => add(&mut changes, '+', format!("model {} ({})", m.name, m.path)),
            Some(old) => {
                let old = model_doc(old, current.recorded.get(&old.name));
                for diff in field_diffs(&old, m) {
                    add(&mut changes, '~', format!("model {}: {diff}", m.name));
                }
            }
        }
        models.push(record);
    }
    for r in current.models.iter().filter(|r| !doc.models.iter().any(|m| m.name == r.name)) {
        add(&mut changes, '-', format!("model {} (unregistered; the file stays)", r.name));
    }

    let mut endpoints = Vec::new();
    for (i, e) in doc.endpoints.iter().enumerate() {
        let key = resolve(e.api_key.as_ref(), secrets).map_err(|msg| fail(format!("endpoints[{i}].api_key"), msg))?;
        let existing = current.endpoints.iter().find(|r| r.name == e.name);
        let record = EndpointRecord {
            name: e.name.clone(),
            url: e.url.trim_end_matches('/').to_string(),
            model: e.model.trim().to_string(),
            family: e.family.clone(),
            api_key: key,
            api_key_ref: e.api_key.clone(),
            created_at: existing.map_or(now, |r| r.created_at),
        };
        match existing {
            None => add(&mut changes, '+', format!("endpoint {} ({})", e.name, record.url)),
            Some(old) => {
                for (field, was, now) in [
                    ("url", &old.url, &record.url),
                    ("model", &old.model, &record.model),
                    ("family", &show(&old.family), &show(&record.family)),
                ] {
                    if was != now {
                        add(&mut changes, '~', format!("endpoint {}: {field} {was} → {now}", e.name));
                    }
                }
                if old.api_key != record.api_key || old.api_key_ref != record.api_key_ref {
                    add(&mut changes, '~', format!("endpoint {}: API key replaced", e.name));
                }
            }
        }
        endpoints.push(record);
    }
    for r in current.endpoints.iter().filter(|r| !doc.endpoints.iter().any(|e| e.name == r.name)) {
        add(&mut changes, '-', format!("endpoint {}", r.name));
    }

    let mut api_keys = Vec::new();
    for k in &doc.api_keys {
        let existing = current.api_keys.iter().find(|r| r.digest == k.sha256);
        match existing {
            None => add(&mut changes, '+', format!("API key {}", k.name)),
            Some(old) if old.name != k.name => {
                add(&mut changes, '~', format!("API key {}: renamed from {}", k.name, old.name));
            }
            Some(_) => {}
        }
        api_keys.push(ApiKeyRecord {
            id: existing.map_or_else(|| k.sha256[..16].to_string(), |r| r.id.clone()),
            name: k.name.clone(),
            prefix: k.prefix.clone().or_else(|| existing.map(|r| r.prefix.clone())).unwrap_or_default(),
            digest: k.sha256.clone(),
            created_at: existing.map_or(now, |r| r.created_at),
            created_by: existing.map_or_else(|| "airgate apply".to_string(), |r| r.created_by.clone()),
            last_used_at: existing.and_then(|r| r.last_used_at),
        });
    }
    for r in current.api_keys.iter().filter(|r| !doc.api_keys.iter().any(|k| k.sha256 == r.digest)) {
        add(&mut changes, '-', format!("API key {} (revoked)", r.name));
    }

    let target = |t: Option<&RouteTarget>| match t {
        None => "default model".to_string(),
        Some(RouteTarget::Local { model }) => format!("local model {model}"),
        Some(RouteTarget::Remote { endpoint }) => format!("remote endpoint {endpoint}"),
        Some(RouteTarget::Disabled) => "disabled".to_string(),
    };
    let features: std::collections::BTreeSet<_> = current.feature_routes.keys().chain(doc.features.keys()).collect();
    for f in features {
        let (was, now) = (current.feature_routes.get(f), doc.features.get(f));
        if was != now {
            add(&mut changes, '~', format!("feature {}: {} → {}", f.as_str(), target(was), target(now)));
        }
    }

    if let Some(path) = &doc.jwt_signing_key {
        check_key_file(Path::new(path)).map_err(|msg| fail("jwt_signing_key".into(), msg))?;
    }
    for (what, was, now) in [
        ("gitlab_url", &current.gitlab_url, &doc.gitlab_url),
        ("jwt_signing_key", &current.jwt_signing_key, &doc.jwt_signing_key),
        ("settings.default_model", &current.default_model, &doc.settings.default_model),
    ] {
        if was != now {
            add(&mut changes, '~', format!("{what}: {} → {}", show(was), show(now)));
        }
    }
    if current.expanded_logging != doc.settings.expanded_logging {
        let (was, now) = (show(&current.expanded_logging), show(&doc.settings.expanded_logging));
        add(&mut changes, '~', format!("settings.expanded_logging: {was} → {now}"));
    }
    let runaway =
        RunawayPolicy { caps: doc.settings.output_caps.clone(), repetition_guard: doc.settings.repetition_guard };
    for feature in Feature::ALL {
        let (was, now) = (current.runaway.caps.get(&feature), runaway.caps.get(&feature));
        if was != now {
            let what = format!("settings.output_caps.{}", feature.as_str());
            add(&mut changes, '~', format!("{what}: {} → {}", show(&was), show(&now)));
        }
    }
    if current.runaway.repetition_guard != runaway.repetition_guard {
        let (was, now) = (show(&current.runaway.repetition_guard), show(&runaway.repetition_guard));
        add(&mut changes, '~', format!("settings.repetition_guard: {was} → {now}"));
    }

    let set = ConfigSet {
        models,
        endpoints,
        api_keys,
        feature_routes: doc.features.clone(),
        gitlab_url: doc.gitlab_url.clone(),
        default_model: doc.settings.default_model.clone(),
        expanded_logging: doc.settings.expanded_logging,
        runaway,
        jwt_signing_key: doc.jwt_signing_key.clone(),
        // Parameters the document leaves out are the boot config's: recorded afresh at the next load.
        recorded: BTreeMap::new(),
        applied: Some(AppliedRecord { document: text.to_string(), source: source.to_string(), at: now }),
    };
    Ok(Plan { set, changes })
}

/// The model record a document entry makes: the file checked (a readable GGUF, its SHA-256 when
/// the entry gives one), what the node already knows of it kept. Errors name the entry's field.
fn model_record(m: &ModelDoc, existing: Option<&ModelRecord>, now: u64) -> Result<ModelRecord, (&'static str, String)> {
    let path = Path::new(&m.path);
    let size = std::fs::metadata(path).map_err(|e| ("path", format!("cannot read {}: {e}", m.path)))?.len();
    crate::engine::gguf::read(path).map_err(|e| ("path", format!("not a usable GGUF file: {e}")))?;
    let same_file = existing.filter(|r| r.path == m.path && r.size == size);
    let known = same_file.and_then(|r| r.sha256.clone());
    let sha256 = match &m.sha256 {
        Some(want) if known.as_deref() == Some(want.as_str()) => Some(want.clone()),
        Some(want) => {
            let have =
                crate::models::sha256_file(path).map_err(|e| ("path", format!("cannot read {}: {e}", m.path)))?;
            if &have != want {
                return Err(("sha256", format!("the file {} has {have}", m.path)));
            }
            Some(have)
        }
        None => known,
    };
    Ok(ModelRecord {
        name: m.name.clone(),
        path: m.path.clone(),
        sha256,
        size,
        family: m.family.clone(),
        ctx_size: m.ctx_size,
        parallel: m.parallel,
        threads: m.threads,
        gpu_layers: m.gpu_layers,
        added_at: existing.map_or(now, |r| r.added_at),
        autoload: Some(m.load),
        embeddings: m.embeddings,
        pooling: m.pooling.clone(),
        speculation: m.speculation.clone(),
    })
}

/// A registered model as a document entry: parameters recorded from the boot config read as unset.
fn model_doc(r: &ModelRecord, recorded: Option<&RecordedParams>) -> ModelDoc {
    let mut r = r.clone();
    if let Some(p) = recorded {
        p.forget_in(&mut r);
    }
    ModelDoc {
        name: r.name,
        path: r.path,
        sha256: r.sha256,
        family: r.family,
        ctx_size: r.ctx_size,
        parallel: r.parallel,
        threads: r.threads,
        gpu_layers: r.gpu_layers,
        embeddings: r.embeddings,
        pooling: r.pooling,
        speculation: r.speculation,
        load: r.autoload != Some(false),
    }
}

/// `field was → now` for each field the document sets differently (an unset SHA-256 is no change).
fn field_diffs(old: &ModelDoc, new: &ModelDoc) -> Vec<String> {
    let mut out = Vec::new();
    let mut diff = |field: &str, was: String, now: String| {
        if was != now {
            out.push(format!("{field} {was} → {now}"));
        }
    };
    diff("path", old.path.clone(), new.path.clone());
    if new.sha256.is_some() {
        diff("sha256", show(&old.sha256), show(&new.sha256));
    }
    diff("family", show(&old.family), show(&new.family));
    diff("ctx_size", show(&old.ctx_size), show(&new.ctx_size));
    diff("parallel", show(&old.parallel), show(&new.parallel));
    diff("threads", show(&old.threads), show(&new.threads));
    diff("gpu_layers", show(&old.gpu_layers), show(&new.gpu_layers));
    diff("embeddings", show(&old.embeddings), show(&new.embeddings));
    diff("pooling", show(&old.pooling), show(&new.pooling));
    diff("speculation", show(&old.speculation), show(&new.speculation));
    diff("load", old.load.to_string(), new.load.to_string());
    out
}

/// The key a reference points at: an environment variable or a file's contents (trimmed).
fn resolve(reference: Option<&SecretRef>, secrets: &dyn Secrets) -> Result<Option<String>, String> {
    let key = match reference {
        None => return Ok(None),
        Some(SecretRef::Env(var)) => {
            secrets.env(var).ok_or_else(|| format!("the environment variable {var} is not set"))?
        }
        Some(SecretRef::File(path)) => secrets.file(path)?,
    };
    let key = key.trim().to_string();
    if key.is_empty() || key.len() > 4096 || key.chars().any(char::is_control) {
        return Err("the key it names is empty, longer than 4096 characters or not printable".into());
    }
    Ok(Some(key))
}

/// A readable PEM file (its key is checked when the signer is built).
fn check_key_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !text.contains("-----BEGIN") {
        return Err(format!("{} is not a PEM file", path.display()));
    }
    Ok(())
}

/// The node's configuration as a document, and warnings about what it cannot express (an endpoint
/// key typed into the admin UI is exported as a reference to an environment variable to set).
pub fn export(set: &ConfigSet) -> (Document, Vec<String>) {
    let mut warnings = Vec::new();
    let models = set.models.iter().map(|r| model_doc(r, set.recorded.get(&r.name))).collect();
    let endpoints = set
        .endpoints
        .iter()
        .map(|e| {
            let api_key = match (&e.api_key_ref, &e.api_key) {
                (Some(r), _) => Some(r.clone()),
                (None, Some(_)) => {
                    let var = format!("AIRGATE_ENDPOINT_{}_KEY", e.name.to_ascii_uppercase().replace(['.', '-'], "_"));
                    warnings.push(format!(
                        "endpoint {}: its API key was set in the admin UI; the export names ${var}, set it where you apply",
                        e.name
                    ));
                    Some(SecretRef::Env(var))
                }
                (None, None) => None,
            };
            EndpointDoc { name: e.name.clone(), url: e.url.clone(), model: e.model.clone(), family: e.family.clone(), api_key }
        })
        .collect();
    let api_keys = set
        .api_keys
        .iter()
        .map(|k| ApiKeyDoc { name: k.name.clone(), sha256: k.digest.clone(), prefix: Some(k.prefix.clone()) })
        .collect();
    let doc = Document {
        gitlab_url: set.gitlab_url.clone(),
        jwt_signing_key: set.jwt_signing_key.clone(),
        settings: Settings {
            default_model: set.default_model.clone(),
            expanded_logging: set.expanded_logging,
            output_caps: set.runaway.caps.clone(),
            repetition_guard: set.runaway.repetition_guard,
        },
        models,
        endpoints,
        features: set.feature_routes.clone(),
        api_keys,
    };
    (doc, warnings)
}
