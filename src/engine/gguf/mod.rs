//! GGUF header reader: validates a model file in pure Rust before llama.cpp opens it, and reads the metadata `airgate model inspect` prints.
//!
//! The checks mirror what llama.cpp's `gguf.cpp` and model loader reject, so a damaged or
//! hostile file is refused here with a readable message instead of crashing the server.
//! The file is read through a `BufReader`; large arrays (the tokenizer vocabulary, merges,
//! scores) are skipped rather than stored, and every length read from the file is checked
//! against fixed caps and against the bytes actually left in the file before anything is
//! allocated.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

mod reader;
use reader::Src;

const MAX_STRING_LEN: u64 = 64 << 20;
const MAX_STORED_STRINGS: u64 = 256 << 20;
const MAX_ARRAY_LEN: u64 = 1 << 30;
const MAX_KV_COUNT: u64 = 1 << 20;
const MAX_TENSOR_COUNT: u64 = 1 << 20;
/// llama.cpp's GGML_MAX_NAME is 64 including the terminating NUL.
const MAX_TENSOR_NAME: u64 = 63;
const MAX_DIMS: u32 = 4;
const DEFAULT_ALIGNMENT: u64 = 32;
/// Smallest possible KV pair: key length, a 1-byte key, value type, a 1-byte value.
const MIN_KV_BYTES: u128 = 8 + 1 + 4 + 1;
/// Smallest possible tensor info: name length, n_dims, type, offset.
const MIN_TENSOR_BYTES: u128 = 8 + 4 + 4 + 8;
const TYPE_ARRAY: u32 = 9;
const TYPE_STRING: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a GGUF model file ({reason})")]
    Invalid { path: String, reason: String },
    #[error("{path}: GGUF format version {version} is not supported ({hint})")]
    UnsupportedVersion { path: String, version: u32, hint: String },
    #[error("{path}: model file is truncated, probably an incomplete download or copy ({detail})")]
    Truncated { path: String, detail: String },
    #[error("{path}: model file is damaged or malformed ({reason})")]
    Corrupt { path: String, reason: String },
}

/// A metadata value. Integers of all widths widen into `U64`/`I64`, floats into `F64`;
/// arrays are summarised by element type and length, never stored.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Array { elem_type: u32, len: u64 },
}

