//! Password hashing on threads of its own: argon2id (64 MiB, ~0.2 s a hash) runs at most two at a time, never on tokio's shared blocking pool, and a caller waits a bounded time for its turn before it is told to come back later.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

/// Hashes that run at once (each holds 64 MiB and a core).
pub const THREADS: usize = 2;
/// How long a caller waits for a free hashing thread before [`Busy`].
pub const MAX_WAIT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// No hashing thread came free within the wait: answer 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password checks are busy; try again in {} seconds", .retry_after.as_secs())]
pub struct Busy {
    pub retry_after: Duration,
}

/// The hashing threads and the turns on them.
pub struct HashPool {
    turns: Arc<Semaphore>,
    jobs: Mutex<mpsc::Sender<Job>>,
    wait: Duration,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool").field("free", &self.turns.available_permits()).finish()
    }
}

impl HashPool {
    /// `threads` hashing threads; callers wait at most `wait` for one.
    pub fn new(threads: usize, wait: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("airgate-hash-{i}")).spawn(move || {
                crate::sys::set_thread_nice(crate::sys::COMPUTE_NICE);
                loop {
                    let job = crate::sync::lock(&rx).recv();
                    match job {
                        // A panicking job ends that job only: its caller sees an error.
                        Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                        Err(_) => return, // the pool was dropped
                    }
                }
            });
            spawned.expect("cannot start a password hashing thread");
        }
        HashPool { turns: Arc::new(Semaphore::new(threads)), jobs: Mutex::new(tx), wait }
    }

    /// Runs `f` on a hashing thread once one is free (within the pool's wait), and returns its result.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        let busy = Busy { retry_after: self.wait.max(Duration::from_secs(1)) };
        let turn = match tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            _ => return Err(busy),
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _turn = turn; // the next caller's turn starts when this job ends
            let _ = tx.send(f());
        });
        crate::sync::lock(&self.jobs).send(job).map_err(|_| busy)?;
        // A panic in `f` drops the sender: report it as busy rather than hang or crash the caller.
        rx.await.map_err(|_| busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_two_at_once_and_a_bounded_wait() {
        let pool = Arc::new(HashPool::new(2, Duration::from_millis(600)));
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let start = Instant::now();
        let calls = (0..6).map(|i| {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(400));
                    running.fetch_sub(1, Ordering::SeqCst);
                    (i, std::thread::current().name().map(str::to_string))
                })
                .await
            })
        });
        let results: Vec<_> = futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        let done: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert!(done.iter().all(|(_, name)| name.as_deref().is_some_and(|n| n.starts_with("airgate-hash-"))));
        // Two run at once, two more get a turn within the 600 ms wait; the last two are told to wait.
        assert_eq!(done.len(), 4, "{results:?}");
        assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|b| b.retry_after >= Duration::from_secs(1)));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        let pool = HashPool::new(1, Duration::from_secs(1));
        assert!(pool.run(|| panic!("boom")).await.is_err());
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}
