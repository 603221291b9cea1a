//! Local documentation search for Duo Chat: a SQLite FTS5 index over Markdown files the admin imports.
//!
//! GitLab's AI Gateway answers `POST /v1/search/gitlab-docs` for self-hosted models from a local
//! SQLite FTS5 database of the GitLab docs (BM25, punctuation stripped, ≈8000 estimated tokens of
//! results, nothing when the database is absent). This is the equivalent: `airgate docs import DIR`
//! turns a folder of Markdown files into `<data_dir>/docs.sqlite`, [`DocsIndex::search`] reads it.
//!
//! The database has one FTS5 table `chunks(title, headings, content, filename UNINDEXED)` with the
//! `porter unicode61` tokenizer, ranked by `bm25()` weighting a match in the document title 8×
//! and in a heading 3× a match in the text; `files(path, bytes, chunks)` lists the imported files
//! and `meta(key, value)` records the schema version, source folder and import time. An import
//! builds a new file beside the live one and renames it over it, so readers (each search opens the
//! file read-only) see either the old index or the new one, never a half-built one.

mod chunk;
mod query;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

/// Results stop before their estimated tokens (characters / 4) pass this, as GitLab's gateway does.
pub const MAX_RESULT_TOKENS: usize = 8000;
/// Bumped when the table layout changes; recorded in `meta`.
const SCHEMA_VERSION: &str = "1";
/// `bm25()` weights for (title, headings, content, filename).
const RANK_SQL: &str = "bm25(chunks, 8.0, 3.0, 1.0, 0.0)";

/// The documentation index file and the operations on it.
#[derive(Debug, Clone)]
pub struct DocsIndex {
    path: PathBuf,
}

/// One search result: a chunk of a Markdown file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DocHit {
    /// The file's path relative to the imported folder, `/`-separated (`user/project/index.md`).
    pub id: String,
    /// The chunk's Markdown, starting with the headings above it (the document title first).
    pub content: String,
    /// Same as `id`.
    pub filename: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImportReport {
    /// Markdown files read and indexed (redirect stubs and empty files count, with no chunk).
    pub files: usize,
    /// Rows in the index.
    pub chunks: usize,
    /// (relative path, reason) of the files and folders left out: unreadable, or not UTF-8.
    pub skipped: Vec<(String, String)>,
    /// Total size of the files indexed.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// A file operation on the index failed.
    #[error("{0}")]
    Io(String),
    /// SQLite failed, or the file is not a docs index.
    #[error("{0}")]
    Index(String),
    /// The folder to import is missing, not a folder, or holds no readable Markdown file.
    #[error("{0}")]
    BadInput(String),
}

