//! Admin accounts: argon2id passwords, sessions with CSRF tokens, the first-run setup token, login throttling, the audit log.
//!
//! Everything here blocks (hashing, redb); async callers use `spawn_blocking`. Session ids and
//! setup tokens are 256-bit random values; only their SHA-256 digests are stored, except the setup
//! token, which `airgate admin setup-token` must be able to print.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::store::settings::ADMIN_SETUP_TOKEN as SETUP_TOKEN;
use crate::store::{AuditRecord, SessionRecord, Store, StoreError, UserRecord};

pub const SESSION_COOKIE: &str = "airgate_session";
pub const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 1024;
/// A session ends after this long without use…
pub const SESSION_IDLE: u64 = 12 * 3600;
/// …and this long after sign-in at the latest.
pub const SESSION_MAX: u64 = 7 * 24 * 3600;

/// Failed sign-ins counted over this window…
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// …lock a user name out after this many…
const MAX_FAILURES_PER_USER: usize = 5;
/// …and an address after this many.
const MAX_FAILURES_PER_IP: usize = 20;

/// Argon2id with 64 MiB, 3 passes, 1 lane (RFC 9106's memory-constrained choice): ~0.2 s here.
fn argon2() -> Argon2<'static> {
    let params = Params::new(64 * 1024, 3, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, String> {
    argon2().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| format!("cannot hash: {e}"))
}

/// True when `password` matches the PHC string (parameters come from the string).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

pub fn check_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(())
}

pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!("must be at least {MIN_PASSWORD} characters"));
    }
    if n > MAX_PASSWORD {
        return Err(format!("must be at most {MAX_PASSWORD} characters"));
    }
    Ok(())
}

