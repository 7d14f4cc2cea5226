//! A typed client for the Proxmox VE REST API (`/api2/json`).
//!
//! [`ProxmoxClient`] sends [`ApiRequest`]s over reqwest with rustls, authenticates with an API
//! token or a ticket (with CSRF header and renewal), unwraps the `{"data": ...}` envelope, and
//! maps every failure through one table ([`error`]) to the SDK's [`paas_core::Error`]. The
//! endpoints live in one module per area: [`cluster`], [`guest`] (shared by containers and
//! VMs), [`lxc`], [`qemu`], [`disks`], [`storage`], [`tasks`], [`snapshot`], [`backup`],
//! [`pools`], [`access`].

pub mod access;
mod auth;
pub mod backup;
pub mod cluster;
mod config;
pub mod disks;
pub mod error;
pub mod guest;
pub mod lxc;
pub mod num;
pub mod pools;
pub mod qemu;
mod recover;
mod request;
pub mod snapshot;
pub mod storage;
pub mod task_list;
pub mod tasks;
mod tls;
mod upid;

pub use config::{Auth, DEFAULT_MAX_RESPONSE_BYTES, ProxmoxConfig, ProxmoxConfigBuilder, Tls};
pub use error::{ApiError, BACKEND, ErrorClass};
pub use recover::TaskRecovery;
pub use request::{ApiRequest, Method};
pub use tasks::{TaskOutcome, WaitOptions};
pub use tls::{fingerprint_of, parse_fingerprint};
pub use upid::Upid;

use auth::{Ticket, TicketReply, TicketStore};
use error::bad_response;
use paas_core::{Error, Result};
use reqwest::header::{self, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// A Proxmox VE API client. Cheap to clone (shares the connection pool and the ticket).
///
/// ```no_run
/// # async fn demo() -> paas_core::Result<()> {
/// use paas_proxmox::client::{ProxmoxClient, ProxmoxConfig, Tls};
/// let config = ProxmoxConfig::builder("https://pve1.example.com:8006")
///     .token("root@pam", "paas", "5f3c1f7e-aaaa-4bbb-8ccc-000000000000")
///     .tls(Tls::PinnedFingerprint("9A:...:3F".into()))
///     .build()?;
/// let client = ProxmoxClient::new(config)?;
/// let version = client.version().await?;
/// println!("Proxmox VE {}", version.version);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProxmoxClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProxmoxConfig,
    http: reqwest::Client,
    tickets: TicketStore,
    recovery: recover::RecoveryState,
}

impl fmt::Debug for ProxmoxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxmoxClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The reply envelope: `{"data": X, ...}`.
#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

/// The parts of an error reply body PVE fills.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Option<BTreeMap<String, serde_json::Value>>,
}

