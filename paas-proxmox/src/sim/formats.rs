//! The named string formats of PVE's schema (`pve-node`, `pve-vmid`, ...), with PVE's texts.
//!
//! Formats the simulator does not know are accepted. A `-list` suffix checks every item of a
//! list split on `,`, `;` or white space.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks `value` against the named format; the error text ends with a newline, like PVE's.
pub(crate) fn check_named(name: &str, value: &str) -> Result<(), String> {
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
        "pve-poolid" => {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
        }
        "dns-name" => is_dns_name(v),
        "pve-tag" => is_tag(v),
        "pve-realm" => is_realm(v),
        "mac-addr" => is_unicast_mac(v),
        "ipv4" => v.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => v.parse::<Ipv6Addr>().is_ok(),
        "pve-ipv4-config" => v == "dhcp" || v == "manual" || is_cidr4(v),
        "pve-ipv6-config" => v == "dhcp" || v == "manual" || v == "auto" || is_cidr6(v),
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
        "pve-poolid" => format!("pool name '{v}' contains illegal characters\n"),
        "dns-name" => "value does not look like a valid DNS name\n".to_string(),
        "pve-tag" => "invalid characters in tag\n".to_string(),
        "pve-realm" => "value does not look like a valid realm\n".to_string(),
        "mac-addr" => "value does not look like a valid unicast MAC address\n".to_string(),
        "ipv4" => "value does not look like a valid IPv4 address\n".to_string(),
        "ipv6" => "value does not look like a valid IPv6 address\n".to_string(),
        "pve-ipv4-config" => {
            "value does not look like a valid IPv4 network configuration\n".to_string()
        }
        "pve-ipv6-config" => {
            "value does not look like a valid IPv6 network configuration\n".to_string()
        }
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

/// `^[a-z][a-z0-9_-]+$`
fn is_configid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
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

fn is_cidr4(v: &str) -> bool {
    v.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
    })
}

fn is_cidr6(v: &str) -> bool {
    v.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv6Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
    })
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
}
