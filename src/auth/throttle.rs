//! Sign-in throttling: each attempt is reserved against the per-name and per-address limits before its password is checked, so concurrent attempts cannot get past the limit.
//!
//! A reservation counts as a failure from the moment it is made. It stops counting when the
//! attempt succeeds (and a success forgets the name's earlier failures) or when it is cancelled
//! without a password check (the hashing pool was busy); otherwise it stays, as a failure.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failed sign-ins counted over this window…
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// …lock a user name out after this many…
pub const MAX_PER_USER: usize = 5;
/// …and an address after this many.
pub const MAX_PER_IP: usize = 20;
/// Past this many keys, the expired ones are dropped (attempts from many names or addresses).
const MAX_KEYS: usize = 100_000;

/// Attempts per user name and per address, in memory.
#[derive(Debug, Default)]
pub struct Throttle {
    attempts: HashMap<String, Vec<Instant>>,
}

/// One reserved attempt; hand it back with [`Throttle::succeeded`], [`Throttle::failed`] or
/// [`Throttle::cancel`].
#[derive(Debug)]
#[must_use = "a reservation counts as a failure until it is handed back"]
pub struct Reservation {
    user: String,
    ip: String,
    at: Instant,
}

fn user_key(username: &str) -> String {
    format!("user:{username}")
}

impl Throttle {
    /// Reserves one attempt for `username` from `ip`, or says how long one of them stays locked.
    pub fn reserve(&mut self, username: &str, ip: &str, now: Instant) -> Result<Reservation, Duration> {
        let (user, ip) = (user_key(username), format!("ip:{ip}"));
        if let Some(wait) = self.locked(&user, MAX_PER_USER, now).or_else(|| self.locked(&ip, MAX_PER_IP, now)) {
            return Err(wait);
        }
        if self.attempts.len() > MAX_KEYS {
            self.attempts.retain(|_, l| l.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        self.attempts.entry(user.clone()).or_default().push(now);
        self.attempts.entry(ip.clone()).or_default().push(now);
        Ok(Reservation { user, ip, at: now })
    }

    /// The password was right: the attempt does not count, and neither do the name's earlier failures.
    pub fn succeeded(&mut self, r: Reservation) {
        self.attempts.remove(&r.user);
        self.release(&r.ip, r.at);
    }

    /// The password was wrong: the attempt stays counted. True when it locked the name.
    pub fn failed(&mut self, r: Reservation, now: Instant) -> bool {
        self.locked(&r.user, MAX_PER_USER, now).is_some()
    }

    /// No password was checked (the hashing pool was busy): the attempt does not count.
    pub fn cancel(&mut self, r: Reservation) {
        self.release(&r.user, r.at);
        self.release(&r.ip, r.at);
    }

    /// Forgets a name's failures (its password was reset).
    pub fn forget_user(&mut self, username: &str) {
        self.attempts.remove(&user_key(username));
    }

    /// How long `key` stays locked when it has `limit` attempts in the window.
    fn locked(&mut self, key: &str, limit: usize, now: Instant) -> Option<Duration> {
        let list = self.attempts.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < WINDOW);
        (list.len() >= limit).then(|| WINDOW.saturating_sub(now.duration_since(list[list.len() - limit])))
    }

    fn release(&mut self, key: &str, at: Instant) {
        if let Some(list) = self.attempts.get_mut(key) {
            if let Some(i) = list.iter().rposition(|t| *t == at) {
                list.remove(i);
            }
            if list.is_empty() {
                self.attempts.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_before_any_check_finishes() {
        let mut t = Throttle::default();
        let now = Instant::now();
        // Five attempts in flight at once: the sixth is refused although none has failed yet.
        let held: Vec<Reservation> = (0..5).map(|_| t.reserve("alice", "10.0.0.1", now).unwrap()).collect();
        assert!(t.reserve("alice", "10.0.0.2", now).is_err());
        assert!(t.reserve("bob", "10.0.0.1", now).is_ok(), "the address has 6 of its 20");
        for r in held {
            t.failed(r, now);
        }
        let wait = t.reserve("alice", "10.0.0.3", now + Duration::from_secs(60)).unwrap_err();
        assert_eq!(wait, WINDOW - Duration::from_secs(60));
        assert!(t.reserve("alice", "10.0.0.3", now + WINDOW).is_ok(), "the window passed");
    }

    #[test]
    fn twenty_attempts_lock_an_address_whatever_the_names() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_PER_IP {
            let r = t.reserve(&format!("user{i}"), "10.0.0.9", now).unwrap();
            t.failed(r, now);
        }
        assert!(t.reserve("someone-else", "10.0.0.9", now).is_err());
        assert!(t.reserve("someone-else", "10.0.0.8", now).is_ok());
    }

    #[test]
    fn success_forgets_the_name_and_cancel_forgets_the_attempt() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for _ in 0..4 {
            let r = t.reserve("alice", "ip", now).unwrap();
            assert!(!t.failed(r, now));
        }
        let r = t.reserve("alice", "ip", now).unwrap();
        t.succeeded(r);
        for _ in 0..4 {
            let r = t.reserve("alice", "ip", now).unwrap();
            t.failed(r, now);
        }
        // A cancelled attempt (no password checked) leaves room for the fifth real one.
        let r = t.reserve("alice", "ip", now).unwrap();
        t.cancel(r);
        let r = t.reserve("alice", "ip", now).unwrap();
        assert!(t.failed(r, now), "the fifth failure locks the name");
        assert!(t.reserve("alice", "ip", now).is_err());
        t.forget_user("alice");
        assert!(t.reserve("alice", "other-ip", now).is_ok(), "a password reset lifts the lock");
    }
}
