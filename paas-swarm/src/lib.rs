//! # paas-swarm
//!
//! Docker Swarm for the paas SDK: [`SwarmOrchestrator`], the
//! [`Orchestrator`](paas_core::ports::Orchestrator) port over [bollard](https://docs.rs/bollard).
//!
//! What a deploy gets, and why:
//! - a replicated service with the app's health check (or the platform default), limits and
//!   reservations from the plan, restart on any exit, and labels naming platform, org, app and
//!   release;
//! - a rolling update one task at a time, start-first, that the engine rolls back by itself
//!   when a new task fails within the monitor window (longer than the health check's start
//!   period plus its retries), with a matching rollback config;
//! - `ForceUpdate` bumped on every apply, so redeploying the same tag still rolls;
//! - its own attachable overlay network with its own subnet from a configurable pool;
//! - env as variables or as Swarm secrets rotated by name ([`EnvDelivery`]);
//! - Traefik labels for each verified domain ([`RoutingConfig`]);
//! - convergence judged from the tasks of the release, not from the update call returning.
//!
//! The engine must speak API [`MIN_API_VERSION`] or newer (Docker Engine 20.10) and be a swarm
//! manager.
//!
//! Known limits: `rollback` is the engine's own (back to the previous *spec*, so right after a
//! `scale` it undoes the scale; deploy an earlier release to go back further), and
//! convergence is judged on the manager's view of the tasks (Swarm marks a task with a health
//! check `running` only once healthy).
//!
//! Secrets: the SDK never logs env values, but bollard logs every request body at `debug`
//! level (target `bollard`), env and secret data included: keep that target at `info` or
//! above in production.
//!
//! ## Testing
//!
//! The tests run on the real engine, with images built on the machine (no registry):
//!
//! ```sh
//! scripts/ensure-swarm.sh          # docker swarm init --advertise-addr 127.0.0.1, if needed
//! scripts/build-test-images.sh     # paas-test/web:1 and :2 from Debian's busybox-static
//! cargo test -p paas-swarm
//! cargo bench --features swarm --bench swarm_deploy
//! ```
//!
//! Without Docker or swarm mode the engine tests print a note and pass, unless `CI=true`.
//!
//! ```no_run
//! use paas_core::ports::Orchestrator;
//! use paas_swarm::{SwarmConfig, SwarmOrchestrator};
//!
//! # async fn run() -> paas_core::Result<()> {
//! let swarm = SwarmOrchestrator::connect(SwarmConfig::default()).await?;
//! for service in swarm.list().await? {
//!     println!("{} runs release {:?}", service.name, service.release);
//! }
//! # Ok(()) }
//! ```

mod config;
mod error;
pub mod labels;
mod logs;
mod network;
mod orchestrator;
mod rollout;
mod secrets;
mod service_io;
mod spec;

pub use config::{EnvDelivery, RoutingConfig, SwarmConfig};
pub use error::{BACKEND, MIN_API_VERSION, check_api_version, map_docker_error};
pub use network::{Ipv4Cidr, network_name, pick_subnet};
pub use orchestrator::SwarmOrchestrator;
pub use secrets::secret_name;
pub use spec::{monitor_period, start_first, validate};
