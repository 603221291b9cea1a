//! Hands back to the kernel the model-file pages llama.cpp mapped but no longer reads.
//!
//! llama.cpp maps a GGUF file and reads every tensor through the mapping while it loads. Tensors it
//! then repacks for faster CPU kernels (or uploads to a GPU) live on in their own buffers, but the
//! pages of their originals stay resident in the process: on the default model 13 MiB of memory
//! are counted twice. Dropping the mapping's resident pages right after loading, before the warm-up,
//! lets the warm-up fault back in exactly the pages inference reads, from the page cache. The file
//! and its contents stay as they were: the pages are read-only and backed by the file.

use std::path::Path;

/// Drops the resident pages of every read-only mapping of the file at `path` from this process.
/// Returns the bytes of address space advised; 0 where this is not Linux or nothing maps the file.
pub fn release_mapped(path: &Path) -> usize {
    let Ok(path) = std::fs::canonicalize(path) else { return 0 };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return 0 };
    let mut released = 0;
    for (start, end) in read_only_mappings(&maps, &path.to_string_lossy()) {
        // SAFETY: the range is a whole read-only file mapping of this process (from /proc/self/maps).
        // MADV_DONTNEED on it only unmaps its pages: the next read faults them back in from the
        // file, with the same contents, so whoever holds pointers into the mapping sees no change.
        if unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) } == 0 {
            released += end - start;
        }
    }
    released
}

/// The address ranges of the read-only mappings of `path` in a `/proc/<pid>/maps` listing.
fn read_only_mappings(maps: &str, path: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            // range, permissions, offset, device, inode, then the path (which may contain spaces)
            let mut fields = line.splitn(6, ' ');
            let (range, perms) = (fields.next()?, fields.next()?);
            let name = fields.nth(3)?.trim_start();
            if name != path || perms.as_bytes().get(1) != Some(&b'-') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some((usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn finds_the_read_only_mappings_of_one_file() {
        let maps = "\
7f00a0000000-7f00a1000000 r--s 00001000 103:02 1234 /models/a model.gguf
7f00a2000000-7f00a3000000 rw-p 00000000 103:02 1234 /models/a model.gguf
7f00a4000000-7f00a5000000 r--p 00000000 103:02 99 /models/other.gguf
7f00a6000000-7f00a7000000 r--p 00000000 00:00 0
";
        assert_eq!(read_only_mappings(maps, "/models/a model.gguf"), vec![(0x7f00a0000000, 0x7f00a1000000)]);
        assert!(read_only_mappings(maps, "/models/missing.gguf").is_empty());
    }

    /// Resident kilobytes of the mapping that starts at `addr`, from /proc/self/smaps.
    fn resident_kib(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let header = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
        lines.next().expect("the mapping is listed");
        let rss = lines.find(|l| l.starts_with("Rss:")).unwrap();
        rss.split_ascii_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn a_read_mapping_stops_being_resident_and_keeps_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.bin");
        let len = 1 << 20;
        std::fs::write(&path, (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a fresh read-only shared mapping of a file this test owns, unmapped below.
        let addr =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
        assert_ne!(addr, libc::MAP_FAILED);
        // SAFETY: `addr` maps `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
        let sum = |b: &[u8]| b.iter().map(|&x| u64::from(x)).sum::<u64>();
        let before = sum(bytes);
        assert!(resident_kib(addr as usize) >= 1024, "read through: resident");
        assert_eq!(release_mapped(&path), len);
        assert_eq!(resident_kib(addr as usize), 0, "released");
        assert_eq!(sum(bytes), before, "the same contents, faulted back in");
        // SAFETY: unmaps the mapping made above; `bytes` is not used after this.
        unsafe { libc::munmap(addr, len) };
    }
}
