//! The HTTP(S) front: routing, auth, validation and faults, then the handlers.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Response, header};

use super::access;
use super::auth::Caller;
use super::core::Inner;
use super::faults::{CallFault, ERROR_TEXT};
use super::routes;
use super::schema::{Lookup, Schema};
use super::types::SimError;
use super::validate::validate;
use super::wire::{self, ApiError, ApiResult, percent_decode};

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
    wire::respond(handle(&inner, req).await)
}

async fn handle(inner: &Arc<Inner>, req: Request) -> ApiResult {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let rel = match path.strip_prefix("/api2/json") {
        Some("") => "/".to_string(),
        Some(r) if r.starts_with('/') => r.to_string(),
        _ => {
            return Err(ApiError::new(
                501,
                format!("Method '{method} {path}' not implemented"),
            ));
        }
    };
    let segments: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let (op, path_params) = match Schema::get().lookup(&method, &segments) {
        Lookup::Found(op, p) => (op, p),
        Lookup::NotImplemented => return Err(ApiError::not_implemented(&method, &rel)),
    };
    let body = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::new(413, "request body too large"))?;
    if (method == "GET" || method == "DELETE") && !body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(501, "Unexpected content"));
    }
    let caller = if op.key() == "POST /access/ticket" {
        Caller {
            user: String::new(),
            token_id: None,
        }
    } else {
        let authenticated = {
            let st = inner.state();
            inner
                .auth
                .authenticate(&method, &parts.headers, inner.clock.now(), &st.access)
        };
        match authenticated {
            Ok(c) => c,
            Err(e) => {
                let delay = inner.cfg.auth_failure_delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                return Err(e);
            }
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut params = wire::body_params(content_type, &body)?;
    params.extend(wire::query_params(parts.uri.query())?);
    params.extend(path_params);
    // PVE checks the schema's permissions before it validates the parameters (PM
    // HTTPServer.pm:157-161 `check_api2_permissions` before `$handler->handle`).
    if op.key() != "POST /access/ticket" {
        let st = inner.state();
        access::check_route(&st.access, op, &caller, &params)?;
    }
    validate(op, &params).map_err(ApiError::params)?;

    let (delay, fault) = inner.faults.call(&op.key());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        CallFault::None => {}
        CallFault::Error => return Err(ApiError::internal(ERROR_TEXT)),
        CallFault::Timeout => return Err(ApiError::new(596, "Connection timed out")),
    }
    routes::dispatch(inner, &op.method, &op.path, Call { params, caller }).await
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
