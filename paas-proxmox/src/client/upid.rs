//! UPIDs: the ids of Proxmox VE's asynchronous tasks.
//!
//! Format (from pve-common's `PVE::Tools::upid_decode`):
//! `UPID:<node>:<pid 8 hex>:<pstart 8-9 hex>:<starttime 8 hex>:<type>:<id>:<user>:`, with a
//! trailing colon; `id` may be empty and `user` may be a token (`root@pam!ci`).

use paas_core::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A parsed task id.
///
/// ```
/// use paas_proxmox::client::Upid;
/// let upid: Upid = "UPID:pve1:0000A1B2:00C0FFEE:6553F00D:vzcreate:101:root@pam!ci:".parse().unwrap();
/// assert_eq!(upid.node(), "pve1");
/// assert_eq!(upid.task_type(), "vzcreate");
/// assert_eq!(upid.id(), "101");
/// assert_eq!(upid.user(), "root@pam!ci");
/// assert_eq!(upid.to_string(), "UPID:pve1:0000A1B2:00C0FFEE:6553F00D:vzcreate:101:root@pam!ci:");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Upid {
    node: String,
    pid: u32,
    pstart: u64,
    starttime: u32,
    task_type: String,
    id: String,
    user: String,
}

/// The largest `pstart` the format can hold (9 hex digits).
const PSTART_MAX: u64 = 0xF_FFFF_FFFF;

impl Upid {
    /// Builds a UPID from its parts, checking each against the format.
    pub fn new(
        node: &str,
        pid: u32,
        pstart: u64,
        starttime: u32,
        task_type: &str,
        id: &str,
        user: &str,
    ) -> Result<Self> {
        let bad = |what: &str| {
            Error::invalid_input(format!("cannot build a UPID: {what}"))
                .with_backend(super::BACKEND)
        };
        if !is_node(node) {
            return Err(bad("the node must be a DNS label"));
        }
        if pstart > PSTART_MAX {
            return Err(bad("pstart must fit in 9 hex digits"));
        }
        if task_type.is_empty() || !is_field(task_type) {
            return Err(bad(
                "the task type must be non-empty, without ':' or whitespace",
            ));
        }
        if !is_field(id) {
            return Err(bad("the id must not contain ':' or whitespace"));
        }
        if user.is_empty() || !is_field(user) {
            return Err(bad("the user must be non-empty, without ':' or whitespace"));
        }
        Ok(Upid {
            node: node.to_owned(),
            pid,
            pstart,
            starttime,
            task_type: task_type.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        })
    }

    /// The node the task runs on.
    pub fn node(&self) -> &str {
        &self.node
    }
    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// The worker's process start time (clock ticks since boot).
    pub fn pstart(&self) -> u64 {
        self.pstart
    }
    /// When the task started, seconds since the Unix epoch.
    pub fn starttime(&self) -> u32 {
        self.starttime
    }
    /// Task type (`vzcreate`, `qmclone`, ...).
    pub fn task_type(&self) -> &str {
        &self.task_type
    }
    /// The object the task works on (usually a VMID), possibly empty.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Who started it.
    pub fn user(&self) -> &str {
        &self.user
    }
}

fn is_node(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

fn is_field(s: &str) -> bool {
    !s.chars().any(|c| c == ':' || c.is_whitespace())
}

fn hex_field(s: &str, min: usize, max: usize) -> Option<u64> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

impl FromStr for Upid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            let shown: String = s.chars().take(120).collect();
            Error::invalid_input(format!(
                "'{}' is not a UPID: expected UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:",
                shown.escape_debug()
            ))
            .with_backend(super::BACKEND)
        };
        let rest = s.strip_prefix("UPID:").ok_or_else(bad)?;
        let rest = rest.strip_suffix(':').ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [node, pid, pstart, starttime, task_type, id, user] = parts.as_slice() else {
            return Err(bad());
        };
        let pid = hex_field(pid, 8, 8)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(bad)?;
        let pstart = hex_field(pstart, 8, 9).ok_or_else(bad)?;
        let starttime = hex_field(starttime, 8, 8)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(bad)?;
        Upid::new(node, pid, pstart, starttime, task_type, id, user).map_err(|_| bad())
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.task_type, self.id, self.user
        )
    }
}

impl Serialize for Upid {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Upid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: Error| serde::de::Error::custom(e.message().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_real_upids() {
        let u: Upid = "UPID:pve:000C1F1B:0A4C3D4E:65A1B2C3:qmclone:9000:root@pam:"
            .parse()
            .unwrap();
        assert_eq!(
            (u.pid(), u.pstart(), u.starttime()),
            (0x000C1F1B, 0x0A4C3D4E, 0x65A1B2C3)
        );
        let u: Upid = "UPID:pve:00001234:123456789:65A1B2C3:vzdump::root@pam:"
            .parse()
            .unwrap();
        assert_eq!(u.id(), "");
        assert_eq!(u.pstart(), 0x1_2345_6789);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "UPID:",
            "UPID:pve:0000123:12345678:65A1B2C3:vzcreate:100:root@pam:",
            "UPID:pve:00001234:12345678:65A1B2C3:vzcreate:100:root@pam",
            "UPID:pve:00001234:12345678:65A1B2C3::100:root@pam:",
            "UPID:pve:00001234:12345678:65A1B2C3:vzcreate:100::",
            "UPID:-pve:00001234:12345678:65A1B2C3:vzcreate:100:root@pam:",
            "UPID:pve:0000123G:12345678:65A1B2C3:vzcreate:100:root@pam:",
            "UPID:pve:00001234:12345678:65A1B2C3:vzcreate:100:root@pam:extra:",
        ] {
            assert!(s.parse::<Upid>().is_err(), "{s}");
        }
    }

    fn arb_upid() -> impl Strategy<Value = Upid> {
        (
            "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
            any::<u32>(),
            0..=PSTART_MAX,
            any::<u32>(),
            "[a-z]{1,10}",
            "[0-9a-z@!._-]{0,12}",
            "[a-z]{1,8}@[a-z]{2,5}(![a-z0-9]{1,6})?",
        )
            .prop_map(|(n, p, ps, st, t, i, u)| Upid::new(&n, p, ps, st, &t, &i, &u).unwrap())
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(u in arb_upid()) {
            let shown = u.to_string();
            let back: Upid = shown.parse().unwrap();
            prop_assert_eq!(&back, &u);
            prop_assert_eq!(back.to_string(), shown);
        }

        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = s.parse::<Upid>();
        }

        #[test]
        fn never_panics_on_upid_like(s in "UPID(:[0-9A-Za-z@!:-]{0,12}){0,10}:?") {
            if let Ok(u) = s.parse::<Upid>() {
                prop_assert_eq!(u.to_string().parse::<Upid>().unwrap(), u);
            }
        }
    }
}
