//! The self-signed certificate the HTTPS listener serves, and its fingerprint.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use super::types::SimError;

/// A generated certificate with its key and fingerprint.
pub(crate) struct Certificate {
    pub der: Vec<u8>,
    pub pem: String,
    key_der: Vec<u8>,
    /// SHA-256 of the DER, colon-separated upper-case hex (PVE's `ssl_fingerprint`).
    pub fingerprint: String,
}

/// Generates a self-signed certificate for `localhost` / `127.0.0.1` / the node names.
pub(crate) fn generate(names: &[String]) -> Result<Certificate, SimError> {
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    sans.extend(names.iter().cloned());
    let ck = rcgen::generate_simple_self_signed(sans).map_err(|e| SimError::Tls(e.to_string()))?;
    let der = ck.cert.der().to_vec();
    Ok(Certificate {
        fingerprint: fingerprint(&der),
        pem: ck.cert.pem(),
        key_der: ck.key_pair.serialize_der(),
        der,
    })
}

/// SHA-256 of a DER certificate as `AB:CD:...`.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A rustls server config (ring provider, HTTP/1.1 only like pveproxy).
pub(crate) fn server_config(cert: &Certificate) -> Result<Arc<rustls::ServerConfig>, SimError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der.clone())], key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
