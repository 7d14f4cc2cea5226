//! One attachable overlay network per app, each with its own subnet.
//!
//! Subnets come from a configurable pool. An overlay created with a subnet that overlaps
//! another is accepted by the engine but never allocated (its tasks then stay pending), so the
//! subnet is chosen against every network the engine reports, starting from a slot derived
//! from the app's name (two SDK processes creating different apps at once start apart), and the
//! allocation is checked after the create; an unallocated network is removed and the next
//! free subnet tried.

use crate::error::{BACKEND, map_docker_error};
use crate::labels;
use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest, NetworkInspect};
use paas_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// An IPv4 network in CIDR notation, e.g. `10.128.0.0/9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    base: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network with `prefix` leading bits of `addr` (host bits cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self> {
        if prefix > 32 {
            return Err(Error::invalid_input(format!(
                "/{prefix} is not an IPv4 prefix length: expected 0..=32"
            )));
        }
        Ok(Ipv4Cidr {
            base: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// The first address.
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    fn last(self) -> u32 {
        self.base | !mask(self.prefix)
    }

    /// True when the two networks share an address.
    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// How many subnets of length `prefix` this network holds (0 if `prefix` is shorter).
    fn subnet_count(self, prefix: u8) -> u64 {
        if prefix < self.prefix || prefix > 32 {
            0
        } else {
            1u64 << (prefix - self.prefix)
        }
    }

    /// The `index`-th subnet of length `prefix`.
    fn subnet(self, prefix: u8, index: u64) -> Option<Ipv4Cidr> {
        if index >= self.subnet_count(prefix) {
            return None;
        }
        let offset = u32::try_from(index.checked_shl(u32::from(32 - prefix))?).ok()?;
        Some(Ipv4Cidr {
            base: self.base.checked_add(offset)?,
            prefix,
        })
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_input(format!(
                "'{}' is not an IPv4 network: expected CIDR notation such as 10.128.0.0/9",
                s.escape_debug()
            ))
        };
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Ipv4Cidr::new(addr, prefix).map_err(|_| bad())
    }
}

