//! Guest addresses: `GET .../lxc/{vmid}/interfaces` and the QEMU guest agent's
//! `network-get-interfaces`. A DHCP address appears `ip_delay` after the start.

use std::sync::Arc;

use serde_json::{Value, json};

use super::find_guest;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::Guest;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// One network interface of a guest: name, MAC, IPv4 CIDR (if it has one yet).
struct Iface {
    name: String,
    mac: String,
    inet: Option<String>,
}

/// Whether the guest has been up for `ip_delay`.
fn booted(inner: &Inner, g: &Guest) -> bool {
    g.running && g.started.is_some_and(|t| t.elapsed() >= inner.cfg.ip_delay)
}

fn field<'a>(spec: &'a str, key: &str) -> Option<&'a str> {
    spec.split(',')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn ifaces(inner: &Inner, g: &Guest) -> Vec<Iface> {
    let booted = booted(inner, g);
    let mut out = Vec::new();
    for (key, spec) in g.config.iter().filter(|(k, _)| k.starts_with("net")) {
        let idx = &key[3..];
        let (name, mac) = match g.kind {
            GuestKind::Lxc => (
                field(spec, "name").unwrap_or("eth0").to_string(),
                field(spec, "hwaddr").unwrap_or_default().to_string(),
            ),
            GuestKind::Qemu => {
                let mac = spec
                    .split(',')
                    .next()
                    .and_then(|m| m.split_once('='))
                    .map(|(_, m)| m)
                    .unwrap_or_default();
                (format!("eth{idx}"), mac.to_string())
            }
        };
        let ipspec = match g.kind {
            GuestKind::Lxc => field(spec, "ip").map(str::to_string),
            GuestKind::Qemu => g
                .config
                .get(&format!("ipconfig{idx}"))
                .and_then(|c| field(c, "ip"))
                .map(str::to_string),
        };
        let inet = match ipspec.as_deref() {
            Some("dhcp") | None if booted && key == "net0" => Some(g.dhcp_ip.clone()),
            Some("dhcp") | Some("manual") | None => None,
            Some(cidr) if g.kind == GuestKind::Lxc || booted => Some(cidr.to_string()),
            Some(_) => None,
        };
        out.push(Iface {
            name,
            mac: mac.to_ascii_lowercase(),
            inet,
        });
    }
    out
}

/// Link-local IPv6 from a MAC (EUI-64).
fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    if b.len() != 6 {
        return "fe80::1".into();
    }
    let seg = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        seg(b[0] ^ 2, b[1]),
        seg(b[2], 0xff),
        seg(0xfe, b[3]),
        seg(b[4], b[5]),
    )
    .to_string()
}

/// `GET /nodes/{node}/lxc/{vmid}/interfaces`: `null` while stopped.
pub(crate) fn lxc_interfaces(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let g = find_guest(&st, call.node(), GuestKind::Lxc, call.vmid())?;
    if !g.running {
        return Ok(Reply::data(Value::Null));
    }
    // CT LXC.pm:1277-1311 `get_interfaces`: `ip --json a` as `name`, the legacy `inet`/`inet6`
    // and `hwaddr` keys, and `ip-addresses` / `hardware-address` with the family names of
    // iproute2 (`inet`, `inet6`).
    let entry = |name: &str, mac: &str, v4: Option<&str>, v6: &str| {
        let mut addrs = Vec::new();
        let mut v = json!({"name": name, "hwaddr": mac, "hardware-address": mac, "inet6": v6});
        if let Some(cidr) = v4 {
            v["inet"] = json!(cidr);
            if let Some((ip, len)) = cidr.split_once('/') {
                addrs.push(json!({"ip-address-type": "inet", "ip-address": ip, "prefix": len.parse::<u8>().unwrap_or(32)}));
            }
        }
        if let Some((ip, len)) = v6.split_once('/') {
            addrs.push(json!({"ip-address-type": "inet6", "ip-address": ip, "prefix": len.parse::<u8>().unwrap_or(128)}));
        }
        v["ip-addresses"] = Value::Array(addrs);
        v
    };
    let mut list = vec![entry(
        "lo",
        "00:00:00:00:00:00",
        Some("127.0.0.1/8"),
        "::1/128",
    )];
    for i in ifaces(inner, g) {
        let v6 = format!("{}/64", link_local(&i.mac));
        list.push(entry(&i.name, &i.mac, i.inet.as_deref(), &v6));
    }
    Ok(Reply::data(Value::Array(list)))
}

/// `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces`.
pub(crate) fn agent_interfaces(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let g = find_guest(&st, call.node(), GuestKind::Qemu, call.vmid())?;
    let vmid = g.vmid;
    let agent = g
        .config
        .get("agent")
        .is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"));
    if !agent {
        return Err(ApiError::internal("No QEMU guest agent configured"));
    }
    if !g.running {
        return Err(ApiError::internal(format!("VM {vmid} is not running")));
    }
    if !booted(inner, g) {
        return Err(ApiError::internal("QEMU guest agent is not running"));
    }
    let stats = json!({"rx-bytes": 0, "rx-packets": 0, "rx-errs": 0, "rx-dropped": 0, "tx-bytes": 0, "tx-packets": 0, "tx-errs": 0, "tx-dropped": 0});
    let mut list = vec![json!({
        "name": "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [
            {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
            {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
        ],
        "statistics": stats,
    })];
    for i in ifaces(inner, g) {
        let mut addrs = Vec::new();
        if let Some((ip, prefix)) = i.inet.as_deref().and_then(|c| c.split_once('/')) {
            addrs.push(json!({"ip-address": ip, "ip-address-type": "ipv4", "prefix": prefix.parse::<u8>().unwrap_or(24)}));
        }
        addrs.push(
            json!({"ip-address": link_local(&i.mac), "ip-address-type": "ipv6", "prefix": 64}),
        );
        list.push(json!({"name": i.name, "hardware-address": i.mac, "ip-addresses": addrs, "statistics": stats}));
    }
    Ok(Reply::data(json!({"result": list})))
}
