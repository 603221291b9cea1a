//! The libc calls airgate makes outside llama.cpp's module: free disk space, a thread's priority, the
//! SIGPIPE disposition. The only place besides `engine::llama` where `unsafe` is allowed.
#![allow(unsafe_code)]

use std::path::Path;

/// Bytes available to unprivileged users on the file system holding `dir` (`statvfs`).
pub fn disk_free(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is plain old data; all-zero bytes are a valid value of it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed out-struct the call fills in.
    (unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// The nice value of the threads that compute beside the async runtime (inference, embeddings,
/// password hashing). Above the runtime's 0, so when every core is busy the kernel still runs the
/// runtime's threads first: a health check, an admin page or a refusal is answered at once while
/// the models keep the cores busy (the soak's load suite measures it).
pub const COMPUTE_NICE: i32 = 10;

/// Gives the calling thread the lowest CPU priority (nice 19): work that competes with inference,
/// such as hashing a large file, gets the leftovers.
pub fn lower_thread_priority() {
    set_thread_nice(19);
}

/// Sets the calling thread's nice value (Linux keeps one per thread; threads it starts later inherit
/// it, as llama.cpp's compute threads do). Unprivileged, a thread can only lower its priority.
pub fn set_thread_nice(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on this thread's id changes only its nice
    // value.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

/// Restores SIGPIPE's default disposition, so a command whose output pipe closes ends quietly (as
/// Unix tools do) instead of failing on EPIPE. Call before any thread starts.
pub fn default_sigpipe() {
    // SAFETY: called while the process is single-threaded; restoring a signal's default disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}
