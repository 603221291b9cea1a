//! The command line: `serve` (the default), `config check|show`, `version`, `model inspect`, `docs import|status`, `admin …`.

mod admin;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigArgs};
use crate::engine::gguf;

#[derive(Debug, Parser)]
#[command(
    name = "airgate",
    version,
    about = "GitLab AI Gateway and llama.cpp model server in one binary, for air-gapped hosts"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Settings for `serve` when no subcommand is given.
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the APIs (the default when no subcommand is given).
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Validate or print the boot configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the airgate version and the llama.cpp build it carries.
    Version,
    /// Work with GGUF model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Manage the documentation Duo Chat searches (GitLab's `doc/` folder or any Markdown).
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Admin accounts of the web UI (works while the server runs).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Print the one-time setup token the first-run page at /admin/ asks for.
    SetupToken {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Create an admin account (asks for the password, or reads it from stdin).
    Create {
        user: String,
        /// Read the password from the first line of stdin (for scripted installs).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Set a new password for an admin, end their sessions and lift a sign-in lockout.
    ResetPassword {
        user: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum DocsCommand {
    /// Index the Markdown files under DIR, replacing the previous index (the server picks it up at once).
    Import {
        dir: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Show whether documentation is imported and how much.
    Status {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a config file (default: /etc/airgate/airgate.toml) with the environment and flags applied.
    Check {
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the effective configuration as TOML, secrets redacted.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Print a GGUF file's metadata: architecture, parameters, quantisation, context, templates, FIM tokens.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve(cli.config),
        Some(Command::Serve { config }) => serve(config),
        Some(Command::Config(ConfigCommand::Check { file, mut config })) => {
            if file.is_some() {
                config.config = file;
            }
            let cfg = Config::load(&config)?;
            let problems = check_files(&cfg);
            let source =
                cfg.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
            if problems.is_empty() {
                println!("ok: {source}");
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("error: {p}");
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Some(Command::Config(ConfigCommand::Show { config })) => {
            let cfg = Config::load(&config)?;
            print!("{}", cfg.to_redacted_toml());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Version) => {
            println!("airgate {}", env!("CARGO_PKG_VERSION"));
            println!("{}", crate::engine::llama::build_info());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Model(ModelCommand::Inspect { file, json })) => inspect(&file, json),
        Some(Command::Docs(DocsCommand::Import { dir, config })) => docs_import(&config, &dir),
        Some(Command::Docs(DocsCommand::Status { config })) => docs_status(&config),
        Some(Command::Admin(AdminCommand::SetupToken { config })) => admin::setup_token(&config),
        Some(Command::Admin(AdminCommand::Create { user, password_stdin, config })) => {
            admin::create(&config, &user, password_stdin)
        }
        Some(Command::Admin(AdminCommand::ResetPassword { user, password_stdin, config })) => {
            admin::reset_password(&config, &user, password_stdin)
        }
    }
}

fn docs_index(args: &ConfigArgs) -> anyhow::Result<crate::docs::DocsIndex> {
    let mut config = Config::load(args)?;
    config.resolve_data_dir()?;
    if config.data_dir_fallback {
        // The server would not read it there: importing into the fallback dir would silently do nothing.
        anyhow::bail!(
            "the data dir is not writable for this user; run as the service user (`sudo -u airgate airgate docs ...`) or pass --data-dir"
        );
    }
    Ok(crate::docs::DocsIndex::at(&config.data_dir))
}

fn docs_import(args: &ConfigArgs, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let index = docs_index(args)?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} files")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("indexing");
    let started = std::time::Instant::now();
    let report = index.import(dir, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    for (path, reason) in &report.skipped {
        eprintln!("skipped {path}: {reason}");
    }
    println!(
        "imported {} files ({} sections, {} bytes) into {} in {:.1} s",
        report.files,
        report.chunks,
        report.bytes,
        index.path().display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn docs_status(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let index = docs_index(args)?;
    match index.stats()? {
        Some((chunks, files)) => println!("{}: {files} files, {chunks} sections", index.path().display()),
        None => println!("no documentation imported ({} does not exist)", index.path().display()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Files the configuration names that do not exist.
fn check_files(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for m in &cfg.models {
        if !m.path.is_file() {
            problems.push(format!("model {}: file {} does not exist", m.name, m.path.display()));
        }
    }
    if let Some(tls) = &cfg.tls {
        for (what, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
            if !path.is_file() {
                problems.push(format!("{what}: file {} does not exist", path.display()));
            }
        }
    }
    problems
}

fn serve(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&args)?;
    let log_file = crate::telemetry::init(config.log_format, &config.log_level, config.log_file.as_deref())
        .with_context(|| format!("cannot open the log file {:?}", config.log_file))?;
    config.resolve_data_dir()?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(crate::app::run(config, log_file))?;
    Ok(ExitCode::SUCCESS)
}

fn inspect(file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let info = gguf::read(file)?;
    let fim = info.fim_tokens();
    let rows: Vec<(&str, String)> = vec![
        ("file", file.display().to_string()),
        ("architecture", info.architecture().unwrap_or("unknown").to_string()),
        ("name", info.name().unwrap_or("-").to_string()),
        ("parameters", format!("{} ({:.0}M)", info.parameter_count, info.parameter_count as f64 / 1e6)),
        ("quantization", info.quantization()),
        ("file size", format!("{} bytes", info.file_size)),
        ("context length", info.context_length().map(|c| c.to_string()).unwrap_or_else(|| "-".into())),
        ("sliding window", info.sliding_window().map(|c| c.to_string()).unwrap_or_else(|| "-".into())),
        ("chat template", if info.has_chat_template() { "present".into() } else { "absent".into() }),
        (
            "FIM tokens",
            if fim.present() {
                format!("present (prefix {:?}, suffix {:?}, middle {:?})", fim.prefix, fim.suffix, fim.middle)
            } else {
                "absent".into()
            },
        ),
        ("gguf version", info.version.to_string()),
        ("tensors", info.tensor_count.to_string()),
    ];
    if json {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| (k.to_lowercase().replace(' ', "_"), serde_json::Value::String(v.clone())))
            .collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        for (k, v) in rows {
            println!("{k:<16} {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
