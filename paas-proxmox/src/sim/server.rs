//! The HTTP(S) front: routing, auth, validation and faults, then the handlers.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Response, header};

use super::access;
use super::auth::Caller;
use super::core::Inner;
use super::faults::{AfterCall, CallFault, ERROR_TEXT};
use super::params::{Raw, extract_params};
use super::routes;
use super::schema::{Lookup, Schema};
use super::types::SimError;
use super::validate::validate;
use super::wire::{self, ApiError, ApiResult, ErrorBody, percent_decode};

/// Largest request body accepted.
const BODY_LIMIT: usize = 1 << 20;

/// A validated call: its parameters (path, body and query merged) and its caller.
#[derive(Debug)]
pub(crate) struct Call {
    pub params: BTreeMap<String, String>,
    pub caller: Caller,
}

impl Call {
    /// A parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A boolean parameter (validated `1`/`0`), with its default.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("1")
    }

    /// An integer parameter (validated).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)
            .and_then(|v| v.trim_start_matches('+').parse().ok())
    }

    /// The `node` path parameter.
    pub fn node(&self) -> &str {
        self.get("node").unwrap_or_default()
    }

    /// The `vmid` path parameter.
    pub fn vmid(&self) -> u32 {
        self.int("vmid")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    }
}

/// The axum router: every request goes through [`handle`].
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(entry).with_state(inner)
}

async fn entry(State(inner): State<Arc<Inner>>, req: Request) -> Response<Body> {
    let started = Instant::now();
    let is_read = req.method() == axum::http::Method::GET;
    let (result, stage) = handle(&inner, req).await;
    let configured = inner.cfg.auth_failure_delay;
    let delay = match (&result, stage) {
        // HS AnyEvent.pm:1614-1615 `# always delay unauthorized calls by 3 seconds`
        // `my $delay = 3;`
        (_, Stage::Auth) => configured,
        // :1036-1038, a handler's 401 (a failed login): `$delay = 3 -
        // tv_interval($reqstate->{starttime});`.
        (Err(e), Stage::Ran) if e.status == 401 => configured.saturating_sub(started.elapsed()),
        _ => Duration::ZERO,
    };
    // Lost responses matter for calls that change something; a read is simply retried.
    if stage == Stage::Ran && !is_read {
        match inner.faults.after_call() {
            AfterCall::Deliver => {}
            AfterCall::Lost => return dated(&inner, wire::respond(Err(lost_response()))),
            AfterCall::Dropped => return dropped_connection(),
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    dated(&inner, wire::respond(result))
}

/// The proxy's answer when the node acted but its reply did not come back in time.
fn lost_response() -> ApiError {
    ApiError::new(596, "Connection timed out").with_body(ErrorBody::Empty)
}

/// A response whose body fails at once, so that the connection breaks.
fn dropped_connection() -> Response<Body> {
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
    });
    Response::new(Body::from_stream(stream))
}

/// Adds the `Date` header from the simulated clock (hyper adds the real time otherwise), so
/// that a client can relate its own clock to the task start times the simulator writes.
fn dated(inner: &Inner, mut resp: Response<Body>) -> Response<Body> {
    let now = chrono::DateTime::from_timestamp(inner.clock.now(), 0).unwrap_or_default();
    let text = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&text) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

/// Calls that pveproxy lets through without authentication (PM HTTPServer.pm:71-78).
fn needs_auth(method: &str, rel: &str) -> bool {
    !matches!(
        (method, rel),
        ("GET", "/access/domains") | ("GET" | "POST", "/access/ticket")
    )
}

/// How far a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Refused by authentication.
    Auth,
    /// Refused before its handler ran (routing, validation, an injected fault).
    Early,
    /// Its handler ran (only then can a fault lose its response).
    Ran,
}

