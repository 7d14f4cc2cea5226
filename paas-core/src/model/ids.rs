//! Identifiers: UUID v7 ids for records, and the numeric ids backends use (VMIDs, ports).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID (e.g. one read from a database).
            pub const fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                uuid::Uuid::parse_str(s).map(Self).map_err(|_| {
                    Error::invalid_input(format!(
                        concat!("'{}' is not a valid ", $what, " id: expected a UUID such as 0190c6e4-8b1a-7c3e-9f00-0123456789ab"),
                        s.escape_debug()
                    ))
                })
            }
        }
    };
}

uuid_id!(
    /// An organisation (tenant).
    OrgId, "organisation"
);
uuid_id!(
    /// An application.
    AppId, "app"
);
uuid_id!(
    /// A release of an application.
    ReleaseId, "release"
);
uuid_id!(
    /// A durable operation (one user intent).
    OperationId, "operation"
);
uuid_id!(
    /// A plan (size and price of an app).
    PlanId, "plan"
);

/// A Proxmox VE guest id: 100..=999_999_999.
///
/// ```
/// use paas_core::model::Vmid;
/// let id: Vmid = "101".parse().unwrap();
/// assert_eq!(id.get(), 101);
/// assert!("99".parse::<Vmid>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Vmid(u32);

impl Vmid {
    /// The lowest VMID Proxmox VE accepts.
    pub const MIN: u32 = 100;
    /// The highest VMID Proxmox VE accepts.
    pub const MAX: u32 = 999_999_999;

    /// Checks the range.
    pub fn new(id: u32) -> Result<Self> {
        if (Self::MIN..=Self::MAX).contains(&id) {
            Ok(Self(id))
        } else {
            Err(Error::invalid_input(format!(
                "VMID {id} is out of range: Proxmox VE accepts {}..={}",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Vmid {
    type Error = Error;
    fn try_from(v: u32) -> Result<Self> {
        Self::new(v)
    }
}

impl TryFrom<u64> for Vmid {
    type Error = Error;
    fn try_from(v: u64) -> Result<Self> {
        u32::try_from(v)
            .map_err(|_| Error::invalid_input(format!("VMID {v} is out of range")))
            .and_then(Self::new)
    }
}

impl From<Vmid> for u32 {
    fn from(v: Vmid) -> u32 {
        v.0
    }
}

impl fmt::Display for Vmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Vmid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let n: u32 = s.trim().parse().map_err(|_| {
            Error::invalid_input(format!(
                "'{}' is not a VMID: expected an integer",
                s.escape_debug()
            ))
        })?;
        Self::new(n)
    }
}

/// A TCP/UDP port number, 1..=65535.
///
/// ```
/// use paas_core::model::Port;
/// assert_eq!("8080".parse::<Port>().unwrap().get(), 8080);
/// assert!("0".parse::<Port>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Port(u16);

impl Port {
    /// Rejects port 0.
    pub fn new(port: u16) -> Result<Self> {
        if port == 0 {
            Err(Error::invalid_input(
                "port 0 is not a usable port: expected 1..=65535",
            ))
        } else {
            Ok(Self(port))
        }
    }

    /// The number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Port {
    type Error = Error;
    fn try_from(v: u16) -> Result<Self> {
        Self::new(v)
    }
}

impl TryFrom<u64> for Port {
    type Error = Error;
    fn try_from(v: u64) -> Result<Self> {
        u16::try_from(v)
            .map_err(|_| Error::invalid_input(format!("port {v} is out of range 1..=65535")))
            .and_then(Self::new)
    }
}

impl From<Port> for u16 {
    fn from(p: Port) -> u16 {
        p.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Port {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let n: u16 = s.trim().parse().map_err(|_| {
            Error::invalid_input(format!(
                "'{}' is not a port: expected an integer 1..=65535",
                s.escape_debug()
            ))
        })?;
        Self::new(n)
    }
}
