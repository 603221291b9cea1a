//! GitLab AI Gateway wire types for code suggestions (spec §2.2, §2.3): flat v2 bodies and v3/v4 prompt components.

use serde::Deserialize;
use serde_json::Value;

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

/// `POST /v2/code/completions`, `/v2/completions` and the legacy `/v2/code/generations`.
#[derive(Debug, Deserialize)]
pub struct FlatRequest {
    pub current_file: CurrentFile,
    #[serde(default)]
    pub prompt_version: Option<u8>,
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
    /// Parsed leniently: invalid metadata is ignored and defaults apply (spec §3.1).
    #[serde(default)]
    model_metadata: Option<Value>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub context: Vec<ContextItem>,
    /// v2: string or null; v3: a message list.
    #[serde(default)]
    pub prompt: Option<Value>,
}

impl FlatRequest {
    /// The flat `model_*` fields, or `model_metadata` when they are all absent.
    pub fn model(&self) -> ModelRequest {
        let flat = ModelRequest {
            provider: self.model_provider.clone(),
            name: self.model_name.clone(),
            endpoint: self.model_endpoint.clone(),
            api_key: self.model_api_key.clone(),
            identifier: self.model_identifier.clone(),
        };
        let flat_empty = [&flat.name, &flat.endpoint, &flat.identifier].iter().all(|f| f.is_none());
        match (lenient_metadata(self.model_metadata.as_ref()), flat_empty) {
            (Some(meta), true) => meta,
            _ => flat,
        }
    }

    pub fn validate(&self) -> Result<(), ApiError> {
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
    #[serde(default)]
    pub model_provider: Option<String>,
    #[serde(default)]
    pub model_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ContextPayload {
    #[serde(default)]
    pub name: String,
    pub content: String,
}

/// `model_metadata` when it is well formed; anything else is ignored (spec §3.1).
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