#[derive(Debug, Clone)]
pub struct GgufInfo {
    pub version: u32,
    pub tensor_count: u64,
    pub file_size: u64,
    pub metadata: BTreeMap<String, MetaValue>,
    /// Sum over tensors of the product of their dimensions.
    pub parameter_count: u64,
    /// ggml type name (e.g. "Q4_K") -> number of tensors of that type.
    pub tensor_types: BTreeMap<String, u64>,
    /// FIM token ids found by their text in `tokenizer.ggml.tokens` (llama.cpp's fallback
    /// for models without the FIM metadata keys). `fim_tokens()` merges this with the keys.
    pub fim_from_vocab: FimTokens,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FimTokens {
    pub prefix: Option<u64>,
    pub suffix: Option<u64>,
    pub middle: Option<u64>,
}

impl FimTokens {
    /// True when all three FIM tokens are known.
    pub fn present(&self) -> bool {
        self.prefix.is_some() && self.suffix.is_some() && self.middle.is_some()
    }
}

impl GgufInfo {
    fn meta_str(&self, key: &str) -> Option<&str> {
        match self.metadata.get(key) {
            Some(MetaValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn meta_u64(&self, key: &str) -> Option<u64> {
        match self.metadata.get(key)? {
            MetaValue::U64(v) => Some(*v),
            MetaValue::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.meta_u64(&format!("{arch}.{suffix}"))
    }

    /// `general.architecture`, e.g. "llama", "gemma3".
    pub fn architecture(&self) -> Option<&str> {
        self.meta_str("general.architecture")
    }

    /// `general.name`.
    pub fn name(&self) -> Option<&str> {
        self.meta_str("general.name")
    }

    /// `<arch>.context_length`: the context the model was trained for.
    pub fn context_length(&self) -> Option<u64> {
        self.arch_u64("context_length")
    }

    /// `<arch>.attention.sliding_window`.
    pub fn sliding_window(&self) -> Option<u64> {
        self.arch_u64("attention.sliding_window")
    }

    /// `general.file_type` (llama.cpp's `llama_ftype`) as a name such as "Q4_K_M".
    pub fn file_type(&self) -> Option<&'static str> {
        ftype_name(self.meta_u64("general.file_type")?)
    }

    /// The file type name if known, else the most common tensor type (F32 only counts
    /// when nothing else is present, since norms are F32 in every quantized model).
    pub fn quantization(&self) -> String {
        if let Some(name) = self.file_type() {
            return name.to_string();
        }
        let mut best: Option<(&str, u64)> = None;
        for (name, &count) in &self.tensor_types {
            if name == "F32" && self.tensor_types.len() > 1 {
                continue;
            }
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((name, count));
            }
        }
        best.map_or_else(|| "unknown".to_string(), |(name, _)| name.to_string())
    }

    /// True when the file carries `tokenizer.chat_template`.
    pub fn has_chat_template(&self) -> bool {
        matches!(self.metadata.get("tokenizer.chat_template"), Some(MetaValue::Str(_)))
    }

    /// FIM token ids from the metadata keys (current, then deprecated names); for each
    /// one missing, the id found by token text in the vocabulary. Ids outside the
    /// vocabulary are ignored, as llama.cpp does.
    pub fn fim_tokens(&self) -> FimTokens {
        let n_vocab = match self.metadata.get("tokenizer.ggml.tokens") {
            Some(MetaValue::Array { len, .. }) => Some(*len),
            _ => None,
        };
        let key = |role: usize| {
            let [new, old] = FIM_KEYS[role];
            let id = self.meta_u64(new).or_else(|| self.meta_u64(old))?;
            n_vocab.is_none_or(|n| id < n).then_some(id)
        };
        let v = &self.fim_from_vocab;
        FimTokens { prefix: key(0).or(v.prefix), suffix: key(1).or(v.suffix), middle: key(2).or(v.middle) }
    }
}

/// FIM token id keys for prefix, suffix and middle: current name, then deprecated one.
#[rustfmt::skip]
const FIM_KEYS: [[&str; 2]; 3] = [
    ["tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"],
    ["tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"],
    ["tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"],
];

/// Names of llama.cpp's `llama_ftype` values (llama.h), indexed by value; "-" marks removed ones.
const FTYPE_NAMES: &str = "F32 F16 Q4_0 Q4_1 - - - Q8_0 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S \
    Q4_K_M Q5_K_S Q5_K_M Q6_K IQ2_XXS IQ2_XS Q2_K_S IQ3_XS IQ3_XXS IQ1_S IQ4_NL IQ3_S IQ3_M IQ2_S \
    IQ2_M IQ4_XS IQ1_M BF16 - - - TQ1_0 TQ2_0 MXFP4_MOE NVFP4 Q1_0 Q2_0";

fn ftype_name(ftype: u64) -> Option<&'static str> {
    let name = FTYPE_NAMES.split_whitespace().nth(usize::try_from(ftype).ok()?)?;
    (name != "-").then_some(name)
}

/// ggml's `type_traits` (ggml.c): (id, name, elements per block, bytes per block).
/// Ids 4, 5, 31-33 and 36-38 were removed from ggml and are rejected like unknown ones.
#[rustfmt::skip]
const GGML_TYPES: [(u32, &str, u64, u64); 35] = [
    (0, "F32", 1, 4), (1, "F16", 1, 2), (2, "Q4_0", 32, 18), (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22), (7, "Q5_1", 32, 24), (8, "Q8_0", 32, 34), (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84), (11, "Q3_K", 256, 110), (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176), (14, "Q6_K", 256, 210), (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66), (17, "IQ2_XS", 256, 74), (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50), (20, "IQ4_NL", 32, 18), (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82), (23, "IQ4_XS", 256, 136), (24, "I8", 1, 1), (25, "I16", 1, 2),
    (26, "I32", 1, 4), (27, "I64", 1, 8), (28, "F64", 1, 8), (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2), (34, "TQ1_0", 256, 54), (35, "TQ2_0", 256, 66), (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36), (41, "Q1_0", 128, 18), (42, "Q2_0", 64, 18),
];

fn ggml_type(id: u32) -> Option<(&'static str, u64, u64)> {
    GGML_TYPES.iter().find(|t| t.0 == id).map(|&(_, name, block, size)| (name, block, size))
}

/// Size of a fixed-size GGUF value type, None for string/array/unknown.
fn scalar_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Well-known FIM token texts as (prefix, suffix, middle), in order of preference.
const FIM_STYLES: [[&str; 3]; 8] = [
    ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"], // Qwen, CodeGemma
    ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"],       // StarCoder, Granite
    ["<fim-prefix>", "<fim-suffix>", "<fim-middle>"],
    ["<PRE>", "<SUF>", "<MID>"],                               // CodeLlama
    ["▁<PRE>", "▁<SUF>", "▁<MID>"],                            // CodeLlama (SentencePiece)
    ["[PREFIX]", "[SUFFIX]", "[MIDDLE]"],                      // Codestral
    ["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],    // DeepSeek
    ["<|code_prefix|>", "<|code_suffix|>", "<|code_middle|>"], // GLM-4.5
];
/// Longest text in FIM_STYLES, in bytes (the DeepSeek ones).
const FIM_MAX_LEN: usize = 19;

/// First index of each FIM text seen while skipping `tokenizer.ggml.tokens`.
#[derive(Default)]
struct FimScan {
    found: [[Option<u64>; 3]; FIM_STYLES.len()],
}

impl FimScan {
    fn see(&mut self, index: u64, text: &[u8]) {
        if !matches!(text.first(), Some(b'<' | b'[' | 0xE2)) {
            return;
        }
        for (style, found) in FIM_STYLES.iter().zip(self.found.iter_mut()) {
            for (cand, slot) in style.iter().zip(found.iter_mut()) {
                if slot.is_none() && cand.as_bytes() == text {
                    *slot = Some(index);
                }
            }
        }
    }

    /// The first style with all three tokens, else per role the first style that has it.
    fn resolve(&self) -> FimTokens {
        let pick = |f: &[Option<u64>; 3]| FimTokens { prefix: f[0], suffix: f[1], middle: f[2] };
        if let Some(full) = self.found.iter().find(|f| f.iter().all(Option::is_some)) {
            return pick(full);
        }
        let role = |r: usize| self.found.iter().find_map(|f| f[r]);
        pick(&[role(0), role(1), role(2)])
    }
}

/// Quotes a name from the file for an error message: escaped and cut to a sane length.
fn show(s: &str) -> String {
    let mut out: String = s.escape_debug().take(80).collect();
    if s.escape_debug().nth(80).is_some() {
        out.push('…');
    }
    format!("'{out}'")
}

fn describe_magic(magic: &[u8; 4]) -> String {
    let text: String = magic.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '.' }).collect();
    let hint = match magic {
        b"lmgg" | b"fmgg" | b"tjgg" => "; it is an old GGML/GGJT model, convert it to GGUF with a current llama.cpp",
        [b'P', b'K', 3, 4] => "; it is a zip archive, perhaps a PyTorch checkpoint",
        _ => "",
    };
    let [a, b, c, d] = magic;
    format!("the file starts with \"{text}\" (hex {a:02x} {b:02x} {c:02x} {d:02x}) instead of \"GGUF\"{hint}")
}

fn version_hint(version: u32) -> Option<&'static str> {
    match version {
        2 | 3 => None,
        0 => Some("0 is not a valid version"),
        1 => Some("GGUF version 1 is obsolete; get a newer conversion of the model"),
        v if v & 0xFFFF == 0 => Some("the file appears to be big-endian, which is not supported"),
        _ => Some("only versions 2 and 3 are; the file may need a newer llama.cpp"),
    }
}

