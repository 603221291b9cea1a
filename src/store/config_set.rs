//! The configuration an applied file owns (`airgate apply`), read in one read transaction and
//! replaced in one write transaction: models, remote endpoints, `/v1` API keys, feature routes and
//! the settings a fleet shares. Sessions, the audit log and admin accounts are not part of it.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::settings::{
    APPLIED, DEFAULT_MODEL, EXPANDED_LOGGING, FEATURE_ROUTES, GITLAB_URL, JWT_SIGNING_KEY, RECORDED_MODEL_PARAMS,
    RUNAWAY_ANSWERS, RunawayPolicy, Setting, V1_KEY_REQUIRED,
};
use super::{
    ApiKeyRecord, Ctx, EndpointRecord, FeatureRoutes, MODELS, ModelRecord, RecordedParams, SETTINGS, Store, StoreError,
    admin, decode, encode,
};

/// What the last `airgate apply` wrote, to tell when the node drifted from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedRecord {
    /// The document as applied (TOML).
    pub document: String,
    /// Where it came from (a file path, or "admin socket").
    pub source: String,
    /// Unix seconds.
    pub at: u64,
}

/// The configuration an applied file owns, as the store holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSet {
    pub models: Vec<ModelRecord>,
    pub endpoints: Vec<EndpointRecord>,
    pub api_keys: Vec<ApiKeyRecord>,
    pub feature_routes: FeatureRoutes,
    /// The GitLab URL set here (else the boot config's).
    pub gitlab_url: Option<String>,
    pub default_model: Option<String>,
    pub expanded_logging: Option<bool>,
    /// Output caps per feature and the repetition guard switch (none: GitLab's caps, guard on).
    pub runaway: RunawayPolicy,
    /// A signing key file shared by a fleet (else `<data_dir>/jwt_signing_key.pem`).
    pub jwt_signing_key: Option<String>,
    /// Parameters recorded from the boot config, per model (they read as "automatic").
    pub recorded: BTreeMap<String, RecordedParams>,
    pub applied: Option<AppliedRecord>,
}

impl Store {
    /// The whole configuration set, from one read transaction (a consistent view).
    pub fn config_set(&self) -> Result<ConfigSet, StoreError> {
        let p = self.path();
        let txn = self.0.db.begin_read().ctx(p)?;
        let rows = |table: TableDefinition<&str, &[u8]>| -> Result<Vec<(String, Vec<u8>)>, StoreError> {
            let t = txn.open_table(table).ctx(p)?;
            let mut out = Vec::new();
            for entry in t.iter().ctx(p)? {
                let (k, v) = entry.ctx(p)?;
                out.push((k.value().to_string(), v.value().to_vec()));
            }
            Ok(out)
        };
        fn records<T: DeserializeOwned>(
            p: &std::path::Path,
            rows: Vec<(String, Vec<u8>)>,
            what: &str,
        ) -> Result<Vec<T>, StoreError> {
            rows.iter().map(|(k, v)| decode(p, &format!("{what} {k}"), v)).collect()
        }
        let models = records(p, rows(MODELS)?, "model")?;
        let endpoints = records(p, rows(admin::ENDPOINTS)?, "endpoint")?;
        let api_keys = records(p, rows(admin::API_KEYS)?, "API key")?;
        let settings: BTreeMap<String, Vec<u8>> = rows(SETTINGS)?.into_iter().collect();
        fn get<T: DeserializeOwned>(
            p: &std::path::Path,
            settings: &BTreeMap<String, Vec<u8>>,
            s: Setting<T>,
        ) -> Result<Option<T>, StoreError> {
            settings.get(s.key()).map(|raw| decode(p, &format!("setting {}", s.key()), raw)).transpose()
        }
        Ok(ConfigSet {
            models,
            endpoints,
            api_keys,
            feature_routes: get(p, &settings, FEATURE_ROUTES)?.unwrap_or_default(),
            gitlab_url: get(p, &settings, GITLAB_URL)?.filter(|u: &String| !u.is_empty()),
            default_model: get(p, &settings, DEFAULT_MODEL)?,
            expanded_logging: get(p, &settings, EXPANDED_LOGGING)?,
            runaway: get(p, &settings, RUNAWAY_ANSWERS)?.unwrap_or_default(),
            jwt_signing_key: get(p, &settings, JWT_SIGNING_KEY)?,
            recorded: get(p, &settings, RECORDED_MODEL_PARAMS)?.unwrap_or_default(),
            applied: get(p, &settings, APPLIED)?,
        })
    }

