//! The named string formats of PVE's schema (`pve-node`, `pve-vmid`, ...), with PVE's texts.
//!
//! Formats the simulator does not know are accepted. A `-list` suffix checks every item of a
//! list split on `,`, `;` or white space.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks `value` against the named format; the error text ends with a newline, like PVE's.
/// PC JSONSchema.pm:959 `$format =~ m/^(.*?)(?:-(list|opt))?$/`: `-list` checks each item,
/// `-opt` accepts an empty value (:974 `$parsed = $registered->($value) if $value;`).
pub(crate) fn check_named(name: &str, value: &str) -> Result<(), String> {
    if let Some(base) = name.strip_suffix("-opt") {
        if value.is_empty() || value == "0" {
            return Ok(());
        }
        return check_one(base, value);
    }
    if let Some(base) = name.strip_suffix("-list") {
        for item in value
            .split([',', ';', ' ', '\t', '\n', '\0'])
            .filter(|s| !s.is_empty())
        {
            check_one(base, item)?;
        }
        return Ok(());
    }
    check_one(name, value)
}

fn check_one(name: &str, v: &str) -> Result<(), String> {
    // Formats whose checker has its own texts.
    match name {
        "pve-poolid" => return super::access::verify_poolname(v),
        "prune-backups" => return super::backups::parse_prune(v).map(|_| ()),
        _ => {}
    }
    let ok = match name {
        "pve-node" => is_node_name(v),
        "pve-vmid" => is_vmid(v),
        "pve-configid" => is_configid(v),
        "pve-storage-id" => is_storage_id(v),
        "pve-poolid" => return check_poolid(v),
        "disk-size" => parse_disk_size(v).is_some(),
        "dns-name" => is_dns_name(v),
        "pve-tag" => is_tag(v),
        "pve-realm" => is_realm(v),
        "mac-addr" => is_unicast_mac(v),
        "ipv4" => v.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => v.parse::<Ipv6Addr>().is_ok(),
        "pve-ipv4-config" => v == "dhcp" || v == "manual" || is_cidr4(v),
        "pve-ipv6-config" => v == "dhcp" || v == "manual" || v == "auto" || is_cidr6(v),
        "CIDRv4" => is_cidr4(v),
        "CIDRv6" => is_cidr6(v),
        "CIDR" => is_cidr4(v) || is_cidr6(v),
        "ip" => v.parse::<Ipv4Addr>().is_ok() || v.parse::<Ipv6Addr>().is_ok(),
        "pve-volume-id" => v
            .split_once(':')
            .is_some_and(|(s, rest)| is_storage_id(s) && !rest.is_empty()),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match name {
        "pve-node" => "value does not look like a valid node name\n".to_string(),
        "pve-vmid" => "value does not look like a valid VM ID\n".to_string(),
        "pve-configid" => format!("invalid configuration ID '{v}'\n"),
        "pve-storage-id" => format!("storage ID '{v}' contains illegal characters\n"),
        "disk-size" => format!("value does not look like a valid disk size: {v}\n"),
        "dns-name" => "value does not look like a valid DNS name\n".to_string(),
        "pve-tag" => "invalid characters in tag\n".to_string(),
        "pve-realm" => "value does not look like a valid realm\n".to_string(),
        "mac-addr" => "value does not look like a valid unicast MAC address\n".to_string(),
        "ipv4" => "value does not look like a valid IPv4 address\n".to_string(),
        "ipv6" => "value does not look like a valid IPv6 address\n".to_string(),
        // PC JSONSchema.pm:598 / :610 (lower case "ipv4"/"ipv6").
        "pve-ipv4-config" => {
            "value does not look like a valid ipv4 network configuration\n".to_string()
        }
        "pve-ipv6-config" => {
            "value does not look like a valid ipv6 network configuration\n".to_string()
        }
        "CIDRv4" => "value does not look like a valid IPv4 CIDR network\n".to_string(),
        "CIDRv6" => "value does not look like a valid IPv6 CIDR network\n".to_string(),
        "CIDR" => "value does not look like a valid CIDR network\n".to_string(),
        "ip" => "value does not look like a valid IP address\n".to_string(),
        "pve-volume-id" => format!("unable to parse volume ID '{v}'\n"),
        _ => "invalid format\n".to_string(),
    })
}

