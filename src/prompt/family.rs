//! Model families as GitLab names them (`Ai::SelfHostedModel.model`), with their remote prompt budgets.

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
}

impl Family {
    /// Every family, in GitLab's order of the admin list.
    pub const ALL: [Family; 10] = [
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
    ];

    /// GitLab's family names: "codestral", "mistral", "mixtral", "codegemma", "codellama", "deepseekcoder", "llama3", "gpt", "claude_3", "general"; case-insensitive; also accept "codestral-2501"/"codestral-2508" as Codestral and "qwen2p5-coder-7b"/"qwen" as General. Unknown → Err(UnknownFamily(name)).
    pub fn parse(name: &str) -> Result<Family, PromptError> {
        let lower = name.trim().to_ascii_lowercase();
        let family = match lower.as_str() {
            "codestral" | "codestral-2501" | "codestral-2508" => Family::Codestral,
            "mistral" => Family::Mistral,
            "mixtral" => Family::Mixtral,
            "codegemma" => Family::Codegemma,
            "codellama" => Family::Codellama,
            "deepseekcoder" => Family::Deepseekcoder,
            "llama3" => Family::Llama3,
            "gpt" => Family::Gpt,
            "claude_3" => Family::Claude3,
            "general" | "qwen" | "qwen2p5-coder-7b" => Family::General,
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
        }
    }

    /// GitLab's max_context_tokens per family (§3.2), the prompt budget for a REMOTE model.
    pub fn max_context_tokens(self) -> usize {
        match self {
            Family::Mistral | Family::Codestral | Family::Llama3 | Family::Gpt => 128_000,
            Family::Mixtral => 32_000,
            Family::Codellama | Family::Deepseekcoder => 16_000,
            Family::Codegemma => 8_000,
            Family::Claude3 | Family::General => 200_000,
        }
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
            ("codestral-2501", Family::Codestral),
            ("CODESTRAL-2508", Family::Codestral),
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
            ("qwen", Family::General),
            ("qwen2p5-coder-7b", Family::General),
        ];
        for (name, want) in table {
            assert_eq!(Family::parse(name).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn parse_rejects_unknown_names() {
        for name in ["", "claude3", "llama", "gemini", "codestral_2501", "gpt-4"] {
            match Family::parse(name) {
                Err(PromptError::UnknownFamily(got)) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn as_str_round_trips_and_matches_serde() {
        for family in Family::ALL {
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
        ];
        for (family, want) in table {
            assert_eq!(family.max_context_tokens(), want, "{family}");
        }
    }
}