impl ProxmoxClient {
    /// Builds a client (no I/O).
    pub fn new(config: ProxmoxConfig) -> Result<Self> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("paas-proxmox/", env!("CARGO_PKG_VERSION")));
        b = match &config.tls {
            Tls::Verify => b,
            Tls::PinnedFingerprint(fp) => {
                b.use_preconfigured_tls(tls::pinned_client_config(std::slice::from_ref(fp), None)?)
            }
            Tls::PinnedFingerprints(fps) => {
                b.use_preconfigured_tls(tls::pinned_client_config(fps, None)?)
            }
            Tls::PrivateCa { ca_pem, pins } => {
                b.use_preconfigured_tls(tls::pinned_client_config(pins, Some(ca_pem))?)
            }
            Tls::DangerAcceptInvalidCerts => {
                tracing::warn!(
                    url = %config.api_base,
                    "TLS certificate verification is OFF for this Proxmox VE client: \
                     pin the certificate fingerprint instead"
                );
                b.danger_accept_invalid_certs(true)
            }
        };
        let http = b.build().map_err(|e| {
            Error::internal(format!("cannot set up the HTTP client for Proxmox VE: {e}"))
                .with_backend(BACKEND)
                .with_source(e)
        })?;
        Ok(ProxmoxClient {
            inner: Arc::new(Inner {
                config,
                http,
                tickets: TicketStore::default(),
                recovery: recover::RecoveryState::default(),
            }),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ProxmoxConfig {
        &self.inner.config
    }

    /// Sends `req` and returns the reply's `data`, decoded as `T`.
    ///
    /// Use `serde_json::Value` for endpoints without a typed method, and `()` or
    /// `Option<..>` where PVE answers `{"data": null}`.
    pub async fn send<T: DeserializeOwned>(&self, req: &ApiRequest) -> Result<T> {
        let bytes = self.send_raw(req).await?;
        let env: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| bad_response(req, e))?;
        Ok(env.data)
    }

    /// Sends `req` and returns the whole reply body (envelope included) on success.
    pub async fn send_raw(&self, req: &ApiRequest) -> Result<Vec<u8>> {
        match &self.inner.config.auth {
            Auth::Token {
                user,
                token_id,
                secret,
            } => {
                let mut value = HeaderValue::from_str(&format!(
                    "PVEAPIToken={user}!{token_id}={}",
                    secret.expose()
                ))
                .map_err(|_| {
                    Error::invalid_input(
                        "the API token contains characters not allowed in a header",
                    )
                    .with_backend(BACKEND)
                })?;
                value.set_sensitive(true);
                self.attempt(req, Some((header::AUTHORIZATION, value)), None)
                    .await
            }
            Auth::Password { .. } => {
                let ticket = self.ticket().await?;
                match self.attempt(req, None, Some(&ticket)).await {
                    Err(e) if error::class_of(&e) == Some(ErrorClass::Unauthenticated) => {
                        // The server forgot or expired the ticket early (restart, clock skew):
                        // log in once more and retry once.
                        self.inner.tickets.invalidate(&ticket).await;
                        let ticket = self.ticket().await?;
                        self.attempt(req, None, Some(&ticket)).await
                    }
                    other => other,
                }
            }
        }
    }

    /// One HTTP exchange.
    async fn attempt(
        &self,
        req: &ApiRequest,
        auth_header: Option<(header::HeaderName, HeaderValue)>,
        ticket: Option<&Ticket>,
    ) -> Result<Vec<u8>> {
        let mut url = self.inner.config.api_base.clone();
        {
            let mut segs = url.path_segments_mut().map_err(|()| {
                Error::internal("the API base URL cannot take a path").with_backend(BACKEND)
            })?;
            segs.pop_if_empty();
            segs.extend(req.segments());
        }
        let method = match req.method() {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut rb = self.inner.http.request(method, url);
        if req.method().has_body() {
            let body = serde_urlencoded::to_string(req.params()).map_err(|e| {
                Error::invalid_input(format!("{req}: cannot encode the parameters: {e}"))
                    .with_backend(BACKEND)
            })?;
            rb = rb
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        } else if !req.params().is_empty() {
            rb = rb.query(req.params());
        }
        if let Some((name, value)) = auth_header {
            rb = rb.header(name, value);
        }
        if let Some(t) = ticket {
            let mut cookie = HeaderValue::from_str(&format!("PVEAuthCookie={}", t.ticket.expose()))
                .map_err(|_| bad_response(req, "the ticket is not a valid cookie value"))?;
            cookie.set_sensitive(true);
            rb = rb.header(header::COOKIE, cookie);
            if req.method() != Method::Get {
                let mut csrf = HeaderValue::from_str(t.csrf.expose())
                    .map_err(|_| bad_response(req, "the CSRF token is not a valid header value"))?;
                csrf.set_sensitive(true);
                rb = rb.header("CSRFPreventionToken", csrf);
            }
        }
        let mut resp = rb.send().await.map_err(|e| transport_error(req, e))?;
        if let Some(date) = resp
            .headers()
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
        {
            self.inner.recovery.observe_date(date);
        }
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .and_then(|r| std::str::from_utf8(r.as_bytes()).ok().map(str::to_owned))
            .or_else(|| status.canonical_reason().map(str::to_owned))
            .unwrap_or_default();
        let bytes = read_body(req, &mut resp, self.inner.config.max_response_bytes).await?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let errors = body
            .errors
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        Err(ApiError::from_response(status.as_u16(), reason, body.message, errors).into_error(req))
    }

    /// A ticket young enough to use, logging in or renewing as needed.
    async fn ticket(&self) -> Result<Arc<Ticket>> {
        let cfg = &self.inner.config;
        let store = &self.inner.tickets;
        if let Some(t) = store.fresh(cfg.ticket_renew_after).await {
            return Ok(t);
        }
        let _one_at_a_time = store.renewing.lock().await;
        // Another caller may have renewed it while we waited.
        if let Some(t) = store.fresh(cfg.ticket_renew_after).await {
            return Ok(t);
        }
        let Auth::Password { username, password } = &cfg.auth else {
            return Err(Error::internal("ticket requested with token auth").with_backend(BACKEND));
        };
        let renewed = match store.any_valid().await {
            Some(old) => self.login(username, old.ticket.expose()).await.ok(),
            None => None,
        };
        let ticket = match renewed {
            Some(t) => t,
            None => self.login(username, password.expose()).await?,
        };
        let ticket = Arc::new(ticket);
        store.set(ticket.clone()).await;
        Ok(ticket)
    }

    /// `POST /access/ticket`.
    async fn login(&self, username: &str, password: &str) -> Result<Ticket> {
        let req = cluster::ticket_request(username, password);
        let bytes = self.attempt(&req, None, None).await?;
        let env: Envelope<TicketReply> =
            serde_json::from_slice(&bytes).map_err(|e| bad_response(&req, e))?;
        match (env.data.ticket, env.data.csrf) {
            (Some(ticket), Some(csrf)) => Ok(Ticket {
                ticket: Secret::new(ticket),
                csrf: Secret::new(csrf),
                obtained: Instant::now(),
            }),
            _ => Err(ApiError::transport(
                ErrorClass::Unauthenticated,
                format!("login as '{username}' returned no ticket (two-factor authentication is not supported; use an API token)"),
            )
            .into_error(&req)),
        }
    }
}

use paas_core::model::Secret;

/// Reads a response body, refusing one larger than `limit` (by its `Content-Length` before
/// reading, or as it arrives).
async fn read_body(
    req: &ApiRequest,
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>> {
    let too_large = |n: String| {
        ApiError::transport(
            ErrorClass::ResponseTooLarge,
            format!(
                "the response body ({n} bytes) exceeds the limit of {limit} bytes \
                 (raise it with ProxmoxConfigBuilder::max_response_bytes if the server is right)"
            ),
        )
        .into_error(req)
    };
    if let Some(len) = resp.content_length()
        && len > limit as u64
    {
        return Err(too_large(len.to_string()));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(req, e))? {
        if out.len() + chunk.len() > limit {
            return Err(too_large(format!(
                "more than {}",
                out.len() + chunk.len() - 1
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn transport_error(req: &ApiRequest, e: reqwest::Error) -> Error {
    let mut text = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    let class = if e.is_timeout() {
        ErrorClass::RequestTimeout
    } else if text.contains("certificate") || text.contains("fingerprint") {
        // A refused certificate will be refused again: retrying cannot help.
        ErrorClass::Certificate
    } else {
        ErrorClass::Unreachable
    };
    ApiError::transport(class, text).into_error(req)
}
