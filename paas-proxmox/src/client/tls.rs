//! Certificate pinning: accept exactly one certificate, identified by its SHA-256 fingerprint.
//!
//! Proxmox VE serves a self-signed certificate by default. Rather than turning verification off
//! (what every peer client offers), the client can pin the certificate's fingerprint, as `/nodes`
//! reports it (`ssl_fingerprint`). The handshake signature is still verified against the pinned
//! certificate's key, so a man in the middle replaying the certificate cannot answer.

use super::BACKEND;
use paas_core::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
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

/// A rustls verifier that accepts exactly the certificate with the pinned fingerprint.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        // Not secret material, so a plain comparison is fine.
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint {} does not match the pinned one",
                fingerprint_of(end_entity.as_ref())
            )))
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

/// A rustls client config that trusts only the certificate with fingerprint `fingerprint`.
pub(crate) fn pinned_client_config(fingerprint: &str) -> Result<rustls::ClientConfig> {
    let pin = parse_fingerprint(fingerprint)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCertVerifier {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::internal(format!("cannot set up TLS for the pinned certificate: {e}"))
                .with_backend(BACKEND)
        })?
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
            pin: parse_fingerprint(&fingerprint_of(cert.as_ref())).unwrap(),
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
