//! Env values encrypted at rest.
//!
//! Every value is sealed with AES-256-GCM under a per-organisation key derived by HKDF-SHA256
//! from the platform's [`MasterKey`]. The associated data binds a ciphertext to its org, app
//! and env key, so a sealed value copied into another app's record (or renamed to another key)
//! fails to open instead of leaking into the wrong deploy.

use crate::model::{AppId, EnvKey, OrgId, SealedValue, Secret};
use crate::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroize;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const HKDF_SALT: &[u8] = b"paas/env/v1";

/// The platform's root secret: 32 random bytes from which every organisation's env key is
/// derived. Keep it outside the database (an environment variable, a secrets manager): whoever
/// holds both can read every env value.
///
/// Debug prints it redacted and the bytes are wiped on drop.
///
/// ```
/// use paas_core::engine::MasterKey;
/// let key = MasterKey::generate();
/// let again = MasterKey::from_hex(&key.to_hex()).unwrap();
/// assert_eq!(format!("{again:?}"), "MasterKey([redacted])");
/// assert!(MasterKey::from_hex(&"00".repeat(32)).is_err()); // weak
/// ```
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// A key from exactly 32 bytes; refuses weak keys (see [`MasterKey::from_hex`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(Error::invalid_input(format!(
                "the master key must be exactly {KEY_LEN} bytes, got {}: generate one with \
                 MasterKey::generate() (or `openssl rand -hex 32`)",
                bytes.len()
            )));
        }
        check_strength(bytes)?;
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(bytes);
        Ok(MasterKey(out))
    }

    /// A key from 64 hex digits. Refuses a wrong length and weak keys (all one byte value,
    /// or fewer than 8 distinct byte values), which are typing or copy-paste accidents.
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut bytes = hex::decode(text.trim()).map_err(|_| {
            Error::invalid_input(
                "the master key is not valid hex: expected 64 hex digits (`openssl rand -hex 32`)",
            )
        })?;
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        key
    }

    /// A key from standard base64 of 32 bytes; the same checks as [`MasterKey::from_hex`].
    pub fn from_base64(text: &str) -> Result<Self> {
        let mut bytes = B64.decode(text.trim()).map_err(|_| {
            Error::invalid_input(
                "the master key is not valid base64: expected 32 bytes (`openssl rand -base64 32`)",
            )
        })?;
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        key
    }

    /// The key as 64 hex digits, to store it somewhere safe after [`MasterKey::generate`].
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The fixed, publicly known key of development mode. Never use it for real data.
    pub(crate) fn development() -> Self {
        let digest = Sha256::digest(b"paas development mode: this key is public, do not use it");
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(&digest);
        MasterKey(out)
    }
}

