//! Certificate pinning and private CAs.
//!
//! Proxmox VE serves a certificate signed by the cluster's own CA (`pve-root-ca.pem`), which no
//! public trust store knows. Rather than turning verification off (what every peer client
//! offers), the client can pin certificates by their SHA-256 fingerprint, as `/nodes` reports
//! it (`ssl_fingerprint`), several at once (one per node, or the next certificate during a
//! renewal), or trust the cluster's CA, with the host name checked. The handshake signature is
//! always verified against the accepted certificate's key, so a man in the middle replaying a
//! certificate cannot answer. A certificate that matches no pin and does not chain to the
//! trusted CA is refused.

use super::BACKEND;
use paas_core::{Error, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Parses a SHA-256 fingerprint: 32 bytes of hex, with or without `:` separators, any case.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32]> {
    let hex_only: String = s.trim().chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&hex_only, &mut out).map_err(|_| {
        Error::invalid_input(format!(
            "'{}' is not a SHA-256 certificate fingerprint: expected 32 bytes as hex, \
             e.g. 'AB:CD:...' as shown by /nodes (ssl_fingerprint) or \
             `openssl x509 -noout -fingerprint -sha256`",
            s.chars().take(120).collect::<String>().escape_debug()
        ))
        .with_backend(BACKEND)
    })?;
    Ok(out)
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated upper-case hex.
pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(95);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Reads the CA certificates of a PEM bundle (at least one).
pub(crate) fn parse_ca_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |why: String| {
        Error::invalid_input(format!(
            "the private CA is not usable: {why}; expected one or more PEM certificates \
             ('-----BEGIN CERTIFICATE-----'), e.g. the cluster's /etc/pve/pve-root-ca.pem"
        ))
        .with_backend(BACKEND)
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(certs)
}

/// A rustls verifier that accepts a certificate matching one of the pins, or, if a CA is
/// configured, one that chains to it for the host name.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    pins: Vec<[u8; 32]>,
    ca: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        // Not secret material, so a plain comparison is fine.
        if self.pins.contains(&got) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.ca {
            Some(ca) => ca
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map_err(|e| {
                    rustls::Error::General(format!(
                        "certificate {} is not pinned and not valid under the trusted CA: {e}",
                        fingerprint_of(end_entity.as_ref())
                    ))
                }),
            None => Err(rustls::Error::General(format!(
                "certificate fingerprint {} does not match the pinned one",
                fingerprint_of(end_entity.as_ref())
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn setup_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("cannot set up TLS for Proxmox VE: {e}")).with_backend(BACKEND)
}

/// A rustls client config that trusts only the certificates with these fingerprints and, if
/// `ca_pem` is given, certificates that chain to it.
pub(crate) fn pinned_client_config(
    fingerprints: &[String],
    ca_pem: Option<&str>,
) -> Result<rustls::ClientConfig> {
    let pins = fingerprints
        .iter()
        .map(|f| parse_fingerprint(f))
        .collect::<Result<Vec<_>>>()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in parse_ca_pem(pem)? {
                roots.add(cert).map_err(|e| {
                    Error::invalid_input(format!("the private CA certificate is unusable: {e}"))
                        .with_backend(BACKEND)
                })?;
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(setup_error)?,
            )
        }
        None => None,
    };
    let verifier = PinnedCertVerifier {
        pins,
        ca,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let colon = fingerprint_of(b"hello");
        assert_eq!(colon.len(), 95);
        let a = parse_fingerprint(&colon).unwrap();
        let b = parse_fingerprint(&colon.replace(':', "").to_lowercase()).unwrap();
        assert_eq!(a, b);
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint("").is_err());
        assert!(parse_fingerprint(&colon.replace('A', "G")).is_err() || !colon.contains('A'));
    }

    #[test]
    fn verifier_accepts_only_the_pinned_certificate() {
        let cert = CertificateDer::from(b"not really a cert".to_vec());
        let other = CertificateDer::from(b"another one".to_vec());
        let v = PinnedCertVerifier {
            pins: vec![parse_fingerprint(&fingerprint_of(cert.as_ref())).unwrap()],
            ca: None,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        };
        let name = ServerName::try_from("pve").unwrap();
        assert!(
            v.verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        assert!(
            v.verify_server_cert(&other, &[], &name, &[], UnixTime::now())
                .is_err()
        );
        assert!(!v.supported_verify_schemes().is_empty());
    }
}