    /// Makes the store hold exactly `set` (models, endpoints, API keys, routes and the shared
    /// settings), in one write transaction: all of it or, on any error, none of it.
    pub fn replace_config_set(&self, set: &ConfigSet) -> Result<(), StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        replace_rows(&txn, p, MODELS, set.models.iter().map(|m| (m.name.as_str(), m)), "model")?;
        replace_rows(&txn, p, admin::ENDPOINTS, set.endpoints.iter().map(|e| (e.name.as_str(), e)), "endpoint")?;
        replace_rows(&txn, p, admin::API_KEYS, set.api_keys.iter().map(|k| (k.id.as_str(), k)), "API key")?;
        {
            let mut t = txn.open_table(SETTINGS).ctx(p)?;
            let mut put = |key: &str, value: Option<Vec<u8>>| -> Result<(), StoreError> {
                match value {
                    Some(bytes) => t.insert(key, bytes.as_slice()).ctx(p).map(|_| ()),
                    None => t.remove(key).ctx(p).map(|_| ()),
                }
            };
            put(FEATURE_ROUTES.key(), Some(encode(p, "feature routes", &set.feature_routes)?))?;
            put(RECORDED_MODEL_PARAMS.key(), Some(encode(p, "recorded parameters", &set.recorded)?))?;
            put(GITLAB_URL.key(), set.gitlab_url.as_ref().map(|u| encode(p, "gitlab url", u)).transpose()?)?;
            put(DEFAULT_MODEL.key(), set.default_model.as_ref().map(|m| encode(p, "default model", m)).transpose()?)?;
            put(EXPANDED_LOGGING.key(), set.expanded_logging.map(|e| encode(p, "expanded logging", &e)).transpose()?)?;
            let runaway = (set.runaway != RunawayPolicy::default()).then_some(&set.runaway);
            put(RUNAWAY_ANSWERS.key(), runaway.map(|r| encode(p, "output caps", r)).transpose()?)?;
            put(JWT_SIGNING_KEY.key(), set.jwt_signing_key.as_ref().map(|k| encode(p, "signing key", k)).transpose()?)?;
            put(APPLIED.key(), set.applied.as_ref().map(|a| encode(p, "applied document", a)).transpose()?)?;
            // Keys in the set make `/v1` require one, as the first key an admin creates does; a set
            // without keys never opens it (the setting stays as it was).
            if !set.api_keys.is_empty() {
                put(V1_KEY_REQUIRED.key(), Some(encode(p, "/v1 access", &true)?))?;
            }
        }
        txn.commit().ctx(p)
    }
}

/// Clears a string-keyed table and writes `rows` into it.
fn replace_rows<'a, T: Serialize + 'a>(
    txn: &WriteTransaction,
    p: &std::path::Path,
    table: TableDefinition<&str, &[u8]>,
    rows: impl Iterator<Item = (&'a str, &'a T)>,
    what: &str,
) -> Result<(), StoreError> {
    let mut t = txn.open_table(table).ctx(p)?;
    t.retain(|_, _| false).ctx(p)?;
    for (key, value) in rows {
        t.insert(key, encode(p, &format!("{what} {key}"), value)?.as_slice()).ctx(p)?;
    }
    Ok(())
}