fn check_strength(bytes: &[u8]) -> Result<()> {
    let mut seen = [false; 256];
    for b in bytes {
        seen[usize::from(*b)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < 8 {
        return Err(Error::invalid_input(format!(
            "the master key is weak ({distinct} distinct byte values; all-zero or repeated \
             bytes are refused): generate one with MasterKey::generate() or `openssl rand -hex 32`"
        )));
    }
    if bytes == MasterKey::development().0 {
        return Err(Error::invalid_input(
            "the master key is the public development key: generate a real one with \
             MasterKey::generate(), or use development_mode() explicitly",
        ));
    }
    Ok(())
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Seals and opens env values for the engine. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Sealer {
    master: MasterKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub(crate) fn new(master: MasterKey) -> Self {
        Sealer { master }
    }

    fn cipher(&self, org: OrgId) -> Result<Aes256Gcm> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), &self.master.0);
        let mut info = Vec::with_capacity(32);
        info.extend_from_slice(b"paas org env key ");
        info.extend_from_slice(org.as_uuid().as_bytes());
        let mut okm = [0u8; KEY_LEN];
        hk.expand(&info, &mut okm)
            .map_err(|_| Error::internal("deriving the organisation's env key failed"))?;
        let cipher = Aes256Gcm::new_from_slice(&okm)
            .map_err(|_| Error::internal("the derived env key has the wrong length"));
        okm.zeroize();
        cipher
    }

    fn aad(org: OrgId, app: AppId, key: &EnvKey) -> Vec<u8> {
        let mut aad = Vec::with_capacity(40 + key.as_str().len());
        aad.extend_from_slice(org.as_uuid().as_bytes());
        aad.extend_from_slice(app.as_uuid().as_bytes());
        aad.extend_from_slice(key.as_str().as_bytes());
        aad
    }

    /// Encrypts `value` for `key` of `app`.
    pub(crate) fn seal(
        &self,
        org: OrgId,
        app: AppId,
        key: &EnvKey,
        value: &Secret,
    ) -> Result<SealedValue> {
        let cipher = self.cipher(org)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(org, app, key);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::internal(format!("encrypting env value '{key}' failed")))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(SealedValue(B64.encode(out)))
    }

    /// Decrypts the value of `key` of `app`; a value sealed for another org, app or key, or
    /// under another master key, is an error naming the key (never the value).
    pub(crate) fn open(
        &self,
        org: OrgId,
        app: AppId,
        key: &EnvKey,
        sealed: &SealedValue,
    ) -> Result<Secret> {
        let unreadable = || {
            Error::invalid_input(format!(
                "env value '{key}' of app {app} cannot be decrypted: it was sealed for another \
                 app or under another master key; set it again"
            ))
        };
        let raw = B64.decode(sealed.0.as_bytes()).map_err(|_| unreadable())?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(unreadable());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let cipher = self.cipher(org)?;
        let aad = Self::aad(org, app, key);
        let mut plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| unreadable())?;
        let text = String::from_utf8(std::mem::take(&mut plain)).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            unreadable()
        })?;
        Ok(Secret::new(text))
    }

    /// Opens every value of an app's env (only to deploy it).
    pub(crate) fn open_all(
        &self,
        org: OrgId,
        app: AppId,
        env: &BTreeMap<EnvKey, SealedValue>,
    ) -> Result<BTreeMap<EnvKey, Secret>> {
        env.iter()
            .map(|(k, v)| Ok((k.clone(), self.open(org, app, k, v)?)))
            .collect()
    }
}

/// SHA-256 over the sealed env (keys and ciphertexts): tells releases apart without exposing
/// a value.
pub(crate) fn env_digest(env: &BTreeMap<EnvKey, SealedValue>) -> String {
    let mut h = Sha256::new();
    for (k, v) in env {
        h.update((k.as_str().len() as u64).to_be_bytes());
        h.update(k.as_str().as_bytes());
        h.update((v.0.len() as u64).to_be_bytes());
        h.update(v.0.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> EnvKey {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip_and_binding() {
        let sealer = Sealer::new(MasterKey::generate());
        let (org, app) = (OrgId::new(), AppId::new());
        let sealed = sealer
            .seal(org, app, &key("DB"), &Secret::new("pw-123"))
            .unwrap();
        assert!(!sealed.0.contains("pw-123"));
        assert_eq!(
            sealer.open(org, app, &key("DB"), &sealed).unwrap().expose(),
            "pw-123"
        );
        assert!(sealer.open(org, AppId::new(), &key("DB"), &sealed).is_err());
        assert!(sealer.open(OrgId::new(), app, &key("DB"), &sealed).is_err());
        assert!(sealer.open(org, app, &key("OTHER"), &sealed).is_err());
        let other = Sealer::new(MasterKey::generate());
        assert!(other.open(org, app, &key("DB"), &sealed).is_err());
    }

    #[test]
    fn nonces_differ() {
        let sealer = Sealer::new(MasterKey::generate());
        let (org, app) = (OrgId::new(), AppId::new());
        let a = sealer.seal(org, app, &key("K"), &Secret::new("v")).unwrap();
        let b = sealer.seal(org, app, &key("K"), &Secret::new("v")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn weak_keys_refused() {
        assert!(MasterKey::from_hex(&"00".repeat(32)).is_err());
        assert!(MasterKey::from_hex(&"ab".repeat(32)).is_err());
        assert!(MasterKey::from_hex(&"0102".repeat(16)).is_err());
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(MasterKey::from_hex("zz").is_err());
        assert!(MasterKey::from_bytes(&MasterKey::development().0).is_err());
        let k = MasterKey::generate();
        assert!(MasterKey::from_base64(&B64.encode(k.0)).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_value_round_trips(v in ".{0,200}") {
            let sealer = Sealer::new(MasterKey::generate());
            let (org, app) = (OrgId::new(), AppId::new());
            let sealed = sealer.seal(org, app, &key("V"), &Secret::new(v.clone())).unwrap();
            let opened = sealer.open(org, app, &key("V"), &sealed).unwrap();
            proptest::prop_assert_eq!(opened.expose(), v.as_str());
        }
    }
}
