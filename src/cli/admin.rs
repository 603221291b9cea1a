//! `airgate admin setup-token | create USER | reset-password USER`: directly on the database, or through the running server's admin socket.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::local;
use crate::auth::admin::{AdminAuth, check_password, check_username};
use crate::config::{Config, ConfigArgs};
use crate::store::{Store, StoreError};

/// Where the command runs: on the database itself, or through the server that holds it.
enum Target {
    Direct(AdminAuth),
    Server(std::path::PathBuf),
}

fn target(args: &ConfigArgs) -> anyhow::Result<Target> {
    Ok(match database(args)?.1 {
        Db::Direct(store) => Target::Direct(AdminAuth::new(store)),
        Db::Server(dir) => Target::Server(dir),
    })
}

/// The settings database: opened here, or held by a running server (reach it with [`call`]).
pub(super) enum Db {
    Direct(Store),
    Server(std::path::PathBuf),
}

/// The effective config and the database of its data dir (which must be writable for this user).
pub(super) fn database(args: &ConfigArgs) -> anyhow::Result<(Config, Db)> {
    let mut config = Config::load(args)?;
    config.resolve_data_dir()?;
    if config.data_dir_fallback {
        anyhow::bail!(
            "the data dir is not writable for this user; run as the service user (`sudo -u airgate airgate ...`) or pass --data-dir"
        );
    }
    let db = match Store::open(&config.data_dir) {
        Ok(store) => Db::Direct(store),
        Err(StoreError::Locked { .. }) => Db::Server(config.data_dir.clone()),
        Err(e) => return Err(e.into()),
    };
    Ok((config, db))
}

/// The new password: one line from stdin with `--password-stdin`, else asked twice on the terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("no terminal to ask for the password on; pass --password-stdin and pipe it in");
        }
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ");
        }
        first
    };
    check_password(&password).map_err(|p| anyhow::anyhow!("the password {p}"))?;
    Ok(password)
}

/// Calls the server's admin socket and turns a failure status into an error with its message.
pub(super) fn call(
    dir: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(local::request(dir, method, path, body)).map_err(anyhow::Error::msg)
}

pub fn setup_token(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let token = match target(args)? {
        Target::Direct(admin) => admin.setup_token()?.map(|(token, _)| token),
        Target::Server(dir) => {
            call(&dir, "GET", "/local/setup-token", None)?["setup_token"].as_str().map(str::to_string)
        }
    };
    match token {
        Some(token) => {
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("an admin account exists already: sign in at /admin/ (or `airgate admin reset-password USER`)");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn create(args: &ConfigArgs, username: &str, password_stdin: bool) -> anyhow::Result<ExitCode> {
    check_username(username).map_err(|p| anyhow::anyhow!("the user name {p}"))?;
    let target = target(args)?;
    let password = read_password(password_stdin)?;
    match target {
        Target::Direct(admin) => {
            if !admin.create_user(username, &password).map_err(anyhow::Error::msg)? {
                anyhow::bail!("an admin named `{username}` already exists");
            }
            admin.audit(username, Some("local"), "create_admin", username, "airgate admin create");
        }
        Target::Server(dir) => {
            call(&dir, "POST", "/local/users", Some(json!({ "username": username, "password": password })))?;
        }
    }
    println!("admin `{username}` created; sign in at /admin/");
    Ok(ExitCode::SUCCESS)
}

pub fn reset_password(args: &ConfigArgs, username: &str, password_stdin: bool) -> anyhow::Result<ExitCode> {
    let target = target(args)?;
    let password = read_password(password_stdin)?;
    match target {
        Target::Direct(admin) => {
            if !admin.set_password(username, &password, None).map_err(anyhow::Error::msg)? {
                anyhow::bail!("no admin named `{username}`");
            }
            admin.audit("local", Some("local"), "reset_password", username, "airgate admin reset-password");
        }
        Target::Server(dir) => {
            let path = format!("/local/users/{username}/password");
            call(&dir, "PUT", &path, Some(json!({ "password": password })))?;
        }
    }
    println!("password of `{username}` reset; their sessions ended and any sign-in lockout is lifted");
    Ok(ExitCode::SUCCESS)
}
