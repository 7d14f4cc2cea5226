//! Validated names: node names, slugs, hostnames, domain names and environment keys.
//!
//! Each type is parsed once at the edge (`"x".parse::<Slug>()`, or serde) and is valid from then
//! on, so nothing downstream validates twice.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

fn bad(what: &str, input: &str, rule: &str) -> Error {
    let shown: String = input.chars().take(80).collect();
    Error::invalid_input(format!(
        "'{}' is not a valid {what}: {rule}",
        shown.escape_debug()
    ))
}

/// A DNS label: 1-63 of `[a-z0-9-]`, not starting or ending with `-`. `lower` forbids uppercase.
fn check_label(s: &str, lower: bool) -> std::result::Result<(), &'static str> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters long");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not start or end with '-'");
    }
    let ok = s.bytes().all(|b| {
        b.is_ascii_digit()
            || b == b'-'
            || b.is_ascii_lowercase()
            || (!lower && b.is_ascii_uppercase())
    });
    if !ok {
        return Err(if lower {
            "may contain only lowercase letters a-z, digits 0-9 and '-'"
        } else {
            "may contain only letters, digits and '-'"
        });
    }
    Ok(())
}

/// Hostname rules (RFC 1123): dot-separated labels, at most 253 characters.
fn check_hostname(s: &str) -> std::result::Result<(), &'static str> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters long");
    }
    for label in s.split('.') {
        check_label(label, false)?;
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, |$s:ident| $check:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(input: &str) -> Result<Self> {
                let $s = input;
                let checked: std::result::Result<String, &'static str> = $check;
                checked.map(Self).map_err(|why| bad($what, input, &format!("{why} ({})", $rule)))
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                s.parse()
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    };
}

string_newtype!(
    /// A cluster node's name (a Proxmox VE node such as `pve1`, or a Swarm node's hostname).
    ///
    /// ```
    /// use paas_core::model::NodeName;
    /// assert!("pve1".parse::<NodeName>().is_ok());
    /// assert!("bad name".parse::<NodeName>().is_err());
    /// ```
    NodeName, "node name",
    |s| check_label(s, false).map(|_| s.to_owned()),
    "a DNS label such as 'pve1'"
);

string_newtype!(
    /// A DNS label, 1-63 lowercase characters: the platform-wide unique handle of an app or an
    /// organisation, used in service names and hostnames.
    ///
    /// ```
    /// use paas_core::model::Slug;
    /// assert_eq!("shop-api".parse::<Slug>().unwrap().as_str(), "shop-api");
    /// assert!("Shop".parse::<Slug>().is_err());
    /// assert!("-shop".parse::<Slug>().is_err());
    /// ```
    Slug, "slug",
    |s| check_label(s, true).map(|_| s.to_owned()),
    "a lowercase DNS label such as 'shop-api'"
);

string_newtype!(
    /// A host name (RFC 1123): dot-separated labels of letters, digits and '-'.
    ///
    /// ```
    /// use paas_core::model::Hostname;
    /// assert!("web-1.internal".parse::<Hostname>().is_ok());
    /// assert!("web_1".parse::<Hostname>().is_err());
    /// ```
    Hostname, "hostname",
    |s| check_hostname(s).map(|_| s.to_owned()),
    "RFC 1123, e.g. 'web-1.internal'"
);

string_newtype!(
    /// A fully qualified domain name a user routes to an app, stored lowercase without a
    /// trailing dot. It needs at least two labels and a top-level label that is not all digits.
    ///
    /// ```
    /// use paas_core::model::DomainName;
    /// let d: DomainName = "Shop.Example.COM.".parse().unwrap();
    /// assert_eq!(d.as_str(), "shop.example.com");
    /// assert!("localhost".parse::<DomainName>().is_err());
    /// ```
    DomainName, "domain name",
    |s| {
        let lowered = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        check_hostname(&lowered).and_then(|_| {
            let labels: Vec<&str> = lowered.split('.').collect();
            if labels.len() < 2 {
                Err("needs at least two labels")
            } else if labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
                Err("the top-level label must not be all digits")
            } else {
                Ok(lowered.clone())
            }
        })
    },
    "e.g. 'shop.example.com'"
);

string_newtype!(
    /// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 255 characters.
    ///
    /// ```
    /// use paas_core::model::EnvKey;
    /// assert!("DATABASE_URL".parse::<EnvKey>().is_ok());
    /// assert!("1ST".parse::<EnvKey>().is_err());
    /// ```
    EnvKey, "environment variable name",
    |s| {
        let mut bytes = s.bytes();
        match bytes.next() {
            None => Err("must not be empty"),
            Some(_) if s.len() > 255 => Err("must be at most 255 characters long"),
            Some(first) if !(first.is_ascii_alphabetic() || first == b'_') => {
                Err("must start with a letter or '_'")
            }
            Some(_) if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                Err("may contain only letters, digits and '_'")
            }
            Some(_) => Ok(s.to_owned()),
        }
    },
    "[A-Za-z_][A-Za-z0-9_]*"
);

string_newtype!(
    /// Where a data volume is mounted inside a guest: an absolute path of segments of
    /// `[A-Za-z0-9._-]`, at most 255 characters, neither `/` itself nor with `.` or `..`
    /// segments. The characters are limited because the path travels inside Proxmox property
    /// strings (`mp0: local-lvm:8,mp=/data`), where `,`, `=` and `;` have a meaning.
    ///
    /// ```
    /// use paas_core::model::MountPath;
    /// assert_eq!("/var/lib/data".parse::<MountPath>().unwrap().as_str(), "/var/lib/data");
    /// assert!("data".parse::<MountPath>().is_err());
    /// assert!("/".parse::<MountPath>().is_err());
    /// assert!("/a/../etc".parse::<MountPath>().is_err());
    /// assert!("/a,b".parse::<MountPath>().is_err());
    /// ```
    MountPath, "mount path",
    |s| {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        if !s.starts_with('/') {
            Err("must be absolute (start with '/')")
        } else if s.len() > 255 {
            Err("must be at most 255 characters long")
        } else if trimmed.is_empty() {
            Err("must not be the root directory")
        } else if trimmed[1..].split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            Err("must not contain empty, '.' or '..' segments")
        } else if !trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
        {
            Err("may contain only letters, digits, '/', '.', '_' and '-'")
        } else {
            Ok(trimmed.to_owned())
        }
    },
    "an absolute path such as '/data'"
);

impl Slug {
    /// A slug derived from free text: lowercased, runs of other characters turned into one
    /// `-`, trimmed to 63 characters. `None` when nothing usable is left.
    ///
    /// ```
    /// use paas_core::model::Slug;
    /// assert_eq!(Slug::from_name("My Shop!").unwrap().as_str(), "my-shop");
    /// assert!(Slug::from_name("!!!").is_none());
    /// ```
    pub fn from_name(name: &str) -> Option<Slug> {
        let mut out = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        out.truncate(63);
        let trimmed = out.trim_end_matches('-');
        trimmed.parse().ok()
    }
}
