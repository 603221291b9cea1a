//! Model families as GitLab names them (`Ai::SelfHostedModel.model`, and the completion model names of the gateway's `KindLiteLlmModel`), with their remote prompt budgets and per-family policies (reasoning stripped, one system message).

use super::PromptError;

/// The model family an admin picked for a self-hosted model; it decides the prompt layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Codestral,
    Mistral,
    Mixtral,
    Codegemma,
    Codellama,
    Deepseekcoder,
    Llama3,
    Gpt,
    #[serde(rename = "claude_3")]
    Claude3,
    General,
    /// Qwen (2.5/3, Coder): Qwen2.5-Coder FIM layout for completions; reasoning stripped; one system message.
    Qwen,
    /// Gemini, a chat family (the base prompts).
    Gemini,
    /// The gateway's completion model `codestral-2501`: Codestral with its own FIM stop set.
    #[serde(rename = "codestral-2501")]
    Codestral2501,
    /// The gateway's completion model `codestral-2508`: Codestral with its own FIM stop set.
    #[serde(rename = "codestral-2508")]
    Codestral2508,
    /// The gateway's completion model `qwen2p5-coder-7b`: Qwen with its FIM parameters.
    #[serde(rename = "qwen2p5-coder-7b")]
    Qwen25Coder7b,
}

impl Family {
    /// Every family, in GitLab's order of the admin list (what an admin picks for a model).
    pub const ALL: [Family; 12] = [
        Family::Codestral,
        Family::Mistral,
        Family::Mixtral,
        Family::Codegemma,
        Family::Codellama,
        Family::Deepseekcoder,
        Family::Llama3,
        Family::Gpt,
        Family::Claude3,
        Family::General,
        Family::Qwen,
        Family::Gemini,
    ];

    /// The gateway's named completion models (`model_name` of a code completion), beside the families.
    pub const COMPLETION_MODELS: [Family; 3] = [Family::Codestral2501, Family::Codestral2508, Family::Qwen25Coder7b];

    /// GitLab's family names ("codestral", "mistral", "mixtral", "codegemma", "codellama",
    /// "deepseekcoder", "llama3", "gpt", "claude_3", "general", "qwen", "gemini") and the gateway's
    /// completion model names ("codestral-2501", "codestral-2508", "qwen2p5-coder-7b");
    /// case-insensitive. Unknown → Err(UnknownFamily(name)).
    pub fn parse(name: &str) -> Result<Family, PromptError> {
        let lower = name.trim().to_ascii_lowercase();
        let family = match lower.as_str() {
            "codestral" => Family::Codestral,
            "codestral-2501" => Family::Codestral2501,
            "codestral-2508" => Family::Codestral2508,
            "qwen2p5-coder-7b" => Family::Qwen25Coder7b,
            "qwen" => Family::Qwen,
            "gemini" => Family::Gemini,
            "mistral" => Family::Mistral,
            "mixtral" => Family::Mixtral,
            "codegemma" => Family::Codegemma,
            "codellama" => Family::Codellama,
            "deepseekcoder" => Family::Deepseekcoder,
            "llama3" => Family::Llama3,
            "gpt" => Family::Gpt,
            "claude_3" => Family::Claude3,
            "general" => Family::General,
            _ => return Err(PromptError::UnknownFamily(name.to_string())),
        };
        Ok(family)
    }