/// Reads and validates a GGUF file's header, metadata, tensor table and tensor data bounds.
pub fn read(path: &Path) -> Result<GgufInfo, GgufError> {
    let shown = path.display().to_string();
    let io = |source| GgufError::Io { path: shown.clone(), source };
    // Check before opening: opening a FIFO would block until someone writes to it.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(GgufError::Invalid { path: shown, reason: "it is not a regular file".into() });
    }
    read_open(&File::open(path).map_err(io)?, &shown)
}

/// `read` on a file already open, from its start (`shown` names it in errors): model import
/// validates and copies from one handle, so the bytes checked are the bytes copied.
pub fn read_open(file: &File, shown: &str) -> Result<GgufInfo, GgufError> {
    let io = |source| GgufError::Io { path: shown.to_string(), source };
    let size = file.metadata().map_err(io)?.len();
    let mut r = file;
    r.rewind().map_err(io)?;
    parse(&mut Src { r: BufReader::with_capacity(64 << 10, r), pos: 0, size, path: shown.to_string() })
}

/// `read` on bytes in memory (fuzzing, tests).
pub fn read_bytes(bytes: &[u8]) -> Result<GgufInfo, GgufError> {
    let r = BufReader::new(std::io::Cursor::new(bytes));
    parse(&mut Src { r, pos: 0, size: bytes.len() as u64, path: "<memory>".to_string() })
}

