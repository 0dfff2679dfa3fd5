//! ZVT over TLS (the ECR-interface TLS option of ZVT 13.08): the terminal's server configuration
//! and the reference ECR's client configuration, both from PEM text. Client certificates are
//! optional on the terminal: one signed by the configured CA is verified, none is accepted too.
//! The protocol inside the TLS stream is the plain TCP one (raw APDUs back to back).

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM block did not read.
    #[error("{what}: {source}")]
    Pem {
        /// Which input (`certificate`, `key`, `CA`).
        what: &'static str,
        /// The parser's reason.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM input held no certificate.
    #[error("{0}: no certificate in the PEM text")]
    Empty(&'static str),
    /// rustls refused the combination.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("TLS client verifier: {0}")]
    Verifier(String),
    /// Not a host name or IP address the ECR could check the certificate against.
    #[error("{0:?} is not a server name")]
    ServerName(String),
}

/// ring: no cmake/NASM in the build (aws-lc-rs needs them); rustls deprecates it for lacking
/// post-quantum key exchange, which a test terminal on loopback does not need.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(what: &'static str, pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(what));
    }
    Ok(certs)
}

fn roots(ca_pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates("CA", ca_pem)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| TlsError::Pem { what: "key", source })
}

/// The terminal's side: its certificate chain and key; client certificates signed by
/// `client_ca_pem` are verified when the ECR presents one, and optional.
pub fn acceptor(chain_pem: &str, key_pem: &str, client_ca_pem: &str) -> Result<TlsAcceptor, TlsError> {
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(client_ca_pem)?), provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates("certificate", chain_pem)?, private_key(key_pem)?)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The ECR's side: trusts the terminals whose chain ends at `ca_pem`; presents a client
/// certificate when `client` (chain, key) is given.
pub fn connector(ca_pem: &str, client: Option<(&str, &str)>) -> Result<TlsConnector, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?);
    let config = match client {
        Some((chain, key)) => {
            builder.with_client_auth_cert(certificates("client certificate", chain)?, private_key(key)?)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the ECR checks the terminal's certificate against (and sends as SNI).
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(connector("not pem", None), Err(TlsError::Empty("CA"))));
        assert!(server_name("").is_err());
    }
}
