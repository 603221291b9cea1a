//! Store tests: schema versions and migrations, models, settings, reopen.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh, empty directory unique to this test run.
pub(super) fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("airgate-store-{tag}-{}-{n}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn model(name: &str) -> ModelRecord {
    ModelRecord {
        embeddings: None,
        pooling: None,
        speculation: None,
        name: name.into(),
        path: format!("/models/{name}.gguf"),
        sha256: None,
        size: 42,
        family: Some("general".into()),
        ctx_size: Some(8192),
        parallel: None,
        threads: Some(4),
        gpu_layers: None,
        added_at: 1_700_000_000,
        autoload: None,
    }
}

#[test]
fn fresh_open_writes_the_current_schema() {
    let dir = temp_dir("fresh");
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.path(), dir.join("airgate.redb"));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.models().unwrap().is_empty());
    drop(store);
    assert_eq!(Store::open(&dir).unwrap().schema_version().unwrap(), SCHEMA_VERSION);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn models_survive_reopen() {
    let dir = temp_dir("models");
    let store = Store::open(&dir).unwrap();
    for name in ["qwen", "codegemma", "mistral"] {
        store.upsert_model(&model(name)).unwrap();
    }
    assert_eq!(store.model("qwen").unwrap(), Some(model("qwen")));
    assert_eq!(store.model("nope").unwrap(), None);
    drop(store);
    let store = Store::open(&dir).unwrap();
    let names: Vec<_> = store.models().unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["codegemma", "mistral", "qwen"]);
    let mut updated = model("mistral");
    (updated.sha256, updated.gpu_layers) = (Some("ab".repeat(32)), Some(99));
    store.upsert_model(&updated).unwrap();
    assert!(store.remove_model("codegemma").unwrap());
    assert!(!store.remove_model("codegemma").unwrap());
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.models().unwrap(), vec![updated, model("qwen")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn update_model_changes_what_is_there_and_writes_nothing_when_declined() {
    let dir = temp_dir("update-model");
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.update_model("qwen", |_| None).unwrap(), None);
    assert_eq!(store.model("qwen").unwrap(), None, "declined: nothing written");
    store.update_model("qwen", |current| current.or_else(|| Some(model("qwen")))).unwrap();
    let changed = store
        .update_model("qwen", |current| current.map(|m| ModelRecord { sha256: Some("cd".repeat(32)), ..m }))
        .unwrap();
    assert_eq!(store.model("qwen").unwrap(), changed);
    assert_eq!(changed.unwrap().sha256, Some("cd".repeat(32)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn record_without_optional_fields_decodes() {
    let json = br#"{"name":"m","path":"/m.gguf","size":1,"added_at":2}"#;
    let m: ModelRecord = decode(Path::new("x"), "model m", json).unwrap();
    assert_eq!((m.sha256, m.family, m.ctx_size, m.threads), (None, None, None, None));
}

#[test]
fn settings_round_trip() {
    let dir = temp_dir("settings");
    let store = Store::open(&dir).unwrap();
    const ROUTES: Setting<Vec<u32>> = Setting::new("routes");
    assert_eq!(store.get_setting(settings::GITLAB_URL).unwrap(), None);
    store.set_setting(settings::GITLAB_URL, &"https://gitlab.example".to_string()).unwrap();
    store.set_setting(ROUTES, &vec![1u32, 2, 3]).unwrap();
    store.set_setting(ROUTES, &vec![4u32]).unwrap();
    drop(store);
    let store = Store::open(&dir).unwrap();
    let url = store.get_setting(settings::GITLAB_URL).unwrap();
    assert_eq!(url.as_deref(), Some("https://gitlab.example"));
    assert_eq!(store.get_setting(ROUTES).unwrap(), Some(vec![4]));
    // A stored value of another type: an error, not a panic.
    let err = store.get_setting(Setting::<u32>::new("gitlab_url")).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn raw_schema(dir: &Path, set: Option<&[u8]>) -> Vec<u8> {
    let db = Database::create(dir.join(FILE_NAME)).unwrap();
    if let Some(v) = set {
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(SCHEMA_KEY, v).unwrap();
        txn.commit().unwrap();
    }
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    meta.get(SCHEMA_KEY).unwrap().unwrap().value().to_vec()
}

#[test]
fn newer_schema_is_refused() {
    let dir = temp_dir("newer");
    Store::open(&dir).unwrap().upsert_model(&model("keep")).unwrap();
    raw_schema(&dir, Some(b"3"));
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found: 3, supported: 2, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("schema 3") && msg.contains("up to 2"), "{msg}");
    assert!(msg.contains(&show(&dir.join(FILE_NAME))), "{msg}");
    assert_eq!(raw_schema(&dir, None), b"3"); // the refused open wrote nothing
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn older_schema_is_migrated_in_order() {
    fn to_v2(txn: &WriteTransaction) -> Result<(), redb::Error> {
        txn.open_table(SETTINGS)?.insert("migrated", b"[2]".as_slice())?;
        Ok(())
    }
    fn to_v3(txn: &WriteTransaction) -> Result<(), redb::Error> {
        let mut t = txn.open_table(SETTINGS)?;
        let mut seen: Vec<u32> = serde_json::from_slice(t.get("migrated")?.unwrap().value())
            .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        seen.push(3);
        t.insert("migrated", serde_json::to_vec(&seen).unwrap().as_slice())?;
        Ok(())
    }
    let dir = temp_dir("migrate");
    Store::open_with(&dir, &[]).unwrap().upsert_model(&model("keep")).unwrap();
    let store = Store::open_with(&dir, &[to_v2, to_v3]).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.get_setting(Setting::<Vec<u32>>::new("migrated")).unwrap(), Some(vec![2, 3]));
    assert_eq!(store.model("keep").unwrap(), Some(model("keep")));
    drop(store);
    let err = Store::open(&dir).unwrap_err(); // this build's schema 2 < 3
    assert!(matches!(err, StoreError::NewerSchema { found: 3, .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schema_1_gains_admin_tables_and_route_kinds() {
    let dir = temp_dir("v1");
    let v1 = Store::open_with(&dir, &[]).unwrap();
    // The raw JSON of the feature routes, whatever shape a schema gave them.
    const RAW_ROUTES: Setting<serde_json::Value> = Setting::new("feature_routes");
    v1.set_setting(RAW_ROUTES, &serde_json::json!({"duo_chat": "gemma", "code_completions": "qwen"})).unwrap();
    v1.upsert_model(&model("gemma")).unwrap();
    drop(v1);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    let routes = store.get_setting(RAW_ROUTES).unwrap().unwrap();
    let typed = store.get_setting(settings::FEATURE_ROUTES).unwrap().unwrap();
    assert_eq!(typed[&Feature::DuoChat], RouteTarget::Local { model: "gemma".into() });
    assert_eq!(routes["duo_chat"], serde_json::json!({"kind": "local", "model": "gemma"}));
    assert_eq!(routes["code_completions"]["model"], "qwen");
    assert!(!store.has_users().unwrap() && store.endpoints().unwrap().is_empty());
    assert!(store.audit(10).unwrap().is_empty());
    assert_eq!(store.model("gemma").unwrap(), Some(model("gemma")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn second_open_is_locked() {
    let dir = temp_dir("locked");
    let first = Store::open(&dir).unwrap();
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked by another airgate"), "{err}");
    // Clones share the one open database; the lock goes with the last of them.
    let clone = first.clone();
    drop(first);
    assert!(matches!(Store::open(&dir), Err(StoreError::Locked { .. })));
    let t = std::thread::spawn(move || clone.upsert_model(&model("t")));
    t.join().unwrap().unwrap();
    Store::open(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unusable_data_dir_names_the_path() {
    let dir = temp_dir("datadir");
    let (missing, file) = (dir.join("does-not-exist"), dir.join("plain-file"));
    std::fs::write(&file, b"x").unwrap();
    for bad in [&missing, &file] {
        let err = Store::open(bad).unwrap_err();
        assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
        assert!(err.to_string().contains(&show(bad)), "{err}");
    }
    assert!(!missing.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbage_or_damaged_file_is_an_error_not_a_panic() {
    let dir = temp_dir("damaged");
    Store::open(&dir).unwrap().upsert_model(&model("m")).unwrap();
    let mut damaged = std::fs::read(dir.join(FILE_NAME)).unwrap();
    // Keep redb's header, scramble the pages: a plain redb open panics on this one.
    for (j, b) in damaged[512..].iter_mut().enumerate() {
        *b = (j * 31 + 7) as u8;
    }
    let noise: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 + 13) as u8).collect();
    for bytes in [b"not a database".to_vec(), noise, damaged] {
        std::fs::write(dir.join(FILE_NAME), &bytes).unwrap();
        let err = Store::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("airgate.redb"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_data_dir_is_0700_and_the_database_0600_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(Store::open(dir.path()).unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    let db = dir.path().join(FILE_NAME);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Store::open(dir.path()).unwrap());
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn a_config_set_is_replaced_whole_and_reads_back() {
    let dir = temp_dir("config-set");
    let store = Store::open(&dir).unwrap();
    store.upsert_model(&model("stale")).unwrap();
    store.set_setting(settings::GITLAB_URL, &"https://old.example".to_string()).unwrap();
    store.set_setting(settings::ADMIN_SETUP_TOKEN, &"kept".to_string()).unwrap();
    let set = ConfigSet {
        models: vec![model("qwen")],
        feature_routes: FeatureRoutes::from([(Feature::DuoChat, RouteTarget::Disabled)]),
        gitlab_url: None,
        default_model: Some("qwen".into()),
        expanded_logging: Some(true),
        jwt_signing_key: Some("/etc/airgate/shared.pem".into()),
        applied: Some(AppliedRecord { document: "x = 1".into(), source: "/f.toml".into(), at: 5 }),
        ..ConfigSet::default()
    };
    store.replace_config_set(&set).unwrap();
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.config_set().unwrap(), set, "the stale model and the old URL are gone");
    assert_eq!(store.get_setting(settings::ADMIN_SETUP_TOKEN).unwrap().as_deref(), Some("kept"), "not the set's");
    std::fs::remove_dir_all(&dir).unwrap();
}
