//! The PVE wire format: the `{"data": ...}` envelope, errors with their reason phrase, and
//! request parameters (form or JSON body, query string).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use super::validate::ParamErrors;

/// What the body of an error reply carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorBody {
    /// `{"data":null,"message":"...\n"}` (a newline is added when the text lacks one, as
    /// every `die "...\n"` of PVE's handlers ends in one).
    Json,
    /// The JSON envelope with the message exactly as given (the 501 of an unknown route has
    /// no newline: PM HTTPServer.pm:139).
    JsonExact,
    /// The text itself, no content type: pveproxy's `$self->error(...)` (HS AnyEvent.pm:406
    /// `$content //= $msg; # write error into body by default`).
    Text,
    /// Nothing: the auth handler's 401s (HS AnyEvent.pm:1620/1640 build the response without
    /// content) and the proxy's 595/596 pseudo statuses.
    Empty,
}

/// A failed API call: status, message (its first line is the reason phrase) and, for
/// parameter errors, the per-parameter texts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: Option<ParamErrors>,
    pub body: ErrorBody,
}

impl ApiError {
    /// Any status and message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: None,
            body: ErrorBody::Json,
        }
    }

    /// The same error with another kind of body.
    pub fn with_body(mut self, body: ErrorBody) -> Self {
        self.body = body;
        self
    }

    /// A handler failure: HTTP 500 with the error text.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// HTTP 400 `Parameter verification failed.` with per-parameter texts.
    pub fn params(errors: ParamErrors) -> Self {
        ApiError {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors: Some(errors),
            body: ErrorBody::Json,
        }
    }

    /// HTTP 400 for one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        let mut errors = ParamErrors::new();
        errors.insert(name.to_string(), message.into());
        Self::params(errors)
    }

    /// HTTP 501 for a method and path the server does not implement.
    pub fn not_implemented(method: &str, rel_path: &str) -> Self {
        Self::new(501, format!("Method '{method} {rel_path}' not implemented"))
            .with_body(ErrorBody::JsonExact)
    }
}

/// A successful reply: `data` plus optional extra top-level keys (`total` on task logs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub data: Value,
    pub extra: Map<String, Value>,
}

impl Reply {
    /// `{"data": data}`.
    pub fn data(data: Value) -> Self {
        Reply {
            data,
            extra: Map::new(),
        }
    }

    /// Adds a top-level key next to `data`.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
}

/// The result of a handler.
pub(crate) type ApiResult = Result<Reply, ApiError>;

/// Turns a handler result into the HTTP response PVE would send.
pub(crate) fn respond(result: ApiResult) -> Response<Body> {
    match result {
        Ok(reply) => {
            let mut body = Map::new();
            body.insert("data".into(), reply.data);
            body.extend(reply.extra);
            json_response(StatusCode::OK, &Value::Object(body), None)
        }
        Err(err) => {
            let status =
                StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = reason_phrase(&err.message);
            let mut message = err.message.clone();
            match err.body {
                ErrorBody::Text => return plain_response(status, message, reason),
                ErrorBody::Empty => return plain_response(status, String::new(), reason),
                ErrorBody::Json if !message.ends_with('\n') => message.push('\n'),
                ErrorBody::Json | ErrorBody::JsonExact => {}
            }
            let mut body = json!({ "data": null, "message": message });
            if let Some(errors) = &err.errors {
                body["errors"] = json!(errors);
            }
            json_response(status, &body, Some(reason))
        }
    }
}

/// A reply with a plain body (possibly empty) and no content type, as pveproxy sends its own
/// errors.
fn plain_response(status: StatusCode, text: String, reason: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason) {
        resp.extensions_mut().insert(phrase);
    }
    resp
}

fn json_response(status: StatusCode, body: &Value, reason: Option<String>) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{\"data\":null}".into());
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(reason) = reason
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason)
    {
        resp.extensions_mut().insert(phrase);
    }
    resp
}

/// The first line of an error text, with bytes a reason phrase cannot carry replaced.
pub(crate) fn reason_phrase(message: &str) -> String {
    let first = message.lines().next().unwrap_or("").trim_end();
    let cleaned: String = first
        .chars()
        .map(|c| {
            if c == '\t' || (' '..='~').contains(&c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "Error".to_string()
    } else {
        cleaned
    }
}

/// Decodes `%XX` escapes of a URL path segment (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s.as_bytes())).into_owned()
}

/// Decodes `%XX` escapes of raw bytes (invalid escapes are kept as they are).
pub(crate) fn percent_decode_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(percent_decode("UPID%3Apve1%3A"), "UPID:pve1:");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn reason() {
        assert_eq!(reason_phrase("CT 100 not running\n"), "CT 100 not running");
        assert_eq!(reason_phrase("a\u{1}b\nc"), "a?b");
    }
}
