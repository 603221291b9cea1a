//! Administration records in redb: admin accounts, sessions, the audit log, `/v1` API keys and remote endpoints.
//!
//! Secrets are stored only as digests (session ids, API keys) or PHC strings (passwords), except a
//! remote endpoint's API key, which airgate must present upstream: it is kept in the database
//! (inside the data directory, mode 0700) and never leaves it through the API.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Ctx, Store, StoreError, decode, encode};

pub(super) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
pub(super) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
pub(super) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
pub(super) const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
pub(super) const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("endpoints");

/// Audit entries kept; older ones are dropped as new ones arrive.
const AUDIT_KEEP: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub created_at: u64,
    #[serde(default)]
    pub last_login_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub username: String,
    pub csrf: String,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default)]
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: u64,
    pub actor: String,
    #[serde(default)]
    pub ip: Option<String>,
    pub action: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    /// The first characters of the key, shown to tell keys apart.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub digest: String,
    pub created_at: u64,
    pub created_by: String,
    #[serde(default)]
    pub last_used_at: Option<u64>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub name: String,
    pub url: String,
    /// The model identifier the upstream serves.
    pub model: String,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    /// Where an applied configuration file said the key comes from (`airgate export` writes this,
    /// never the key).
    #[serde(default)]
    pub api_key_ref: Option<SecretRef>,
    pub created_at: u64,
}

/// A reference to a secret outside the configuration: an environment variable or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    Env(String),
    File(String),
}

/// Never prints the API key.
impl std::fmt::Debug for EndpointRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRecord")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("family", &self.family)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("api_key_ref", &self.api_key_ref)
            .finish()
    }
}

/// Why a user could not be removed.
#[derive(Debug, PartialEq)]
pub enum RemoveUser {
    Removed,
    NotFound,
    LastAdmin,
}

