//! Registry of GitLab Duo feature prompts (`/v1/prompts/{prompt_id}`): definitions, version resolution, rendering.
//!
//! Each [`PromptDef`] is one version of one prompt id (`chat/explain_code` 1.0.0…) with its unit primitive,
//! declared inputs, Jinja message templates (in `templates/`, compiled once) and sampling parameters.
//! [`resolve`] picks the definition for a Poetry-style version constraint (see [`version`]) and [`render`]
//! turns the caller's `inputs` object into chat messages.
//!
//! Templates render with minijinja under [`UndefinedBehavior::Strict`] and without auto-escaping. Every
//! declared input is in the context: required ones must be sent (an empty string counts), absent optional
//! ones and top-level JSON `null`s render as empty strings.

mod defs;
pub mod version;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::prompt::Message;

pub use defs::PROMPTS;

/// The constraint used when the request has no `prompt_version`.
pub const DEFAULT_CONSTRAINT: &str = "^1.0.0";

/// One version of one prompt.
#[derive(Debug)]
pub struct PromptDef {
    /// Prompt id as in the URL, e.g. `chat/explain_code`.
    pub id: &'static str,
    /// Version, e.g. `1.0.0`.
    pub version: &'static str,
    /// The unit primitive the caller's token must carry, e.g. `explain_code`.
    pub unit_primitive: &'static str,
    /// Required input variables.
    pub inputs: &'static [&'static str],
    /// Input variables that may be absent (rendered as empty strings).
    pub optional_inputs: &'static [&'static str],
    /// System message template source.
    pub system: Option<&'static str>,
    /// User message template source.
    pub user: &'static str,
    /// Optional start of the assistant reply that the model continues (plain text, not a template).
    pub prefill: Option<&'static str>,
    pub temperature: f32,
    pub max_tokens: u32,
    pub stop: &'static [&'static str],
}

/// Why a prompt could not be resolved or rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RegistryError {
    /// No prompt with this id (→ 404).
    #[error("prompt `{0}` not found")]
    UnknownPrompt(String),
    /// Unparsable or unmatched version constraint (→ 400); says which constraint and which versions exist.
    #[error("{0}")]
    BadVersion(String),
    /// Required inputs absent (→ 422); all of them, sorted.
    #[error("missing prompt inputs: {}", .0.join(", "))]
    MissingInputs(Vec<String>),
    /// The template failed on the given inputs (→ 422).
    #[error("{0}")]
    Render(String),
}

/// A rendered prompt, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub messages: Vec<Message>,
    /// Start of the assistant reply the model should continue, if any.
    pub prefill: Option<String>,
    pub temperature: f32,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    /// The version that was rendered.
    pub version: &'static str,
}

/// Resolves `constraint` (None or blank → `^1.0.0`) against the versions shipped for `id`; the highest
/// matching version wins (ranges match stable versions only, see [`version`]).
pub fn resolve(id: &str, constraint: Option<&str>) -> Result<&'static PromptDef, RegistryError> {
    let shipped: Vec<&'static PromptDef> = PROMPTS.iter().filter(|def| def.id == id).collect();
    if shipped.is_empty() {
        return Err(RegistryError::UnknownPrompt(id.to_string()));
    }
    let available = || shipped.iter().map(|def| def.version).collect::<Vec<_>>().join(", ");
    let text = constraint.map(str::trim).filter(|c| !c.is_empty()).unwrap_or(DEFAULT_CONSTRAINT);
    let parsed = version::Constraint::parse(text)
        .map_err(|why| RegistryError::BadVersion(format!("{why}; versions of prompt `{id}`: {}", available())))?;
    shipped
        .iter()
        .copied()
        .filter(|def| parsed.matches(def.version))
        .max_by(|a, b| version::compare(a.version, b.version))
        .ok_or_else(|| {
            let what = if parsed.is_name() { "is named" } else { "matches" };
            RegistryError::BadVersion(format!(
                "no version of prompt `{id}` {what} `{text}`; available versions: {}",
                available()
            ))
        })
}

