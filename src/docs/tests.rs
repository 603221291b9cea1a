//! Tests of the docs index: import, search ranking, hostile queries, replacement, failures, token cap, chunking.

use std::fs;
use std::path::Path;

use super::chunk::{CHUNK_MAX, chunk_markdown};
use super::query::{MAX_TERMS, fts_query};
use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn import(index: &DocsIndex, dir: &Path) -> ImportReport {
    index.import(dir, &mut |_, _| {}).unwrap()
}

fn ids(hits: &[DocHit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

/// A small docs folder in GitLab's layout: front-matter titles, `##` sections.
fn sample_docs(dir: &Path) {
    write(
        dir,
        "user/project/index.md",
        "---\nstage: Tenant Scale\ngroup: Organizations\ntitle: Create a project\n---\n\n\
         You can create a project in many ways.\n\n## Create a blank project\n\n\
         On the left sidebar, at the top, select **Create new** and **New project/repository**.\n\n\
         ## Create a project from a template\n\nSelect **Create from template**.\n",
    );
    write(
        dir,
        "user/group/index.md",
        "---\ntitle: Groups\n---\n\nUse groups to manage one or more related projects at the same time. \
         A group holds many projects; every project in a group inherits its members. Project members, \
         project settings, project labels: groups share them with each project.\n",
    );
    write(
        dir,
        "ci/runners/index.md",
        "# Runners\n\nGitLab Runner is an application that works with GitLab CI/CD to run jobs in a pipeline.\n\n\
         ## Register a runner\n\nUse `gitlab-runner register` with the runner authentication token.\n",
    );
    write(
        dir,
        "ci/pipelines/schedules.md",
        "# Scheduled pipelines\n\nUse scheduled pipelines to run GitLab CI/CD pipelines at regular intervals, \
         with a cron syntax.\n",
    );
    write(
        dir,
        "administration/backup_restore/index.md",
        "---\ntitle: Back up and restore GitLab\n---\n\nRun `gitlab-backup create` to create a backup archive \
         of the repositories, the database and the uploads.\n",
    );
    write(dir, "user/ssh.markdown", "# Use SSH keys to communicate with GitLab\n\nGenerate an ed25519 key pair.\n");
}

#[test]
fn no_index_means_no_hits_and_creates_nothing() {
    let data = tempfile::tempdir().unwrap();
    let index = DocsIndex::at(data.path());
    assert_eq!(index.path(), data.path().join("docs.sqlite"));
    assert!(!index.exists());
    assert_eq!(index.search("how to create a project", 4).unwrap(), vec![]);
    assert_eq!(index.stats().unwrap(), None);
    assert_eq!(fs::read_dir(data.path()).unwrap().count(), 0);

    let missing = DocsIndex::at(&data.path().join("no/such/dir"));
    assert_eq!(missing.search("project", 4).unwrap(), vec![]);
    assert_eq!(missing.stats().unwrap(), None);
}

#[test]
fn relevant_file_ranks_first() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_docs(docs.path());
    let index = DocsIndex::at(data.path());
    let report = import(&index, docs.path());
    assert_eq!(report.files, 6);
    assert!(report.skipped.is_empty());
    assert!(index.exists());
    assert_eq!(index.stats().unwrap(), Some((report.chunks, 6)));

    for (query, want) in [
        ("how to create a project", "user/project/index.md"),
        ("Create a project?", "user/project/index.md"),
        ("register a runner", "ci/runners/index.md"),
        ("How do I schedule pipelines with cron?", "ci/pipelines/schedules.md"),
        ("backup restore", "administration/backup_restore/index.md"),
        ("backing up", "administration/backup_restore/index.md"),
        ("ssh key", "user/ssh.markdown"),
        ("groups", "user/group/index.md"),
    ] {
        let hits = index.search(query, 4).unwrap();
        assert_eq!(hits.first().map(|h| h.id.as_str()), Some(want), "query {query:?}: {:?}", ids(&hits));
        assert!(hits.iter().all(|h| h.id == h.filename));
    }
    assert_eq!(index.search("kubernetes", 4).unwrap(), vec![]);
}

#[test]
fn phrase_in_title_beats_frequent_mentions() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(
        docs.path(),
        "a/merge_trains.md",
        "---\ntitle: Merge trains\n---\n\nQueue merges so the target stays green.\n",
    );
    for i in 0..5 {
        let filler = "A merge request can join a train. Merge requests, merge, trains of merges. ".repeat(8);
        write(docs.path(), &format!("b/other{i}.md"), &format!("# Other topic {i}\n\n{filler}\n"));
    }
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    let hits = index.search("merge trains", 6).unwrap();
    assert_eq!(hits[0].id, "a/merge_trains.md", "{:?}", ids(&hits));
    assert!(hits[0].content.starts_with("# Merge trains\n\n"), "{}", hits[0].content);
}