impl Store {
    /// Every record of a string-keyed table, in key order.
    pub(super) fn list<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let p = self.path();
        let txn = self.0.db.begin_read().ctx(p)?;
        let t = txn.open_table(table).ctx(p)?;
        let mut out = Vec::new();
        for entry in t.iter().ctx(p)? {
            let (k, v) = entry.ctx(p)?;
            out.push(decode(p, &format!("{what} {}", k.value()), v.value())?);
        }
        Ok(out)
    }

    /// Removes one key; `Ok(false)` when there was none.
    fn remove_key(&self, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<bool, StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        let existed = txn.open_table(table).ctx(p)?.remove(key).ctx(p)?.is_some();
        if existed {
            txn.commit().ctx(p)?;
        }
        Ok(existed)
    }

    /// Removes a setting; `Ok(false)` when it was not set.
    pub fn remove_setting<T>(&self, setting: super::Setting<T>) -> Result<bool, StoreError> {
        self.remove_key(super::SETTINGS, setting.key())
    }

    // -- admin accounts ------------------------------------------------------------------------

    pub fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get_json(USERS, username, &format!("user {username}"))
    }

    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.list(USERS, "user")
    }

    pub fn has_users(&self) -> Result<bool, StoreError> {
        let p = self.path();
        let txn = self.0.db.begin_read().ctx(p)?;
        Ok(txn.open_table(USERS).ctx(p)?.len().ctx(p)? > 0)
    }

    /// Replaces an existing user's record (password change, last sign-in).
    pub fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.put_json(USERS, &user.username, &format!("user {}", user.username), user)
    }

    /// Adds a user unless one of that name exists (false). With `only_if_first`, also refuses (false)
    /// when any user exists: the first-run setup, checked and written in one transaction.
    pub fn create_user(&self, user: &UserRecord, only_if_first: bool) -> Result<bool, StoreError> {
        let p = self.path();
        let bytes = encode(p, "user", user)?;
        let txn = self.begin_write()?;
        {
            let mut t = txn.open_table(USERS).ctx(p)?;
            if t.get(user.username.as_str()).ctx(p)?.is_some() || (only_if_first && t.len().ctx(p)? > 0) {
                return Ok(false);
            }
            t.insert(user.username.as_str(), bytes.as_slice()).ctx(p)?;
        }
        txn.commit().ctx(p)?;
        Ok(true)
    }

    /// Removes a user and their sessions, refusing to remove the last one.
    pub fn remove_user(&self, username: &str) -> Result<RemoveUser, StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        {
            let mut t = txn.open_table(USERS).ctx(p)?;
            if t.get(username).ctx(p)?.is_none() {
                return Ok(RemoveUser::NotFound);
            }
            if t.len().ctx(p)? <= 1 {
                return Ok(RemoveUser::LastAdmin);
            }
            t.remove(username).ctx(p)?;
        }
        remove_sessions_where(&txn, p, |s| s.username == username, None)?;
        txn.commit().ctx(p)?;
        Ok(RemoveUser::Removed)
    }

    // -- sessions ------------------------------------------------------------------------------

    /// `key` is the digest of the session id (the id itself is only in the browser's cookie).
    pub fn put_session(&self, key: &str, session: &SessionRecord) -> Result<(), StoreError> {
        self.put_json(SESSIONS, key, "session", session)
    }

    pub fn session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get_json(SESSIONS, key, "session")
    }

    pub fn remove_session(&self, key: &str) -> Result<bool, StoreError> {
        self.remove_key(SESSIONS, key)
    }

    /// Ends every session of `username` except the one keyed `keep`.
    pub fn remove_sessions_of(&self, username: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        let n = remove_sessions_where(&txn, p, |s| s.username == username, keep)?;
        txn.commit().ctx(p)?;
        Ok(n)
    }

    /// Drops sessions that expired before `now`.
    pub fn purge_sessions(&self, now: u64) -> Result<usize, StoreError> {
        let p = self.path();
        let txn = self.begin_write()?;
        let n = remove_sessions_where(&txn, p, |s| s.expires_at <= now, None)?;
        txn.commit().ctx(p)?;
        Ok(n)
    }

    // -- audit log -----------------------------------------------------------------------------

    /// Appends an entry (keys count up), dropping the oldest beyond the kept number.
    pub fn append_audit(&self, entry: &AuditRecord) -> Result<(), StoreError> {
        let p = self.path();
        let bytes = encode(p, "audit entry", entry)?;
        let txn = self.begin_write()?;
        {
            let mut t = txn.open_table(AUDIT).ctx(p)?;
            let next = t.last().ctx(p)?.map_or(1, |(k, _)| k.value() + 1);
            t.insert(next, bytes.as_slice()).ctx(p)?;
            if next > AUDIT_KEEP {
                t.retain_in(..=next - AUDIT_KEEP, |_, _| false).ctx(p)?;
            }
        }
        txn.commit().ctx(p)
    }

    /// The newest `limit` entries, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let p = self.path();
        let txn = self.0.db.begin_read().ctx(p)?;
        let t = txn.open_table(AUDIT).ctx(p)?;
        let mut out = Vec::new();
        for entry in t.iter().ctx(p)?.rev().take(limit) {
            let (_, v) = entry.ctx(p)?;
            out.push(decode(p, "audit entry", v.value())?);
        }
        Ok(out)
    }

    // -- API keys ------------------------------------------------------------------------------

    pub fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.list(API_KEYS, "API key")
    }

    pub fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_json(API_KEYS, &key.id, "API key", key)
    }

    pub fn remove_api_key(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_key(API_KEYS, id)
    }

    // -- remote endpoints ----------------------------------------------------------------------

    pub fn endpoint(&self, name: &str) -> Result<Option<EndpointRecord>, StoreError> {
        self.get_json(ENDPOINTS, name, &format!("endpoint {name}"))
    }

    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        self.list(ENDPOINTS, "endpoint")
    }

    pub fn put_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), StoreError> {
        self.put_json(ENDPOINTS, &endpoint.name, &format!("endpoint {}", endpoint.name), endpoint)
    }

    pub fn remove_endpoint(&self, name: &str) -> Result<bool, StoreError> {
        self.remove_key(ENDPOINTS, name)
    }
}

