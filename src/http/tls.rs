//! TLS through rustls (ring provider): from PEM files at start, replaced at run time by an upload, certificate facts for the admin UI.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum_server::tls_rustls::RustlsConfig;

use crate::config::TlsPaths;

/// Loads the certificate chain and private key; errors name the file.
pub(super) async fn load(paths: &TlsPaths) -> io::Result<RustlsConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(&paths.cert, &paths.key).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot use TLS certificate {} with key {}: {e}", paths.cert.display(), paths.key.display()),
        )
    })
}

/// Where an uploaded certificate and key are kept: `<data_dir>/tls/{cert,key}.pem`.
pub fn uploaded_paths(data_dir: &Path) -> TlsPaths {
    let dir = data_dir.join("tls");
    TlsPaths { cert: dir.join("cert.pem"), key: dir.join("key.pem") }
}

/// The running TLS listener's configuration, once serving; replacing it affects new connections at once.
#[derive(Default)]
pub struct TlsHandle(OnceLock<RustlsConfig>);

impl TlsHandle {
    pub(super) fn set(&self, config: RustlsConfig) {
        let _ = self.0.set(config);
    }

    /// True when airgate serves TLS.
    pub fn active(&self) -> bool {
        self.0.get().is_some()
    }

    /// Switches the listener to a new certificate and key (already checked by [`check`]).
    pub async fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        let Some(config) = self.0.get() else { return Ok(()) };
        config
            .reload_from_pem(cert_pem.as_bytes().to_vec(), key_pem.as_bytes().to_vec())
            .await
            .map_err(|e| format!("cannot use the certificate and key: {e}"))
    }
}

/// What the admin UI shows of a certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// The first certificate of a PEM chain.
pub fn inspect(cert_pem: &str) -> Result<CertInfo, String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = pem.parse_x509().map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(CertInfo { subject: cert.subject().to_string(), not_after: cert.validity().not_after.timestamp() })
}

/// Checks that the certificate chain and key form a usable server configuration.
pub async fn check(cert_pem: &str, key_pem: &str) -> Result<CertInfo, (&'static str, String)> {
    let info = inspect(cert_pem).map_err(|e| ("cert_pem", e))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem(cert_pem.as_bytes().to_vec(), key_pem.as_bytes().to_vec())
        .await
        .map_err(|e| ("key_pem", format!("the key does not fit the certificate or is not a PEM private key: {e}")))?;
    Ok(info)
}

/// Writes the uploaded pair (key 0600) atomically: each file is written beside, synced, then renamed.
pub fn store_upload(data_dir: &Path, cert_pem: &str, key_pem: &str) -> io::Result<TlsPaths> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let paths = uploaded_paths(data_dir);
    let dir = paths.cert.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir)?;
    for (path, text) in [(&paths.key, key_pem), (&paths.cert, cert_pem)] {
        let part = path.with_extension("pem.part");
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&part)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&part, path)?;
    }
    Ok(paths)
}

/// An HTTP client for airgate's own port on loopback (`airgate doctor`): any certificate is accepted,
/// because the doctor checks the certificate file itself and a loopback address never matches its name.
pub fn loopback_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .connect_timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}