#[test]
fn page_size_is_respected() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for i in 0..12 {
        write(docs.path(), &format!("p{i:02}.md"), &format!("# Page {i}\n\nGitLab feature number {i}.\n"));
    }
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    for n in [1, 3, 4, 12] {
        assert_eq!(index.search("gitlab feature", n).unwrap().len(), n);
    }
    assert_eq!(index.search("gitlab feature", 50).unwrap().len(), 12);
    assert_eq!(index.search("gitlab feature", 0).unwrap(), vec![]);
}

#[test]
fn hostile_queries_never_error() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_docs(docs.path());
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    let long: String = (0..20_000).map(|i| format!("w{i} ")).collect();
    let mut queries: Vec<String> = [
        "\"",
        "\"\"",
        "*",
        "project*",
        "AND OR NOT",
        "NEAR(a b)",
        "NEAR(create project, 2)",
        "foo:bar",
        "title:project",
        "-x",
        "-",
        "^",
        "^project",
        "(",
        ")",
        "{content}: x",
        "a + b",
        "'",
        "\\",
        "\0",
        "",
        "   ",
        "\u{1F600}",
        "日本語のドキュメント",
        "créer un projet",
        "Ünïcödé ✓",
        "a OR",
        "OR project",
        "project NOT runner",
        "\"create project\"",
        "col:\"x\" AND (y OR z*)",
        "rowid",
        "rank",
        "MATCH",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    queries.push(long.clone());
    queries.push("x".repeat(100_000));
    queries.push("project;".repeat(12_500));
    for q in &queries {
        let res = index.search(q, 4);
        assert!(res.is_ok(), "query {:?} failed: {res:?}", &q[..q.len().min(40)]);
    }
    assert_eq!(index.search("project*", 4).unwrap()[0].id, "user/project/index.md");
    assert_eq!(index.search("NEAR(create project, 2)", 4).unwrap()[0].id, "user/project/index.md");
    assert!(index.search("\"", 4).unwrap().is_empty());
    assert!(index.search("AND OR NOT", 4).unwrap().is_empty());
}

#[test]
fn query_builder_quotes_words_and_drops_operators() {
    assert_eq!(fts_query("How do I create a project?").as_deref(), Some("\"create\" OR \"project\""));
    assert_eq!(fts_query("NEAR(a b) foo:bar -x").as_deref(), Some("\"b\" OR \"foo\" OR \"bar\" OR \"x\""));
    assert_eq!(
        fts_query("merge_requests/index.md").as_deref(),
        Some("\"merge\" OR \"requests\" OR \"index\" OR \"md\"")
    );
    assert_eq!(fts_query("the and of"), Some("\"the\" OR \"and\" OR \"of\"".to_string()));
    assert_eq!(fts_query("Project project PROJECT").as_deref(), Some("\"project\""));
    for empty in ["", "\"*^-:()", "AND OR NOT NEAR", "   \t\n"] {
        assert_eq!(fts_query(empty), None, "{empty:?}");
    }
    let many: String = (0..1000).map(|i| format!("t{i} ")).collect();
    assert_eq!(fts_query(&many).unwrap().matches(" OR ").count() + 1, MAX_TERMS);
}