/// The first subnet of length `prefix` in `pool` that overlaps nothing in `used`, probing from
/// a slot derived from `name`; `None` when the pool is full.
pub fn pick_subnet(pool: Ipv4Cidr, prefix: u8, used: &[Ipv4Cidr], name: &str) -> Option<Ipv4Cidr> {
    let count = pool.subnet_count(prefix);
    if count == 0 {
        return None;
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    let start = u64::from_be_bytes(seed) % count;
    (0..count)
        .map(|i| (start + i) % count)
        .filter_map(|index| pool.subnet(prefix, index))
        .find(|candidate| !used.iter().any(|u| u.overlaps(*candidate)))
}

/// The name of the app network of service `service`.
pub fn network_name(service: &str) -> String {
    format!("paas-{service}")
}

/// Every IPv4 subnet the engine's networks hold.
fn used_subnets(networks: &[Network]) -> Vec<Ipv4Cidr> {
    networks
        .iter()
        .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
        .flatten()
        .filter_map(|c| c.subnet.as_deref()?.parse().ok())
        .collect()
}

fn allocated_subnet(network: &NetworkInspect) -> Option<String> {
    network
        .ipam
        .as_ref()?
        .config
        .as_ref()?
        .iter()
        .find_map(|c| c.subnet.clone())
}

/// Makes sure the app network of `service` exists and is allocated; returns its name.
pub(crate) async fn ensure_network(
    docker: &Docker,
    service: &str,
    labels: HashMap<String, String>,
    pool: Ipv4Cidr,
    prefix: u8,
) -> Result<String> {
    let name = network_name(service);
    let mut rejected: Vec<Ipv4Cidr> = Vec::new();
    for _attempt in 0..8 {
        if let Some(existing) = inspect(docker, &name).await? {
            if allocated_subnet(&existing).is_some() {
                return Ok(name);
            }
            // Left unallocated by an overlap (ours, from a crash, or a racing process): free the
            // name and allocate again.
            remove(docker, &name).await?;
        }
        let networks = docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| map_docker_error(e, "listing networks to choose a subnet"))?;
        let mut used = used_subnets(&networks);
        used.extend(rejected.iter().copied());
        let subnet = pick_subnet(pool, prefix, &used, &name).ok_or_else(|| {
            Error::unavailable(format!(
                "creating network '{name}': no free /{prefix} subnet is left in the pool {pool}; \
                 remove unused apps or configure a larger network_pool"
            ))
            .retryable(false)
            .with_backend(BACKEND)
        })?;
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".to_owned()),
            attachable: Some(true),
            ipam: Some(Ipam {
                driver: Some("default".to_owned()),
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                options: None,
            }),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => {}
            // Someone else created it meanwhile: check it on the next round.
            Err(e) if is_status_409(&e) => continue,
            Err(e) => {
                return Err(map_docker_error(
                    e,
                    format!("creating network '{name}' with subnet {subnet}"),
                ));
            }
        }
        if wait_allocated(docker, &name).await? {
            tracing::debug!(network = %name, %subnet, "app network created");
            return Ok(name);
        }
        tracing::debug!(network = %name, %subnet, "subnet not allocated (overlap); trying another");
        rejected.push(subnet);
        remove(docker, &name).await?;
    }
    Err(Error::unavailable(format!(
        "creating network '{name}': the engine allocated none of the subnets tried ({}); \
         retry, or check the engine's networks for overlaps with the pool {pool}",
        rejected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .with_backend(BACKEND))
}

fn is_status_409(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

async fn wait_allocated(docker: &Docker, name: &str) -> Result<bool> {
    for _ in 0..10 {
        match inspect(docker, name).await? {
            Some(n) if allocated_subnet(&n).is_some() => return Ok(true),
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            None => return Ok(false),
        }
    }
    Ok(false)
}

/// The network named `name`, or `None`.
pub(crate) async fn inspect(docker: &Docker, name: &str) -> Result<Option<NetworkInspect>> {
    match docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(n) if n.name.as_deref() == Some(name) => Ok(Some(n)),
        Ok(_) => Ok(None),
        Err(e) => {
            let err = map_docker_error(e, format!("inspecting network '{name}'"));
            if err.is_not_found() {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Removes the network `name`; absent is `Ok`.
pub(crate) async fn remove(docker: &Docker, name: &str) -> Result<()> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let err = map_docker_error(e, format!("removing network '{name}'"));
            if err.is_not_found() { Ok(()) } else { Err(err) }
        }
    }
}

/// Labels of an app network.
pub(crate) fn network_labels(spec: &paas_core::ports::ServiceSpec) -> HashMap<String, String> {
    let mut l = HashMap::new();
    l.insert(labels::MANAGED.to_owned(), "true".to_owned());
    l.insert(labels::SERVICE.to_owned(), spec.name.clone());
    l.insert(labels::ORG.to_owned(), spec.org.to_string());
    l.insert(labels::APP.to_owned(), spec.app.to_string());
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(cidr("10.128.7.9/9").to_string(), "10.128.0.0/9");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlap() {
        assert!(cidr("10.0.0.0/8").overlaps(cidr("10.200.1.0/24")));
        assert!(cidr("10.200.1.0/24").overlaps(cidr("10.0.0.0/8")));
        assert!(!cidr("10.200.1.0/24").overlaps(cidr("10.200.2.0/24")));
        assert!(cidr("10.200.1.0/24").overlaps(cidr("10.200.1.128/25")));
    }

    #[test]
    fn picks_free_subnets_and_reports_a_full_pool() {
        let pool = cidr("10.9.0.0/22"); // four /24s
        let mut used = vec![cidr("10.0.0.0/24")];
        let mut got = Vec::new();
        for i in 0..4 {
            let s = pick_subnet(pool, 24, &used, &format!("app{i}")).unwrap();
            assert!(pool.overlaps(s) && s.prefix() == 24);
            used.push(s);
            got.push(s);
        }
        got.sort_by_key(|s| s.base);
        got.dedup();
        assert_eq!(got.len(), 4);
        assert_eq!(pick_subnet(pool, 24, &used, "app9"), None);
        // A used /16 covering the pool leaves nothing.
        assert_eq!(pick_subnet(pool, 24, &[cidr("10.9.0.0/16")], "x"), None);
    }

    #[test]
    fn the_start_slot_depends_on_the_name() {
        let pool = cidr("10.128.0.0/9");
        let a = pick_subnet(pool, 24, &[], "paas-shop").unwrap();
        let b = pick_subnet(pool, 24, &[], "paas-blog").unwrap();
        assert_ne!(a, b);
        assert_eq!(a, pick_subnet(pool, 24, &[], "paas-shop").unwrap());
    }

    proptest! {
        #[test]
        fn picked_subnet_is_in_pool_and_free(
            used in proptest::collection::vec((0u32..1024, 20u8..=26), 0..40),
            name in "[a-z]{1,12}",
        ) {
            let pool = cidr("10.128.0.0/14");
            let used: Vec<Ipv4Cidr> = used
                .into_iter()
                .map(|(i, p)| Ipv4Cidr::new(Ipv4Addr::from(u32::from(pool.network()) + (i << 8)), p).unwrap())
                .collect();
            if let Some(s) = pick_subnet(pool, 24, &used, &name) {
                prop_assert!(pool.overlaps(s));
                prop_assert_eq!(s.prefix(), 24);
                prop_assert!(s.base >= pool.base && s.last() <= pool.last());
                prop_assert!(used.iter().all(|u| !u.overlaps(s)));
            }
        }
    }
}
