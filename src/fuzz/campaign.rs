//! `make fuzz` on the stable toolchain: every target fed mutations of its kept corpus for a time budget on every core — coverage-blind, but high-volume and aware of JSON — with a crash or a hang saved as a reproducer.
//!
//! It runs inside the release test binary `make test` builds (same flags, same target dir), so it
//! never builds llama.cpp again. Run by `scripts/fuzz.sh`: `cargo test --lib fuzz::campaign --
//! --ignored`. Knobs (environment): `FUZZ_SECONDS` (total, default 1200), `FUZZ_TARGETS` (names,
//! space-separated), `FUZZ_THREADS` (default: the cores), `FUZZ_ARTIFACTS` (where crash inputs go).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{TARGETS, Target};

/// One exec slower than this is a hang: its input is saved and the run fails.
const HANG: Duration = Duration::from_secs(10);
/// The largest input a mutation may grow.
const MAX_LEN: usize = 64 << 10;

/// xorshift64*: fast and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Words worth inserting: the markers and keys the parsers look for, and every quoted string of the seeds.
fn dictionary(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut words: Vec<Vec<u8>> = [
        "<tool_call>",
        "</tool_call>",
        "<think>",
        "</think>",
        "[TOOL_CALLS]",
        "[ARGS]",
        "[CALL_ID]",
        "[THINK]",
        "[/THINK]",
        "<|python_tag|>",
        "<|channel|>",
        "<|message|>",
        "<|start|>",
        "<|end|>",
        "<|call|>",
        "<|constrain|>",
        "to=functions.",
        "commentary",
        "<｜tool▁calls▁begin｜>",
        "<｜tool▁call▁begin｜>",
        "<｜tool▁sep｜>",
        "<｜tool▁call▁end｜>",
        "```json\n",
        "Thought:",
        "Action:",
        "Action Input:",
        "Final Answer:",
        "Observation:",
        "\"name\"",
        "\"arguments\"",
        "\"parameters\"",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "GGUF",
        "\u{0}",
        "\u{feff}",
        "é",
        "💥",
        "\\u0000",
        "\\ud800",
        "1e999",
        "-0",
        "18446744073709551616",
        "null",
        "true",
        "[]",
        "{}",
        "\"\"",
    ]
    .iter()
    .map(|w| w.as_bytes().to_vec())
    .collect();
    for seed in seeds {
        for quoted in seed.split(|&b| b == b'"').skip(1).step_by(2) {
            if (1..=48).contains(&quoted.len()) {
                words.push([b"\"", quoted, b"\""].concat());
            }
        }
    }
    words.sort();
    words.dedup();
    words
}

/// A JSON value somewhere deep in `v`, replaced by something a validator must refuse or survive.
fn mutate_json(v: &mut serde_json::Value, rng: &mut Rng, words: &[Vec<u8>]) {
    use serde_json::{Value, json};
    // Walk down immutably, noting the JSON pointer; then take that node mutably.
    let mut pointer = String::new();
    let mut at = &*v;
    for _ in 0..rng.below(8) {
        match at {
            serde_json::Value::Object(map) if !map.is_empty() => {
                let Some((key, next)) = map.iter().nth(rng.below(map.len())) else { break };
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                at = next;
            }
            serde_json::Value::Array(items) if !items.is_empty() => {
                let i = rng.below(items.len());
                pointer.push_str(&format!("/{i}"));
                at = &items[i];
            }
            _ => break,
        }
    }
    let Some(node) = v.pointer_mut(&pointer) else { return };
    let word = String::from_utf8_lossy(&words[rng.below(words.len())]).trim_matches('"').to_string();
    match (rng.below(12), &mut *node) {
        (0, Value::Object(map)) => {
            map.insert(word, node_value(rng));
        }
        (1, Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).cloned().unwrap_or_default();
            map.remove(&key);
        }
        (2, Value::Array(items)) if !items.is_empty() => {
            let copy = items[rng.below(items.len())].clone();
            for _ in 0..=rng.below(64) {
                items.push(copy.clone());
            }
        }
        (3, Value::String(s)) => s.push_str(&word.repeat(1 + rng.below(200))),
        (4, _) => *node = json!([node.clone()]),
        (5, _) => *node = json!({ word: node.clone() }),
        _ => *node = node_value(rng),
    }
}

