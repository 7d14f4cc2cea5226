//! Secrets in memory: values that never show in Debug output or logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroize;

/// A secret string (an env value, a token, a password): `Debug` and `Display` print
/// `[redacted]`, and the memory is wiped on drop. Read it with [`Secret::expose`].
///
/// ```
/// use paas_core::model::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret([redacted])");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value. Call only where it is really needed (to deploy, to authenticate).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An env value encrypted at rest (AES-256-GCM: 12-byte nonce then ciphertext and tag), as the
/// store keeps it. Only the engine's secrets module can open it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedValue(pub String);

impl fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedValue(..)")
    }
}
