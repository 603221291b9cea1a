//! The command line: `serve` (the default), `config check|show`, `version`, `model inspect|add|list`, `docs import|status`, `admin …`, `doctor`, `backup`/`restore`, `apply`/`export`, `bundle keygen|sign|verify`, `man`.

mod admin;
mod backup;
mod bench;
mod bundle;
pub mod doctor;
mod fleet;
pub mod local;
mod model;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigArgs};

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
    /// Check the whole installation: config, data dir, models, memory and disk, TLS, GitLab, the
    /// listening port and every feature end to end. Exit code 0 only if every check passes.
    Doctor {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write the settings database, the JWT signing key and uploaded TLS files to FILE (a tar archive, mode 0600).
    Backup {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Replace the settings and keys with those of a backup (stop the server first).
    Restore {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Make this node's configuration (models, endpoints, feature routes, API keys, the GitLab URL,
    /// shared settings) what FILE says, in one transaction, after printing what changes. Works while
    /// the server runs (it loads, reloads and unloads models at once).
    Apply {
        file: PathBuf,
        /// Print the changes and stop; nothing is written.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write this node's configuration as a document `airgate apply` takes (secrets as references),
    /// to FILE or stdout.
    Export {
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Sign and verify the offline USB bundle (SHA256SUMS with an Ed25519 signature).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Write the man pages (airgate.1 and one per subcommand) into DIR.
    #[command(hide = true)]
    Man { dir: PathBuf },
    /// Time chat-template rendering and tool-call parsing per request (`make bench`, JSON out).
    #[command(hide = true, name = "bench-tools")]
    BenchTools,
}

#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Make an Ed25519 signing key pair: FILE (private, PKCS#8 PEM, 0600) and FILE.pub.
    Keygen { file: PathBuf },
    /// Write airgate-signing.pub, SHA256SUMS over every file in DIR, and SHA256SUMS.sig, with the
    /// private key named by AIRGATE_SIGNING_KEY (a file path or the PEM text).
    Sign { dir: PathBuf },
    /// Check DIR's signature, every checksum, and that no file was added. Exit code 1 on any problem.
    Verify {
        dir: PathBuf,
        /// The public key to trust (default: the one inside the bundle, with a warning).
        #[arg(long, value_name = "PUBFILE")]
        key: Option<PathBuf>,
    },
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
    /// Register a GGUF file (in place) to load at every start; a running server loads it at once.
    Add {
        file: PathBuf,
        /// Model name [default: the file name without .gguf]
        #[arg(long)]
        name: Option<String>,
        /// Make it the default model.
        #[arg(long)]
        default: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the registered models.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Version | Command::Config(_) | Command::Model(ModelCommand::Inspect { .. })))
    {
        // These only print: piped into `head` they end quietly, as Unix tools do, instead of a
        // panic on the closed pipe. Commands that talk over sockets (the admin socket, HTTP) keep
        // Rust's default (SIGPIPE ignored, EPIPE as an error) so a peer that hangs up is reported.
        crate::sys::default_sigpipe();
    }
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
            for w in cfg.warnings() {
                eprintln!("warning: {w}");
            }
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
            println!("features: {}", build_features().join(", "));
            println!("{}", crate::engine::llama::build_info());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Model(ModelCommand::Inspect { file, json })) => model::inspect(&file, json),
        Some(Command::Model(ModelCommand::Add { file, name, default, config })) => {
            model::add(&config, &file, name.as_deref(), default)
        }
        Some(Command::Model(ModelCommand::List { json, config })) => model::list(&config, json),
        Some(Command::Doctor { json, config }) => doctor::run(&config, json),
        Some(Command::Backup { file, config }) => backup::backup(&config, &file),
        Some(Command::Restore { file, config }) => backup::restore(&config, &file),
        Some(Command::Apply { file, dry_run, config }) => fleet::apply(&config, &file, dry_run),
        Some(Command::Export { file, config }) => fleet::export(&config, file.as_deref()),
        Some(Command::Bundle(BundleCommand::Keygen { file })) => bundle::keygen(&file),
        Some(Command::Bundle(BundleCommand::Sign { dir })) => bundle::sign(&dir),
        Some(Command::Bundle(BundleCommand::Verify { dir, key })) => bundle::verify(&dir, key.as_deref()),
        Some(Command::Man { dir }) => man(&dir),
        Some(Command::BenchTools) => {
            println!("{}", bench::tool_overhead());
            Ok(ExitCode::SUCCESS)
        }
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

/// What this binary was built with: the cargo features and whether the C runtime is linked in.
pub fn build_features() -> Vec<&'static str> {
    let mut out = Vec::new();
    if cfg!(feature = "static") {
        out.push("static (libstdc++ and OpenMP linked in)");
    }
    if cfg!(target_feature = "crt-static") {
        out.push("crt-static (no shared libraries)");
    }
    if cfg!(feature = "cuda") {
        out.push("cuda");
    }
    if cfg!(feature = "vulkan") {
        out.push("vulkan");
    }
    if out.is_empty() {
        out.push("default (CPU, dynamically linked)");
    }
    out
}

/// Writes airgate.1 and airgate-<subcommand>.1 (nested ones joined by '-') into `dir`.
fn man(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![(String::from("airgate"), Cli::command())];
    let mut written = 0;
    while let Some((name, cmd)) = pages.pop() {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            pages.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        let mut page = Vec::new();
        // A one-shot command: leaking the few page names is simpler than clap's `string` feature.
        let title: &'static str = Box::leak(name.clone().into_boxed_str());
        clap_mangen::Man::new(cmd.clone().name(title)).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        written += 1;
    }
    println!("wrote {written} man pages into {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
