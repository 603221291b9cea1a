//! Admin accounts: argon2id passwords, sessions with CSRF tokens, the first-run setup token, login throttling, the audit log.
//!
//! The sync methods block (hashing, redb) and serve the CLI; the server's handlers use the async
//! ones, which hash on the bounded pool of `auth::hashing` after reserving the attempt with
//! `auth::throttle`. Session ids and
//! setup tokens are 256-bit random values; only their SHA-256 digests are stored, except the setup
//! token, which `airgate admin setup-token` must be able to print.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::hashing::{self, Busy, HashPool};
use super::throttle::Throttle;
use crate::store::settings::{ADMIN_SETUP_TOKEN as SETUP_TOKEN, ADMIN_SETUP_TOKEN_MADE as SETUP_TOKEN_MADE};
use crate::store::{AuditRecord, SessionRecord, Store, StoreError, UserRecord};

pub const SESSION_COOKIE: &str = "airgate_session";
pub const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 1024;
/// A session ends after this long without use…
pub const SESSION_IDLE: u64 = 12 * 3600;
/// …and this long after sign-in at the latest.
pub const SESSION_MAX: u64 = 7 * 24 * 3600;
/// A setup token is good for this long; the next start while no admin exists makes a new one.
pub const SETUP_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

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
    Busy(#[from] Busy),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an account change (setup, new admin, new password) failed in the server.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("{0}")]
    Failed(String),
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
    /// The server's password hashing: two at a time on threads of their own.
    pool: HashPool,
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, AccountError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(AccountError::Failed),
        Err(e) => Err(AccountError::Failed(e.to_string())),
    }
}

impl AdminAuth {
    pub fn new(store: Store) -> Self {
        let decoy = hash_password(&random_token()).expect("argon2 hashes a token");
        let pool = HashPool::new(hashing::THREADS, hashing::MAX_WAIT);
        AdminAuth { store, throttle: Mutex::default(), decoy, pool }
    }

