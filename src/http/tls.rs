//! TLS from PEM files through rustls (ring provider).

use std::io;

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
