//! Runaway answers: the most tokens one answer of each GitLab feature may have, and whether the
//! repetition guard watches it. The caps default to what GitLab's own prompt definitions ask for
//! (spec §2.6, §3.2); the admin may set any feature lower or higher (setting `runaway_answers`). A
//! request never gets more than its feature's cap, whatever its prompt asks for.

use super::routing::Feature;
use crate::store::RunawayPolicy;

/// Smallest and largest cap an admin may set.
pub const CAP_RANGE: std::ops::RangeInclusive<u32> = 1..=131_072;

impl RunawayPolicy {
    /// The cap of `feature`: the admin's, else GitLab's; `None` for a feature that does not generate.
    pub fn cap(&self, feature: Feature) -> Option<u32> {
        default_cap(feature).map(|gitlab| self.caps.get(&feature).copied().unwrap_or(gitlab))
    }

    /// `requested` output tokens, capped for `feature`.
    pub fn capped(&self, feature: Feature, requested: u32) -> u32 {
        self.cap(feature).map_or(requested, |cap| requested.min(cap))
    }

    /// Whether the repetition guard watches GitLab features' answers (on unless the admin turned it off).
    pub fn guard(&self) -> bool {
        self.repetition_guard.unwrap_or(true)
    }
}

/// GitLab's output budget per feature: the `max_tokens` of the feature's prompt definitions in
/// GitLab's AI gateway (the base prompts), or, for prompts that set none, the self-hosted model
/// families' default of 4096. `None`: the feature generates no text.
pub fn default_cap(feature: Feature) -> Option<u32> {
    Some(match feature {
        // code_suggestions/completions base: 128 (the family prompts ask for 64).
        Feature::CodeCompletions => 128,
        // code_suggestions/generations base: 2048.
        Feature::CodeGenerations => 2048,
        // chat/react: 8192 (Llama 3's: 4096).
        Feature::DuoChat => 8192,
        // chat/explain_code, write_tests, refactor_code, fix_code, troubleshoot_job,
        // explain_vulnerability, summarize_comments: 2048.
        Feature::DuoChatExplainCode
        | Feature::DuoChatWriteTests
        | Feature::DuoChatRefactorCode
        | Feature::DuoChatFixCode
        | Feature::DuoChatTroubleshootJob
        | Feature::DuoChatExplainVulnerability
        | Feature::DuoChatSummarizeComments => 2048,
        // No max_tokens in these prompts: the family default (models.yml) applies.
        Feature::GenerateCommitMessage
        | Feature::SummarizeNewMergeRequest
        | Feature::ResolveVulnerability
        | Feature::SummarizeReview
        | Feature::GlabAskGitCommand => 4096,
        // review_merge_request: 8192.
        Feature::ReviewMergeRequest => 8192,
        // chat/agent and the workflow prompts: 32768.
        Feature::DuoAgentPlatform | Feature::DuoAgentPlatformAgenticChat => 32_768,
        Feature::EmbeddingsCode => return None,
    })
}

/// Checks an admin's override of `feature`'s cap.
pub fn check_cap(feature: Feature, cap: u32) -> Result<(), String> {
    if default_cap(feature).is_none() {
        return Err(format!("{} generates no text: it has no output cap", feature.as_str()));
    }
    if !CAP_RANGE.contains(&cap) {
        return Err(format!(
            "the output cap of {} must be between {} and {} tokens",
            feature.as_str(),
            CAP_RANGE.start(),
            CAP_RANGE.end()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_the_guard() {
        let mut p = RunawayPolicy::default();
        assert_eq!(p.cap(Feature::CodeCompletions), Some(128));
        assert_eq!(p.cap(Feature::DuoChat), Some(8192));
        assert_eq!(p.cap(Feature::DuoChatExplainCode), Some(2048));
        assert_eq!(p.cap(Feature::EmbeddingsCode), None);
        assert_eq!(p.capped(Feature::DuoChat, 100), 100);
        assert!(p.guard());
        p.caps.insert(Feature::DuoChat, 512);
        assert_eq!(p.capped(Feature::DuoChat, 8192), 512);
        // An override of one feature leaves its sub-features alone.
        assert_eq!(p.cap(Feature::DuoChatExplainCode), Some(2048));
        p.repetition_guard = Some(false);
        assert!(!p.guard());
        // Every generating feature has a cap within what an admin could set.
        for f in Feature::ALL {
            match default_cap(f) {
                Some(cap) => assert!(check_cap(f, cap).is_ok(), "{f:?}"),
                None => assert!(check_cap(f, 100).unwrap_err().contains("no output cap")),
            }
        }
        assert!(check_cap(Feature::DuoChat, 0).unwrap_err().contains("between 1 and 131072"));
    }

    #[test]
    fn stored_shape() {
        let p: RunawayPolicy = serde_json::from_str(r#"{"caps": {"duo_chat": 1024}}"#).unwrap();
        assert_eq!((p.cap(Feature::DuoChat), p.guard()), (Some(1024), true));
        assert_eq!(serde_json::from_str::<RunawayPolicy>("{}").unwrap(), RunawayPolicy::default());
    }
}
