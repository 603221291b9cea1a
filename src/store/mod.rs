//! Persistent settings in redb: schema version, registered models, settings (typed keys in `settings`); admin records in `admin`.
//!
//! Only this module names `redb`; nothing of redb leaks through the public API. Every value is
//! JSON (serde_json) in a `&str -> &[u8]` table, so records can gain `#[serde(default)]` fields
//! without a migration. Every write is one write transaction committed with
//! `Durability::Immediate`: once a call returns `Ok`, the change is on disk. All calls block;
//! async callers should use `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Serialize, de::DeserializeOwned};

mod admin;
mod backup;
mod config_set;
pub mod settings;
pub use admin::{ApiKeyRecord, AuditRecord, EndpointRecord, RemoveUser, SecretRef, SessionRecord, UserRecord};
pub use backup::{BACKUP_FILE, Scratch};
pub use config_set::{AppliedRecord, ConfigSet};
pub use settings::{Feature, FeatureRoutes, RecordedParams, RouteTarget, RunawayPolicy, Setting};

pub const SCHEMA_VERSION: u32 = 2;

/// File name of the database inside the data directory.
const FILE_NAME: &str = "airgate.redb";
/// Key of the schema version in the `meta` table.
const SCHEMA_KEY: &str = "schema_version";
/// A settings database is tiny; don't let redb reserve its 1 GiB default cache.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const MODELS: TableDefinition<&str, &[u8]> = TableDefinition::new("models");
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// Upgrades the data in place from schema `n` to `n + 1`, inside the open transaction.
type Migration = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// `MIGRATIONS[i]` migrates schema `i + 1` to `i + 2`. To bump the schema: append a function
/// here and increment `SCHEMA_VERSION`; the assertion below keeps the two in step.
const MIGRATIONS: &[Migration] = &[to_v2];
const _: () = assert!(MIGRATIONS.len() + 1 == SCHEMA_VERSION as usize);

/// Schema 2: the admin tables, and feature routes that name a target kind (a plain model name
/// becomes `{"kind": "local", "model": name}`).
fn to_v2(txn: &WriteTransaction) -> Result<(), redb::Error> {
    for table in [admin::USERS, admin::SESSIONS, admin::API_KEYS, admin::ENDPOINTS] {
        txn.open_table(table)?;
    }
    txn.open_table(admin::AUDIT)?;
    let mut settings = txn.open_table(SETTINGS)?;
    let key = settings::FEATURE_ROUTES.key();
    let old = settings.get(key)?.map(|v| v.value().to_vec());
    if let Some(Ok(serde_json::Value::Object(map))) = old.map(|raw| serde_json::from_slice(&raw)) {
        let routes: serde_json::Map<String, serde_json::Value> = map
            .into_iter()
            .map(|(feature, target)| match target {
                serde_json::Value::String(model) => (feature, serde_json::json!({"kind": "local", "model": model})),
                other => (feature, other),
            })
            .collect();
        let bytes = serde_json::to_vec(&routes).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        settings.insert(key, bytes.as_slice())?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database {path} was written by a newer airgate (schema {found}, this build understands up to {supported}); upgrade airgate or restore a backup"
    )]
    NewerSchema { path: String, found: u32, supported: u32 },
    #[error("database {path} is locked by another airgate process")]
    Locked { path: String },
    #[error("data directory {path} is not usable: {message}")]
    DataDir { path: String, message: String },
    #[error(
        "database {path} is damaged or is not an airgate database: {message}; restore a backup or move the file aside"
    )]
    Corrupt { path: String, message: String },
    #[error("database {path}: {message}")]
    Db { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ModelRecord {
    pub name: String,
    pub path: String,
    /// Hex, lower-case; `None` until computed.
    #[serde(default)]
    pub sha256: Option<String>,
    pub size: u64,
    /// GitLab family used for prompts (e.g. "codegemma", "general"); `None` = auto.
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub ctx_size: Option<u32>,
    #[serde(default)]
    pub parallel: Option<u32>,
    #[serde(default)]
    pub threads: Option<u32>,
    #[serde(default)]
    pub gpu_layers: Option<u32>,
    /// Unix seconds.
    pub added_at: u64,
    /// Load at start: `Some(true)` loaded by an admin, `Some(false)` unloaded by an admin, `None`
    /// undecided (a model of the boot config loads, others do not).
    #[serde(default)]
    pub autoload: Option<bool>,
    /// Serve embeddings with this generation model: `Some` = the admin's choice, `None` = the boot
    /// config's (`embeddings` in its model table; off by default). An embeddings model always does.
    #[serde(default)]
    pub embeddings: Option<bool>,
    /// Embeddings pooling (`mean`, `cls`, `last`) instead of the GGUF's or mean; `None` = the boot
    /// config's, else automatic.
    #[serde(default)]
    pub pooling: Option<String>,
    /// Speculative decoding for code completions and generations (`off`, `exact`, `fast`):
    /// `Some` = the admin's choice, `None` = the boot config's (`speculation` in its model table),
    /// else the engine's default.
    #[serde(default)]
    pub speculation: Option<String>,
}

/// Handle on the open database. Cheap to clone; `Send + Sync`. The file stays open (and
/// locked) until the last clone is dropped.
#[derive(Clone)]
pub struct Store(Arc<Inner>);

struct Inner {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store").field(&self.0.path).finish()
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Maps any redb error to a `StoreError` naming the database file.
fn map_redb(path: &Path, err: redb::Error) -> StoreError {
    let path = show(path);
    match err {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => StoreError::Locked { path },
        redb::Error::Corrupted(message) => StoreError::Corrupt { path, message },
        // Not a redb file, a redb file from something else, or an unknown redb file format.
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::UpgradeRequired(_)) => StoreError::Corrupt { path, message: e.to_string() },
        redb::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::Corrupt { path, message: e.to_string() }
        }
        other => StoreError::Db { path, message: other.to_string() },
    }
}