impl From<rusqlite::Error> for DocsError {
    fn from(e: rusqlite::Error) -> Self {
        DocsError::Index(format!("docs index: {e}"))
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> DocsError {
    DocsError::Io(format!("{what} {}: {e}", path.display()))
}

/// Removes the half-built index file unless the import completed.
struct TmpGuard(Option<PathBuf>);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl DocsIndex {
    /// The index file `<data_dir>/docs.sqlite`. Does not create anything.
    pub fn at(data_dir: &Path) -> Self {
        DocsIndex { path: data_dir.join("docs.sqlite") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when an index has been imported.
    pub fn exists(&self) -> bool {
        self.path.is_file()
    }

    /// Replaces the whole index with the Markdown files (`*.md`, `*.markdown`, any case) under
    /// `dir`, recursively; hidden files and folders are skipped, symbolic links to folders are not
    /// followed, and a link to a file is followed only when the file lies inside `dir` (else it is
    /// skipped: an import never reads a file outside the tree it was given). Builds `<path>.tmp-<pid>` and renames it over the index
    /// only when complete: on any error the previous index is untouched. `progress` is called after
    /// each file with (files done, files total).
    pub fn import(&self, dir: &Path, progress: &mut dyn FnMut(usize, usize)) -> Result<ImportReport, DocsError> {
        let meta = fs::metadata(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DocsError::BadInput(format!("{} does not exist", dir.display())),
            _ => DocsError::BadInput(format!("cannot read {}: {e}", dir.display())),
        })?;
        if !meta.is_dir() {
            return Err(DocsError::BadInput(format!("{} is not a directory", dir.display())));
        }
        let mut report = ImportReport::default();
        let files = find_markdown(dir, &mut report.skipped)?;
        if files.is_empty() {
            return Err(DocsError::BadInput(format!("no Markdown files (*.md, *.markdown) under {}", dir.display())));
        }
        let started = std::time::Instant::now();
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| io_err("cannot create", parent, e))?;
        }
        let tmp = self.tmp_path();
        if let Err(e) = fs::remove_file(&tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(io_err("cannot remove", &tmp, e));
        }
        let mut guard = TmpGuard(Some(tmp.clone()));

        let mut conn = Connection::open(&tmp)?;
        // The temporary file is thrown away on failure, so no journal and no fsync until the end.
        conn.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA temp_store = MEMORY;
             CREATE VIRTUAL TABLE chunks USING fts5(title, headings, content, filename UNINDEXED,
                 tokenize = 'porter unicode61');
             CREATE TABLE files (path TEXT PRIMARY KEY, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )?;
        let tx = conn.transaction()?;
        {
            let mut insert_chunk =
                tx.prepare("INSERT INTO chunks (title, headings, content, filename) VALUES (?1, ?2, ?3, ?4)")?;
            let mut insert_file = tx.prepare("INSERT INTO files (path, bytes, chunks) VALUES (?1, ?2, ?3)")?;
            let total = files.len();
            for (done, (rel, abs)) in files.iter().enumerate() {
                match read_no_follow(abs) {
                    Err(e) => report.skipped.push((rel.clone(), format!("unreadable: {e}"))),
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Err(e) => {
                            let at = e.utf8_error().valid_up_to();
                            report.skipped.push((rel.clone(), format!("not valid UTF-8 (byte {at})")));
                        }
                        Ok(text) => {
                            let chunks = chunk::chunk_markdown(&text, rel);
                            for c in &chunks {
                                insert_chunk.execute(params![c.title, c.headings, c.content, rel])?;
                            }
                            insert_file.execute(params![rel, text.len() as i64, chunks.len() as i64])?;
                            report.files += 1;
                            report.chunks += chunks.len();
                            report.bytes += text.len() as u64;
                        }
                    },
                }
                progress(done + 1, total);
            }
        }
        if report.files == 0 {
            return Err(DocsError::BadInput(format!(
                "none of the {} Markdown files under {} could be read",
                files.len(),
                dir.display()
            )));
        }
        // Merge the FTS5 b-trees into one: smaller file, faster queries.
        tx.execute("INSERT INTO chunks (chunks) VALUES ('optimize')", [])?;
        let imported_at = crate::unix_now().to_string();
        let source = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
        for (k, v) in [("schema_version", SCHEMA_VERSION), ("source", &source), ("imported_at", &imported_at)] {
            tx.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![k, v])?;
        }
        tx.commit()?;
        conn.close().map_err(|(_, e)| DocsError::from(e))?;

        fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io_err("cannot sync", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| io_err("cannot replace", &self.path, e))?;
        guard.0 = None;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable; not every platform can open a directory.
            let _ = fs::File::open(parent).and_then(|d| d.sync_all());
        }
        tracing::info!(
            files = report.files,
            chunks = report.chunks,
            skipped = report.skipped.len(),
            bytes = report.bytes,
            ms = started.elapsed().as_millis() as u64,
            index = %self.path.display(),
            "docs index imported"
        );
        Ok(report)
    }

    /// At most `page_size` hits, best first (BM25). No index, or no word in `query` → no hit.
    /// The query's punctuation and FTS5 operators are dropped and its words OR-ed, so no user text
    /// is an FTS5 syntax error. The hits' estimated tokens (characters / 4) stay within
    /// [`MAX_RESULT_TOKENS`]: hits stop before the one that would pass it, except that the first
    /// hit is always returned (cut to the cap if it alone passes it). Opens the file read-only for
    /// each call.
    pub fn search(&self, query: &str, page_size: usize) -> Result<Vec<DocHit>, DocsError> {
        if page_size == 0 || !self.exists() {
            return Ok(Vec::new());
        }
        let Some(fts) = query::fts_query(query) else { return Ok(Vec::new()) };
        let Some(conn) = self.open_read_only()? else { return Ok(Vec::new()) };
        let sql = format!("SELECT content, filename FROM chunks WHERE chunks MATCH ?1 ORDER BY {RANK_SQL} LIMIT ?2");
        let mut stmt = conn.prepare(&sql)?;
        let limit = page_size.min(1000) as i64;
        let rows = stmt.query_map(params![fts, limit], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut hits = Vec::new();
        for row in rows {
            let (content, filename) = row?;
            hits.push(DocHit { id: filename.clone(), content, filename });
        }
        let hits = cap_tokens(hits, MAX_RESULT_TOKENS);
        tracing::debug!(query_terms = fts.matches(" OR ").count() + 1, hits = hits.len(), "docs search");
        Ok(hits)
    }

    /// (chunks, files) in the index; None when there is no index.
    pub fn stats(&self) -> Result<Option<(usize, usize)>, DocsError> {
        if !self.exists() {
            return Ok(None);
        }
        let Some(conn) = self.open_read_only()? else { return Ok(None) };
        let chunks: i64 = conn.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))?;
        let files: i64 = conn.query_row("SELECT count(*) FROM files", [], |r| r.get(0))?;
        Ok(Some((chunks as usize, files as usize)))
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp-{}", std::process::id()));
        self.path.with_file_name(name)
    }

    /// The index opened read-only; None when the file vanished in between.
    fn open_read_only(&self) -> Result<Option<Connection>, DocsError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match Connection::open_with_flags(&self.path, flags) {
            Ok(conn) => {
                conn.busy_timeout(std::time::Duration::from_secs(2))?;
                Ok(Some(conn))
            }
            Err(_) if !self.path.exists() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Estimated tokens of a text, as GitLab's gateway counts them: characters / 4, rounded up.
fn estimated_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// Keeps hits while their estimated tokens add up to at most `max_tokens`; the first hit is kept
/// in any case, cut to `max_tokens * 4` characters.
fn cap_tokens(hits: Vec<DocHit>, max_tokens: usize) -> Vec<DocHit> {
    let mut left = max_tokens;
    let mut out = Vec::with_capacity(hits.len());
    for mut hit in hits {
        let tokens = estimated_tokens(&hit.content);
        if tokens > left {
            if out.is_empty() {
                if let Some((i, _)) = hit.content.char_indices().nth(max_tokens * 4) {
                    hit.content.truncate(i);
                }
                out.push(hit);
            }
            break;
        }
        left -= tokens;
        out.push(hit);
    }
    out
}

/// A file's bytes, refusing a symbolic link in its last component (one swapped in after the walk).
fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The Markdown files under `root` as (relative `/`-separated path, path to read), sorted. A link
/// is read through its resolved target, and only when that is a file inside `root`. Folders that
/// cannot be read, links leading out of `root` and files whose names are not UTF-8 go to `skipped`.
fn find_markdown(root: &Path, skipped: &mut Vec<(String, String)>) -> Result<Vec<(String, PathBuf)>, DocsError> {
    let inside =
        fs::canonicalize(root).map_err(|e| DocsError::BadInput(format!("cannot read {}: {e}", root.display())))?;
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => {
                return Err(DocsError::BadInput(format!("cannot read {}: {e}", root.display())));
            }
            Err(e) => {
                skipped.push((relative(root, &dir), format!("unreadable folder: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    skipped.push((relative(root, &dir), format!("unreadable folder: {e}")));
                    break;
                }
            };
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            let markdown = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown"));
            if !markdown || !(kind.is_file() || kind.is_symlink()) {
                continue;
            }
            let rel = relative(root, &path);
            let read_from = if kind.is_symlink() {
                match fs::canonicalize(&path) {
                    Ok(target) if !target.is_file() => continue,
                    Ok(target) if target.starts_with(&inside) => target,
                    Ok(_) => {
                        skipped.push((rel, "a link to a file outside the imported folder".to_string()));
                        continue;
                    }
                    Err(_) => continue,
                }
            } else {
                path.clone()
            };
            if path.strip_prefix(root).ok().and_then(|p| p.to_str()).is_none() {
                skipped.push((rel, "file name is not valid UTF-8".to_string()));
                continue;
            }
            found.push((rel, read_from));
        }
    }
    found.sort();
    Ok(found)
}

/// `path` relative to `root`, components joined with `/` (lossy for names that are not UTF-8).
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}
