//! How to reach a Proxmox VE cluster: URL, credentials, TLS and timeouts.

use super::BACKEND;
use super::recover::TaskRecovery;
use paas_core::model::Secret;
use paas_core::{Error, Result};
use std::fmt;
use std::time::Duration;
use url::Url;

/// Credentials.
#[derive(Clone)]
pub enum Auth {
    /// An API token: `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`. No CSRF token is
    /// needed and nothing expires, so this is the recommended method for automation.
    Token {
        /// `user@realm`, e.g. `root@pam`.
        user: String,
        /// The token's id, e.g. `paas`.
        token_id: String,
        /// The token's secret (a UUID).
        secret: Secret,
    },
    /// User and password: the client obtains a ticket from `/access/ticket`, sends it as the
    /// `PVEAuthCookie` cookie with the `CSRFPreventionToken` header, and renews it before its
    /// two hours run out.
    Password {
        /// `user@realm`, e.g. `root@pam`.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token { user, token_id, .. } => f
                .debug_struct("Token")
                .field("user", user)
                .field("token_id", token_id)
                .field("secret", &"[redacted]")
                .finish(),
            Auth::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"[redacted]")
                .finish(),
        }
    }
}

/// How to check the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Tls {
    /// Verify against the public web PKI roots (webpki-roots), with the host name. Default.
    #[default]
    Verify,
    /// Accept exactly the certificate whose SHA-256 fingerprint is given (colon-separated hex,
    /// as `/nodes` reports in `ssl_fingerprint` and the PVE GUI shows). The host name is not
    /// checked: the pin identifies the server. The handshake signature still is, so only the
    /// holder of that certificate's key can answer.
    PinnedFingerprint(String),
    /// Accept a certificate whose SHA-256 fingerprint is any of these: one per node of a
    /// cluster, or the current and the next certificate during a renewal. Nothing else is
    /// accepted.
    PinnedFingerprints(Vec<String>),
    /// Verify the chain against a private CA, with the host name checked, e.g. the cluster's
    /// own `/etc/pve/pve-root-ca.pem` that signs every node's `pve-ssl.pem`; the public web
    /// PKI is not trusted. A certificate whose fingerprint is one of `pins` is accepted too
    /// (a node with a custom certificate). Nothing else is accepted.
    PrivateCa {
        /// One or more CA certificates in PEM.
        ca_pem: String,
        /// SHA-256 fingerprints accepted besides the CA's chain (may be empty).
        pins: Vec<String>,
    },
    /// INSECURE: accept any certificate. Anyone on the network path can read the credentials
    /// and impersonate the server. Only for throw-away test setups.
    DangerAcceptInvalidCerts,
}

/// Everything the client needs; build with [`ProxmoxConfig::builder`].
///
/// ```
/// use paas_proxmox::client::{Auth, ProxmoxConfig, Tls};
/// use paas_core::model::Secret;
/// let config = ProxmoxConfig::builder("https://pve.example.com:8006")
///     .auth(Auth::Token {
///         user: "root@pam".into(),
///         token_id: "paas".into(),
///         secret: Secret::new("5f3c1f7e-0000-4000-8000-000000000000"),
///     })
///     .tls(Tls::PinnedFingerprint("AB:CD:...".into()))
///     .build();
/// // The pin above is malformed, so build() refuses it before any I/O.
/// assert!(config.is_err());
/// ```
#[derive(Clone, Debug)]
pub struct ProxmoxConfig {
    /// The API root, ending in `/api2/json/`.
    pub(crate) api_base: Url,
    /// Credentials.
    pub(crate) auth: Auth,
    /// Certificate checking.
    pub(crate) tls: Tls,
    /// Time to establish a connection.
    pub(crate) connect_timeout: Duration,
    /// Time for a whole request.
    pub(crate) request_timeout: Duration,
    /// Renew a ticket once it is this old (tickets last 2 h).
    pub(crate) ticket_renew_after: Duration,
    /// How a task whose response was lost is looked for.
    pub(crate) task_recovery: TaskRecovery,
    /// The largest response body read.
    pub(crate) max_response_bytes: usize,
}

