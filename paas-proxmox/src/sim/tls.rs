//! The self-signed certificate the HTTPS listener serves, and its fingerprint.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use super::types::SimError;

/// A certificate (chain) with its key and fingerprint.
pub(crate) struct Certificate {
    pub der: Vec<u8>,
    /// Intermediates served after the leaf.
    chain: Vec<Vec<u8>>,
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
        chain: Vec::new(),
    })
}

/// A certificate given as PEM: the leaf first, then any intermediates; the key in PKCS#8.
pub(crate) fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Certificate, SimError> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| SimError::Tls(format!("certificate PEM: {e:?}")))?;
    let Some((leaf, rest)) = certs.split_first() else {
        return Err(SimError::Tls("no certificate in the PEM".into()));
    };
    let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| SimError::Tls(format!("private key PEM (PKCS#8 expected): {e:?}")))?;
    Ok(Certificate {
        fingerprint: fingerprint(leaf.as_ref()),
        der: leaf.to_vec(),
        chain: rest.iter().map(|c| c.to_vec()).collect(),
        pem: cert_pem.to_string(),
        key_der: key.secret_pkcs8_der().to_vec(),
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
        .with_single_cert(
            std::iter::once(&cert.der)
                .chain(&cert.chain)
                .map(|d| CertificateDer::from(d.clone()))
                .collect(),
            key,
        )
        .map_err(|e| SimError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