/// Handles one request.
async fn handle(inner: &Arc<Inner>, req: Request) -> (ApiResult, Stage) {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let rel = match path.strip_prefix("/api2/json") {
        Some("") => "/".to_string(),
        Some(r) if r.starts_with('/') => r.to_string(),
        _ => {
            return (
                Err(ApiError::new(501, "no such uri").with_body(ErrorBody::Text)),
                Stage::Early,
            );
        }
    };
    // Authentication comes before routing (HS AnyEvent.pm:1602 `$auth =
    // $self->auth_handler(`), so an unauthenticated call to an unknown path is a 401.
    let caller = if needs_auth(&method, &rel) {
        let authenticated = {
            let st = inner.state();
            inner
                .auth
                .authenticate(&method, &parts.headers, inner.clock.now(), &st.access)
        };
        match authenticated {
            Ok(c) => c,
            Err(e) => return (Err(e.with_body(ErrorBody::Empty)), Stage::Auth),
        }
    } else {
        Caller {
            user: String::new(),
            token_id: None,
        }
    };
    // HS AnyEvent.pm:1651-1654: any Content-Length on another method than PUT/POST, after
    // authentication, with the text as a plain body.
    let content_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if content_length > 0 && method != "PUT" && method != "POST" {
        return (
            Err(
                ApiError::new(501, format!("Unexpected content for method '{method}'"))
                    .with_body(ErrorBody::Text),
            ),
            Stage::Early,
        );
    }
    let body = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return (
                Err(ApiError::new(413, "request body too large")),
                Stage::Early,
            );
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut raw = match extract_params(&method, content_type, &body, parts.uri.query()) {
        Ok(p) => p,
        Err(e) => return (Err(e), Stage::Early),
    };
    let segments: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let (op, path_params) = match Schema::get().lookup(&method, &segments) {
        Lookup::Found(op, p) => (op, p),
        Lookup::NotImplemented => {
            return (Err(ApiError::not_implemented(&method, &rel)), Stage::Early);
        }
    };
    // PM HTTPServer.pm:149-155: a parameter given in the path and again, differently, in the
    // query or body.
    for (name, value) in &path_params {
        if let Some(other) = raw.get(name)
            && other.scalar().as_deref() != Some(value.as_str())
        {
            return (
                Err(ApiError::param(
                    name,
                    "duplicate parameter (already defined in URI) with conflicting values!",
                )),
                Stage::Early,
            );
        }
        raw.insert(name.clone(), Raw::Str(value.clone()));
    }
    // PVE checks the schema's permissions before it validates the parameters (PM
    // HTTPServer.pm:157-161 `check_api2_permissions` before `$handler->handle`).
    if needs_auth(&method, &rel) {
        let scalars: BTreeMap<String, String> = raw
            .iter()
            .filter_map(|(k, v)| v.scalar().map(|s| (k.clone(), s)))
            .collect();
        let st = inner.state();
        if let Err(e) = access::check_route(&st.access, op, &caller, &scalars) {
            return (Err(e), Stage::Early);
        }
    }
    let params = match validate(op, &raw) {
        Ok(p) => p,
        Err(errors) => return (Err(ApiError::params(errors)), Stage::Early),
    };

    let (delay, fault) = inner.faults.call(&op.key());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        CallFault::None => {}
        CallFault::Error => return (Err(ApiError::internal(ERROR_TEXT)), Stage::Early),
        CallFault::Timeout => {
            return (
                Err(ApiError::new(596, "Connection timed out").with_body(ErrorBody::Empty)),
                Stage::Early,
            );
        }
    }
    let result = routes::dispatch(inner, &op.method, &op.path, Call { params, caller }).await;
    (result, Stage::Ran)
}

/// Opens a listener on 127.0.0.1:`port` (0 = ephemeral).
pub(crate) fn listen(port: u16) -> Result<(TcpListener, SocketAddr), SimError> {
    let addr = format!("127.0.0.1:{port}");
    let bind_err = |source| SimError::Bind {
        addr: addr.clone(),
        source,
    };
    let listener = TcpListener::bind(&addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}