#[test]
fn reimport_replaces_the_index() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_docs(docs.path());
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    assert_eq!(index.search("runner", 4).unwrap()[0].id, "ci/runners/index.md");

    fs::remove_dir_all(docs.path().join("ci/runners")).unwrap();
    write(docs.path(), "ci/variables.md", "# CI/CD variables\n\nMasked variables hide secrets.\n");
    let report = import(&index, docs.path());
    assert_eq!(report.files, 6);
    assert!(index.search("runner register", 4).unwrap().iter().all(|h| h.id != "ci/runners/index.md"));
    assert_eq!(index.search("masked variables", 4).unwrap()[0].id, "ci/variables.md");
    assert_eq!(index.stats().unwrap().unwrap().1, 6);
    assert_eq!(leftovers(data.path()), Vec::<String>::new());
}

/// Files in the data folder other than the index itself.
fn leftovers(data: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(data).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.retain(|n| n != "docs.sqlite");
    names
}

#[test]
fn failed_import_keeps_the_previous_index() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_docs(docs.path());
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    let before = index.search("create a project", 4).unwrap();
    assert!(!before.is_empty());

    let empty = tempfile::tempdir().unwrap();
    let no_md = tempfile::tempdir().unwrap();
    write(no_md.path(), "readme.txt", "not markdown");
    write(no_md.path(), ".hidden/x.md", "# Hidden\n");
    let not_dir = docs.path().join("user/ssh.markdown");
    let missing = docs.path().join("nope");
    for bad in [empty.path(), no_md.path(), not_dir.as_path(), missing.as_path()] {
        let err = index.import(bad, &mut |_, _| panic!("no progress expected")).unwrap_err();
        assert!(matches!(err, DocsError::BadInput(_)), "{bad:?}: {err:?}");
        assert!(err.to_string().contains(&bad.display().to_string()), "{err}");
        assert_eq!(index.search("create a project", 4).unwrap(), before);
    }

    let bad_utf8 = tempfile::tempdir().unwrap();
    fs::write(bad_utf8.path().join("latin1.md"), b"# Caf\xe9\n").unwrap();
    let err = import_err(&index, bad_utf8.path());
    assert!(matches!(err, DocsError::BadInput(_)) && err.to_string().contains("could be read"), "{err}");
    assert_eq!(index.search("create a project", 4).unwrap(), before);
    assert_eq!(leftovers(data.path()), Vec::<String>::new());
}

fn import_err(index: &DocsIndex, dir: &Path) -> DocsError {
    index.import(dir, &mut |_, _| {}).unwrap_err()
}

#[test]
fn first_import_creates_the_data_dir_and_failure_creates_nothing() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let index = DocsIndex::at(&data.path().join("state"));
    import_err(&index, docs.path());
    assert!(!data.path().join("state").exists());
    sample_docs(docs.path());
    import(&index, docs.path());
    assert!(index.exists());
}

#[test]
fn non_utf8_file_is_skipped_and_reported() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_docs(docs.path());
    fs::write(docs.path().join("user/latin1.md"), b"# Caf\xe9 cr\xe8me\n\nInvalid bytes.\n").unwrap();
    let index = DocsIndex::at(data.path());
    let report = import(&index, docs.path());
    assert_eq!(report.files, 6);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, "user/latin1.md");
    assert!(report.skipped[0].1.contains("UTF-8"), "{}", report.skipped[0].1);
    assert!(index.search("invalid bytes", 4).unwrap().is_empty());
    assert_eq!(index.stats().unwrap().unwrap().1, 6);
}

