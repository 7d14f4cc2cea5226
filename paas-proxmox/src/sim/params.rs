//! Request parameters as pveproxy decodes them, before validation: form bodies and query
//! strings with `decode_urlencoded`, JSON bodies with `decode_json`.
//!
//! pveproxy is laxer than a URL library in some ways and stricter in others, and the simulator
//! copies both so that a client encoding bug shows here as it would on PVE
//! (HS AnyEvent.pm:889-918, pve-http-server 5119ff9bec08):
//! - pairs are separated by `&` **and** `;` (`split(/[\&\;]/, $data)`), so a raw `;` inside a
//!   value cuts it in two;
//! - a pair is split on **every** `=` and only the second field is kept
//!   (`my ($k, $v) = split(/=/, $kv);`), so a raw `=` inside a value cuts it short;
//! - `k=` and a bare `k` give an undefined value (Perl's `split` drops trailing empty fields),
//!   which validation treats as absent;
//! - a repeated key becomes an array (`$v = [$old, $v];`), which fails every scalar type check
//!   with `got ARRAY`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::wire::{ApiError, ErrorBody, percent_decode_bytes};

/// One parameter value as Perl would hold it after decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Raw {
    /// `undef`: `k=` or a bare `k` in a form, `null` in JSON.
    Undef,
    /// A scalar (numbers included, as text).
    Str(String),
    /// A JSON `true`/`false` (a `JSON::PP::Boolean` object in Perl).
    Bool(bool),
    /// A repeated form key or a JSON array (`ARRAY` reference).
    Array,
    /// A JSON object (`HASH` reference).
    Hash,
}

impl Raw {
    /// The value as a defined scalar string, if it is one (JSON booleans as `1`/`0`).
    pub fn scalar(&self) -> Option<String> {
        match self {
            Raw::Str(s) => Some(s.clone()),
            Raw::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            Raw::Undef | Raw::Array | Raw::Hash => None,
        }
    }
}

/// Decoded parameters by name.
pub(crate) type RawParams = BTreeMap<String, Raw>;

/// Perl's `split(/$sep/, $s)` without a limit: trailing empty fields are dropped, leading ones
/// kept.
fn perl_split(s: &[u8], is_sep: impl Fn(u8) -> bool) -> Vec<&[u8]> {
    let mut fields: Vec<&[u8]> = s.split(|b| is_sep(*b)).collect();
    while fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    fields
}

/// `+` to space, then `%XX` escapes.
fn unescape(b: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = b
        .iter()
        .map(|c| if *c == b'+' { b' ' } else { *c })
        .collect();
    percent_decode_bytes(&plus)
}

/// HS AnyEvent.pm `decode_urlencoded`, exactly: see the module docs.
pub(crate) fn decode_urlencoded(data: &[u8]) -> RawParams {
    let mut res = RawParams::new();
    for kv in perl_split(data, |b| b == b'&' || b == b';') {
        let fields = perl_split(kv, |b| b == b'=');
        let key =
            String::from_utf8_lossy(&unescape(fields.first().copied().unwrap_or(b""))).into_owned();
        let value = match fields.get(1) {
            None => Raw::Undef,
            Some(v) => {
                // `Encode::decode('utf8', $v)`: malformed sequences become U+FFFD.
                let v = Raw::Str(String::from_utf8_lossy(&unescape(v)).into_owned());
                match res.get(&key) {
                    Some(Raw::Undef) | None => v,
                    Some(_) => Raw::Array,
                }
            }
        };
        res.insert(key, value);
    }
    res
}

/// `decode_json($r->content)` into parameters. A body that is no JSON object fails as it does
/// in pveproxy: the error escapes `handle_api2_request`'s eval as a plain-text 500
/// (HS AnyEvent.pm:1068-1069 `$self->error($reqstate, HTTP_INTERNAL_SERVER_ERROR, $err);`).
pub(crate) fn decode_json_body(body: &[u8]) -> Result<RawParams, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::internal(format!("malformed JSON string: {e}")).with_body(ErrorBody::Text)
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::internal("Not a HASH reference").with_body(ErrorBody::Text));
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let raw = match v {
                Value::Null => Raw::Undef,
                Value::Bool(b) => Raw::Bool(b),
                Value::Number(n) => Raw::Str(n.to_string()),
                Value::String(s) => Raw::Str(s),
                Value::Array(_) => Raw::Array,
                Value::Object(_) => Raw::Hash,
            };
            (k, raw)
        })
        .collect())
}

