//! Proxmox VE errors and the one table that maps them to [`ErrorKind`] and retryable.
//!
//! PVE reports failures in three places: the HTTP status, the reason phrase (the first line of
//! the error text), and, on servers since early 2025, a `message` in the body; parameter
//! validation adds an `errors` map. A failed task reports its text in `exitstatus`. Everything
//! is read into an [`ApiError`], classified once by [`classify`] into an [`ErrorClass`], and the
//! class decides kind and retryable in [`ErrorClass::kind_and_retryable`]. The `ApiError` is kept
//! as the [`paas_core::Error`]'s source, so callers in this crate can recover the class with
//! [`class_of`] without parsing messages again.

use paas_core::{Error, ErrorKind};
use std::collections::BTreeMap;
use std::fmt;

/// The backend name every error of this crate carries.
pub const BACKEND: &str = "proxmox";

/// What a Proxmox VE failure means, as decided by [`classify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// 595/596/597 proxy pseudo-statuses, or no connection at all: transient.
    Unreachable,
    /// The HTTP request ran past the client's timeout.
    RequestTimeout,
    /// The server's TLS certificate was refused (not the pinned one, or not trusted).
    Certificate,
    /// The cluster lost quorum (`cluster not ready - no quorum?`): writes are refused until
    /// the nodes see each other again.
    NoQuorum,
    /// A config lock could not be taken in time (`can't lock file ... got timeout`): transient.
    LockTimeout,
    /// The guest's config is locked by a running operation (`CT is locked (create)`).
    Locked,
    /// The VMID (or another unique thing) is already taken.
    AlreadyExists,
    /// A start of a guest that already runs.
    AlreadyRunning,
    /// A stop/shutdown of a guest that does not run.
    NotRunning,
    /// A destroy of a running guest.
    Running,
    /// The guest, task or other object does not exist.
    NotFound,
    /// 400 parameter verification failed.
    InvalidParameters,
    /// 401: credentials refused, ticket expired, CSRF token missing.
    Unauthenticated,
    /// 403: authenticated but lacking the privilege.
    Forbidden,
    /// 501: the server does not implement this method or path.
    NotImplemented,
    /// The server answered something this client cannot read.
    BadResponse,
    /// The response body was larger than the configured limit.
    ResponseTooLarge,
    /// Any other server-side failure (500 with an error text, a failed task).
    Other,
}

impl ErrorClass {
    /// The table: what kind of [`paas_core::Error`] a class becomes, and whether retrying the
    /// same call may succeed.
    pub fn kind_and_retryable(self) -> (ErrorKind, bool) {
        match self {
            ErrorClass::Unreachable => (ErrorKind::Unavailable, true),
            ErrorClass::RequestTimeout => (ErrorKind::Timeout, true),
            ErrorClass::Certificate => (ErrorKind::Unavailable, false),
            ErrorClass::LockTimeout => (ErrorKind::Unavailable, true),
            ErrorClass::NoQuorum => (ErrorKind::Unavailable, true),
            ErrorClass::Locked => (ErrorKind::Conflict, true),
            ErrorClass::AlreadyExists => (ErrorKind::Conflict, false),
            ErrorClass::AlreadyRunning => (ErrorKind::Conflict, false),
            ErrorClass::NotRunning => (ErrorKind::Conflict, false),
            ErrorClass::Running => (ErrorKind::Conflict, false),
            ErrorClass::NotFound => (ErrorKind::NotFound, false),
            ErrorClass::InvalidParameters => (ErrorKind::InvalidInput, false),
            ErrorClass::Unauthenticated => (ErrorKind::Unauthorized, false),
            ErrorClass::Forbidden => (ErrorKind::Unauthorized, false),
            ErrorClass::NotImplemented => (ErrorKind::Backend, false),
            ErrorClass::BadResponse => (ErrorKind::Backend, false),
            ErrorClass::ResponseTooLarge => (ErrorKind::Backend, false),
            ErrorClass::Other => (ErrorKind::Backend, false),
        }
    }

    /// Transient failures the adapter itself retries on idempotent calls: proxy statuses,
    /// lost connections and lock timeouts.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorClass::Unreachable | ErrorClass::LockTimeout | ErrorClass::RequestTimeout
        )
    }
}

/// A failure as Proxmox VE reported it (or as the transport saw it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The reason phrase or the transport's description.
    pub reason: String,
    /// The body's `message`, on servers that send one.
    pub message: Option<String>,
    /// Per-parameter validation errors.
    pub errors: BTreeMap<String, String>,
    /// What it means.
    pub class: ErrorClass,
}