#[test]
fn walk_rules_extensions_hidden_dirs_and_paths() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(docs.path(), "a/b/c/deep.md", "# Deep\n\nzebrafish\n");
    write(docs.path(), "UPPER.MD", "# Upper\n\nzebrafish\n");
    write(docs.path(), "long.markdown", "# Long\n\nzebrafish\n");
    write(docs.path(), ".git/HEAD.md", "# Git\n\nzebrafish\n");
    write(docs.path(), "x/.hidden/h.md", "# Hidden\n\nzebrafish\n");
    write(docs.path(), "x/.dotfile.md", "# Dot\n\nzebrafish\n");
    write(docs.path(), "notes.txt", "zebrafish\n");
    let index = DocsIndex::at(data.path());
    let mut calls = Vec::new();
    let report = index.import(docs.path(), &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls, vec![(1, 3), (2, 3), (3, 3)]);
    assert_eq!(report.files, 3);
    let mut found = ids(&index.search("zebrafish", 10).unwrap()).into_iter().map(String::from).collect::<Vec<_>>();
    found.sort();
    assert_eq!(found, ["UPPER.MD", "a/b/c/deep.md", "long.markdown"]);
}

#[cfg(unix)]
#[test]
fn directory_symlinks_are_not_followed() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(docs.path(), "real/page.md", "# Page\n\nquokka\n");
    std::os::unix::fs::symlink(docs.path(), docs.path().join("real/loop")).unwrap();
    std::os::unix::fs::symlink(docs.path().join("real/page.md"), docs.path().join("alias.md")).unwrap();
    let index = DocsIndex::at(data.path());
    let report = import(&index, docs.path());
    assert_eq!(report.files, 2);
    let mut found = ids(&index.search("quokka", 10).unwrap()).into_iter().map(String::from).collect::<Vec<_>>();
    found.sort();
    assert_eq!(found, ["alias.md", "real/page.md"]);
}

#[cfg(unix)]
#[test]
fn links_out_of_the_imported_tree_are_not_read() {
    let (docs, data, outside) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(docs.path(), "page.md", "# Page\n\nquokka\n");
    write(outside.path(), "secret.md", "# Secret\n\nquokka wombat\n");
    std::os::unix::fs::symlink(outside.path().join("secret.md"), docs.path().join("leak.md")).unwrap();
    // A relative link that climbs out through `..` is refused the same way.
    let climb = format!("../../{}/secret.md", outside.path().file_name().unwrap().to_str().unwrap());
    fs::create_dir(docs.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(&climb, docs.path().join("sub/climb.md")).unwrap();
    let index = DocsIndex::at(data.path());
    let report = import(&index, docs.path());
    assert_eq!(report.files, 1);
    assert_eq!(ids(&index.search("quokka", 10).unwrap()), ["page.md"]);
    assert!(index.search("wombat", 10).unwrap().is_empty());
    let mut skipped: Vec<&str> = report.skipped.iter().map(|(p, _)| p.as_str()).collect();
    skipped.sort();
    assert_eq!(skipped, ["leak.md", "sub/climb.md"]);
    assert!(report.skipped.iter().all(|(_, why)| why.contains("outside the imported folder")));
}

#[test]
fn progress_reports_every_file_and_ends_at_total() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample_docs(docs.path());
    fs::write(docs.path().join("bad.md"), b"\xff\xfe").unwrap();
    let mut calls = Vec::new();
    DocsIndex::at(data.path()).import(docs.path(), &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(calls.len(), 7);
    assert_eq!(calls.last(), Some(&(7, 7)));
    assert!(calls.iter().enumerate().all(|(i, c)| *c == (i + 1, 7)));
}

#[test]
fn results_are_capped_at_8000_estimated_tokens() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let para = "The needle appears in this long paragraph about pipelines and runners. ".repeat(10);
    for i in 0..30 {
        let body = format!("{para}\n\n{para}\n\n{para}\n\n{para}\n");
        write(docs.path(), &format!("f{i:02}.md"), &format!("# Haystack {i}\n\n{body}"));
    }
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    let hits = index.search("needle", 20).unwrap();
    let tokens: usize = hits.iter().map(|h| estimated_tokens(&h.content)).sum();
    assert!(tokens <= MAX_RESULT_TOKENS, "{tokens}");
    assert!(hits.len() >= 8 && hits.len() < 20, "{} hits, {tokens} tokens", hits.len());
    let next = index.search("needle", hits.len() + 1).unwrap().pop().unwrap();
    assert!(tokens + estimated_tokens(&next.content) > MAX_RESULT_TOKENS);
}