/// A new random token: 32 bytes, URL-safe base64 without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn digest_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong user name or password")]
    Wrong,
    #[error("too many failed sign-ins; try again in {} minutes", .0.as_secs().div_ceil(60))]
    Locked(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Failed sign-ins per user name and per address, in memory.
#[derive(Default)]
struct Throttle {
    failures: HashMap<String, Vec<Instant>>,
}

impl Throttle {
    /// How long `key` stays locked when it has `limit` recent failures.
    fn locked(&mut self, key: &str, limit: usize, now: Instant) -> Option<Duration> {
        let list = self.failures.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < THROTTLE_WINDOW);
        (list.len() >= limit).then(|| THROTTLE_WINDOW.saturating_sub(now.duration_since(list[list.len() - limit])))
    }

    fn fail(&mut self, key: String, now: Instant) {
        if self.failures.len() > 100_000 {
            self.failures.retain(|_, l| l.last().is_some_and(|t| now.duration_since(*t) < THROTTLE_WINDOW));
        }
        self.failures.entry(key).or_default().push(now);
    }
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct Session {
    /// Digest of the session id: the database key.
    pub key: String,
    pub record: SessionRecord,
}

/// Admin accounts and sessions over the store.
pub struct AdminAuth {
    store: Store,
    throttle: Mutex<Throttle>,
    /// A hash to verify against when the user does not exist, so both cases take as long.
    decoy: String,
    /// One hash at a time: each takes 64 MiB.
    hashing: Mutex<()>,
}

impl AdminAuth {
    pub fn new(store: Store) -> Self {
        let decoy = hash_password(&random_token()).expect("argon2 hashes a token");
        AdminAuth { store, throttle: Mutex::default(), decoy, hashing: Mutex::new(()) }
    }

    fn throttle(&self) -> MutexGuard<'_, Throttle> {
        crate::sync::lock(&self.throttle)
    }

    fn hash(&self, password: &str) -> Result<String, String> {
        let _one = crate::sync::lock(&self.hashing);
        hash_password(password)
    }

    fn verify(&self, password: &str, phc: &str) -> bool {
        let _one = crate::sync::lock(&self.hashing);
        verify_password(password, phc)
    }

    /// While no admin exists: the setup token, made (and logged) on first call.
    pub fn setup_token(&self) -> Result<Option<String>, StoreError> {
        if self.store.has_users()? {
            return Ok(None);
        }
        if let Some(token) = self.store.get_setting(SETUP_TOKEN)? {
            return Ok(Some(token));
        }
        let token = random_token();
        self.store.set_setting(SETUP_TOKEN, &token)?;
        Ok(Some(token))
    }

    /// Creates the first admin when `token` is the setup token. `Ok(None)`: wrong token or setup done.
    pub fn setup(&self, token: &str, username: &str, password: &str, ip: &str) -> Result<Option<Session>, String> {
        let expected = self.store.get_setting(SETUP_TOKEN).map_err(|e| e.to_string())?;
        let matches = expected.as_deref().is_some_and(|t| {
            use subtle::ConstantTimeEq;
            bool::from(digest_hex(t).as_bytes().ct_eq(digest_hex(token.trim()).as_bytes()))
        });
        if !matches {
            return Ok(None);
        }
        let user = UserRecord {
            username: username.to_string(),
            password_hash: self.hash(password)?,
            created_at: crate::unix_now(),
            last_login_at: Some(crate::unix_now()),
        };
        if !self.store.create_user(&user, true).map_err(|e| e.to_string())? {
            return Ok(None);
        }
        let _ = self.store.remove_setting(SETUP_TOKEN);
        self.audit(username, Some(ip), "setup", username, "first admin created with the setup token");
        self.new_session(username, ip).map(Some).map_err(|e| e.to_string())
    }

    /// Adds an admin (CLI or another admin). False when the name is taken.
    pub fn create_user(&self, username: &str, password: &str) -> Result<bool, String> {
        let user = UserRecord {
            username: username.to_string(),
            password_hash: self.hash(password)?,
            created_at: crate::unix_now(),
            last_login_at: None,
        };
        let created = self.store.create_user(&user, false).map_err(|e| e.to_string())?;
        if created {
            let _ = self.store.remove_setting(SETUP_TOKEN);
        }
        Ok(created)
    }

    /// Sets a new password, ends the user's other sessions and lifts a lockout. False: no such user.
    pub fn set_password(&self, username: &str, password: &str, keep: Option<&str>) -> Result<bool, String> {
        let Some(mut user) = self.store.user(username).map_err(|e| e.to_string())? else { return Ok(false) };
        user.password_hash = self.hash(password)?;
        self.store.put_user(&user).map_err(|e| e.to_string())?;
        self.store.remove_sessions_of(username, keep).map_err(|e| e.to_string())?;
        self.throttle().failures.remove(&format!("user:{username}"));
        Ok(true)
    }

    /// Checks the password under the throttle and opens a session.
    pub fn login(&self, username: &str, password: &str, ip: &str) -> Result<Session, LoginError> {
        let (user_key, ip_key) = (format!("user:{username}"), format!("ip:{ip}"));
        let now = Instant::now();
        {
            let mut t = self.throttle();
            let locked =
                t.locked(&user_key, MAX_FAILURES_PER_USER, now).or(t.locked(&ip_key, MAX_FAILURES_PER_IP, now));
            if let Some(wait) = locked {
                return Err(LoginError::Locked(wait));
            }
        }
        let user = self.store.user(username)?;
        let ok = match &user {
            Some(u) => self.verify(password, &u.password_hash),
            None => {
                let _ = self.verify(password, &self.decoy);
                false
            }
        };
        let Some(mut user) = user.filter(|_| ok) else {
            let mut t = self.throttle();
            t.fail(user_key.clone(), now);
            t.fail(ip_key, now);
            let locked_now = t.locked(&user_key, MAX_FAILURES_PER_USER, now).is_some();
            drop(t);
            tracing::warn!(user = %username, %ip, "failed admin sign-in");
            if locked_now {
                self.audit(username, Some(ip), "lockout", username, "too many failed sign-ins");
            }
            return Err(LoginError::Wrong);
        };
        self.throttle().failures.remove(&user_key);
        user.last_login_at = Some(crate::unix_now());
        self.store.put_user(&user)?;
        self.audit(username, Some(ip), "login", username, "");
        Ok(self.new_session(username, ip)?)
    }

    fn new_session(&self, username: &str, ip: &str) -> Result<Session, StoreError> {
        let id = random_token();
        let now = crate::unix_now();
        let record = SessionRecord {
            username: username.to_string(),
            csrf: random_token(),
            created_at: now,
            expires_at: now + SESSION_IDLE,
            ip: Some(ip.to_string()),
        };
        let key = digest_hex(&id);
        self.store.put_session(&key, &record)?;
        // The id goes to the caller once (for the cookie) and is not kept.
        Ok(Session { key: id, record })
    }

    /// The session for a cookie value, extending its idle deadline (at most once a minute).
    pub fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let key = digest_hex(id);
        let Some(mut record) = self.store.session(&key)? else { return Ok(None) };
        let now = crate::unix_now();
        if record.expires_at <= now {
            self.store.remove_session(&key)?;
            return Ok(None);
        }
        let renewed = (now + SESSION_IDLE).min(record.created_at + SESSION_MAX);
        if renewed >= record.expires_at + 60 {
            record.expires_at = renewed;
            self.store.put_session(&key, &record)?;
        }
        Ok(Some(Session { key, record }))
    }

    pub fn logout(&self, session: &Session) -> Result<(), StoreError> {
        self.store.remove_session(&session.key).map(|_| ())
    }

    /// Records who did what; a failure to record is logged, never fatal.
    pub fn audit(&self, actor: &str, ip: Option<&str>, action: &str, target: &str, detail: &str) {
        let entry = AuditRecord {
            at: crate::unix_now(),
            actor: actor.to_string(),
            ip: ip.map(str::to_string),
            action: action.to_string(),
            target: target.to_string(),
            detail: detail.to_string(),
        };
        tracing::info!(actor, action, target, detail, "admin action");
        if let Err(e) = self.store.append_audit(&entry) {
            tracing::warn!(error = %e, "could not write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_username("alice.admin-2_b").is_ok());
        for bad in ["", "a b", "ålice", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        assert!(check_password("short").unwrap_err().contains("12"));
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn throttle_locks_after_the_limit_and_forgets_after_the_window() {
        let mut t = Throttle::default();
        let start = Instant::now();
        for i in 0..4 {
            t.fail("user:a".into(), start + Duration::from_secs(i));
        }
        assert_eq!(t.locked("user:a", 5, start + Duration::from_secs(5)), None);
        t.fail("user:a".into(), start + Duration::from_secs(5));
        let wait = t.locked("user:a", 5, start + Duration::from_secs(6)).unwrap();
        assert_eq!(wait, THROTTLE_WINDOW - Duration::from_secs(6));
        assert_eq!(t.locked("user:a", 5, start + THROTTLE_WINDOW + Duration::from_secs(1)), None);
        assert_eq!(t.locked("user:b", 5, start), None);
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