impl ApiError {
    /// Reads a failed HTTP response's parts and classifies them.
    pub fn from_response(
        status: u16,
        reason: impl Into<String>,
        message: Option<String>,
        errors: BTreeMap<String, String>,
    ) -> Self {
        let reason = reason.into();
        let message = message
            .map(|m| m.trim_end().to_owned())
            .filter(|m| !m.is_empty());
        let class = classify(Some(status), &reason, message.as_deref(), &errors);
        ApiError {
            status: Some(status),
            reason,
            message,
            errors,
            class,
        }
    }

    /// A failed task's exit status, classified as a server-side failure would be.
    pub fn from_task_exit(exitstatus: &str) -> Self {
        let errors = BTreeMap::new();
        let class = classify(None, exitstatus, None, &errors);
        ApiError {
            status: None,
            reason: exitstatus.to_owned(),
            message: None,
            errors,
            class,
        }
    }

    /// A transport failure (no usable response).
    pub fn transport(class: ErrorClass, description: impl Into<String>) -> Self {
        ApiError {
            status: None,
            reason: description.into(),
            message: None,
            errors: BTreeMap::new(),
            class,
        }
    }

    /// The most complete error text: the body's `message` if present, else the reason phrase.
    pub fn text(&self) -> &str {
        self.message.as_deref().unwrap_or(&self.reason)
    }

    /// Turns it into the SDK's error; `doing` says what was asked (e.g. `POST /nodes/pve/lxc`).
    pub fn into_error(self, doing: impl fmt::Display) -> Error {
        self.into_error_with(doing, "")
    }

    /// Like [`ApiError::into_error`], with `detail` appended to the message (e.g. a task log).
    pub fn into_error_with(self, doing: impl fmt::Display, detail: &str) -> Error {
        let (kind, retryable) = self.class.kind_and_retryable();
        let advice = match self.class {
            ErrorClass::Unreachable | ErrorClass::RequestTimeout | ErrorClass::LockTimeout => {
                " (transient: retry later)"
            }
            ErrorClass::Unauthenticated => " (check the API token or user credentials)",
            ErrorClass::Certificate => {
                " (check the pinned fingerprint against /nodes' ssl_fingerprint, or the CA)"
            }
            ErrorClass::Forbidden => " (grant the token or user the privilege named above)",
            ErrorClass::InvalidParameters => " (fix the parameters named above)",
            _ => "",
        };
        let message = format!("{doing}: {self}{advice}{detail}");
        Error::new(kind, message)
            .retryable(retryable)
            .with_backend(BACKEND)
            .with_source(self)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status} ")?;
        }
        f.write_str(self.text())?;
        if !self.errors.is_empty() {
            f.write_str(" [")?;
            for (i, (param, why)) in self.errors.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{param}: {}", why.trim_end())?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Decides what a failure means from its status, reason phrase, message and `errors` map.
///
/// The order matters: proxy statuses first (their text is the proxy's, not the handler's), then
/// texts that name a specific condition whatever status carries them (a lock timeout is a 500,
/// an existing VMID is a 500 on create but a 400 on `nextid?vmid=`), then plain statuses.
pub fn classify(
    status: Option<u16>,
    reason: &str,
    message: Option<&str>,
    errors: &BTreeMap<String, String>,
) -> ErrorClass {
    if matches!(status, Some(595..=597)) {
        return ErrorClass::Unreachable;
    }
    let mut text = String::with_capacity(reason.len());
    text.push_str(reason);
    if let Some(m) = message {
        text.push('\n');
        text.push_str(m);
    }
    for v in errors.values() {
        text.push('\n');
        text.push_str(v);
    }
    let has = |needle: &str| text.contains(needle);
    match status {
        Some(401) => return ErrorClass::Unauthenticated,
        Some(403) => return ErrorClass::Forbidden,
        Some(501) => return ErrorClass::NotImplemented,
        _ => {}
    }
    if has("got timeout") {
        ErrorClass::LockTimeout
    } else if has("no quorum") {
        ErrorClass::NoQuorum
    } else if has("already exists") {
        ErrorClass::AlreadyExists
    } else if has("already running") {
        ErrorClass::AlreadyRunning
    } else if has("not running") {
        ErrorClass::NotRunning
    } else if has("does not exist") || has("no such") || has("not found") {
        ErrorClass::NotFound
    } else if has("is locked") {
        ErrorClass::Locked
    } else if has("is running") {
        ErrorClass::Running
    } else if status == Some(400) {
        ErrorClass::InvalidParameters
    } else {
        ErrorClass::Other
    }
}

/// The [`ErrorClass`] of an error this crate produced, if it came from Proxmox VE.
pub fn class_of(err: &Error) -> Option<ErrorClass> {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<ApiError>())
        .map(|e| e.class)
}

/// Whether the adapter may retry the call that failed with `err` by itself (transient class).
pub fn is_transient(err: &Error) -> bool {
    class_of(err).is_some_and(ErrorClass::is_transient)
}

