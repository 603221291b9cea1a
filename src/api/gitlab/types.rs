//! GitLab AI Gateway wire types for code suggestions (§2.2, §2.3): flat v2 bodies and v3/v4 prompt components.

use serde::Deserialize;
use serde_json::Value;

use crate::features::code::Kind;
use crate::features::routing::ModelRequest;
use crate::http::ApiError;

/// GitLab caps each side of the cursor at 100,000 characters before sending.
pub const MAX_CONTENT_CHARS: usize = 100_000;
const MAX_FILE_NAME_CHARS: usize = 255;
const MAX_CONTEXT_CHARS: usize = 500_000;

#[derive(Debug, Deserialize)]
pub struct CurrentFile {
    pub file_name: String,
    #[serde(default)]
    pub language_identifier: Option<String>,
    pub content_above_cursor: String,
    #[serde(default)]
    pub content_below_cursor: String,
}

#[derive(Debug, Deserialize)]
pub struct ContextItem {
    #[serde(default)]
    pub name: String,
    pub content: String,
}

/// The flat `model_*` fields GitLab puts beside a request's own fields (code suggestions v2, the
/// editor payload of v3/v4, the legacy chat payload), each surface reading the ones it takes.
#[derive(Clone, Default, Deserialize)]
pub struct FlatModel {
    #[serde(default)]
    pub model_provider: Option<String>,
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub model_endpoint: Option<String>,
    #[serde(default)]
    pub model_api_key: Option<String>,
    #[serde(default)]
    pub model_identifier: Option<String>,
}

/// Never prints the API key (as [`ModelRequest`] does not).
impl std::fmt::Debug for FlatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.request().fmt(f)
    }
}

impl FlatModel {
    /// Every field, as a model request.
    pub fn request(&self) -> ModelRequest {
        ModelRequest {
            provider: self.model_provider.clone(),
            name: self.model_name.clone(),
            endpoint: self.model_endpoint.clone(),
            api_key: self.model_api_key.clone(),
            identifier: self.model_identifier.clone(),
            registered_only: false,
        }
    }
}

/// `POST /v2/code/completions`, `/v2/completions` and the legacy `/v2/code/generations`.
#[derive(Debug, Deserialize)]
pub struct FlatRequest {
    pub current_file: CurrentFile,
    #[serde(default)]
    pub prompt_version: Option<u8>,
    #[serde(flatten)]
    pub flat: FlatModel,
    /// Parsed leniently: invalid metadata is ignored and defaults apply (§3.1).
    #[serde(default)]
    model_metadata: Option<Value>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub context: Vec<ContextItem>,
    /// v2: a string (completions: or null); v3: a message list (checked by `validate`).
    #[serde(default)]
    pub prompt: Option<Value>,
}

impl FlatRequest {
    /// The flat `model_*` fields, or `model_metadata` when they are all absent.
    pub fn model(&self) -> ModelRequest {
        let flat = self.flat.request();
        let flat_empty = [&flat.name, &flat.endpoint, &flat.identifier].iter().all(|f| f.is_none());
        match (lenient_metadata(self.model_metadata.as_ref()), flat_empty) {
            (Some(meta), true) => meta,
            _ => flat,
        }
    }

    /// Field limits, and `prompt` in the shape its `prompt_version` names: for a (legacy) generation
    /// v2 needs a string and v3 a message list (§2.3.2); a completion may leave it null (§2.2).
    pub fn validate(&self, kind: Kind) -> Result<(), ApiError> {
        check_language(self.current_file.language_identifier.as_deref(), "current_file")?;
        check_file(
            &self.current_file.file_name,
            &self.current_file.content_above_cursor,
            &self.current_file.content_below_cursor,
            "current_file",
        )?;
        if let Some(v) = self.prompt_version
            && !(1..=3).contains(&v)
        {
            return Err(ApiError::bad_param("prompt_version", format!("prompt_version is {v}; expected 1, 2 or 3")));
        }
        check_prompt(self.prompt_version.unwrap_or(1), self.prompt.as_ref(), kind == Kind::Generation)?;
        check_context(&self.context)
    }

    /// The legacy `prompt` as an instruction: a string, or the last user message of a list.
    pub fn prompt_text(&self) -> Option<String> {
        match self.prompt.as_ref()? {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Array(messages) => messages
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .and_then(|m| m["content"].as_str())
                .map(str::to_string),
            _ => None,
        }
    }
}

