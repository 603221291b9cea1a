//! Tests of the model registry's records: parameters remembered across starts, hashes, and an import copying the file it checked.

use super::*;

#[test]
fn remember_records_the_parameters_used_and_hashes_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let file = dir.path().join("m.gguf");
    std::fs::write(&file, b"not really weights, but hashable").unwrap();
    let path = file.display().to_string();
    let used = UsedParams { ctx_size: 1024, parallel: 2, threads: 1 };
    let hashing = remember(&store, "m", &path, 32, used).unwrap().expect("no sha256 yet: hashed");
    let r = store.model("m").unwrap().unwrap();
    assert_eq!((r.ctx_size, r.parallel, r.threads), (Some(1024), Some(2), Some(1)));
    hashing.join().unwrap();
    let sha = sha256_file(&file).unwrap();
    assert_eq!(store.model("m").unwrap().unwrap().sha256.as_deref(), Some(sha.as_str()));
    // Known file: nothing to hash again.
    assert!(remember(&store, "m", &path, 32, used).unwrap().is_none());

    // The next start follows its boot config for what was recorded from the last one...
    let recorded = store.get_setting(RECORDED_MODEL_PARAMS).unwrap().unwrap();
    let mut r = store.model("m").unwrap().unwrap();
    recorded["m"].forget_in(&mut r);
    assert_eq!((r.ctx_size, r.parallel, r.threads), (None, None, None));
    // ...but keeps what an admin chose since.
    let mut r = store.model("m").unwrap().unwrap();
    r.parallel = Some(4);
    store.upsert_model(&r).unwrap();
    remember(&store, "m", &path, 32, UsedParams { ctx_size: 2048, parallel: 4, threads: 1 }).unwrap();
    let mut r = store.model("m").unwrap().unwrap();
    assert_eq!((r.ctx_size, r.parallel, r.threads), (Some(2048), Some(4), Some(1)));
    let recorded = store.get_setting(RECORDED_MODEL_PARAMS).unwrap().unwrap();
    recorded["m"].forget_in(&mut r);
    assert_eq!((r.ctx_size, r.parallel, r.threads), (None, Some(4), None));

    // Another file under the name: hashed anew.
    std::fs::write(&file, b"other bytes").unwrap();
    remember(&store, "m", &path, 11, used).unwrap().expect("changed file: hashed").join().unwrap();
    let sha = sha256_file(&file).unwrap();
    assert_eq!(store.model("m").unwrap().unwrap().sha256.as_deref(), Some(sha.as_str()));
}

/// The import copies the handle it checked: a file swapped in at the path after the check is
/// not what lands in the models dir.
#[test]
fn an_import_copies_the_file_it_checked_not_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (source, models) = (dir.path().join("checked.gguf"), dir.path().join("models"));
    std::fs::write(&source, b"GGUF the bytes that were checked").unwrap();
    let handle = std::fs::File::open(&source).unwrap();
    let swapped = dir.path().join("swapped");
    std::fs::write(&swapped, b"other bytes, never checked").unwrap();
    std::fs::rename(&swapped, &source).unwrap();
    let job = Job {
        id: "t".into(),
        state: Mutex::new((JobState::Running, String::new())),
        bytes_done: AtomicU64::new(0),
        bytes_total: 0,
        model: "m".into(),
    };
    let (target, sha) = copy_verified((&source, handle), &models, None, &job).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"GGUF the bytes that were checked");
    assert_eq!(sha, sha256_file(&target).unwrap());
}
