//! The PVE wire format: the `{"data": ...}` envelope, errors with their reason phrase, and
//! request parameters (form or JSON body, query string).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use super::validate::ParamErrors;

/// A failed API call: status, message (its first line is the reason phrase) and, for
/// parameter errors, the per-parameter texts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    pub errors: Option<ParamErrors>,
}

impl ApiError {
    /// Any status and message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: None,
        }
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
            let mut message = err.message.clone();
            if !message.ends_with('\n') {
                message.push('\n');
            }
            let mut body = json!({ "data": null, "message": message });
            if let Some(errors) = &err.errors {
                body["errors"] = json!(errors);
            }
            let status =
                StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, &body, Some(reason_phrase(&err.message)))
        }
    }
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
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a request body: JSON when the content type says so, otherwise form-urlencoded.
pub(crate) fn body_params(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    let is_json =
        content_type.is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    if is_json {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::new(400, format!("malformed JSON in request body: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ApiError::new(
                400,
                "malformed JSON in request body: not an object",
            ));
        };
        for (k, v) in map {
            let text = match v {
                Value::Null => continue,
                Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(k, text);
        }
        return Ok(out);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::new(400, format!("unable to parse request body: {e}")))?;
    out.extend(pairs);
    Ok(out)
}

/// Parses a query string.
pub(crate) fn query_params(query: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(q) = query else {
        return Ok(BTreeMap::new());
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
        .map_err(|e| ApiError::new(400, format!("unable to parse query string: {e}")))?;
    Ok(pairs.into_iter().collect())
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

    #[test]
    fn bodies() {
        let p = body_params(Some("application/json"), br#"{"a":true,"b":5,"c":"x"}"#).unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "5");
        let p = body_params(None, b"vmid=100&net0=name%3Deth0").unwrap();
        assert_eq!(p["net0"], "name=eth0");
    }
}