fn parse<R: Read + Seek>(s: &mut Src<R>) -> Result<GgufInfo, GgufError> {
    if s.size < 4 {
        return Err(s.invalid(format!("the file is only {} bytes long", s.size)));
    }
    let magic: [u8; 4] = s.array("the file magic")?;
    if &magic != b"GGUF" {
        return Err(s.invalid(describe_magic(&magic)));
    }
    let version = s.u32("the GGUF header")?;
    if let Some(hint) = version_hint(version) {
        return Err(GgufError::UnsupportedVersion { path: s.path.clone(), version, hint: hint.into() });
    }
    let tensor_count = s.u64("the GGUF header")?;
    let kv_count = s.u64("the GGUF header")?;
    if kv_count > MAX_KV_COUNT || tensor_count > MAX_TENSOR_COUNT {
        return Err(s.corrupt(format!(
            "the header claims {kv_count} metadata entries and {tensor_count} tensors; \
             the limits are {MAX_KV_COUNT} and {MAX_TENSOR_COUNT}"
        )));
    }
    let min = u128::from(kv_count) * MIN_KV_BYTES + u128::from(tensor_count) * MIN_TENSOR_BYTES;
    if min > u128::from(s.left()) {
        return Err(s.corrupt(format!(
            "the header claims {kv_count} metadata entries and {tensor_count} tensors, \
             which cannot fit in a {} byte file (truncated or damaged)",
            s.size
        )));
    }

    let mut metadata = BTreeMap::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut fim = FimScan::default();
    let mut stored = 0u64;
    for i in 0..kv_count {
        let key = s.string(&format!("the name of metadata entry #{i}"))?;
        if key.is_empty() {
            return Err(s.corrupt(format!("metadata entry #{i} has an empty name")));
        }
        if metadata.contains_key(&key) {
            return Err(s.corrupt(format!("metadata key {} appears twice", show(&key))));
        }
        let what = format!("the value of metadata key {}", show(&key));
        let ty = s.u32(&what)?;
        let value = if ty == TYPE_ARRAY { read_array(s, &key, &what, &mut fim)? } else { read_scalar(s, ty, &what)? };
        if key == "general.alignment" {
            alignment = match &value {
                MetaValue::U64(a) if ty == 4 && a.is_power_of_two() => *a,
                _ => {
                    return Err(s.corrupt(format!(
                        "general.alignment must be a power of two stored as u32, found {value:?} (type {ty})"
                    )));
                }
            };
        }
        if let MetaValue::Str(v) = &value {
            stored += v.len() as u64;
            if stored > MAX_STORED_STRINGS {
                return Err(s.corrupt(format!("metadata strings add up to more than {MAX_STORED_STRINGS} bytes")));
            }
        }
        metadata.insert(key, value);
    }

    let mut tensors: Vec<(String, u64, u64)> = Vec::new();
    let mut tensor_types = BTreeMap::new();
    let mut parameter_count = 0u64;
    let mut expected_offset = 0u64;
    for i in 0..tensor_count {
        let what = format!("the name of tensor #{i}");
        let len = s.u64(&what)?;
        if len > MAX_TENSOR_NAME {
            return Err(
                s.corrupt(format!("tensor #{i} has a {len} byte name; llama.cpp allows at most {MAX_TENSOR_NAME}"))
            );
        }
        let mut buf = [0u8; MAX_TENSOR_NAME as usize];
        s.fill(&mut buf[..len as usize], &what)?;
        let name = String::from_utf8_lossy(&buf[..len as usize]).into_owned();
        let what = format!("the description of tensor {}", show(&name));
        let (elements, type_name, nbytes, offset) = read_tensor(s, &name, &what)?;
        if !offset.is_multiple_of(alignment) {
            return Err(s.corrupt(format!(
                "tensor {} starts at data offset {offset}, which is not a multiple of the \
                 file's alignment of {alignment} bytes",
                show(&name)
            )));
        }
        if offset != expected_offset {
            return Err(s.corrupt(format!(
                "tensor {} starts at data offset {offset} but llama.cpp expects it at \
                 {expected_offset}, right after the previous tensor",
                show(&name)
            )));
        }
        let padded = nbytes.div_ceil(alignment).checked_mul(alignment);
        expected_offset = padded
            .and_then(|p| offset.checked_add(p))
            .ok_or_else(|| s.corrupt(format!("tensor {} is impossibly large", show(&name))))?;
        parameter_count = parameter_count.saturating_add(elements);
        *tensor_types.entry(type_name.to_string()).or_insert(0u64) += 1;
        tensors.push((name, offset, nbytes));
    }

    let data_start = match tensor_count {
        0 => s.pos,
        _ => s.pos.div_ceil(alignment) * alignment,
    };
    for (name, offset, nbytes) in &tensors {
        let start = data_start.saturating_add(*offset);
        let end = start.saturating_add(*nbytes);
        if end > s.size {
            return Err(s.truncated(format!(
                "the data of tensor {} spans bytes {start}..{end} but the file is only {} bytes long",
                show(name),
                s.size
            )));
        }
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    names.sort_unstable();
    if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(s.corrupt(format!("tensor name {} appears twice", show(dup[0]))));
    }

    Ok(GgufInfo {
        version,
        tensor_count,
        file_size: s.size,
        metadata,
        parameter_count,
        tensor_types,
        fim_from_vocab: fim.resolve(),
    })
}

