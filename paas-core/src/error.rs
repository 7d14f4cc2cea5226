//! The one public error type of the SDK.
//!
//! Every port, adapter and the engine return [`Error`]. It carries a [`ErrorKind`] a caller can
//! branch on, whether retrying the same call may succeed ([`Error::retryable`]), which backend
//! produced it, and the underlying cause as its `source`. Adapters keep one table from their wire
//! errors (HTTP status, PVE error text, Docker error) to a kind and a retryable flag, so the engine
//! never has to parse backend messages.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request was malformed or violated a rule (bad name, illegal status change, ...).
    InvalidInput,
    /// The thing asked for does not exist, or belongs to another organisation.
    NotFound,
    /// A uniqueness rule or an optimistic-concurrency version check failed.
    Conflict,
    /// A wallet or account does not hold enough money for the transfer.
    InsufficientFunds,
    /// The backend refused our credentials.
    Unauthorized,
    /// The backend could not be reached or is overloaded; usually worth a retry.
    Unavailable,
    /// A deadline passed before the backend finished.
    Timeout,
    /// The backend answered with an error of its own.
    Backend,
    /// A bug or broken invariant inside the SDK.
    Internal,
}

impl ErrorKind {
    /// The kind's name in snake_case, as used in messages and serialised errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::InsufficientFunds => "insufficient_funds",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Backend => "backend",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether errors of this kind are retryable unless the producer says otherwise.
    pub fn retryable_by_default(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every fallible call in the SDK.
///
/// ```
/// use paas_core::{Error, ErrorKind};
///
/// let err = Error::not_found("app 'shop' does not exist in this organisation");
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert!(!err.is_retryable());
///
/// let err = Error::unavailable("proxmox answered 596").with_backend("proxmox");
/// assert!(err.is_retryable());
/// assert_eq!(err.backend(), Some("proxmox"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    backend: Option<&'static str>,
    source: Option<Source>,
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind`; retryable as the kind is by default.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            retryable: kind.retryable_by_default(),
            backend: None,
            source: None,
        }
    }

    /// [`ErrorKind::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// [`ErrorKind::InsufficientFunds`].
    pub fn insufficient_funds(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InsufficientFunds, message)
    }

    /// [`ErrorKind::Unauthorized`].
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// [`ErrorKind::Unavailable`] (retryable).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// [`ErrorKind::Timeout`] (retryable).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// [`ErrorKind::Backend`].
    pub fn backend_error(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backend, message)
    }

    /// [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Sets whether retrying the same call may succeed.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Names the backend that produced the error (`"proxmox"`, `"swarm"`, `"postgres"`, ...).
    #[must_use]
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefixes the message with what was being done, keeping kind, retryable and source.
    #[must_use]
    pub fn context(mut self, doing: impl fmt::Display) -> Self {
        self.message = format!("{doing}: {}", self.message);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message (without the source chain).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The backend that produced the error, if any.
    pub fn backend(&self) -> Option<&'static str> {
        self.backend
    }

    /// True for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// True for [`ErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::Conflict
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(backend) = self.backend {
            write!(f, "{backend}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind)
            .field("message", &self.message)
            .field("retryable", &self.retryable);
        if let Some(b) = self.backend {
            d.field("backend", &b);
        }
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_names_backend_and_keeps_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::unavailable("cannot reach pve1")
            .with_backend("proxmox")
            .with_source(io);
        assert_eq!(err.to_string(), "proxmox: cannot reach pve1");
        assert!(err.is_retryable());
        assert_eq!(err.source().unwrap().to_string(), "refused");
    }

    #[test]
    fn retryable_defaults_follow_kind_and_can_be_overridden() {
        assert!(!Error::conflict("x").is_retryable());
        assert!(Error::timeout("x").is_retryable());
        assert!(Error::backend_error("lock").retryable(true).is_retryable());
        assert!(!Error::unavailable("gone").retryable(false).is_retryable());
    }

    #[test]
    fn context_prefixes_message() {
        let err = Error::not_found("guest 101").context("stopping app 'shop'");
        assert_eq!(err.message(), "stopping app 'shop': guest 101");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}