/// The default limit of a response body: 32 MiB, far above any PVE answer (a big cluster's
/// `/cluster/resources` is a few MiB) and small enough that a broken or hostile server cannot
/// exhaust memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Whether `host` is a loopback name or address.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl ProxmoxConfig {
    /// Starts a configuration for the server at `base_url` (`https://host:8006`, with or without
    /// `/api2/json`).
    pub fn builder(base_url: impl Into<String>) -> ProxmoxConfigBuilder {
        ProxmoxConfigBuilder {
            base_url: base_url.into(),
            auth: None,
            tls: Tls::Verify,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            ticket_renew_after: Duration::from_secs(90 * 60),
            task_recovery: TaskRecovery::default(),
            allow_insecure_http: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The API root URL (ending in `/api2/json/`).
    pub fn api_base(&self) -> &Url {
        &self.api_base
    }

    /// The TLS mode.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }
}

/// Builder for [`ProxmoxConfig`]; `build` validates and does no I/O.
#[derive(Clone, Debug)]
pub struct ProxmoxConfigBuilder {
    base_url: String,
    auth: Option<Auth>,
    tls: Tls,
    connect_timeout: Duration,
    request_timeout: Duration,
    ticket_renew_after: Duration,
    task_recovery: TaskRecovery,
    allow_insecure_http: bool,
    max_response_bytes: usize,
}

impl ProxmoxConfigBuilder {
    /// Sets the credentials (required).
    #[must_use]
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// API token credentials.
    #[must_use]
    pub fn token(
        self,
        user: impl Into<String>,
        token_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.auth(Auth::Token {
            user: user.into(),
            token_id: token_id.into(),
            secret: Secret::new(secret.into()),
        })
    }

    /// User and password credentials (ticket auth).
    #[must_use]
    pub fn password(self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth(Auth::Password {
            username: username.into(),
            password: Secret::new(password.into()),
        })
    }

    /// Sets certificate checking (default [`Tls::Verify`]).
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// Time to establish a connection (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time for one whole request (default 60 s).
    #[must_use]
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Age at which a ticket is renewed (default 90 min; tickets expire after 2 h).
    #[must_use]
    pub fn ticket_renew_after(mut self, d: Duration) -> Self {
        self.ticket_renew_after = d;
        self
    }

    /// How the client looks for the task of a POST whose response was lost (default: two
    /// lookups 300 ms apart; `lookups: 0` turns it off). See [`TaskRecovery`].
    #[must_use]
    pub fn task_recovery(mut self, recovery: TaskRecovery) -> Self {
        self.task_recovery = recovery;
        self
    }

    /// INSECURE: allow `http://` to a host that is not the loopback interface. The
    /// credentials then cross the network in clear text. Off by default: `build` refuses
    /// such a URL.
    #[must_use]
    pub fn allow_insecure_http_to_remote_hosts(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The largest response body the client reads (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one is refused with a `Backend` error.
    #[must_use]
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<ProxmoxConfig> {
        let invalid = |m: String| Error::invalid_input(m).with_backend(BACKEND);
        let mut url = Url::parse(self.base_url.trim()).map_err(|e| {
            invalid(format!(
                "'{}' is not a Proxmox VE URL ({e}): expected e.g. https://pve.example.com:8006",
                self.base_url.escape_debug()
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(format!(
                "'{url}' is not a Proxmox VE URL: expected http(s)://host[:port]"
            )));
        }
        if url.scheme() == "http" && !is_loopback(&url) && !self.allow_insecure_http {
            return Err(invalid(format!(
                "'{url}' is plain http to a remote host: the API token or password would cross \
                 the network unencrypted; use https://, or call \
                 .allow_insecure_http_to_remote_hosts(true) to accept that"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(format!(
                "'{url}' must not carry a query or fragment"
            )));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        let path = if path.ends_with("/api2/json") {
            path
        } else {
            format!("{path}/api2/json")
        };
        url.set_path(&format!("{path}/"));
        let auth = self.auth.ok_or_else(|| {
            invalid("no credentials: call .token(..) or .password(..) on the builder".into())
        })?;
        match &auth {
            Auth::Token {
                user,
                token_id,
                secret,
            } => {
                if !user.contains('@') || token_id.is_empty() || secret.expose().is_empty() {
                    return Err(invalid(format!(
                        "API token for '{user}' is incomplete: expected user 'name@realm', a token id and a secret"
                    )));
                }
                let all = format!("{user}!{token_id}={}", secret.expose());
                if all.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
                    return Err(invalid(
                        "API token parts must be visible ASCII without spaces".into(),
                    ));
                }
            }
            Auth::Password { username, .. } => {
                if !username.contains('@') {
                    return Err(invalid(format!(
                        "username '{username}' needs a realm: expected e.g. 'root@pam'"
                    )));
                }
            }
        }
        match &self.tls {
            Tls::PinnedFingerprint(fp) => {
                super::tls::parse_fingerprint(fp)?;
            }
            Tls::PinnedFingerprints(fps) => {
                if fps.is_empty() {
                    return Err(invalid(
                        "Tls::PinnedFingerprints needs at least one fingerprint".into(),
                    ));
                }
                for fp in fps {
                    super::tls::parse_fingerprint(fp)?;
                }
            }
            Tls::PrivateCa { ca_pem, pins } => {
                super::tls::parse_ca_pem(ca_pem)?;
                for fp in pins {
                    super::tls::parse_fingerprint(fp)?;
                }
            }
            Tls::Verify | Tls::DangerAcceptInvalidCerts => {}
        }
        if self.max_response_bytes == 0 {
            return Err(invalid(
                "max_response_bytes must be greater than zero".into(),
            ));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(invalid("timeouts must be greater than zero".into()));
        }
        Ok(ProxmoxConfig {
            api_base: url,
            auth,
            tls: self.tls,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            ticket_renew_after: self.ticket_renew_after,
            task_recovery: self.task_recovery,
            max_response_bytes: self.max_response_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_api_path_once() {
        for (input, want) in [
            ("https://pve:8006", "https://pve:8006/api2/json/"),
            ("https://pve:8006/", "https://pve:8006/api2/json/"),
            ("https://pve:8006/api2/json", "https://pve:8006/api2/json/"),
            (
                "http://127.0.0.1:1234/api2/json/",
                "http://127.0.0.1:1234/api2/json/",
            ),
        ] {
            let c = ProxmoxConfig::builder(input)
                .token("root@pam", "t", "s")
                .build()
                .unwrap();
            assert_eq!(c.api_base().as_str(), want);
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(
            ProxmoxConfig::builder("ftp://x")
                .token("root@pam", "t", "s")
                .build()
                .is_err()
        );
        assert!(
            ProxmoxConfig::builder("not a url")
                .token("root@pam", "t", "s")
                .build()
                .is_err()
        );
        assert!(ProxmoxConfig::builder("https://x").build().is_err());
        // Plain http only to the loopback interface, unless explicitly allowed.
        for remote in [
            "http://pve.example.com:8006",
            "http://10.0.0.5:8006",
            "http://[fd00::1]:8006",
        ] {
            let e = ProxmoxConfig::builder(remote)
                .token("root@pam", "t", "s")
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), paas_core::ErrorKind::InvalidInput);
            assert!(
                e.message().contains("allow_insecure_http_to_remote_hosts"),
                "{e}"
            );
            assert!(
                ProxmoxConfig::builder(remote)
                    .token("root@pam", "t", "s")
                    .allow_insecure_http_to_remote_hosts(true)
                    .build()
                    .is_ok()
            );
        }
        for local in [
            "http://127.0.0.1:8006",
            "http://localhost:8006",
            "http://[::1]:8006",
            "http://127.1.2.3",
        ] {
            assert!(
                ProxmoxConfig::builder(local)
                    .token("root@pam", "t", "s")
                    .build()
                    .is_ok(),
                "{local}"
            );
        }
        assert!(
            ProxmoxConfig::builder("https://x")
                .token("root@pam", "t", "s")
                .tls(Tls::PinnedFingerprints(vec![]))
                .build()
                .is_err()
        );
        assert!(
            ProxmoxConfig::builder("https://x")
                .token("root@pam", "t", "s")
                .tls(Tls::PrivateCa {
                    ca_pem: "not pem".into(),
                    pins: vec![]
                })
                .build()
                .is_err()
        );
        assert!(
            ProxmoxConfig::builder("https://x")
                .token("root", "t", "s")
                .build()
                .is_err()
        );
        assert!(
            ProxmoxConfig::builder("https://x")
                .password("root", "pw")
                .build()
                .is_err()
        );
        assert!(
            ProxmoxConfig::builder("https://x")
                .token("root@pam", "t", "s")
                .tls(Tls::PinnedFingerprint("zz".into()))
                .build()
                .is_err()
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = ProxmoxConfig::builder("https://x")
            .token("root@pam", "tok", "super-secret-value")
            .build()
            .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(shown.contains("tok"));
        let c = ProxmoxConfig::builder("https://x")
            .password("root@pam", "hunter22")
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter22"));
    }
}