    fn throttle(&self) -> MutexGuard<'_, Throttle> {
        crate::sync::lock(&self.throttle)
    }

    /// Hashes on the calling thread: the CLI's one hash.
    fn hash(&self, password: &str) -> Result<String, String> {
        hash_password(password)
    }

    /// Hashes on the server's hashing pool.
    async fn hash_in_turn(&self, password: &str) -> Result<String, AccountError> {
        let password = password.to_string();
        self.pool.run(move || hash_password(&password)).await?.map_err(AccountError::Failed)
    }

    /// True when `password` is the user's (checked on the hashing pool, or against the decoy when
    /// there is no such user, so both take as long). For a second factor of the acting admin.
    pub async fn check_password_of(&self, username: &str, password: &str) -> Result<bool, AccountError> {
        let store = self.store.clone();
        let (name, password, decoy) = (username.to_string(), password.to_string(), self.decoy.clone());
        let checked = self.pool.run(move || {
            let user = store.user(&name).map_err(|e| e.to_string())?;
            Ok(verify_password(&password, user.as_ref().map_or(decoy.as_str(), |u| u.password_hash.as_str()))
                && user.is_some())
        });
        checked.await?.map_err(AccountError::Failed)
    }

    /// While no admin exists: the setup token, and whether it was made just now. One older than
    /// [`SETUP_TOKEN_TTL`] is replaced by a new one.
    pub fn setup_token(&self) -> Result<Option<(String, bool)>, StoreError> {
        if self.store.has_users()? {
            return Ok(None);
        }
        if let Some(token) = self.store.get_setting(SETUP_TOKEN)?
            && !self.setup_token_expired()?
        {
            return Ok(Some((token, false)));
        }
        let token = random_token();
        self.store.set_setting(SETUP_TOKEN_MADE, &crate::unix_now())?;
        self.store.set_setting(SETUP_TOKEN, &token)?;
        Ok(Some((token, true)))
    }

    /// The stored setup token is older than [`SETUP_TOKEN_TTL`] (one from before tokens had an age
    /// counts as made now).
    fn setup_token_expired(&self) -> Result<bool, StoreError> {
        let made = match self.store.get_setting(SETUP_TOKEN_MADE)? {
            Some(at) => at,
            None => {
                self.store.set_setting(SETUP_TOKEN_MADE, &crate::unix_now())?;
                crate::unix_now()
            }
        };
        Ok(crate::unix_now().saturating_sub(made) >= SETUP_TOKEN_TTL.as_secs())
    }

    /// Creates the first admin when `token` is the setup token. `Ok(None)`: wrong token (audited)
    /// or setup done. The token is checked before any hashing.
    pub async fn setup(
        self: &Arc<Self>,
        token: &str,
        username: &str,
        password: &str,
        ip: &str,
    ) -> Result<Option<Session>, AccountError> {
        let (me, given, name, from) = (self.clone(), token.trim().to_string(), username.to_string(), ip.to_string());
        let matches = blocking(move || {
            let expected = me.store.get_setting(SETUP_TOKEN).map_err(|e| e.to_string())?;
            let matches = expected.as_deref().is_some_and(|t| {
                use subtle::ConstantTimeEq;
                bool::from(digest_hex(t).as_bytes().ct_eq(digest_hex(&given).as_bytes()))
            });
            let expired = matches && me.setup_token_expired().map_err(|e| e.to_string())?;
            if expected.is_some() && (!matches || expired) {
                let why = if expired {
                    "an expired setup token (a new one is made at the next start)"
                } else {
                    "a wrong setup token"
                };
                me.audit(&name, Some(&from), "setup_failed", &name, why);
            }
            Ok(matches && !expired)
        });
        if !matches.await? {
            return Ok(None);
        }
        let phc = self.hash_in_turn(password).await?;
        let (me, name, ip) = (self.clone(), username.to_string(), ip.to_string());
        blocking(move || {
            let now = crate::unix_now();
            let user =
                UserRecord { username: name.clone(), password_hash: phc, created_at: now, last_login_at: Some(now) };
            if !me.store.create_user(&user, true).map_err(|e| e.to_string())? {
                return Ok(None);
            }
            let _ = me.store.remove_setting(SETUP_TOKEN);
            me.audit(&name, Some(&ip), "setup", &name, "first admin created with the setup token");
            me.new_session(&name, &ip).map(Some).map_err(|e| e.to_string())
        })
        .await
    }

    /// Adds an admin (CLI). False when the name is taken.
    pub fn create_user(&self, username: &str, password: &str) -> Result<bool, String> {
        let phc = self.hash(password)?;
        self.store_new_user(username, phc)
    }

    /// [`AdminAuth::create_user`] for the server, hashing on the pool.
    pub async fn create_user_in_turn(self: &Arc<Self>, username: &str, password: &str) -> Result<bool, AccountError> {
        let phc = self.hash_in_turn(password).await?;
        let (me, name) = (self.clone(), username.to_string());
        blocking(move || me.store_new_user(&name, phc)).await
    }

    fn store_new_user(&self, username: &str, password_hash: String) -> Result<bool, String> {
        let user = UserRecord {
            username: username.to_string(),
            password_hash,
            created_at: crate::unix_now(),
            last_login_at: None,
        };
        let created = self.store.create_user(&user, false).map_err(|e| e.to_string())?;
        if created {
            let _ = self.store.remove_setting(SETUP_TOKEN);
        }
        Ok(created)
    }

    /// Sets a new password (CLI), ends the user's other sessions and lifts a lockout. False: no such user.
    pub fn set_password(&self, username: &str, password: &str, keep: Option<&str>) -> Result<bool, String> {
        if self.store.user(username).map_err(|e| e.to_string())?.is_none() {
            return Ok(false);
        }
        let phc = self.hash(password)?;
        self.store_password(username, phc, keep)
    }

    /// [`AdminAuth::set_password`] for the server, hashing on the pool.
    pub async fn set_password_in_turn(
        self: &Arc<Self>,
        username: &str,
        password: &str,
        keep: Option<&str>,
    ) -> Result<bool, AccountError> {
        let phc = self.hash_in_turn(password).await?;
        let (me, name, keep) = (self.clone(), username.to_string(), keep.map(str::to_string));
        blocking(move || me.store_password(&name, phc, keep.as_deref())).await
    }

    fn store_password(&self, username: &str, password_hash: String, keep: Option<&str>) -> Result<bool, String> {
        let Some(mut user) = self.store.user(username).map_err(|e| e.to_string())? else { return Ok(false) };
        user.password_hash = password_hash;
        self.store.put_user(&user).map_err(|e| e.to_string())?;
        self.store.remove_sessions_of(username, keep).map_err(|e| e.to_string())?;
        self.throttle().forget_user(username);
        Ok(true)
    }

    /// Checks the password and opens a session. The attempt is reserved against the throttle
    /// first (so concurrent guesses cannot pass the limits), a name outside the name rule is
    /// refused before anything else, and the check runs on the hashing pool.
    pub async fn login(self: &Arc<Self>, username: &str, password: &str, ip: &str) -> Result<Session, LoginError> {
        if check_username(username).is_err() || password.is_empty() || password.len() > 4 * MAX_PASSWORD {
            return Err(LoginError::Wrong);
        }
        let reservation = self.throttle().reserve(username, ip, Instant::now()).map_err(LoginError::Locked)?;
        let (store, decoy) = (self.store.clone(), self.decoy.clone());
        let (name, given) = (username.to_string(), password.to_string());
        let checked = self.pool.run(move || -> Result<Option<UserRecord>, StoreError> {
            let user = store.user(&name)?;
            let ok = verify_password(&given, user.as_ref().map_or(decoy.as_str(), |u| u.password_hash.as_str()));
            Ok(user.filter(|_| ok))
        });
        let user = match checked.await {
            Ok(Ok(user)) => user,
            Ok(Err(e)) => {
                self.throttle().cancel(reservation);
                return Err(e.into());
            }
            Err(busy) => {
                self.throttle().cancel(reservation);
                return Err(busy.into());
            }
        };
        let (me, name, ip) = (self.clone(), username.to_string(), ip.to_string());
        let Some(mut user) = user else {
            let locked_now = self.throttle().failed(reservation, Instant::now());
            tracing::warn!(user = %name, %ip, "failed admin sign-in");
            if locked_now {
                let _ = blocking(move || {
                    me.audit(&name, Some(&ip), "lockout", &name, "too many failed sign-ins");
                    Ok(())
                })
                .await;
            }
            return Err(LoginError::Wrong);
        };
        self.throttle().succeeded(reservation);
        let opened = tokio::task::spawn_blocking(move || {
            user.last_login_at = Some(crate::unix_now());
            me.store.put_user(&user)?;
            me.audit(&name, Some(&ip), "login", &name, "");
            me.new_session(&name, &ip)
        });
        let opened = opened.await.map_err(|e| StoreError::Db { path: String::new(), message: e.to_string() })?;
        Ok(opened?)
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

    #[tokio::test(flavor = "multi_thread")]
    async fn an_expired_setup_token_is_refused_audited_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let auth = Arc::new(AdminAuth::new(store.clone()));
        let (first, fresh) = auth.setup_token().unwrap().unwrap();
        assert!(fresh, "made now: logged");
        assert_eq!(auth.setup_token().unwrap().unwrap(), (first.clone(), false), "the same one, not logged again");
        store.set_setting(SETUP_TOKEN_MADE, &(crate::unix_now() - 25 * 3600)).unwrap();
        assert!(auth.setup(&first, "root", "a long enough password", "10.0.0.1").await.unwrap().is_none());
        let audit = store.audit(10).unwrap();
        assert!(audit.iter().any(|a| a.action == "setup_failed" && a.detail.contains("expired")), "{audit:?}");
        let (second, fresh) = auth.setup_token().unwrap().unwrap();
        assert!(fresh && second != first);
        assert!(auth.setup(&second, "root", "a long enough password", "10.0.0.1").await.unwrap().is_some());
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
