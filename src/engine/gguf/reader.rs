//! The bounds-checked little-endian reader the GGUF parser reads through (a file, a handle already
//! open, or memory): every read says what it was for, and a short file or a bad length becomes a
//! typed error naming the file.

use std::io::{BufReader, Read, Seek};

use super::{GgufError, MAX_STRING_LEN};

/// A bounds-checked little-endian reader that tracks its position in the file.
pub(super) struct Src<R> {
    pub(super) r: BufReader<R>,
    pub(super) pos: u64,
    pub(super) size: u64,
    pub(super) path: String,
}

impl<R: Read + Seek> Src<R> {
    pub(super) fn left(&self) -> u64 {
        self.size - self.pos
    }

    pub(super) fn io(&self, source: std::io::Error) -> GgufError {
        GgufError::Io { path: self.path.clone(), source }
    }

    pub(super) fn corrupt(&self, reason: String) -> GgufError {
        let path = self.path.clone();
        GgufError::Corrupt { path, reason }
    }

    pub(super) fn invalid(&self, reason: String) -> GgufError {
        let path = self.path.clone();
        GgufError::Invalid { path, reason }
    }

    pub(super) fn truncated(&self, detail: String) -> GgufError {
        let path = self.path.clone();
        GgufError::Truncated { path, detail }
    }

    pub(super) fn need(&self, n: u64, what: &str) -> Result<(), GgufError> {
        if n <= self.left() {
            return Ok(());
        }
        Err(self.truncated(format!(
            "the file ends at byte {} in the middle of {what}, which needs {n} bytes from byte {}",
            self.size, self.pos
        )))
    }

    pub(super) fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        self.need(buf.len() as u64, what)?;
        self.r.read_exact(buf).map_err(|e| self.io(e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    pub(super) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    pub(super) fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    pub(super) fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        self.need(n, what)?;
        let step = i64::try_from(n).map_err(|_| self.corrupt(format!("{what} is too large")))?;
        self.r.seek_relative(step).map_err(|e| self.io(e))?;
        self.pos += n;
        Ok(())
    }

    /// Reads a string's length prefix and checks it against `max` and the file size.
    pub(super) fn str_len(&mut self, max: u64, what: &str) -> Result<u64, GgufError> {
        let len = self.u64(what)?;
        if len > max {
            return Err(self.corrupt(format!("{what} claims a length of {len} bytes, over the limit of {max} bytes")));
        }
        self.need(len, what)?;
        Ok(len)
    }

    pub(super) fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.str_len(MAX_STRING_LEN, what)?;
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf, what)?;
        Ok(match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}