fn node_value(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    match rng.below(14) {
        0 => json!(null),
        1 => json!(rng.chance(2)),
        2 => json!(-1),
        3 => json!(u64::MAX),
        4 => json!(i64::MIN),
        5 => json!(1.5e300),
        6 => json!(""),
        7 => json!("x".repeat(rng.below(100_000))),
        8 => json!([]),
        9 => json!({}),
        10 => json!(0),
        11 => json!(4_294_967_296u64),
        12 => json!("\u{0}\u{feff}<|fim_prefix|>"),
        _ => {
            let depth = rng.below(200);
            serde_json::from_str(&format!("{}{}", "[".repeat(depth), "]".repeat(depth))).unwrap_or_default()
        }
    }
}

/// One mutation of `data` (bytes, or the JSON after the target's leading pick byte when it parses).
fn mutate(data: &mut Vec<u8>, rng: &mut Rng, seeds: &[Vec<u8>], words: &[Vec<u8>]) {
    let json_at = usize::from(data.first().is_some_and(|&b| b != b'{' && b != b'['));
    if rng.chance(3)
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&data[json_at.min(data.len())..])
    {
        mutate_json(&mut v, rng, words);
        data.truncate(json_at);
        data.extend(serde_json::to_vec(&v).unwrap_or_default());
        return;
    }
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(10) {
        0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => data[at.min(len - 1)] = b"\0\xff\x7f\x80\"{}[],:\\\n<>"[rng.below(15)],
        2 => {
            for _ in 0..=rng.below(8) {
                data.insert(at, rng.next() as u8);
            }
        }
        3 if len > 0 => {
            let end = (at + 1 + rng.below(16)).min(len);
            data.drain(at.min(end)..end);
        }
        4 if len > 0 => {
            let (from, n) = (rng.below(len), 1 + rng.below(32));
            let piece = data[from..(from + n).min(len)].to_vec();
            for _ in 0..=rng.below(16) {
                data.splice(at..at, piece.iter().copied());
            }
        }
        5 => {
            let other = &seeds[rng.below(seeds.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let piece = &other[from..(from + 1 + rng.below(64)).min(other.len())];
                let end = (at + rng.below(32)).min(data.len());
                data.splice(at..end, piece.iter().copied());
            }
        }
        6 if len >= 8 => {
            let value: u64 = [0, 1, 0xff, 0x7fff_ffff, 0xffff_ffff, u64::MAX, 1 << 40, len as u64][rng.below(8)];
            let width = [1, 2, 4, 8][rng.below(4)].min(len);
            let at = at.min(len - width);
            data[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
        }
        7 if len > 0 => data[0] = rng.next() as u8,
        _ => {
            let word = &words[rng.below(words.len())];
            data.splice(at..at, word.iter().copied());
        }
    }
    data.truncate(MAX_LEN);
}

fn seeds_of(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(name);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect())
        .unwrap_or_default();
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    seeds.sort();
    seeds
}

/// What one target's run found.
struct Outcome {
    execs: u64,
    crashes: Vec<PathBuf>,
}

