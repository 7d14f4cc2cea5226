//! Serde helpers for numbers and booleans that Proxmox VE sends either as JSON numbers or as
//! strings (`/cluster/nextid` returns `{"data":"100"}`; Perl scalars leak through elsewhere).
//!
//! Use with `#[serde(default, deserialize_with = "num::opt_u64")]` and friends.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A number that may arrive as a JSON number or a string.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

impl Num {
    fn as_u64(self) -> Option<u64> {
        match self {
            Num::U(v) => Some(v),
            Num::I(v) => u64::try_from(v).ok(),
            Num::F(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 => {
                // Exact: checked integral and in range above.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Some(v as u64)
            }
            Num::F(_) => None,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Num::U(v) => v as f64,
            #[allow(clippy::cast_precision_loss)]
            Num::I(v) => v as f64,
            Num::F(v) => v,
        }
    }
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = Option<Num>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, or a string holding a number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Num::U(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Num::I(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Num::F(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Num::U(u64::from(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(None);
        }
        if let Ok(u) = t.parse::<u64>() {
            return Ok(Some(Num::U(u)));
        }
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Some(Num::I(i)));
        }
        t.parse::<f64>()
            .map(|f| Some(Num::F(f)))
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

fn opt_num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Num>, D::Error> {
    d.deserialize_any(NumVisitor)
}

/// An unsigned integer, number or string; absent or `null` is an error.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    opt_u64(d)?.ok_or_else(|| de::Error::custom("expected a non-negative integer, got nothing"))
}

/// An optional unsigned integer, number or string (`null` and `""` are `None`).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match opt_num(d)? {
        None => Ok(None),
        Some(n) => n.as_u64().map(Some).ok_or_else(|| {
            de::Error::custom(format!("expected a non-negative integer, got {n:?}"))
        }),
    }
}

/// An optional float, number or string.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(opt_num(d)?.map(Num::as_f64))
}

/// A Perl boolean: `1`/`0`, `"1"`/`"0"`, `true`/`false`; absent is `false`.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum PerlBool {
        Bool(bool),
        Text(String),
        Number(Option<serde_json::Number>),
    }
    Ok(match Option::<PerlBool>::deserialize(d)? {
        None | Some(PerlBool::Number(None)) => false,
        Some(PerlBool::Bool(b)) => b,
        Some(PerlBool::Text(s)) => matches!(s.trim(), "1" | "true" | "yes" | "on"),
        Some(PerlBool::Number(Some(n))) => n.as_f64().is_some_and(|v| v != 0.0),
    })
}

/// A string that may arrive as a number (`"vmid": 100` where a name is expected).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "super::opt_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "super::bool")]
        b: bool,
        #[serde(default, deserialize_with = "super::opt_string")]
        s: Option<String>,
    }

    fn parse(j: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(j)
    }

    #[test]
    fn numbers_as_numbers_or_strings() {
        assert_eq!(parse(r#"{"n":100}"#).unwrap().n, Some(100));
        assert_eq!(parse(r#"{"n":"100"}"#).unwrap().n, Some(100));
        assert_eq!(parse(r#"{"n":" 7 "}"#).unwrap().n, Some(7));
        assert_eq!(parse(r#"{"n":100.0}"#).unwrap().n, Some(100));
        assert_eq!(parse(r#"{"n":null}"#).unwrap().n, None);
        assert_eq!(parse(r#"{}"#).unwrap().n, None);
        assert!(parse(r#"{"n":-1}"#).is_err());
        assert!(parse(r#"{"n":"abc"}"#).is_err());
        assert!(parse(r#"{"n":1.5}"#).is_err());
        assert_eq!(parse(r#"{"f":"0.25"}"#).unwrap().f, Some(0.25));
        assert_eq!(parse(r#"{"f":3}"#).unwrap().f, Some(3.0));
    }

    #[test]
    fn perl_booleans() {
        assert!(parse(r#"{"b":1}"#).unwrap().b);
        assert!(parse(r#"{"b":"1"}"#).unwrap().b);
        assert!(parse(r#"{"b":true}"#).unwrap().b);
        assert!(!parse(r#"{"b":0}"#).unwrap().b);
        assert!(!parse(r#"{"b":""}"#).unwrap().b);
        assert!(!parse(r#"{}"#).unwrap().b);
    }

    #[test]
    fn strings_from_numbers() {
        assert_eq!(parse(r#"{"s":5}"#).unwrap().s.as_deref(), Some("5"));
        assert_eq!(parse(r#"{"s":"x"}"#).unwrap().s.as_deref(), Some("x"));
    }
}