    /// The canonical GitLab name, as [`Family::parse`] accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Codestral => "codestral",
            Family::Mistral => "mistral",
            Family::Mixtral => "mixtral",
            Family::Codegemma => "codegemma",
            Family::Codellama => "codellama",
            Family::Deepseekcoder => "deepseekcoder",
            Family::Llama3 => "llama3",
            Family::Gpt => "gpt",
            Family::Claude3 => "claude_3",
            Family::General => "general",
            Family::Qwen => "qwen",
            Family::Gemini => "gemini",
            Family::Codestral2501 => "codestral-2501",
            Family::Codestral2508 => "codestral-2508",
            Family::Qwen25Coder7b => "qwen2p5-coder-7b",
        }
    }

    /// The family whose prompts a named completion model uses (itself for a family).
    pub fn base(self) -> Family {
        match self {
            Family::Codestral2501 | Family::Codestral2508 => Family::Codestral,
            Family::Qwen25Coder7b => Family::Qwen,
            family => family,
        }
    }

    /// GitLab's max_context_tokens per family (§3.2), the prompt budget for a REMOTE model.
    pub fn max_context_tokens(self) -> usize {
        match self.base() {
            Family::Mistral | Family::Codestral | Family::Llama3 | Family::Gpt => 128_000,
            Family::Mixtral => 32_000,
            Family::Codellama | Family::Deepseekcoder => 16_000,
            Family::Codegemma => 8_000,
            Family::Claude3 | Family::General => 200_000,
            Family::Qwen => 262_144,
            Family::Gemini => 1_000_000,
            Family::Codestral2501 | Family::Codestral2508 | Family::Qwen25Coder7b => unreachable!("base() maps it"),
        }
    }

    /// The model's `<think>…</think>` reasoning is removed from what GitLab features return
    /// (the gateway's `strip_reasoning`).
    pub fn strip_reasoning(self) -> bool {
        self.base() == Family::Qwen
    }

    /// Every system message is merged into one before the model sees the conversation (the
    /// gateway's `requires_single_system_message`).
    pub fn requires_single_system_message(self) -> bool {
        self.base() == Family::Qwen
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_gitlab_names_and_aliases_case_insensitively() {
        let table = [
            ("codestral", Family::Codestral),
            ("Codestral", Family::Codestral),
            ("codestral-2501", Family::Codestral2501),
            ("CODESTRAL-2508", Family::Codestral2508),
            ("mistral", Family::Mistral),
            ("mixtral", Family::Mixtral),
            ("codegemma", Family::Codegemma),
            ("codellama", Family::Codellama),
            ("deepseekcoder", Family::Deepseekcoder),
            ("llama3", Family::Llama3),
            ("gpt", Family::Gpt),
            ("claude_3", Family::Claude3),
            ("Claude_3", Family::Claude3),
            ("general", Family::General),
            ("qwen", Family::Qwen),
            ("Qwen", Family::Qwen),
            ("qwen2p5-coder-7b", Family::Qwen25Coder7b),
            ("gemini", Family::Gemini),
        ];
        for (name, want) in table {
            assert_eq!(Family::parse(name).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn parse_rejects_unknown_names() {
        for name in ["", "claude3", "llama", "gemini-pro", "codestral_2501", "gpt-4", "qwen3"] {
            match Family::parse(name) {
                Err(PromptError::UnknownFamily(got)) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn as_str_round_trips_and_matches_serde() {
        for family in Family::ALL.into_iter().chain(Family::COMPLETION_MODELS) {
            assert_eq!(Family::parse(family.as_str()).unwrap(), family);
            assert_eq!(serde_json::to_value(family).unwrap(), serde_json::json!(family.as_str()));
            assert_eq!(family.to_string(), family.as_str());
        }
    }

    #[test]
    fn max_context_tokens_follow_models_yml() {
        let table = [
            (Family::Mistral, 128_000),
            (Family::Mixtral, 32_000),
            (Family::Codestral, 128_000),
            (Family::Llama3, 128_000),
            (Family::Codellama, 16_000),
            (Family::Codegemma, 8_000),
            (Family::Deepseekcoder, 16_000),
            (Family::Gpt, 128_000),
            (Family::Claude3, 200_000),
            (Family::General, 200_000),
            (Family::Qwen, 262_144),
            (Family::Gemini, 1_000_000),
            (Family::Codestral2501, 128_000),
            (Family::Qwen25Coder7b, 262_144),
        ];
        for (family, want) in table {
            assert_eq!(family.max_context_tokens(), want, "{family}");
        }
    }

    #[test]
    fn qwen_strips_reasoning_and_wants_one_system_message() {
        for family in Family::ALL.into_iter().chain(Family::COMPLETION_MODELS) {
            let qwen = matches!(family, Family::Qwen | Family::Qwen25Coder7b);
            assert_eq!(family.strip_reasoning(), qwen, "{family}");
            assert_eq!(family.requires_single_system_message(), qwen, "{family}");
        }
    }
}
