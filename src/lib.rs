//! airgate: GitLab AI Gateway and llama.cpp model server in one binary, for air-gapped hosts.

pub mod activity;
pub mod agent;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod docs;
pub mod engine;
pub mod features;
pub mod fleet;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod metrics;
pub mod models;
pub mod prompt;
pub mod state;
pub mod store;
pub mod sync;
pub mod sys;
pub mod telemetry;

/// An error with its sources, `a: b: c`, skipping a source whose text the message already holds.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        source = s.source();
    }
    out
}

/// Seconds since the Unix epoch (0 if the clock is before it): the timestamps GitLab and OpenAI responses carry.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The months' English names, January first.
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "November 22, 2026": the date as GitLab's prompts state it (`current_date`).
pub fn long_date(unix_secs: u64) -> String {
    let (y, m, d) = civil_from_days((unix_secs / 86_400) as i64);
    format!("{} {d:02}, {y}", MONTH_NAMES[(m - 1) as usize])
}

/// `2026-03-02T10:00:00.100000+00:00`: UTC with microseconds, as Python's `isoformat()` writes it
/// (the timestamps GitLab's Agent Platform clients parse).
pub fn iso_utc(time: std::time::SystemTime) -> String {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{:06}+00:00", since.subsec_micros())
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
    }

    #[test]
    fn iso_timestamps() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_772_445_600_100_000);
        assert_eq!(iso_utc(t), "2026-03-02T10:00:00.100000+00:00");
        assert_eq!(iso_utc(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000000+00:00");
    }

    #[test]
    fn long_dates() {
        assert_eq!(long_date(0), "January 01, 1970");
        assert_eq!(long_date(1_795_325_129), "November 22, 2026");
    }
}