fn remove_sessions_where(
    txn: &redb::WriteTransaction,
    p: &std::path::Path,
    doomed: impl Fn(&SessionRecord) -> bool,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    let mut t = txn.open_table(SESSIONS).ctx(p)?;
    let mut keys = Vec::new();
    for entry in t.iter().ctx(p)? {
        let (k, v) = entry.ctx(p)?;
        // An unreadable session is dropped too: it could never be used.
        let gone = serde_json::from_slice::<SessionRecord>(v.value()).map_or(true, |s| doomed(&s));
        if gone && Some(k.value()) != keep {
            keys.push(k.value().to_string());
        }
    }
    for k in &keys {
        t.remove(k.as_str()).ctx(p)?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_dir;
    use super::*;

    fn user(name: &str) -> UserRecord {
        UserRecord { username: name.into(), password_hash: "$argon2id$x".into(), created_at: 1, last_login_at: None }
    }

    fn session(name: &str, expires_at: u64) -> SessionRecord {
        SessionRecord { username: name.into(), csrf: "c".into(), created_at: 1, expires_at, ip: None }
    }

    #[test]
    fn first_user_only_once_and_the_last_admin_stays() {
        let dir = temp_dir("users");
        let store = Store::open(&dir).unwrap();
        assert!(!store.has_users().unwrap());
        assert!(store.create_user(&user("alice"), true).unwrap());
        assert!(!store.create_user(&user("bob"), true).unwrap(), "setup runs once");
        assert!(!store.create_user(&user("alice"), false).unwrap(), "names are unique");
        assert!(store.create_user(&user("bob"), false).unwrap());
        store.put_session("s1", &session("bob", 10)).unwrap();
        store.put_session("s2", &session("alice", 10)).unwrap();
        assert_eq!(store.remove_user("bob").unwrap(), RemoveUser::Removed);
        assert_eq!(store.session("s1").unwrap(), None, "sessions end with the user");
        assert!(store.session("s2").unwrap().is_some());
        assert_eq!(store.remove_user("bob").unwrap(), RemoveUser::NotFound);
        assert_eq!(store.remove_user("alice").unwrap(), RemoveUser::LastAdmin);
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.users().unwrap(), vec![user("alice")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sessions_expire_and_end_per_user() {
        let dir = temp_dir("sessions");
        let store = Store::open(&dir).unwrap();
        store.put_session("a", &session("alice", 100)).unwrap();
        store.put_session("b", &session("alice", 200)).unwrap();
        store.put_session("c", &session("bob", 50)).unwrap();
        assert_eq!(store.purge_sessions(100).unwrap(), 2);
        assert_eq!(store.session("b").unwrap(), Some(session("alice", 200)));
        store.put_session("d", &session("alice", 300)).unwrap();
        assert_eq!(store.remove_sessions_of("alice", Some("d")).unwrap(), 1);
        assert!(store.session("d").unwrap().is_some() && store.session("b").unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn audit_is_newest_first_and_bounded() {
        let dir = temp_dir("audit");
        let store = Store::open(&dir).unwrap();
        for i in 0..5 {
            let e = AuditRecord {
                at: i,
                actor: "alice".into(),
                ip: None,
                action: format!("a{i}"),
                target: String::new(),
                detail: String::new(),
            };
            store.append_audit(&e).unwrap();
        }
        let got: Vec<_> = store.audit(3).unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(got, ["a4", "a3", "a2"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn endpoint_debug_hides_the_key() {
        let e = EndpointRecord {
            name: "vllm".into(),
            url: "http://10.0.0.5:8000/v1".into(),
            model: "m".into(),
            family: None,
            api_key: Some("sk-very-secret".into()),
            api_key_ref: None,
            created_at: 1,
        };
        assert!(!format!("{e:?}").contains("sk-very-secret"));
    }
}
