//! Tests of the GGUF reader: a small GGUF writer, table-driven bad files, every truncation point, FIM detection.

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

fn put_str(out: &mut Vec<u8>, v: &str) {
    out.extend((v.len() as u64).to_le_bytes());
    out.extend(v.as_bytes());
}

/// One encoded KV pair: key, value type, payload.
fn kv(key: &str, ty: u32, payload: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    put_str(&mut out, key);
    out.extend(ty.to_le_bytes());
    payload.iter().for_each(|p| out.extend(*p));
    out
}

fn kv_str(key: &str, v: &str) -> Vec<u8> {
    kv(key, 8, &[&(v.len() as u64).to_le_bytes(), v.as_bytes()])
}

fn kv_u32(key: &str, v: u32) -> Vec<u8> {
    kv(key, 4, &[&v.to_le_bytes()])
}

fn kv_strs(key: &str, items: &[&str]) -> Vec<u8> {
    let mut p = 8u32.to_le_bytes().to_vec();
    p.extend((items.len() as u64).to_le_bytes());
    items.iter().for_each(|i| put_str(&mut p, i));
    kv(key, 9, &[&p])
}

/// A tensor to write: name, dims, ggml type, data bytes, offset (None: next free).
type T = (&'static str, Vec<u64>, u32, u64, Option<u64>);

fn t(name: &'static str, dims: &[u64], ty: u32, bytes: u64) -> T {
    (name, dims.to_vec(), ty, bytes, None)
}

/// A GGUF file description; `build` lays it out as llama.cpp's writer does.
#[derive(Clone)]
struct Spec {
    magic: [u8; 4],
    version: u32,
    counts: (Option<u64>, Option<u64>), // header (tensor, kv) count overrides
    kvs: Vec<Vec<u8>>,
    tensors: Vec<T>,
    align: u64,
}

const TOKENS: [&str; 6] = ["<unk>", "a", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "b"];

fn valid() -> Spec {
    let n = |v: i64| v.to_le_bytes();
    Spec {
        magic: *b"GGUF",
        version: 3,
        counts: (None, None),
        kvs: vec![
            kv_str("general.architecture", "llama"),
            kv_str("general.name", "Tiny Test"),
            kv_u32("general.alignment", 64),
            kv_u32("llama.context_length", 4096),
            kv_u32("llama.attention.sliding_window", 1024),
            kv_u32("general.file_type", 15),
            kv_str("tokenizer.chat_template", "{{ messages }}"),
            kv_strs("tokenizer.ggml.tokens", &TOKENS),
            kv("tokenizer.ggml.scores", 9, &[&6u32.to_le_bytes(), &n(6), &[0; 24]]),
            kv("test.u8", 0, &[&[200]]),
            kv("test.i8", 1, &[&n(-5)[..1]]),
            kv("test.u16", 2, &[&n(500)[..2]]),
            kv("test.i16", 3, &[&n(-300)[..2]]),
            kv("test.i32", 5, &[&n(-7)[..4]]),
            kv("test.f32", 6, &[&1.5f32.to_le_bytes()]),
            kv("test.bool", 7, &[&[1]]),
            kv("test.u64", 10, &[&u64::MAX.to_le_bytes()]),
            kv("test.i64", 11, &[&n(i64::MIN)]),
            kv("test.f64", 12, &[&(-0.25f64).to_le_bytes()]),
        ],
        // Q4_K: 6 blocks of 144 bytes; F32: 256 * 4; Q6_K: 2 blocks of 210 bytes.
        tensors: vec![
            t("token_embd.weight", &[256, 6], 12, 864),
            t("output_norm.weight", &[256], 0, 1024),
            t("blk.0.attn_q.weight", &[256, 2], 14, 420),
        ],
        align: 64,
    }
}

impl Spec {
    fn edit(mut self, f: impl FnOnce(&mut Spec)) -> Spec {
        f(&mut self);
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut out = self.magic.to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend(self.counts.0.unwrap_or(self.tensors.len() as u64).to_le_bytes());
        out.extend(self.counts.1.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        self.kvs.iter().for_each(|kv| out.extend(kv));
        let (mut next, mut data_len) = (0, 0);
        for (name, dims, ty, bytes, offset) in &self.tensors {
            put_str(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
            out.extend(ty.to_le_bytes());
            let offset = offset.unwrap_or(next);
            out.extend(offset.to_le_bytes());
            next = (offset + bytes).next_multiple_of(self.align);
            data_len = data_len.max(offset + bytes);
        }
        if !self.tensors.is_empty() {
            out.resize(out.len().next_multiple_of(self.align as usize), 0);
        }
        out.resize(out.len() + data_len as usize, 0xAB);
        out
    }
}

fn tmp_path() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("airgate-gguf-test-{}-{n}.gguf", std::process::id()))
}

/// Reads `bytes` from a file, and checks that reading them from memory gives the same answer.
fn read_bytes(bytes: &[u8]) -> Result<GgufInfo, GgufError> {
    let path = tmp_path();
    std::fs::write(&path, bytes).unwrap();
    let result = read(&path);
    std::fs::remove_file(&path).unwrap();
    match (&result, super::read_bytes(bytes)) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(kind(a), kind(&b), "{a} / {b}"),
        (a, b) => panic!("from a file {a:?}, from memory {b:?}"),
    }
    if let Err(e) = &result {
        let msg = e.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "no path: {msg}");
    }
    result
}