/// `^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`
pub(crate) fn is_node_name(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `^[1-9][0-9]{2,8}$`
fn is_vmid(v: &str) -> bool {
    let b = v.as_bytes();
    (3..=9).contains(&b.len()) && b[0] != b'0' && b.iter().all(u8::is_ascii_digit)
}

/// PC JSONSchema.pm:27 `our $CONFIGID_RE = qr/[a-z][a-z0-9_-]+/i;` (case-insensitive).
fn is_configid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// AC AccessControl.pm:1340-1355 `verify_poolname`: up to three `/`-separated levels of
/// `[A-Za-z0-9\.\-_]+`.
fn check_poolid(v: &str) -> Result<(), String> {
    if v.split('/').count() > 3 {
        return Err(format!(
            "pool name '{v}' nested too deeply (max levels = 3)\n"
        ));
    }
    let ok = v.split('/').all(|level| {
        !level.is_empty()
            && level
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!("pool name '{v}' contains invalid characters\n"))
    }
}

/// PC JSONSchema.pm:990-1007 `parse_size`: `^(\d+(\.\d+)?)([KMGT](?:iB)?)?$`, in bytes.
pub(crate) fn parse_disk_size(v: &str) -> Option<u64> {
    let digits_end = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(digits_end);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || (num.contains('.') && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let mult: u64 = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as u64)
}

/// `^[a-z][a-z0-9\-_.]*[a-z0-9]$` (case-insensitive)
fn is_storage_id(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

fn is_dns_name(v: &str) -> bool {
    !v.is_empty() && v.split('.').all(is_node_name)
}

/// `^[a-z0-9_][a-z0-9_\-+.]*$` (case-insensitive)
fn is_tag(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c))
}

/// `^[A-Za-z][A-Za-z0-9\.\-_]+$`
fn is_realm(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(c))
}

fn is_unicast_mac(v: &str) -> bool {
    let parts: Vec<&str> = v.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0)
}

/// PC JSONSchema.pm:568 `... && ($1 > 7) && ($1 <= 32)`.
fn is_cidr4(v: &str) -> bool {
    v.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv4Addr>().is_ok() && prefix(len).is_some_and(|l| (8..=32).contains(&l))
    })
}

/// PC JSONSchema.pm:555 `... && ($1 > 7) && ($1 <= 128)`.
fn is_cidr6(v: &str) -> bool {
    v.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv6Addr>().is_ok() && prefix(len).is_some_and(|l| (8..=128).contains(&l))
    })
}

/// `(\d+)`: digits only (no sign).
fn prefix(len: &str) -> Option<u32> {
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    len.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(check_named("pve-node", "pve1").is_ok());
        assert!(check_named("pve-node", "-bad").is_err());
        assert!(check_named("pve-configid-list", "tags,cores").is_ok());
        assert_eq!(
            check_named("pve-configid-list", "tags,X").unwrap_err(),
            "invalid configuration ID 'X'\n"
        );
        assert!(check_named("pve-tag-list", "paas;app-1").is_ok());
        assert!(check_named("dns-name", "web.example.com").is_ok());
        assert!(check_named("dns-name", "web..x").is_err());
        assert!(check_named("mac-addr", "BC:24:11:00:00:01").is_ok());
        assert!(check_named("pve-ipv4-config", "10.0.0.5/24").is_ok());
    }

    #[test]
    fn fidelity_defect_10_texts_and_rules() {
        // PC JSONSchema.pm:568/:598: prefix 8..32, lower-case "ipv4".
        assert_eq!(
            check_named("pve-ipv4-config", "10.0.0.5/7").unwrap_err(),
            "value does not look like a valid ipv4 network configuration\n"
        );
        assert!(check_named("pve-ipv4-config", "10.0.0.5/8").is_ok());
        assert!(check_named("pve-ipv4-config", "10.0.0.5/+8").is_err());
        assert_eq!(
            check_named("pve-ipv6-config", "fd00::1/4").unwrap_err(),
            "value does not look like a valid ipv6 network configuration\n"
        );
        assert!(check_named("pve-ipv6-config", "auto").is_ok());
        // PC JSONSchema.pm:740.
        assert_eq!(
            check_named("disk-size", "abc").unwrap_err(),
            "value does not look like a valid disk size: abc\n"
        );
        for ok in ["8", "8G", "1.5T", "512MiB", "4096K"] {
            assert!(check_named("disk-size", ok).is_ok(), "{ok}");
        }
        for bad in ["8g", "-1", "1.", ".5", "8 G", "8GB", ""] {
            assert!(check_named("disk-size", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_disk_size("1.5K"), Some(1536));
        // PC JSONSchema.pm:27: case-insensitive.
        assert!(check_named("pve-configid", "Tags").is_ok());
        assert!(check_named("pve-configid", "9x").is_err());
        // AC AccessControl.pm:1346-1352.
        assert!(check_named("pve-poolid", "a/b/c").is_ok());
        assert_eq!(
            check_named("pve-poolid", "a/b/c/d").unwrap_err(),
            "pool name 'a/b/c/d' nested too deeply (max levels = 3)\n"
        );
        assert_eq!(
            check_named("pve-poolid", "a b").unwrap_err(),
            "pool name 'a b' contains invalid characters\n"
        );
        assert!(check_named("pve-poolid", "a//b").is_err());
        // `-opt`: empty is fine.
        assert!(check_named("pve-vmid-opt", "").is_ok());
    }
}