/// Fuzzes one target on `threads` threads until `until`; a panic is a crash (its input written to
/// `artifacts`), an exec longer than [`HANG`] ends the process with its input saved.
fn fuzz_target(name: &'static str, target: Target, until: Instant, threads: usize, artifacts: &Path) -> Outcome {
    let seeds = Arc::new(seeds_of(name));
    let words = Arc::new(dictionary(&seeds));
    let execs = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let crashes = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    let mut current = Vec::new();
    for t in 0..threads {
        let slot = Arc::new(Mutex::new((Instant::now(), Vec::<u8>::new())));
        current.push(slot.clone());
        let (seeds, words, execs, done, crashes) =
            (seeds.clone(), words.clone(), execs.clone(), done.clone(), crashes.clone());
        let artifacts = artifacts.to_path_buf();
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) << 32) ^ u64::from(std::process::id()));
            let mut input = Vec::new();
            let mut local = 0u64;
            while Instant::now() < until && !done.load(Ordering::Relaxed) {
                // Stack mutations on the last input for a while, then start again from a seed.
                if input.is_empty() || rng.chance(8) {
                    input = seeds[rng.below(seeds.len())].clone();
                }
                for _ in 0..=rng.below(4) {
                    mutate(&mut input, &mut rng, &seeds, &words);
                }
                {
                    let mut s = crate::sync::lock(&slot);
                    s.0 = Instant::now();
                    s.1.clone_from(&input);
                }
                if std::panic::catch_unwind(|| target(&input)).is_err() {
                    let path = artifacts.join(format!("{name}-crash-{}-{t}-{local}", std::process::id()));
                    let _ = std::fs::write(&path, &input);
                    let mut found = crate::sync::lock(&crashes);
                    found.push(path);
                    if found.len() >= 5 {
                        done.store(true, Ordering::Relaxed);
                    }
                    input.clear();
                }
                local += 1;
                if local.is_multiple_of(1024) {
                    execs.fetch_add(1024, Ordering::Relaxed);
                }
            }
            execs.fetch_add(local % 1024, Ordering::Relaxed);
            // Finished: a start time in the future never looks like a hang.
            crate::sync::lock(&slot).0 = Instant::now() + HANG * 100;
        }));
    }
    // The watchdog: an exec that does not end is a hang.
    while workers.iter().any(|w| !w.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
        for slot in &current {
            let s = crate::sync::lock(slot);
            if s.0.elapsed() > HANG {
                let path = artifacts.join(format!("{name}-hang-{}", std::process::id()));
                let _ = std::fs::write(&path, &s.1);
                println!("fuzz {name:<14} FAILED  an input ran over {} s: {}", HANG.as_secs(), path.display());
                println!("fuzz: 0 passed, 1 failed");
                let _ = std::io::stdout().flush();
                std::process::exit(1);
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
    let crashes = std::mem::take(&mut *crate::sync::lock(&crashes));
    Outcome { execs: execs.load(Ordering::Relaxed), crashes }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

#[test]
#[ignore = "`make fuzz` runs it (scripts/fuzz.sh)"]
fn campaign() {
    let total = Duration::from_secs(env_or("FUZZ_SECONDS", 1200));
    let threads = env_or("FUZZ_THREADS", std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let chosen = std::env::var("FUZZ_TARGETS").unwrap_or_default();
    let targets: Vec<_> = TARGETS
        .iter()
        .filter(|(n, _)| chosen.trim().is_empty() || chosen.split_whitespace().any(|c| c == *n))
        .collect();
    assert!(!targets.is_empty(), "no target matches FUZZ_TARGETS={chosen:?}");
    let artifacts = std::env::var_os("FUZZ_ARTIFACTS").map_or_else(std::env::temp_dir, PathBuf::from);
    std::fs::create_dir_all(&artifacts).unwrap();
    let per = total / targets.len() as u32;
    let (mut passed, mut failed, mut all) = (0, 0, 0u64);
    // The panic message of a crash is the reproducer's headline; the default hook prints it.
    for (name, target) in targets {
        let started = Instant::now();
        let outcome = fuzz_target(name, *target, started + per, threads, &artifacts);
        let rate = outcome.execs as f64 / started.elapsed().as_secs_f64().max(0.001);
        all += outcome.execs;
        let seeds = seeds_of(name).len();
        if outcome.crashes.is_empty() {
            passed += 1;
            println!("fuzz {name:<14} ok      {:>11} execs {rate:>9.0}/s  seeds {seeds:>3}  crashes 0", outcome.execs);
        } else {
            failed += 1;
            println!(
                "fuzz {name:<14} FAILED  {:>11} execs {rate:>9.0}/s  seeds {seeds:>3}  crashes {} (first: {})",
                outcome.execs,
                outcome.crashes.len(),
                outcome.crashes[0].display()
            );
        }
    }
    println!("fuzz: {} targets, {all} execs in total, {} s each, {threads} threads", passed + failed, per.as_secs());
    println!("fuzz: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "a fuzz target crashed: reproducers in {}", artifacts.display());
}
