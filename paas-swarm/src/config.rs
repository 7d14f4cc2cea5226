//! How a [`SwarmOrchestrator`](crate::SwarmOrchestrator) deploys: networks, env delivery,
//! routing and timings. Built without I/O; checked by [`SwarmConfig::validate`].

use crate::network::Ipv4Cidr;
use paas_core::{Error, Result};
use std::time::Duration;

/// How an app's environment reaches its containers.
///
/// The port hands every env value over as a [`Secret`](paas_core::model::Secret) and does not
/// say which ones are really secret, and a Swarm secret can only be a file: an image reads
/// plain environment variables unless it is written for files. So the choice is the
/// operator's, for all keys at once:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnvDelivery {
    /// Plain environment variables (what every image expects). The values are part of the
    /// service spec, readable by anyone allowed to inspect services on the engine.
    #[default]
    Variables,
    /// Every value is a Swarm secret (encrypted in the swarm's Raft log, never in the service
    /// spec), mounted read-only at `/run/secrets/<KEY>`; the container gets
    /// `<KEY>_FILE=/run/secrets/<KEY>` (the convention of the official images) instead of
    /// the value. Secrets are named by a hash of their content, so a changed value is a new
    /// secret and the update rotates to it by name; unused ones are deleted.
    SecretFiles,
}

/// How Traefik reaches the services (labels written for each verified domain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Traefik entrypoints of the routers (`traefik.http.routers.<r>.entrypoints`).
    pub entrypoints: Vec<String>,
    /// Certificate resolver for TLS (`...tls.certresolver`); `None` leaves TLS off.
    pub cert_resolver: Option<String>,
    /// The overlay network Traefik is attached to. Services with domains join it too and
    /// `traefik.swarm.network` names it. `None`: the label names the app's own network (then
    /// Traefik must be attached to every app network).
    pub network: Option<String>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            entrypoints: vec!["websecure".to_owned()],
            cert_resolver: Some("letsencrypt".to_owned()),
            network: None,
        }
    }
}

/// Settings of a [`SwarmOrchestrator`](crate::SwarmOrchestrator).
///
/// ```
/// use paas_swarm::{EnvDelivery, SwarmConfig};
/// use std::time::Duration;
///
/// let config = SwarmConfig::default()
///     .with_network_pool("10.200.0.0/16")
///     .with_env_delivery(EnvDelivery::SecretFiles)
///     .with_stop_grace_period(Duration::from_secs(2));
/// assert!(config.validate().is_ok());
/// assert!(SwarmConfig::default().with_network_pool("10.0.0.0/33").validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmConfig {
    /// The IPv4 range app networks get their subnets from (default `10.128.0.0/9`, away from
    /// the swarm's own default pool at the bottom of 10.0.0.0/8).
    pub network_pool: String,
    /// Prefix length of each app's subnet (default 24: 254 addresses).
    pub subnet_prefix: u8,
    /// How env values reach the containers.
    pub env_delivery: EnvDelivery,
    /// Traefik routing.
    pub routing: RoutingConfig,
    /// Time a container gets between SIGTERM and SIGKILL (default 10 s).
    pub stop_grace_period: Duration,
    /// Run an init process as PID 1 in each container, so signals reach the app and zombies
    /// are reaped (default true; Docker's `--init`).
    pub init: bool,
    /// Delay before a failed container is restarted (default 5 s).
    pub restart_delay: Duration,
    /// How often `await_rollout` polls the engine (default 250 ms).
    pub poll_interval: Duration,
    /// How long `remove` waits for the engine to let go of the app's network and secrets
    /// (default 60 s); after it, `remove` fails retryably and a retry resumes the cleanup.
    pub remove_timeout: Duration,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            network_pool: "10.128.0.0/9".to_owned(),
            subnet_prefix: 24,
            env_delivery: EnvDelivery::default(),
            routing: RoutingConfig::default(),
            stop_grace_period: Duration::from_secs(10),
            init: true,
            restart_delay: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
            remove_timeout: Duration::from_secs(60),
        }
    }
}

impl SwarmConfig {
    /// Sets [`SwarmConfig::network_pool`].
    #[must_use]
    pub fn with_network_pool(mut self, cidr: impl Into<String>) -> Self {
        self.network_pool = cidr.into();
        self
    }

    /// Sets [`SwarmConfig::subnet_prefix`].
    #[must_use]
    pub fn with_subnet_prefix(mut self, prefix: u8) -> Self {
        self.subnet_prefix = prefix;
        self
    }

    /// Sets [`SwarmConfig::env_delivery`].
    #[must_use]
    pub fn with_env_delivery(mut self, delivery: EnvDelivery) -> Self {
        self.env_delivery = delivery;
        self
    }

    /// Sets [`SwarmConfig::routing`].
    #[must_use]
    pub fn with_routing(mut self, routing: RoutingConfig) -> Self {
        self.routing = routing;
        self
    }

    /// Sets [`SwarmConfig::stop_grace_period`].
    #[must_use]
    pub fn with_stop_grace_period(mut self, period: Duration) -> Self {
        self.stop_grace_period = period;
        self
    }

    /// Sets [`SwarmConfig::restart_delay`].
    #[must_use]
    pub fn with_restart_delay(mut self, delay: Duration) -> Self {
        self.restart_delay = delay;
        self
    }

    /// Sets [`SwarmConfig::poll_interval`].
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets [`SwarmConfig::remove_timeout`].
    #[must_use]
    pub fn with_remove_timeout(mut self, timeout: Duration) -> Self {
        self.remove_timeout = timeout;
        self
    }

    /// Checks the settings without talking to the engine.
    pub fn validate(&self) -> Result<()> {
        self.pool()?;
        if self.poll_interval.is_zero() {
            return Err(Error::invalid_input(
                "swarm config: poll_interval must be greater than zero",
            ));
        }
        if self.routing.entrypoints.iter().any(|e| e.trim().is_empty()) {
            return Err(Error::invalid_input(
                "swarm config: routing entrypoints must not be empty strings",
            ));
        }
        Ok(())
    }

    /// The pool, parsed, checked against the subnet prefix.
    pub(crate) fn pool(&self) -> Result<Ipv4Cidr> {
        let pool: Ipv4Cidr = self.network_pool.parse()?;
        if !(pool.prefix()..=30).contains(&self.subnet_prefix) {
            return Err(Error::invalid_input(format!(
                "swarm config: subnet_prefix /{} must lie between the pool's /{} and /30",
                self.subnet_prefix,
                pool.prefix()
            )));
        }
        Ok(pool)
    }
}
