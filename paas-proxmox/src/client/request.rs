//! A request the client can send: method, path and parameters, independent of the transport.
//!
//! Every endpoint builds an [`ApiRequest`] in a plain function, so tests can build each request
//! the client can send and check it against the schema without going through the client.

use std::fmt;

/// HTTP method of an API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Read.
    Get,
    /// Create or act (returns a UPID for asynchronous operations).
    Post,
    /// Update.
    Put,
    /// Delete.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether parameters travel in the body (POST, PUT) rather than the query string.
    pub fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put)
    }
}

/// One API call: method, path segments under `/api2/json`, and parameters.
///
/// ```
/// use paas_proxmox::client::{ApiRequest, Method};
/// let req = ApiRequest::new(Method::Post, ["nodes", "pve1", "lxc", "101", "status", "shutdown"])
///     .param("timeout", 30)
///     .flag("forceStop", true);
/// assert_eq!(req.to_string(), "POST /nodes/pve1/lxc/101/status/shutdown");
/// assert_eq!(req.params(), &[("timeout".to_string(), "30".to_string()), ("forceStop".to_string(), "1".to_string())]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiRequest {
    method: Method,
    segments: Vec<String>,
    params: Vec<(String, String)>,
    /// Parameter names whose values must never be shown (passwords).
    secret_params: Vec<&'static str>,
}

impl ApiRequest {
    /// A request for `method` on the path made of `segments` (each is percent-encoded as one
    /// path segment when sent).
    pub fn new<I, S>(method: Method, segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ApiRequest {
            method,
            segments: segments.into_iter().map(Into::into).collect(),
            params: Vec::new(),
            secret_params: Vec::new(),
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn param(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.params.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds a parameter if `value` is `Some`.
    #[must_use]
    pub fn opt(self, name: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.param(name, v),
            None => self,
        }
    }

    /// Adds a boolean, encoded as PVE wants it: `1` or `0` (`true` is rejected by the server).
    #[must_use]
    pub fn flag(self, name: &str, value: bool) -> Self {
        self.param(name, if value { "1" } else { "0" })
    }

    /// Adds a boolean if `value` is `Some`.
    #[must_use]
    pub fn opt_flag(self, name: &str, value: Option<bool>) -> Self {
        match value {
            Some(v) => self.flag(name, v),
            None => self,
        }
    }

    /// Adds a parameter whose value is secret: it is sent but never shown in Debug output.
    #[must_use]
    pub fn secret(mut self, name: &'static str, value: &str) -> Self {
        self.secret_params.push(name);
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path segments under `/api2/json` (unencoded).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The path as PVE's schema names it, e.g. `/nodes/pve1/lxc/101/config`.
    pub fn path(&self) -> String {
        let mut p = String::new();
        for s in &self.segments {
            p.push('/');
            p.push_str(s);
        }
        p
    }

    /// The parameters, in the order they were added.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

impl fmt::Display for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path())
    }
}

impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_params.contains(&k.as_str()) {
                    "[redacted]"
                } else {
                    v
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path())
            .field("params", &params)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_one_and_zero() {
        let r = ApiRequest::new(Method::Delete, ["x"])
            .flag("purge", true)
            .flag("force", false);
        assert_eq!(r.params()[0].1, "1");
        assert_eq!(r.params()[1].1, "0");
    }

    #[test]
    fn debug_hides_secret_params() {
        let r = ApiRequest::new(Method::Post, ["access", "ticket"])
            .param("username", "root@pam")
            .secret("password", "hunter22");
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter22"));
        assert!(shown.contains("root@pam"));
    }
}