/// `prompt` for `prompt_version` 2 (a string, `""` included: GitLab's troubleshooting script sends that) and 3 (a
/// list of `{role: system|user|assistant, content: string}`); `required`: null or absent is refused too.
fn check_prompt(version: u8, prompt: Option<&Value>, required: bool) -> Result<(), ApiError> {
    let prompt = prompt.filter(|p| !p.is_null());
    let missing = |shape: &str| {
        ApiError::bad_param("prompt", format!("`prompt` is required with prompt_version {version}: send {shape}"))
    };
    let wrong = |shape: &str, got: &Value| {
        ApiError::bad_param(
            "prompt",
            format!("`prompt` must be {shape} with prompt_version {version}, not {}", json_type(got)),
        )
    };
    match (version, prompt) {
        (2, Some(Value::String(_))) => Ok(()),
        (2, Some(other)) => Err(wrong("a string", other)),
        (3, Some(Value::Array(messages))) => {
            for (i, m) in messages.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str);
                if !matches!(role, Some("system" | "user" | "assistant")) {
                    return Err(ApiError::bad_param(
                        "prompt",
                        format!("`prompt[{i}].role` must be \"system\", \"user\" or \"assistant\""),
                    ));
                }
                if !m.get("content").is_some_and(Value::is_string) {
                    return Err(ApiError::bad_param("prompt", format!("`prompt[{i}].content` must be a string")));
                }
            }
            Ok(())
        }
        (3, Some(other)) => Err(wrong("a list of messages", other)),
        (2, None) if required => Err(missing("a string")),
        (3, None) if required => Err(missing("a list of {role, content} messages")),
        _ => Ok(()),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_language(language: Option<&str>, field: &str) -> Result<(), ApiError> {
    match language {
        Some(l) if l.chars().count() > MAX_FILE_NAME_CHARS => Err(ApiError::bad_param(
            field,
            format!("`{field}.language_identifier` is longer than {MAX_FILE_NAME_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

fn check_file(file_name: &str, above: &str, below: &str, field: &str) -> Result<(), ApiError> {
    if file_name.trim().is_empty() {
        return Err(ApiError::bad_param(field, format!("`{field}.file_name` must not be empty")));
    }
    if file_name.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(ApiError::bad_param(
            field,
            format!("`{field}.file_name` is longer than {MAX_FILE_NAME_CHARS} characters"),
        ));
    }
    for (name, text) in [("content_above_cursor", above), ("content_below_cursor", below)] {
        let n = text.chars().count();
        if n > MAX_CONTENT_CHARS {
            return Err(ApiError::bad_param(
                field,
                format!("`{field}.{name}` has {n} characters; at most {MAX_CONTENT_CHARS} are accepted"),
            ));
        }
    }
    Ok(())
}

fn check_context(items: &[ContextItem]) -> Result<(), ApiError> {
    if items.len() > 100 {
        return Err(ApiError::bad_param(
            "context",
            format!("`context` has {} items; at most 100 are accepted", items.len()),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if item.content.chars().count() > MAX_CONTEXT_CHARS {
            return Err(ApiError::bad_param(
                "context",
                format!("`context[{i}].content` is longer than {MAX_CONTEXT_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

/// `POST /v3/code/completions` and `/v4/code/suggestions`.
#[derive(Debug, Deserialize)]
pub struct ComponentsRequest {
    pub prompt_components: Vec<Component>,
    #[serde(default)]
    model_metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum Component {
    #[serde(rename = "code_editor_completion")]
    EditorCompletion { payload: EditorPayload },
    #[serde(rename = "code_editor_generation")]
    EditorGeneration { payload: EditorPayload },
    #[serde(rename = "code_context")]
    Context { payload: ContextPayload },
}

#[derive(Debug, Deserialize)]
pub struct EditorPayload {
    pub file_name: String,
    pub content_above_cursor: String,
    #[serde(default)]
    pub content_below_cursor: String,
    #[serde(default)]
    pub language_identifier: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub prompt_enhancer: Option<Value>,
    #[serde(default)]
    pub prompt: Option<Value>,
    /// Only `model_provider` and `model_name` are read here.
    #[serde(flatten)]
    pub flat: FlatModel,
}

#[derive(Debug, Deserialize)]
pub struct ContextPayload {
    #[serde(default)]
    pub name: String,
    pub content: String,
}

/// `model_metadata` when it is well formed; anything else is ignored (§3.1).
pub fn lenient_metadata(value: Option<&Value>) -> Option<ModelRequest> {
    let value = value?;
    match serde_json::from_value(value.clone()) {
        Ok(meta) => Some(meta),
        Err(e) => {
            tracing::debug!(error = %e, "ignoring malformed model_metadata");
            None
        }
    }
}

impl ComponentsRequest {
    pub fn model_metadata(&self) -> Option<ModelRequest> {
        lenient_metadata(self.model_metadata.as_ref())
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        match self.prompt_components.len() {
            0 => {
                return Err(ApiError::bad_param(
                    "prompt_components",
                    "`prompt_components` is empty; send at least one component",
                ));
            }
            n if n > 100 => {
                return Err(ApiError::bad_param(
                    "prompt_components",
                    format!("`prompt_components` has {n} items; at most 100 are accepted"),
                ));
            }
            _ => {}
        }
        for (i, c) in self.prompt_components.iter().enumerate() {
            match c {
                Component::EditorCompletion { payload } | Component::EditorGeneration { payload } => {
                    check_language(payload.language_identifier.as_deref(), &format!("prompt_components[{i}].payload"))?;
                    check_file(
                        &payload.file_name,
                        &payload.content_above_cursor,
                        &payload.content_below_cursor,
                        &format!("prompt_components[{i}].payload"),
                    )?;
                }
                Component::Context { payload } if payload.content.chars().count() > MAX_CONTENT_CHARS => {
                    return Err(ApiError::bad_param(
                        "prompt_components",
                        format!(
                            "`prompt_components[{i}].payload.content` is longer than {MAX_CONTENT_CHARS} characters"
                        ),
                    ));
                }
                Component::Context { .. } => {}
            }
        }
        if matches!(self.prompt_components[0], Component::Context { .. }) {
            return Err(ApiError::bad_param(
                "prompt_components",
                "the first prompt component must be code_editor_completion or code_editor_generation",
            ));
        }
        Ok(())
    }

    /// Context snippets sent as `code_context` components.
    pub fn context(&self) -> Vec<(String, String)> {
        self.prompt_components
            .iter()
            .filter_map(|c| match c {
                Component::Context { payload } => Some((payload.name.clone(), payload.content.clone())),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A flat body with the given `prompt_version` / `prompt` (`None`: the key is left out).
    fn flat(version: Option<u8>, prompt: Option<Value>) -> FlatRequest {
        let mut body = json!({
            "current_file": { "file_name": "test.py", "content_above_cursor": "def hello():\n  ", "content_below_cursor": "" },
        });
        if let Some(v) = version {
            body["prompt_version"] = json!(v);
        }
        if let Some(p) = prompt {
            body["prompt"] = p;
        }
        serde_json::from_value(body).unwrap()
    }

    /// `Ok(())`, or the 400's field and message.
    fn check(version: Option<u8>, prompt: Option<Value>, kind: Kind) -> Result<(), (String, String)> {
        flat(version, prompt).validate(kind).map_err(|e| match e {
            ApiError::BadRequest { param, message } => (param.unwrap_or_default(), message),
            other => panic!("a 400 naming the field, not {other:?}"),
        })
    }

    #[test]
    fn legacy_generation_prompts_take_the_shape_of_their_version() {
        let messages = json!([{ "role": "system", "content": "be brief" }, { "role": "user", "content": "hi" }]);
        for (version, prompt) in [
            (None, None),
            (Some(1), None),
            (Some(1), Some(json!("anything"))),
            (Some(2), Some(json!(""))), // GitLab's troubleshooting script (§6.1)
            (Some(2), Some(json!("write a hello function"))),
            (Some(3), Some(messages)),
            (Some(3), Some(json!([]))),
        ] {
            assert_eq!(check(version, prompt.clone(), Kind::Generation), Ok(()), "{version:?} {prompt:?}");
        }
        for (version, prompt, says) in [
            (2, None, "`prompt` is required with prompt_version 2: send a string"),
            (2, Some(json!(null)), "`prompt` is required with prompt_version 2"),
            (
                2,
                Some(json!([{ "role": "user", "content": "hi" }])),
                "must be a string with prompt_version 2, not a list",
            ),
            (2, Some(json!(7)), "not a number"),
            (3, None, "`prompt` is required with prompt_version 3"),
            (3, Some(json!("hi")), "must be a list of messages with prompt_version 3, not a string"),
            (3, Some(json!([{ "role": "robot", "content": "hi" }])), "`prompt[0].role` must be"),
            (
                3,
                Some(json!([{ "role": "user", "content": "a" }, { "role": "user" }])),
                "`prompt[1].content` must be a string",
            ),
            (3, Some(json!([{ "role": "user", "content": ["a"] }])), "`prompt[0].content` must be a string"),
            (3, Some(json!(["hi"])), "`prompt[0].role` must be"),
        ] {
            let (field, message) = check(Some(version), prompt.clone(), Kind::Generation).unwrap_err();
            assert_eq!(field, "prompt", "{version} {prompt:?}");
            assert!(message.contains(says), "{version} {prompt:?}: {message}");
        }
    }

    #[test]
    fn completions_may_leave_the_prompt_null_but_not_mistyped() {
        // What Rails sends for a self-hosted completion (§2.2): prompt_version 2, prompt null.
        assert_eq!(check(Some(2), Some(json!(null)), Kind::Completion), Ok(()));
        assert_eq!(check(Some(2), None, Kind::Completion), Ok(()));
        assert_eq!(check(Some(3), None, Kind::Completion), Ok(()));
        assert_eq!(check(Some(2), Some(json!({ "text": "x" })), Kind::Completion).unwrap_err().0, "prompt");
        assert_eq!(check(Some(3), Some(json!("x")), Kind::Completion).unwrap_err().0, "prompt");
        let (field, message) = check(Some(4), None, Kind::Completion).unwrap_err();
        assert_eq!((field.as_str(), message.as_str()), ("prompt_version", "prompt_version is 4; expected 1, 2 or 3"));
    }

    #[test]
    fn the_instruction_is_the_string_or_the_last_user_message() {
        assert_eq!(flat(Some(2), Some(json!("do it"))).prompt_text().as_deref(), Some("do it"));
        assert_eq!(flat(Some(2), Some(json!(" "))).prompt_text(), None);
        let messages = json!([{ "role": "user", "content": "first" }, { "role": "user", "content": "last" }, { "role": "assistant", "content": "a" }]);
        assert_eq!(flat(Some(3), Some(messages)).prompt_text().as_deref(), Some("last"));
    }
}