/// HS AnyEvent.pm `extract_params`: the body of a PUT/POST (JSON when the content type says
/// so, else form-urlencoded), then the query string on top (`$params->{$k} =
/// $query_params->{$k};`), then `_dc` removed (:978 `delete $params->{_dc} if $params; #
/// remove disable cache parameter`).
pub(crate) fn extract_params(
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
    query: Option<&str>,
) -> Result<RawParams, ApiError> {
    let mut params = RawParams::new();
    if method == "PUT" || method == "POST" {
        let is_json = content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
        params = if is_json {
            decode_json_body(body)?
        } else {
            decode_urlencoded(body)
        };
    }
    for (k, v) in decode_urlencoded(query.unwrap_or_default().as_bytes()) {
        params.insert(k, v);
    }
    params.remove("_dc");
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Raw {
        Raw::Str(v.to_string())
    }

    #[test]
    fn form_decoding_is_pveproxys() {
        let p = decode_urlencoded(b"vmid=100&net0=name%3Deth0");
        assert_eq!(p["net0"], s("name=eth0"));
        // A raw `;` separates pairs; a raw `=` cuts the value short.
        let p = decode_urlencoded(b"tags=a;b&net0=name=eth0,bridge=vmbr0");
        assert_eq!(p["tags"], s("a"));
        assert_eq!(p["b"], Raw::Undef);
        assert_eq!(p["net0"], s("name"));
        // `k=` and `k` are undefined; `k==v` is the empty string.
        let p = decode_urlencoded(b"a=&b&c==v&d=x+y%20z");
        assert_eq!(
            (&p["a"], &p["b"], &p["c"]),
            (&Raw::Undef, &Raw::Undef, &s(""))
        );
        assert_eq!(p["d"], s("x y z"));
        // Repeated keys become an array, unless the later one is undefined.
        let p = decode_urlencoded(b"x=1&x=2&y=1&y&z&z=3");
        assert_eq!(
            (&p["x"], &p["y"], &p["z"]),
            (&Raw::Array, &Raw::Undef, &s("3"))
        );
        // A leading empty pair is the key "" (trailing ones are dropped).
        let p = decode_urlencoded(b"&a=1&&");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[""], Raw::Undef);
        // Bad escapes stay, bad UTF-8 is replaced.
        let p = decode_urlencoded(b"a=%zz%4&b=%ff");
        assert_eq!(p["a"], s("%zz%4"));
        assert_eq!(p["b"], s("\u{fffd}"));
    }

    #[test]
    fn json_bodies_keep_their_types() {
        let p = decode_json_body(br#"{"a":true,"b":5,"c":"x","d":[1],"e":{},"f":null}"#).unwrap();
        assert_eq!(p["a"], Raw::Bool(true));
        assert_eq!(p["b"], s("5"));
        assert_eq!(
            (&p["d"], &p["e"], &p["f"]),
            (&Raw::Array, &Raw::Hash, &Raw::Undef)
        );
        let e = decode_json_body(b"{oops").unwrap_err();
        assert_eq!((e.status, e.body), (500, ErrorBody::Text));
        assert_eq!(decode_json_body(b"[1]").unwrap_err().status, 500);
    }

    #[test]
    fn query_wins_and_dc_is_dropped() {
        let p = extract_params(
            "POST",
            Some("application/x-www-form-urlencoded"),
            b"hostname=body&_dc=1",
            Some("hostname=query&_dc=2"),
        )
        .unwrap();
        assert_eq!(p["hostname"], s("query"));
        assert!(!p.contains_key("_dc"));
        // GET bodies are never read.
        let p = extract_params("GET", None, b"a=1", None).unwrap();
        assert!(p.is_empty());
    }
}