/// `.ctx(path)` turns any redb error into a `StoreError` for that file.
trait Ctx<T> {
    fn ctx(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> Ctx<T> for Result<T, E> {
    fn ctx(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| map_redb(path, e.into()))
    }
}

fn decode<T: DeserializeOwned>(path: &Path, what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt { path: show(path), message: format!("{what} is unreadable ({e})") })
}

fn encode<T: Serialize + ?Sized>(path: &Path, what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Db { path: show(path), message: format!("cannot store {what}: {e}") })
}

impl Store {
    /// Opens (or creates) `<data_dir>/airgate.redb`, creating tables and recording
    /// `SCHEMA_VERSION` on first use, refusing a newer schema and migrating an older one.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(data_dir, MIGRATIONS)
    }

    /// `open`, bringing the file to schema `migrations.len() + 1` (tests pass their own list).
    fn open_with(data_dir: &Path, migrations: &[Migration]) -> Result<Store, StoreError> {
        if !data_dir.is_dir() {
            let message = match std::fs::metadata(data_dir) {
                Ok(_) => "not a directory".to_string(),
                Err(e) => e.to_string(),
            };
            let path = show(data_dir);
            return Err(StoreError::DataDir { path, message });
        }
        let path = data_dir.join(FILE_NAME);
        // A plain open trusts the file and panics on damaged pages (observed with redb 4.5);
        // the integrity check on open (reads the whole file) makes that an error instead.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(&path)
            .ctx(&path)?;
        private_modes(data_dir, &path);
        let store = Store(Arc::new(Inner { db, path }));
        store.prepare(migrations)?;
        tracing::debug!(path = %store.path().display(), "store opened");
        Ok(store)
    }

    /// Creates the tables and the schema record, or checks and migrates an existing schema.
    /// One transaction: a refused or failed open changes nothing on disk.
    fn prepare(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let (p, current) = (self.path(), migrations.len() as u32 + 1);
        let txn = self.begin_write()?;
        let found = {
            let meta = txn.open_table(META).ctx(p)?;
            let raw = meta.get(SCHEMA_KEY).ctx(p)?;
            match raw {
                Some(v) => Some(decode::<u32>(p, "schema version", v.value())?),
                None => None,
            }
        };
        match found {
            None => {
                tracing::info!(path = %p.display(), schema = current, "creating database")
            }
            Some(v) if v == current => return Ok(()), // txn dropped = aborted, nothing written
            Some(v) if v > current => {
                return Err(StoreError::NewerSchema { path: show(p), found: v, supported: current });
            }
            Some(0) => {
                return Err(StoreError::Corrupt { path: show(p), message: "schema version 0 is invalid".into() });
            }
            Some(v) => {
                for (i, migrate) in migrations.iter().enumerate().skip(v as usize - 1) {
                    tracing::info!(path = %p.display(), from = i + 1, to = i + 2, "migrating database");
                    migrate(&txn).ctx(p)?;
                }
            }
        }
        txn.open_table(MODELS).ctx(p)?;
        txn.open_table(SETTINGS).ctx(p)?;
        for table in [admin::USERS, admin::SESSIONS, admin::API_KEYS, admin::ENDPOINTS] {
            txn.open_table(table).ctx(p)?;
        }
        txn.open_table(admin::AUDIT).ctx(p)?;
        {
            let mut meta = txn.open_table(META).ctx(p)?;
            let bytes = encode(p, "schema version", &current)?;
            meta.insert(SCHEMA_KEY, bytes.as_slice()).ctx(p)?;
        }
        txn.commit().ctx(p)
    }

    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.0.db.begin_write().ctx(self.path())?;
        txn.set_durability(Durability::Immediate).ctx(self.path())?;
        Ok(txn)
    }

    /// Reads one JSON value from `table`.
    fn get_json<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let p = self.path();
        let txn = self.0.db.begin_read().ctx(p)?;
        let t = txn.open_table(table).ctx(p)?;
        let raw = t.get(key).ctx(p)?;
        raw.map(|v| decode(p, what, v.value())).transpose()
    }

    /// Writes one JSON value into `table` in its own durable transaction.
    fn put_json<T: Serialize + ?Sized>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        what: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let p = self.path();
        let bytes = encode(p, what, value)?;
        let txn = self.begin_write()?;
        txn.open_table(table).ctx(p)?.insert(key, bytes.as_slice()).ctx(p)?;
        txn.commit().ctx(p)
    }

    /// Path of the database file (`<data_dir>/airgate.redb`).
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.get_json(META, SCHEMA_KEY, "schema version")?
            .ok_or_else(|| StoreError::Corrupt { path: show(self.path()), message: "schema version is missing".into() })
    }

    /// Inserts the model, or replaces the record of the same name.
    pub fn upsert_model(&self, m: &ModelRecord) -> Result<(), StoreError> {
        self.put_json(MODELS, &m.name, &format!("model {}", m.name), m)
    }

    /// Reads, changes and writes one model record in a single write transaction, so a concurrent
    /// change (an admin's edit, a removal) is never overwritten with stale data. `change` gets the
    /// current record and returns the one to store, or `None` to leave the table as it is.
    pub fn update_model(
        &self,
        name: &str,
        change: impl FnOnce(Option<ModelRecord>) -> Option<ModelRecord>,
    ) -> Result<Option<ModelRecord>, StoreError> {
        self.update_json(MODELS, name, &format!("model {name}"), change)
    }

    pub fn model(&self, name: &str) -> Result<Option<ModelRecord>, StoreError> {
        self.get_json(MODELS, name, &format!("model {name}"))
    }

    /// All models, sorted by name.
    pub fn models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        self.list(MODELS, "model")
    }

    /// Removes the model; `Ok(false)` if there was none of that name.
    pub fn remove_model(&self, name: &str) -> Result<bool, StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        let existed = txn.open_table(MODELS).ctx(p)?.remove(name).ctx(p)?.is_some();
        if existed {
            txn.commit().ctx(p)?;
        }
        Ok(existed)
    }

    /// A setting's value; `None` if never set.
    pub fn get_setting<T: DeserializeOwned>(&self, setting: Setting<T>) -> Result<Option<T>, StoreError> {
        let key = setting.key();
        self.get_json(SETTINGS, key, &format!("setting {key}"))
    }

    pub fn set_setting<T: Serialize>(&self, setting: Setting<T>, value: &T) -> Result<(), StoreError> {
        let key = setting.key();
        self.put_json(SETTINGS, key, &format!("setting {key}"), value)
    }

    /// Reads, changes and writes a setting in one write transaction, so concurrent changes to
    /// different parts of it never overwrite each other. Returns the new value.
    pub fn update_setting<T: Serialize + DeserializeOwned>(
        &self,
        setting: Setting<T>,
        change: impl FnOnce(Option<T>) -> T,
    ) -> Result<T, StoreError> {
        let key = setting.key();
        let new = self.update_json(SETTINGS, key, &format!("setting {key}"), |old| Some(change(old)))?;
        Ok(new.expect("the change always returns a value"))
    }

    /// Reads the JSON value at `key`, lets `change` decide the new one and writes it, all in one
    /// write transaction; `None` from `change` writes nothing. Returns what `change` returned.
    fn update_json<T: Serialize + DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        what: &str,
        change: impl FnOnce(Option<T>) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        let new = {
            let mut t = txn.open_table(table).ctx(p)?;
            let old = match t.get(key).ctx(p)? {
                Some(raw) => Some(decode(p, what, raw.value())?),
                None => None,
            };
            let new = change(old);
            if let Some(value) = &new {
                t.insert(key, encode(p, what, value)?.as_slice()).ctx(p)?;
            }
            new
        };
        if new.is_some() {
            txn.commit().ctx(p)?;
        }
        Ok(new)
    }
}

/// The data dir 0700 and the database 0600, whatever the umask. The database is changed through a
/// handle opened without following links (a link planted there is left alone, and said); a failure
/// (another owner's dir) is logged, not fatal.
fn private_modes(data_dir: &Path, db: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Err(e) = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!(path = %show(data_dir), error = %e, "cannot make the data directory private (0700)");
    }
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(db);
    if let Err(e) = file.and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600))) {
        tracing::warn!(path = %show(db), error = %e, "cannot make the database private (0600)");
    }
}

#[cfg(test)]
mod tests;