fn kind(e: &GgufError) -> &'static str {
    match e {
        GgufError::Io { .. } => "io",
        GgufError::Invalid { .. } => "invalid",
        GgufError::UnsupportedVersion { .. } => "version",
        GgufError::Truncated { .. } => "truncated",
        GgufError::Corrupt { .. } => "corrupt",
    }
}

#[test]
fn valid_file_reads_back_every_field() {
    for version in [2, 3] {
        let spec = valid().edit(|s| s.version = version);
        let bytes = spec.build();
        let info = read_bytes(&bytes).unwrap();
        assert_eq!(info.version, version);
        assert_eq!(info.tensor_count, 3);
        assert_eq!(info.file_size, bytes.len() as u64);
        assert_eq!(info.parameter_count, 256 * 6 + 256 + 256 * 2);
        let types: Vec<_> = info.tensor_types.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(types, [("F32", 1), ("Q4_K", 1), ("Q6_K", 1)]);
        assert_eq!(info.architecture(), Some("llama"));
        assert_eq!(info.name(), Some("Tiny Test"));
        assert_eq!(info.context_length(), Some(4096));
        assert_eq!(info.sliding_window(), Some(1024));
        assert_eq!(info.file_type(), Some("Q4_K_M"));
        assert_eq!(info.quantization(), "Q4_K_M");
        assert!(info.has_chat_template());
        let m = &info.metadata;
        assert_eq!(m.len(), spec.kvs.len());
        use MetaValue::*;
        #[rustfmt::skip]
        let want = [
            ("tokenizer.ggml.tokens", Array { elem_type: 8, len: 6 }),
            ("tokenizer.ggml.scores", Array { elem_type: 6, len: 6 }),
            ("general.alignment", U64(64)), ("test.u8", U64(200)), ("test.i8", I64(-5)),
            ("test.u16", U64(500)), ("test.i16", I64(-300)), ("test.i32", I64(-7)),
            ("test.f32", F64(1.5)), ("test.bool", Bool(true)), ("test.u64", U64(u64::MAX)),
            ("test.i64", I64(i64::MIN)), ("test.f64", F64(-0.25)),
        ];
        for (key, value) in want {
            assert_eq!(m[key], value, "{key}");
        }
        let fim = FimTokens { prefix: Some(2), suffix: Some(4), middle: Some(3) };
        assert_eq!(info.fim_tokens(), fim);
        assert!(info.fim_tokens().present());
    }
}

#[test]
fn file_type_names_and_quantization_fallback() {
    let names = [(0, "F32"), (15, "Q4_K_M"), (18, "Q6_K"), (21, "Q2_K_S"), (32, "BF16")];
    for (ftype, name) in names.into_iter().chain([(38, "MXFP4_MOE"), (41, "Q2_0")]) {
        assert_eq!(ftype_name(ftype), Some(name));
    }
    for ftype in [4, 5, 6, 33, 35, 42, 1024, u64::MAX] {
        assert_eq!(ftype_name(ftype), None, "{ftype}");
    }
    let spec = valid().edit(|s| {
        s.kvs.retain(|kv| !kv.windows(9).any(|w| w == b"file_type"));
        s.tensors.push(t("blk.0.attn_k.weight", &[256], 14, 210));
        s.tensors.extend([t("blk.0.norm", &[4], 0, 16), t("blk.1.norm", &[4], 0, 16)]);
    });
    let info = read_bytes(&spec.build()).unwrap();
    assert_eq!((info.file_type(), info.quantization().as_str()), (None, "Q6_K"));
}