fn read_scalar<R: Read + Seek>(s: &mut Src<R>, ty: u32, what: &str) -> Result<MetaValue, GgufError> {
    Ok(match ty {
        0 => MetaValue::U64(s.array::<1>(what)?[0].into()),
        1 => MetaValue::I64(i8::from_le_bytes(s.array(what)?).into()),
        2 => MetaValue::U64(u16::from_le_bytes(s.array(what)?).into()),
        3 => MetaValue::I64(i16::from_le_bytes(s.array(what)?).into()),
        4 => MetaValue::U64(s.u32(what)?.into()),
        5 => MetaValue::I64(i32::from_le_bytes(s.array(what)?).into()),
        6 => MetaValue::F64(f32::from_le_bytes(s.array(what)?).into()),
        7 => MetaValue::Bool(s.array::<1>(what)?[0] != 0),
        TYPE_STRING => MetaValue::Str(s.string(what)?),
        10 => MetaValue::U64(s.u64(what)?),
        11 => MetaValue::I64(i64::from_le_bytes(s.array(what)?)),
        12 => MetaValue::F64(f64::from_le_bytes(s.array(what)?)),
        _ => return Err(s.corrupt(format!("{what} has unknown value type {ty}"))),
    })
}

/// Skips an array value, scanning `tokenizer.ggml.tokens` for FIM token texts.
fn read_array<R: Read + Seek>(
    s: &mut Src<R>,
    key: &str,
    what: &str,
    fim: &mut FimScan,
) -> Result<MetaValue, GgufError> {
    let elem_type = s.u32(what)?;
    let len = s.u64(what)?;
    if len > MAX_ARRAY_LEN || len > s.left() {
        return Err(s.corrupt(format!("{what} claims to be an array of {len} elements, more than the file can hold")));
    }
    if elem_type == TYPE_STRING {
        let scan = key == "tokenizer.ggml.tokens";
        let mut buf = [0u8; FIM_MAX_LEN];
        for index in 0..len {
            let n = s.str_len(MAX_STRING_LEN, what)?;
            if scan && n as usize <= FIM_MAX_LEN {
                let text = &mut buf[..n as usize];
                s.fill(text, what)?;
                fim.see(index, text);
            } else {
                s.skip(n, what)?;
            }
        }
    } else if let Some(size) = scalar_size(elem_type) {
        s.skip(len * size, what)?;
    } else if elem_type == TYPE_ARRAY {
        return Err(s.corrupt(format!("{what} is an array of arrays, which GGUF does not allow")));
    } else {
        return Err(s.corrupt(format!("{what} is an array of unknown type {elem_type}")));
    }
    Ok(MetaValue::Array { elem_type, len })
}

