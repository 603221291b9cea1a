//! Logging: tracing to stderr, human-readable on a terminal and JSON lines otherwise (`RUST_LOG` overrides the
//! level), optionally the same JSON lines to a file that is reopened on SIGHUP for logrotate.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// A log file that can be reopened in place (after logrotate moved it away).
#[derive(Clone)]
pub struct LogFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl LogFile {
    pub fn open(path: &Path) -> std::io::Result<LogFile> {
        Ok(LogFile { path: path.to_path_buf(), file: Arc::new(Mutex::new(open_append(path)?)) })
    }

    /// Reopens the path; on failure the old handle is kept and the error returned.
    pub fn reopen(&self) -> std::io::Result<()> {
        let fresh = open_append(&self.path)?;
        *crate::sync::lock(&self.file) = fresh;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

pub struct LogFileWriter(Arc<Mutex<File>>);

impl Write for LogFileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::sync::lock(&self.0).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        crate::sync::lock(&self.0).flush()
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.file.clone())
    }
}

/// One JSON object per line, the request span's fields (correlation id, caller) under `span`.
fn json_lines<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_ansi(false)
        .with_writer(writer)
}

/// Installs the global subscriber (later calls are ignored). Returns the log file handle, if any, for SIGHUP.
pub fn init(format: LogFormat, level: &str, file: Option<&Path>) -> std::io::Result<Option<LogFile>> {
    let log_file = file.map(LogFile::open).transpose()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let stderr_json = json.then(|| json_lines(std::io::stderr));
    let stderr_text = (!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let file_layer = log_file.clone().map(json_lines);
    let _ = tracing_subscriber::registry().with(filter).with(stderr_json).with(stderr_text).with(file_layer).try_init();
    Ok(log_file)
}