#[test]
fn rejects_bad_files_with_clear_errors() {
    let raw = |kv: Vec<u8>| valid().edit(|s| s.kvs = vec![kv]).build();
    let tensor = |t: T| valid().edit(|s| s.tensors = vec![t]).build();
    let offset = |o| valid().edit(|s| s.tensors[1].4 = Some(o)).build();
    let header = |f: fn(&mut Spec)| valid().edit(f).build();
    let max = u64::MAX.to_le_bytes();
    let name64 = "n".repeat(64).leak();
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty file", vec![], "invalid", "0 bytes"),
        ("bad magic", header(|s| s.magic = *b"GGML"), "invalid", "instead of \"GGUF\""),
        ("old ggjt", header(|s| s.magic = *b"tjgg"), "invalid", "GGJT"),
        ("version 0", header(|s| s.version = 0), "version", "not a valid"),
        ("version 1", header(|s| s.version = 1), "version", "obsolete"),
        ("version 4", header(|s| s.version = 4), "version", "2 and 3"),
        ("big endian", header(|s| s.version = 3 << 24), "version", "big-endian"),
        ("absurd kv count", header(|s| s.counts.1 = Some(u64::MAX)), "corrupt", "metadata entries"),
        ("kv count over file", header(|s| s.counts.1 = Some(100_000)), "corrupt", "cannot fit"),
        ("absurd tensor count", header(|s| s.counts.0 = Some(u64::MAX)), "corrupt", "tensors"),
        ("3-byte file", b"GGU".to_vec(), "invalid", "only 3 bytes long"),
        ("absurd key length", raw(max.to_vec()), "corrupt", "over the limit of 67108864"),
        ("absurd string length", raw(kv("k", 8, &[&max])), "corrupt", "'k' claims a length"),
        ("string past eof", raw(kv("k", 8, &[&(1u64 << 20).to_le_bytes()])), "truncated", "'k'"),
        ("absurd array length", raw(kv("k", 9, &[&4u32.to_le_bytes(), &max])), "corrupt", "array of"),
        ("nested array", raw(kv("k", 9, &[&9u32.to_le_bytes(), &[1, 0, 0, 0, 0, 0, 0, 0]])), "corrupt", "array of arrays"),
        ("unknown value type", raw(kv("k", 13, &[&[0; 8]])), "corrupt", "unknown value type 13"),
        ("empty key", raw(kv("", 0, &[&[1]])), "corrupt", "empty name"),
        ("duplicate key", header(|s| s.kvs.push(kv_str("general.name", "x"))), "corrupt", "twice"),
        ("alignment as u64", raw(kv("general.alignment", 10, &[&32u64.to_le_bytes()])), "corrupt", "alignment"),
        ("alignment 48", raw(kv_u32("general.alignment", 48)), "corrupt", "power of two"),
        ("unknown ggml type", tensor(t("weird.weight", &[32], 4, 18)), "corrupt", "'weird.weight' has unknown ggml type id 4"),
        ("ggml type 99", tensor(t("w", &[32], 99, 18)), "corrupt", "type id 99"),
        ("five dims", tensor(t("w", &[1, 1, 1, 1, 1], 0, 4)), "corrupt", "5 dimensions"),
        ("partial block", tensor(t("w", &[100], 12, 144)), "corrupt", "block size 256"),
        ("overflowing shape", tensor(t("w", &[1 << 32, 1 << 32], 0, 0)), "corrupt", "impossible shape"),
        ("long tensor name", tensor(t(name64, &[1], 0, 4)), "corrupt", "64 byte name"),
        ("duplicate tensor", header(|s| s.tensors = vec![t("w", &[16], 0, 64); 2]), "corrupt", "'w' appears twice"),
        ("misaligned offset", offset(900), "corrupt", "not a multiple of the file's alignment of 64"),
        ("gap between tensors", offset(960), "corrupt", "expects it at 896"),
        ("data beyond eof", tensor(t("huge", &[256, 1 << 40], 12, 0)), "truncated", "'huge' spans bytes"),
    ];
    for (label, bytes, want_kind, want_text) in cases {
        let err = read_bytes(&bytes).expect_err(label);
        let msg = err.to_string();
        assert_eq!(kind(&err), want_kind, "{label}: {msg}");
        assert!(msg.contains(want_text), "{label}: {msg:?} lacks {want_text:?}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = valid().build();
    let path = tmp_path();
    std::fs::write(&path, &bytes).unwrap();
    assert!(read(&path).is_ok());
    // Shrinking in place is far cheaper than rewriting the file for every cut.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for cut in (0..bytes.len() as u64).rev() {
        file.set_len(cut).unwrap();
        let err = read(&path).expect_err("truncated file accepted");
        assert_ne!(kind(&err), "io", "cut at {cut}: {err}");
        let err = super::read_bytes(&bytes[..cut as usize]).expect_err("truncated bytes accepted");
        assert_ne!(kind(&err), "io", "cut at {cut} in memory: {err}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn fim_tokens_from_keys_and_vocab_texts() {
    let vocab = |tokens: &'static [&'static str]| {
        valid().edit(|s| {
            s.kvs[7] = kv_strs("tokenizer.ggml.tokens", tokens); // replaces TOKENS
        })
    };
    let keys = |pairs: &[(&str, u32)]| valid().edit(|s| s.kvs.extend(pairs.iter().map(|(k, v)| kv_u32(k, *v))));
    let fim = |p, s, m| FimTokens { prefix: p, suffix: s, middle: m };
    #[rustfmt::skip]
    let cases: Vec<(&str, Spec, FimTokens)> = vec![
        ("qwen texts", valid(), fim(Some(2), Some(4), Some(3))),
        ("starcoder", vocab(&["x", "<fim_prefix>", "<fim_middle>", "<fim_suffix>"]), fim(Some(1), Some(3), Some(2))),
        ("codellama", vocab(&["▁<PRE>", "▁<MID>", "▁<SUF>", "<s>"]), fim(Some(0), Some(2), Some(1))),
        ("codellama bare", vocab(&["<SUF>", "<PRE>", "<MID>"]), fim(Some(1), Some(0), Some(2))),
        ("codestral", vocab(&["[MIDDLE]", "[SUFFIX]", "[PREFIX]"]), fim(Some(2), Some(1), Some(0))),
        ("deepseek", vocab(&["a", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"]), fim(Some(2), Some(1), Some(3))),
        ("complete style wins", vocab(&["<PRE>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"]), fim(Some(1), Some(2), Some(3))),
        ("partial", vocab(&["<|fim_prefix|>", "zz"]), fim(Some(0), None, None)),
        ("none", vocab(&["a", "b", "<fim_prefix"]), fim(None, None, None)),
        ("keys beat texts", keys(&[("tokenizer.ggml.fim_pre_token_id", 5), ("tokenizer.ggml.fim_suf_token_id", 1), ("tokenizer.ggml.fim_mid_token_id", 0)]), fim(Some(5), Some(1), Some(0))),
        ("old keys, per-role fallback, id beyond vocab ignored", keys(&[("tokenizer.ggml.prefix_token_id", 1), ("tokenizer.ggml.middle_token_id", 99)]), fim(Some(1), Some(4), Some(3))),
    ];
    for (label, spec, want) in cases {
        let info = read_bytes(&spec.build()).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(info.fim_tokens(), want, "{label}");
        assert_eq!(info.fim_tokens().present(), want.present(), "{label}");
    }
}

#[test]
fn ggml_block_sizes_match_struct_layouts() {
    // (id, name, block, bytes), the bytes summed from ggml-common.h's block structs.
    #[rustfmt::skip]
    let cases = [
        (2, "Q4_0", 32, 2 + 16), (8, "Q8_0", 32, 2 + 32), (9, "Q8_1", 32, 2 + 2 + 32),
        (10, "Q2_K", 256, 16 + 64 + 2 + 2), (12, "Q4_K", 256, 2 + 2 + 12 + 128),
        (14, "Q6_K", 256, 128 + 64 + 16 + 2), (15, "Q8_K", 256, 4 + 256 + 32),
        (23, "IQ4_XS", 256, 2 + 2 + 4 + 128), (30, "BF16", 1, 2),
        (34, "TQ1_0", 256, 48 + 4 + 2), (39, "MXFP4", 32, 1 + 16),
    ];
    for (id, name, block, bytes) in cases {
        assert_eq!(ggml_type(id), Some((name, block, bytes)));
    }
    for removed in [4, 5, 31, 32, 33, 36, 37, 38, 43, u32::MAX] {
        assert_eq!(ggml_type(removed), None, "type {removed}");
    }
}

#[test]
fn real_gemma3_model() {
    let path = crate::engine::test_model_path();
    let info = read(&path).unwrap();
    eprintln!(
        "arch={:?} file_type={:?} ctx={:?} sliding_window={:?} chat_template={} fim={:?}",
        info.architecture(),
        info.file_type(),
        info.context_length(),
        info.sliding_window(),
        info.has_chat_template(),
        info.fim_tokens(),
    );
    assert_eq!(info.architecture(), Some("gemma3"));
    assert_eq!(info.quantization(), "Q4_K_M");
    assert_eq!(info.context_length(), Some(32768));
}
