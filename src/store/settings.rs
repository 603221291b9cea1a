//! Every settings key in one place: a typed [`Setting`] per key (like redb's `TableDefinition`), and
//! the records those settings hold (feature routes, recorded model parameters).
//!
//! A key is only made here (`Setting::new` is private to the store), so a value is always read back
//! as the type it was written as, and a key's name and type are declared once.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::ModelRecord;

/// One key of the settings table and the type of its JSON value.
pub struct Setting<T> {
    key: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> Setting<T> {
    pub(super) const fn new(key: &'static str) -> Self {
        Setting { key, value: PhantomData }
    }

    /// The key in the settings table.
    pub fn key(&self) -> &'static str {
        self.key
    }
}

impl<T> Clone for Setting<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Setting<T> {}

impl<T> std::fmt::Debug for Setting<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Setting({})", self.key)
    }
}

/// The GitLab URL an admin set in the UI (wins over the boot config's).
pub const GITLAB_URL: Setting<String> = Setting::new("gitlab_url");
/// The admin's "expanded logging" switch (prompts and model output in the log).
pub const EXPANDED_LOGGING: Setting<bool> = Setting::new("logging_expanded");
/// The name of the default model an admin chose.
pub const DEFAULT_MODEL: Setting<String> = Setting::new("default_model");
/// Per model, the load parameters recorded from the boot config rather than an admin's choice
/// (see [`RecordedParams`]).
pub const RECORDED_MODEL_PARAMS: Setting<BTreeMap<String, RecordedParams>> = Setting::new("recorded_model_params");
/// Where the admin sent each GitLab feature.
pub const FEATURE_ROUTES: Setting<FeatureRoutes> = Setting::new("feature_routes");
/// `/v1` needs an API key: set when the first key is created, kept when the last one goes; only an
/// admin clears it. Absent in databases from before it existed: then stored keys mean yes.
pub const V1_KEY_REQUIRED: Setting<bool> = Setting::new("v1_key_required");
/// The first-run setup token, while no admin exists.
pub const ADMIN_SETUP_TOKEN: Setting<String> = Setting::new("admin_setup_token");
/// When the setup token was made (Unix seconds): it expires after a day.
pub const ADMIN_SETUP_TOKEN_MADE: Setting<u64> = Setting::new("admin_setup_token_made");
/// A signing key file for user access tokens that a fleet shares (else `<data_dir>/jwt_signing_key.pem`).
pub const JWT_SIGNING_KEY: Setting<String> = Setting::new("jwt_signing_key");
/// The document `airgate apply` wrote last, to show when the node drifts from it.
pub const APPLIED: Setting<super::AppliedRecord> = Setting::new("applied_config");
/// The admin's output caps per feature and the repetition guard switch (see [`RunawayPolicy`]).
pub const RUNAWAY_ANSWERS: Setting<RunawayPolicy> = Setting::new("runaway_answers");

/// The GitLab Duo features an admin maps to models: the rows of GitLab's "AI-powered features" tab.
/// Titles, groups and fallbacks are the routing's business (`features::routing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    CodeCompletions,
    CodeGenerations,
    DuoChat,
    DuoChatExplainCode,
    DuoChatWriteTests,
    DuoChatRefactorCode,
    DuoChatFixCode,
    DuoChatTroubleshootJob,
    DuoChatExplainVulnerability,
    DuoChatSummarizeComments,
    GenerateCommitMessage,
    SummarizeNewMergeRequest,
    ResolveVulnerability,
    SummarizeReview,
    GlabAskGitCommand,
    ReviewMergeRequest,
    DuoAgentPlatform,
    DuoAgentPlatformAgenticChat,
    /// Code embeddings for GitLab's semantic code search (GitLab's feature setting `embeddings_code`).
    EmbeddingsCode,
}

impl Feature {
    /// Every feature, in the order of GitLab's admin tab.
    pub const ALL: [Feature; 19] = [
        Feature::CodeCompletions,
        Feature::CodeGenerations,
        Feature::DuoChat,
        Feature::DuoChatExplainCode,
        Feature::DuoChatWriteTests,
        Feature::DuoChatRefactorCode,
        Feature::DuoChatFixCode,
        Feature::DuoChatTroubleshootJob,
        Feature::DuoChatExplainVulnerability,
        Feature::DuoChatSummarizeComments,
        Feature::GenerateCommitMessage,
        Feature::SummarizeNewMergeRequest,
        Feature::ResolveVulnerability,
        Feature::SummarizeReview,
        Feature::GlabAskGitCommand,
        Feature::ReviewMergeRequest,
        Feature::DuoAgentPlatform,
        Feature::DuoAgentPlatformAgenticChat,
        Feature::EmbeddingsCode,
    ];

    /// GitLab's feature key (`Ai::FeatureSetting#feature`), also the stored key.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::CodeCompletions => "code_completions",
            Feature::CodeGenerations => "code_generations",
            Feature::DuoChat => "duo_chat",
            Feature::DuoChatExplainCode => "duo_chat_explain_code",
            Feature::DuoChatWriteTests => "duo_chat_write_tests",
            Feature::DuoChatRefactorCode => "duo_chat_refactor_code",
            Feature::DuoChatFixCode => "duo_chat_fix_code",
            Feature::DuoChatTroubleshootJob => "duo_chat_troubleshoot_job",
            Feature::DuoChatExplainVulnerability => "duo_chat_explain_vulnerability",
            Feature::DuoChatSummarizeComments => "duo_chat_summarize_comments",
            Feature::GenerateCommitMessage => "generate_commit_message",
            Feature::SummarizeNewMergeRequest => "summarize_new_merge_request",
            Feature::ResolveVulnerability => "resolve_vulnerability",
            Feature::SummarizeReview => "summarize_review",
            Feature::GlabAskGitCommand => "glab_ask_git_command",
            Feature::ReviewMergeRequest => "review_merge_request",
            Feature::DuoAgentPlatform => "duo_agent_platform",
            Feature::DuoAgentPlatformAgenticChat => "duo_agent_platform_agentic_chat",
            Feature::EmbeddingsCode => "embeddings_code",
        }
    }

    pub fn parse(key: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.as_str() == key)
    }
}

/// Where the admin sent a feature (an unset feature uses the default model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteTarget {
    Local { model: String },
    Remote { endpoint: String },
    Disabled,
}

pub type FeatureRoutes = BTreeMap<Feature, RouteTarget>;

/// What the admin set against runaway answers (`features::caps` gives the defaults and applies it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunawayPolicy {
    /// Output caps per feature, in tokens; a feature not listed has GitLab's.
    #[serde(default)]
    pub caps: BTreeMap<Feature, u32>,
    /// The repetition guard on GitLab features; `None` = on (the default).
    #[serde(default)]
    pub repetition_guard: Option<bool>,
}

/// The parameters recorded for one model from the boot config, field by field (`None`: an admin's
/// value). Values still equal to these follow the boot config of the next start (a changed
/// `ctx_size` in airgate.toml applies); values an admin changed are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedParams {
    pub ctx_size: Option<u32>,
    pub parallel: Option<u32>,
    pub threads: Option<u32>,
}

impl RecordedParams {
    /// Clears the record's parameters that are still the recorded ones (automatic again).
    pub fn forget_in(&self, r: &mut ModelRecord) {
        for (field, recorded) in
            [(&mut r.ctx_size, self.ctx_size), (&mut r.parallel, self.parallel), (&mut r.threads, self.threads)]
        {
            if recorded.is_some() && *field == recorded {
                *field = None;
            }
        }
    }
}
