//! `auth.bypass` as a state: off, on until a moment (it then turns itself off), or pinned on by the config.

/// `auth.bypass`: off, on until a moment (it turns itself off then), or pinned on by the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    Off,
    Until(std::time::Instant),
    Pinned,
}

impl Bypass {
    /// From the boot config: `minutes` = 0 pins it on.
    pub fn from_config(on: bool, minutes: u64) -> Bypass {
        match (on, minutes) {
            (false, _) => Bypass::Off,
            (true, 0) => Bypass::Pinned,
            (true, m) => Bypass::Until(std::time::Instant::now() + std::time::Duration::from_secs(m * 60)),
        }
    }

    pub fn active(self) -> bool {
        match self {
            Bypass::Off => false,
            Bypass::Pinned => true,
            Bypass::Until(t) => std::time::Instant::now() < t,
        }
    }

    /// Seconds until it turns itself off (None: off, or pinned).
    pub fn expires_in(self) -> Option<u64> {
        match self {
            Bypass::Until(t) => Some(t.saturating_duration_since(std::time::Instant::now()).as_secs()),
            _ => None,
        }
    }
}

/// `true` = pinned on (tests and the CLI), `false` = off.
impl From<bool> for Bypass {
    fn from(on: bool) -> Self {
        if on { Bypass::Pinned } else { Bypass::Off }
    }
}
