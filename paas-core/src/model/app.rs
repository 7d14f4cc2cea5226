//! Applications: what a user runs, and how.

use super::{
    AppId, AppStatus, DomainName, EnvKey, NodeName, OrgId, PlanId, Port, SealedValue, Slug,
    Timestamp, Vmid,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How an app runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Runtime {
    /// A Docker Swarm service running `image`.
    Container {
        /// Image reference, e.g. `registry.example.com/shop:1.4`.
        image: String,
    },
    /// A Proxmox VE LXC container created from a template in storage.
    Lxc {
        /// Template volume, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
        template: String,
    },
    /// A Proxmox VE QEMU VM cloned from a template VM.
    Vm {
        /// VMID of the template VM.
        template_vmid: Vmid,
    },
}

impl Runtime {
    /// True for the Proxmox runtimes (LXC and VM).
    pub fn is_proxmox(&self) -> bool {
        matches!(self, Runtime::Lxc { .. } | Runtime::Vm { .. })
    }
}

/// How the platform checks that an app is healthy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Command run inside the container (`CMD-SHELL` form); exit 0 means healthy.
    pub command: String,
    /// Time between checks.
    #[serde(with = "duration_ms")]
    pub interval: Duration,
    /// Time one check may take.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Consecutive failures before unhealthy.
    pub retries: u32,
    /// Grace period after start during which failures do not count.
    #[serde(with = "duration_ms")]
    pub start_period: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            command: "true".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            retries: 3,
            start_period: Duration::from_secs(5),
        }
    }
}

/// Where an app's workload lives on its backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    /// A Proxmox guest.
    Guest {
        /// Node it runs on.
        node: NodeName,
        /// Its VMID.
        vmid: Vmid,
        /// IP addresses learned from the guest.
        #[serde(default)]
        addresses: Vec<String>,
    },
    /// A Swarm service.
    Service {
        /// The service's name.
        name: String,
        /// The service's id on the engine, when known.
        #[serde(default)]
        id: Option<String>,
    },
}

/// Whether a domain has been proven to belong to the app's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainState {
    /// Waiting for the verification token to appear in DNS.
    Pending,
    /// Verified; routed to the app.
    Verified,
    /// Verification failed.
    Failed,
}

/// Certificate state of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsState {
    /// No certificate requested yet.
    None,
    /// Requested from the resolver.
    Pending,
    /// Issued and served.
    Active,
    /// Issuance failed.
    Failed,
}

/// A domain routed to an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The host name.
    pub hostname: DomainName,
    /// Token the owner publishes (TXT record) to prove ownership.
    pub verification_token: String,
    /// Verification state.
    pub state: DomainState,
    /// Certificate state.
    pub tls: TlsState,
}

/// A user's application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Its id.
    pub id: AppId,
    /// Owning organisation.
    pub org: OrgId,
    /// Display name.
    pub name: String,
    /// Platform-unique handle (among apps not deleted).
    pub slug: Slug,
    /// How it runs.
    pub runtime: Runtime,
    /// Its plan.
    pub plan: PlanId,
    /// Desired replicas (Swarm); 1 for guests.
    pub replicas: u32,
    /// Environment, sealed (encrypted) per value; see the engine's secrets module.
    pub env: BTreeMap<EnvKey, SealedValue>,
    /// Domains routed to it.
    pub domains: Vec<Domain>,
    /// Health check, if the user set one (Swarm uses a default otherwise).
    pub health_check: Option<HealthCheck>,
    /// Port the app listens on inside its container (for routing).
    pub listen_port: Option<Port>,
    /// Lifecycle status.
    pub status: AppStatus,
    /// Why it is in that status (the error of a failed deploy, "wallet empty", ...).
    pub status_reason: Option<String>,
    /// Where it runs, once deployed.
    pub placement: Option<Placement>,
    /// Ports allocated to it.
    pub ports: Vec<Port>,
    /// Number of the release now deployed.
    pub current_release: Option<u32>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version: the store bumps it on every update and refuses an
    /// update that carries a stale one.
    pub version: u64,
}

/// `Duration` as integer milliseconds in serde.
pub mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serialises as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Deserialises from milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