#[test]
fn token_cap_keeps_a_cut_first_hit() {
    let hit = |n: usize| DocHit { id: "a.md".into(), content: "é".repeat(n), filename: "a.md".into() };
    let out = cap_tokens(vec![hit(40_000), hit(10)], MAX_RESULT_TOKENS);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].content.chars().count(), 32_000);
    let out = cap_tokens(vec![hit(16_000), hit(16_000), hit(4)], MAX_RESULT_TOKENS);
    assert_eq!(out.len(), 2);
    let out = cap_tokens(vec![hit(16_000), hit(16_004), hit(4)], MAX_RESULT_TOKENS);
    assert_eq!(out.len(), 1, "stops at the first hit that does not fit");
    assert_eq!(cap_tokens(vec![], 10), vec![]);
}

#[test]
fn front_matter_and_comments_are_not_indexed() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(
        docs.path(),
        "fm.md",
        "---\nstage: Verifyzzz\ninfo: To determine the technical writer assigned, see wombatword\n\
         title: 'Pipeline editor'\n---\n\n<!-- secretcomment -->\n\nEdit your pipeline configuration.\n",
    );
    let index = DocsIndex::at(data.path());
    import(&index, docs.path());
    for q in ["verifyzzz", "wombatword", "stage", "secretcomment", "technical writer"] {
        assert!(index.search(q, 4).unwrap().is_empty(), "{q}");
    }
    let hits = index.search("pipeline editor", 4).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].content, "# Pipeline editor\n\nEdit your pipeline configuration.");
}

#[test]
fn redirect_stubs_are_not_indexed() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(
        docs.path(),
        "old.md",
        "---\nredirect_to: 'new.md'\nremove_date: '2026-01-01'\n---\n\nThis document was moved.\n",
    );
    write(docs.path(), "new.md", "# Moved here\n\nThe document now lives here.\n");
    let index = DocsIndex::at(data.path());
    let report = import(&index, docs.path());
    assert_eq!((report.files, report.chunks), (2, 1));
    assert_eq!(ids(&index.search("document moved", 4).unwrap()), ["new.md"]);
}

#[test]
fn small_file_is_one_chunk_with_its_title() {
    let chunks = chunk_markdown("# Title\n\nIntro.\n\n## A\n\nText A.\n\n### A.1\n\nDeeper.\n", "x.md");
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].title, "Title");
    assert_eq!(chunks[0].headings, "Title\nA\nA.1");
    assert_eq!(chunks[0].content, "# Title\n\nIntro.\n\n## A\n\nText A.\n\n### A.1\n\nDeeper.");
    assert_eq!(chunk_markdown("No heading at all.\r\n", "dir/x.md")[0].title, "dir/x.md");
    assert!(chunk_markdown("---\ntitle: Empty\n---\n\n<!-- only a comment -->\n", "e.md").is_empty());
    assert!(chunk_markdown("", "e.md").is_empty());
}