/// Renders `def` with `inputs` (a JSON object whose values may be strings, numbers, arrays or objects).
/// Adds `current_date` = `today` when absent; missing required inputs → [`RegistryError::MissingInputs`].
pub fn render(
    def: &PromptDef,
    inputs: &serde_json::Map<String, serde_json::Value>,
    today: &str,
) -> Result<Rendered, RegistryError> {
    let mut context: BTreeMap<String, Value> = inputs
        .iter()
        .map(|(name, value)| {
            let value = if value.is_null() { Value::from("") } else { to_value(value) };
            (name.clone(), value)
        })
        .collect();
    context.entry("current_date".to_string()).or_insert_with(|| Value::from(today));
    for name in def.optional_inputs {
        context.entry((*name).to_string()).or_insert_with(|| Value::from(""));
    }
    let mut missing: Vec<String> =
        def.inputs.iter().filter(|name| !context.contains_key(**name)).map(|name| (*name).to_string()).collect();
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(RegistryError::MissingInputs(missing));
    }
    let context = Value::from(context);
    let mut messages = Vec::with_capacity(2);
    if def.system.is_some() {
        let text = render_one(def, Role::System, &context)?;
        if !text.is_empty() {
            messages.push(Message::system(text));
        }
    }
    messages.push(Message::user(render_one(def, Role::User, &context)?));
    Ok(Rendered {
        messages,
        prefill: def.prefill.map(str::to_string),
        temperature: def.temperature,
        max_tokens: def.max_tokens,
        stop: def.stop.iter().map(|s| (*s).to_string()).collect(),
        version: def.version,
    })
}

/// Every prompt id shipped (deduplicated, in definition order).
pub fn ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Vec::new();
    for def in PROMPTS {
        if !ids.contains(&def.id) {
            ids.push(def.id);
        }
    }
    ids
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    System,
    User,
}

/// All templates, compiled once; keyed by (index in [`PROMPTS`], role).
struct Compiled {
    env: Environment<'static>,
    names: HashMap<(usize, Role), String>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        if let Ok(syntax) = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build() {
            env.set_syntax(syntax);
        }
        let mut names = HashMap::new();
        for (index, def) in PROMPTS.iter().enumerate() {
            let sources = [(Role::System, def.system), (Role::User, Some(def.user))];
            for (role, source) in sources {
                let Some(source) = source else { continue };
                let suffix = if role == Role::System { "system" } else { "user" };
                let name = format!("{}@{}/{suffix}", def.id, def.version);
                // Shipped templates are checked by the tests; a broken one fails at render time instead.
                if env.add_template_owned(name.clone(), source).is_ok() {
                    names.insert((index, role), name);
                }
            }
        }
        Compiled { env, names }
    })
}

fn render_one(def: &PromptDef, role: Role, context: &Value) -> Result<String, RegistryError> {
    let compiled = compiled();
    let failed = |why: String| RegistryError::Render(format!("prompt `{}` {}: {why}", def.id, def.version));
    let index = PROMPTS.iter().position(|d| std::ptr::eq(d, def));
    let template = match index.and_then(|i| compiled.names.get(&(i, role))) {
        Some(name) => compiled.env.get_template(name).map_err(|e| failed(e.to_string()))?,
        // A definition outside PROMPTS (or a template that did not compile): compile it now.
        None => {
            let source = if role == Role::System { def.system.unwrap_or_default() } else { def.user };
            compiled.env.template_from_str(source).map_err(|e| failed(e.to_string()))?
        }
    };
    template.render(context).map(|text| text.trim().to_string()).map_err(|e| failed(describe(&e)))
}

/// The error and its causes on one line.
fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// JSON → template value, without minijinja's `serde` feature.
fn to_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            (None, None) => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => items.iter().map(to_value).collect(),
        serde_json::Value::Object(map) => {
            Value::from(map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect::<BTreeMap<String, Value>>())
        }
    }
}