/// Reads a tensor's shape, type and offset; returns (elements, type name, bytes, offset).
fn read_tensor<R: Read + Seek>(
    s: &mut Src<R>,
    name: &str,
    what: &str,
) -> Result<(u64, &'static str, u64, u64), GgufError> {
    let n_dims = s.u32(what)?;
    if n_dims > MAX_DIMS {
        return Err(s.corrupt(format!("tensor {} has {n_dims} dimensions; at most {MAX_DIMS} are allowed", show(name))));
    }
    let mut dims = [1u64; MAX_DIMS as usize];
    for d in dims.iter_mut().take(n_dims as usize) {
        *d = s.u64(what)?;
    }
    let bad_shape = |s: &Src<R>| s.corrupt(format!("tensor {} has an impossible shape {dims:?}", show(name)));
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&e| e <= i64::MAX as u64 && dims.iter().all(|&d| d <= i64::MAX as u64))
        .ok_or_else(|| bad_shape(s))?;
    let ty = s.u32(what)?;
    let Some((type_name, block, type_size)) = ggml_type(ty) else {
        return Err(s.corrupt(format!(
            "tensor {} has unknown ggml type id {ty}; the file is damaged or needs a newer llama.cpp",
            show(name)
        )));
    };
    if !dims[0].is_multiple_of(block) {
        return Err(s.corrupt(format!(
            "tensor {} of type {type_name} has {} elements per row, not a multiple of the \
             block size {block}",
            show(name),
            dims[0]
        )));
    }
    let nbytes = (elements / block).checked_mul(type_size).ok_or_else(|| bad_shape(s))?;
    let offset = s.u64(what)?;
    Ok((elements, type_name, nbytes, offset))
}

#[cfg(test)]
mod tests;
