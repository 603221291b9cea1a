//! Backups of the settings database: a consistent copy (one read transaction) into a fresh redb file, and a restore that checks the file, then swaps its contents in within one write transaction.

use std::path::{Path, PathBuf};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::settings::V1_KEY_REQUIRED;
use super::{Ctx, FILE_NAME, MODELS, SETTINGS, Store, StoreError, admin};

/// A scratch directory inside the data dir (same file system, mode 0700, owned like the data dir so
/// a server running as the service user can write into one the CLI made as root); removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(data_dir: &Path, tag: &str) -> std::io::Result<Scratch> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let path = data_dir.join(format!(".{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&path)?;
        let scratch = Scratch(path);
        std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o700))?;
        if let Ok(meta) = std::fs::metadata(data_dir) {
            let _ = std::os::unix::fs::chown(&scratch.0, Some(meta.uid()), Some(meta.gid()));
        }
        Ok(scratch)
    }
}

impl Scratch {
    /// A scratch directory inside the data dir owned by this process's user (root for a package's
    /// `airgate restore`), mode 0700 from its creation: the service account can neither enter it
    /// nor plant links in it.
    pub fn private(data_dir: &Path, tag: &str) -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let path = data_dir.join(format!(".{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The string-keyed tables a backup carries. Sessions stay out: a restore signs everyone out.
const TABLES: [TableDefinition<&str, &[u8]>; 5] = [MODELS, SETTINGS, admin::USERS, admin::API_KEYS, admin::ENDPOINTS];

impl Store {
    /// Writes a consistent copy of the settings (not the sessions) to a new database file at `target`.
    pub fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        let p = self.path();
        let out = Database::create(target).ctx(target)?;
        let read = self.0.db.begin_read().ctx(p)?;
        let write = out.begin_write().ctx(target)?;
        copy(&read, p, &write, target, super::META)?;
        for table in TABLES {
            copy(&read, p, &write, target, table)?;
        }
        copy(&read, p, &write, target, admin::AUDIT)?;
        write.open_table(admin::SESSIONS).ctx(target)?;
        write.commit().ctx(target)
    }

    /// Replaces every setting with those of the backup in `dir` (a data dir holding only the backup
    /// file): the file is opened as a database first (integrity checked, an older schema migrated, a
    /// newer one refused), then copied in with one write transaction. Ends every session.
    pub fn restore_from(&self, dir: &Path) -> Result<(), StoreError> {
        let backup = Store::open(dir)?;
        // A restore never opens /v1 by itself: a key required now stays required.
        let key_required = self.get_setting(V1_KEY_REQUIRED)?.unwrap_or(!self.api_keys()?.is_empty());
        let (p, b) = (self.path(), backup.path());
        let read = backup.0.db.begin_read().ctx(b)?;
        let write = self.begin_write()?;
        for table in TABLES {
            write.open_table(table).ctx(p)?.retain(|_, _| false).ctx(p)?;
            copy(&read, b, &write, p, table)?;
        }
        if key_required {
            let on = serde_json::to_vec(&true).unwrap_or_default();
            let mut settings = write.open_table(SETTINGS).ctx(p)?;
            let kept = settings.insert(V1_KEY_REQUIRED.key(), on.as_slice()).ctx(p)?.map(|v| v.value().to_vec());
            if kept.as_deref() != Some(on.as_slice()) {
                tracing::warn!("the backup has /v1 open; it keeps requiring an API key (an admin may change that)");
            }
        }
        write.open_table(admin::AUDIT).ctx(p)?.retain(|_, _| false).ctx(p)?;
        copy(&read, b, &write, p, admin::AUDIT)?;
        write.open_table(admin::SESSIONS).ctx(p)?.retain(|_, _| false).ctx(p)?;
        write.commit().ctx(p)
    }
}

/// Inserts every row of `table` as `read` sees it into the same table of `write`.
fn copy<K: redb::Key + 'static>(
    read: &ReadTransaction,
    from: &Path,
    write: &WriteTransaction,
    to: &Path,
    table: TableDefinition<K, &[u8]>,
) -> Result<(), StoreError> {
    let mut out = write.open_table(table).ctx(to)?;
    for entry in read.open_table(table).ctx(from)?.iter().ctx(from)? {
        let (k, v) = entry.ctx(from)?;
        out.insert(k.value(), v.value()).ctx(to)?;
    }
    Ok(())
}

/// The file name a backup is written under inside a scratch dir (what `restore_from` opens).
pub const BACKUP_FILE: &str = FILE_NAME;

#[cfg(test)]
mod tests {
    use super::super::tests::temp_dir;
    use super::*;
    use crate::store::settings::FEATURE_ROUTES;
    use crate::store::{Feature, RouteTarget, Setting};

    #[test]
    fn backup_then_restore_brings_back_settings_and_ends_sessions() {
        let (live, scratch) = (temp_dir("live"), temp_dir("backup"));
        let store = Store::open(&live).unwrap();
        let disabled = crate::store::FeatureRoutes::from([(Feature::DuoChat, RouteTarget::Disabled)]);
        store.set_setting(FEATURE_ROUTES, &disabled).unwrap();
        let user = crate::store::UserRecord {
            username: "root".into(),
            password_hash: "$argon2id$x".into(),
            created_at: 1,
            last_login_at: None,
        };
        store.create_user(&user, false).unwrap();
        store.backup_to(&scratch.join(BACKUP_FILE)).unwrap();
        // Changes after the backup...
        store.set_setting(FEATURE_ROUTES, &Default::default()).unwrap();
        store.create_user(&crate::store::UserRecord { username: "later".into(), ..user.clone() }, false).unwrap();
        let session = crate::store::SessionRecord {
            username: "root".into(),
            csrf: "c".into(),
            created_at: 1,
            expires_at: u64::MAX,
            ip: None,
        };
        store.put_session("k", &session).unwrap();
        // ...are undone by the restore.
        store.restore_from(&scratch).unwrap();
        assert_eq!(store.get_setting(FEATURE_ROUTES).unwrap(), Some(disabled));
        assert_eq!(store.users().unwrap(), vec![user]);
        assert_eq!(store.session("k").unwrap(), None);
        std::fs::remove_dir_all(&live).unwrap();
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn a_damaged_backup_changes_nothing() {
        let (live, scratch) = (temp_dir("live2"), temp_dir("bad"));
        let store = Store::open(&live).unwrap();
        const X: Setting<u32> = Setting::new("x");
        store.set_setting(X, &1u32).unwrap();
        std::fs::write(scratch.join(BACKUP_FILE), b"not a database at all").unwrap();
        assert!(store.restore_from(&scratch).is_err());
        assert_eq!(store.get_setting(X).unwrap(), Some(1));
        std::fs::remove_dir_all(&live).unwrap();
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn a_restore_never_opens_v1_by_itself() {
        let (live, scratch) = (temp_dir("live3"), temp_dir("open"));
        let store = Store::open(&live).unwrap();
        // A backup made while /v1 was open...
        store.backup_to(&scratch.join(BACKUP_FILE)).unwrap();
        // ...restored after a key was required: still required.
        store.set_setting(V1_KEY_REQUIRED, &true).unwrap();
        store.restore_from(&scratch).unwrap();
        assert_eq!(store.get_setting(V1_KEY_REQUIRED).unwrap(), Some(true));
        // An open server takes the backup's setting as it is.
        store.set_setting(V1_KEY_REQUIRED, &false).unwrap();
        store.restore_from(&scratch).unwrap();
        assert_eq!(store.get_setting(V1_KEY_REQUIRED).unwrap(), None);
        std::fs::remove_dir_all(&live).unwrap();
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
