//! `airgate doctor`: every check an admin would run by hand, from the config file to a real request per feature, each with what to fix.
//!
//! Local checks (`local.rs`) read the config, the data dir, the models and the TLS files; live
//! checks (`live.rs`) talk to the running server like GitLab does, with a token signed by
//! airgate's own key. Exit code 0 only when no check failed (warnings and skips do not fail).

mod live;
mod local;

use std::process::ExitCode;

use serde::Serialize;

use crate::config::ConfigArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do about a failure or warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status, detail: detail.into(), fix: None }
    }
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail)
    }
    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Skip, detail)
    }
    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { fix: Some(fix.into()), ..Check::new(name, Status::Fail, detail) }
    }
    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { fix: Some(fix.into()), ..Check::new(name, Status::Warn, detail) }
    }
}

/// Runs every check and prints the report; the exit code says whether all passed.
pub fn run(args: &ConfigArgs, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let checks = runtime.block_on(collect(args));
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "ok": ok, "checks": checks }))?);
    } else {
        print!("{}", table(&checks));
        let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
        println!("\n{}", if ok { "all checks passed".to_string() } else { format!("{failed} check(s) failed") });
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn collect(args: &ConfigArgs) -> Vec<Check> {
    let mut checks = Vec::new();
    let Some(env) = local::environment(args, &mut checks).await else { return checks };
    local::models(&env, &mut checks).await;
    local::resources(&env, &mut checks);
    local::tls(&env, &mut checks).await;
    local::gitlab(&env, &mut checks).await;
    live::server(&env, &mut checks).await;
    checks
}

/// The human table: status, check, detail, and the fix on its own line under a failure.
fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0).min(40);
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Pass => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        out.push_str(&format!("{mark}  {:<width$}  {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      {:<width$}  fix: {fix}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_fix_under_failures_only() {
        let text = table(&[
            Check::pass("config", "ok: /etc/airgate/airgate.toml"),
            Check::fail("model m: file", "missing", "restore the file"),
        ]);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("FAIL  model m: file"));
        assert!(text.lines().nth(2).unwrap().contains("fix: restore the file"));
    }
}