/// The error for a reply this client cannot read.
pub(crate) fn bad_response(doing: impl fmt::Display, what: impl fmt::Display) -> Error {
    ApiError::transport(ErrorClass::BadResponse, format!("unreadable reply: {what}"))
        .into_error(doing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn kind(status: u16, reason: &str, pairs: &[(&str, &str)]) -> (ErrorKind, bool, ErrorClass) {
        let e = ApiError::from_response(status, reason, None, errs(pairs));
        let class = e.class;
        let err = e.into_error("test");
        (err.kind(), err.is_retryable(), class)
    }

    #[test]
    fn the_table() {
        use ErrorKind::*;
        // (status, reason, errors map, expected kind, expected retryable)
        type Case<'a> = (u16, &'a str, Vec<(&'a str, &'a str)>, ErrorKind, bool);
        let cases: Vec<Case> = vec![
            (596, "Connection timed out", vec![], Unavailable, true),
            (
                595,
                "Errors during connection establishment",
                vec![],
                Unavailable,
                true,
            ),
            (597, "Connection error", vec![], Unavailable, true),
            (
                500,
                "unable to create CT 100 - can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout",
                vec![],
                Unavailable,
                true,
            ),
            (
                500,
                "CT 100 already exists on node 'pve'",
                vec![],
                Conflict,
                false,
            ),
            (
                400,
                "Parameter verification failed.",
                vec![("vmid", "VM 100 already exists")],
                Conflict,
                false,
            ),
            (
                400,
                "Parameter verification failed.",
                vec![("start", "type check ('boolean') failed - got 'true'")],
                InvalidInput,
                false,
            ),
            (401, "authentication failure", vec![], Unauthorized, false),
            (401, "No ticket", vec![], Unauthorized, false),
            (
                403,
                "Permission check failed (/vms/100, VM.Allocate)",
                vec![],
                Unauthorized,
                false,
            ),
            (
                500,
                "Configuration file 'nodes/pve/lxc/999.conf' does not exist",
                vec![],
                NotFound,
                false,
            ),
            (
                400,
                "Parameter verification failed.",
                vec![("upid", "no such task")],
                NotFound,
                false,
            ),
            (
                501,
                "Method 'GET /x' not implemented",
                vec![],
                Backend,
                false,
            ),
            (500, "CT 100 already running", vec![], Conflict, false),
            (500, "CT 100 not running", vec![], Conflict, false),
            (
                500,
                "unable to destroy CT 100 - container is running",
                vec![],
                Conflict,
                false,
            ),
            (500, "CT is locked (create)", vec![], Conflict, true),
            (
                500,
                "cluster not ready - no quorum?",
                vec![],
                Unavailable,
                true,
            ),
            (500, "something broke", vec![], Backend, false),
        ];
        for (status, reason, pairs, want_kind, want_retry) in cases {
            let (k, r, class) = kind(status, reason, &pairs);
            assert_eq!(
                (k, r),
                (want_kind, want_retry),
                "{status} {reason} -> {class:?}"
            );
        }
    }

    #[test]
    fn validation_message_names_every_parameter() {
        let e = ApiError::from_response(
            400,
            "Parameter verification failed.",
            Some("Parameter verification failed.\n".into()),
            errs(&[
                ("vmid", "value must have a minimum value of 100"),
                ("x", "property is not defined"),
            ]),
        );
        let err = e.into_error("POST /nodes/pve/lxc");
        assert!(
            err.message()
                .contains("vmid: value must have a minimum value of 100")
        );
        assert!(err.message().contains("x: property is not defined"));
        assert!(err.message().starts_with("POST /nodes/pve/lxc: HTTP 400"));
        assert_eq!(err.backend(), Some(BACKEND));
        assert_eq!(class_of(&err), Some(ErrorClass::InvalidParameters));
    }

    #[test]
    fn message_is_preferred_over_reason() {
        let e = ApiError::from_response(
            500,
            "short",
            Some("long text\nsecond line\n".into()),
            BTreeMap::new(),
        );
        assert_eq!(e.text(), "long text\nsecond line");
    }

    #[test]
    fn task_exit_status_is_classified_like_a_500() {
        assert_eq!(
            ApiError::from_task_exit(
                "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
            )
            .class,
            ErrorClass::LockTimeout
        );
        assert_eq!(
            ApiError::from_task_exit("command failed").class,
            ErrorClass::Other
        );
    }

    #[test]
    fn transient_is_only_proxy_connection_and_lock() {
        let e = ApiError::from_response(596, "Connection timed out", None, BTreeMap::new())
            .into_error("x");
        assert!(is_transient(&e));
        let e = ApiError::from_response(500, "CT 1 already exists", None, BTreeMap::new())
            .into_error("x");
        assert!(!is_transient(&e));
        assert!(!is_transient(&Error::unavailable("not ours")));
    }
}