#[test]
fn long_file_is_split_by_headings_with_context() {
    let section = |name: &str| format!("## {name}\n\n{}\n\n", format!("Words about {name}. ").repeat(60));
    let mut text = "---\ntitle: Big page\n---\n\nIntro text.\n\n".to_string();
    for name in ["Alpha", "Beta", "Gamma", "Delta"] {
        text.push_str(&section(name));
    }
    text.push_str("## Huge\n\n");
    for i in 0..40 {
        text.push_str(&format!("Paragraph {i} {}\n\n", "filler words here ".repeat(12)));
    }
    text.push_str("### Sub of huge\n\nSmall text.\n");
    let chunks = chunk_markdown(&text, "big.md");
    assert!(chunks.len() >= 6, "{}", chunks.len());
    for c in &chunks {
        assert_eq!(c.title, "Big page");
        assert!(c.content.starts_with("# Big page\n"), "{}", &c.content[..60]);
        assert!(c.content.len() <= CHUNK_MAX + 100, "{}", c.content.len());
        assert!(c.content.len() >= 20);
    }
    let all: String = chunks.iter().map(|c| c.content.as_str()).collect();
    for i in 0..40 {
        assert_eq!(all.matches(&format!("Paragraph {i} ")).count(), 1, "paragraph {i}");
    }
    assert!(chunks.iter().any(|c| c.content.starts_with("# Big page\n## Huge\n\n")));
    let sub = chunks.iter().find(|c| c.content.contains("Small text.")).unwrap();
    assert!(sub.headings.contains("Huge") && sub.headings.contains("Sub of huge"), "{}", sub.headings);
    assert!(chunks.iter().all(|c| !c.content.contains("title: Big page")));
}

#[test]
fn headings_inside_code_blocks_do_not_split() {
    let code = format!("```shell\n# not a heading\n{}```\n", "echo line\n".repeat(400));
    let text = format!("# Real\n\nBefore.\n\n{code}\n## After\n\n<!-- kept in code? no -->Text.\n");
    let chunks = chunk_markdown(&text, "c.md");
    assert!(chunks.iter().all(|c| !c.headings.contains("not a heading")));
    assert!(chunks.iter().all(|c| c.content.len() <= CHUNK_MAX + 50));
    let all: String = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(all.matches("echo line").count(), 400);
    assert!(all.contains("# not a heading"));
    assert!(all.contains("\nText.") && !all.contains("kept in code"));
}

#[test]
fn oversized_lines_are_cut_at_char_boundaries() {
    let text = format!("# Wide\n\n{}\n", "ü".repeat(5000));
    let chunks = chunk_markdown(&text, "w.md");
    assert!(chunks.len() >= 4);
    assert_eq!(chunks.iter().map(|c| c.content.matches('ü').count()).sum::<usize>(), 5000);
    assert!(chunks.iter().all(|c| c.content.starts_with("# Wide")));
}

/// Import speed on a GitLab-docs-sized corpus: `cargo test --release import_speed -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark"]
fn import_speed_2500_files_of_10kb() {
    let (docs, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let words = [
        "pipeline", "runner", "merge", "request", "project", "group", "token", "variable", "deploy", "package",
        "registry", "issue", "epic", "label", "branch", "commit", "review", "security", "scan", "artifact",
    ];
    let mut seed = 1u64;
    let mut word = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        words[(seed >> 33) as usize % words.len()]
    };
    for f in 0..2500 {
        let mut text = format!("---\ntitle: Page {f} {}\nstage: Create\n---\n\n", word());
        let mut s = 0;
        while text.len() < 10_000 {
            if text.len() > s * 1800 {
                text.push_str(&format!("## Section {s} {} {}\n\n", word(), word()));
                s += 1;
            }
            for _ in 0..40 {
                text.push_str(word());
                text.push(' ');
            }
            text.push_str(".\n\n");
        }
        write(docs.path(), &format!("area{}/sub{}/page{f}.md", f % 20, f % 7), &text);
    }
    let index = DocsIndex::at(data.path());
    let start = std::time::Instant::now();
    let report = import(&index, docs.path());
    let took = start.elapsed();
    let size = fs::metadata(index.path()).unwrap().len();
    let start = std::time::Instant::now();
    for _ in 0..20 {
        assert!(!index.search("how do I merge a request with a pipeline token", 4).unwrap().is_empty());
    }
    let per_query = start.elapsed() / 20;
    println!(
        "imported {} files, {} chunks, {} MB in {took:?}; index {} MB; search {per_query:?}/query",
        report.files,
        report.chunks,
        report.bytes / 1_000_000,
        size / 1_000_000
    );
}
