//! The engine's service spec, built from the port's [`ServiceSpec`]. Pure: no I/O.

use crate::config::{EnvDelivery, SwarmConfig};
use crate::labels;
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, NetworkAttachmentConfig,
    ResourceObject, ServiceSpec as EngineSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecRollbackConfig, ServiceSpecRollbackConfigFailureActionEnum,
    ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecSecrets, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use paas_core::model::HealthCheck;
use paas_core::ports::ServiceSpec;
use paas_core::{Error, Result};
use std::collections::HashMap;
use std::time::Duration;

/// What the engine spec needs besides the port's spec (found by talking to the engine).
pub(crate) struct Resolved<'a> {
    /// Image reference to run (pinned by digest when the engine knows it).
    pub image: String,
    /// The app's own network.
    pub network: &'a str,
    /// Secret references (empty unless env goes as secret files).
    pub secrets: Vec<TaskSpecContainerSpecSecrets>,
    /// The `ForceUpdate` counter to write (bumped on every apply).
    pub force_update: u64,
}

/// Checks what the engine would reject late or confusingly.
pub fn validate(spec: &ServiceSpec) -> Result<()> {
    let bad = |what: String| {
        Err(Error::invalid_input(format!(
            "service '{}': {what}",
            spec.name.escape_debug()
        )))
    };
    let name_ok = !spec.name.is_empty()
        && spec.name.len() <= 63
        && !spec.name.starts_with('-')
        && !spec.name.ends_with('-')
        && spec
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return bad("a service name must be a DNS label: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'".into());
    }
    if spec.image.trim().is_empty() || spec.image.chars().any(char::is_whitespace) {
        return bad(format!(
            "'{}' is not an image reference",
            spec.image.escape_debug()
        ));
    }
    let hc = &spec.health_check;
    if hc.command.trim().is_empty() {
        return bad("the health check command is empty".into());
    }
    for (what, d) in [("interval", hc.interval), ("timeout", hc.timeout)] {
        if d < Duration::from_millis(1) {
            return bad(format!("the health check {what} must be at least 1 ms"));
        }
    }
    if spec.labels.keys().any(|k| k.starts_with("paas.")) {
        return bad("extra labels must not use the platform's 'paas.' prefix".into());
    }
    Ok(())
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// How long the engine watches each updated task before calling the update a success: the
/// health check's start period plus `retries + 1` rounds of interval and timeout, so an app
/// that never turns healthy is caught inside the window.
pub fn monitor_period(hc: &HealthCheck) -> Duration {
    let rounds = hc.retries.saturating_add(1);
    hc.start_period.saturating_add(
        hc.interval
            .saturating_add(hc.timeout)
            .saturating_mul(rounds),
    )
}

/// Start the new task before stopping the old (no downtime) unless two copies cannot coexist:
/// a volume mounted by both, or a port published on the host.
pub fn start_first(has_volumes: bool, has_host_ports: bool) -> bool {
    !has_volumes && !has_host_ports
}

fn health(hc: &HealthCheck) -> HealthConfig {
    HealthConfig {
        test: Some(vec!["CMD-SHELL".to_owned(), hc.command.clone()]),
        interval: Some(nanos(hc.interval)),
        timeout: Some(nanos(hc.timeout)),
        retries: Some(i64::from(hc.retries)),
        start_period: Some(nanos(hc.start_period)),
        // StartInterval needs API 1.44; the engines this crate supports reject it.
        start_interval: None,
    }
}

fn resources(spec: &ServiceSpec) -> TaskSpecResources {
    let cpu = (spec.cpu_millis > 0).then(|| i64::from(spec.cpu_millis) * 1_000_000);
    let mem = (spec.memory_mb > 0).then(|| i64::from(spec.memory_mb) * 1024 * 1024);
    TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: cpu,
            memory_bytes: mem,
            pids: None,
        }),
        // The plan's resources are what the tenant pays for: reserve them, so the scheduler
        // never packs a node beyond what it can give ("no suitable node" instead).
        reservations: Some(ResourceObject {
            nano_cpus: cpu,
            memory_bytes: mem,
            generic_resources: None,
        }),
        swap_bytes: None,
        memory_swappiness: None,
    }
}

/// The engine spec for `spec`.
pub(crate) fn build(
    spec: &ServiceSpec,
    resolved: Resolved<'_>,
    config: &SwarmConfig,
) -> EngineSpec {
    let routing_network = match (&config.routing.network, spec.domains.is_empty()) {
        (Some(n), false) => Some(n.as_str()),
        _ => None,
    };

    let mut service_labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    service_labels.extend(labels::traefik_labels(
        &spec.name,
        &spec.domains,
        spec.listen_port.map(|p| p.get()),
        &config.routing,
        routing_network.unwrap_or(resolved.network),
    ));
    let platform = [
        (labels::MANAGED, "true".to_owned()),
        (labels::ORG, spec.org.to_string()),
        (labels::APP, spec.app.to_string()),
        (labels::RELEASE, spec.release.to_string()),
    ];
    service_labels.extend(platform.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let container_labels: HashMap<String, String> = platform
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

    let env: Vec<String> = match config.env_delivery {
        EnvDelivery::Variables => spec
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.expose()))
            .collect(),
        EnvDelivery::SecretFiles => spec
            .env
            .keys()
            .map(|k| format!("{k}_FILE={}", crate::secrets::mount_path(k)))
            .collect(),
    };

    let mut networks = vec![NetworkAttachmentConfig {
        target: Some(resolved.network.to_owned()),
        aliases: Some(vec![spec.name.clone()]),
        driver_opts: None,
    }];
    if let Some(n) = routing_network {
        networks.push(NetworkAttachmentConfig {
            target: Some(n.to_owned()),
            aliases: None,
            driver_opts: None,
        });
    }

    let monitor = nanos(monitor_period(&spec.health_check));
    let start_first = start_first(false, false);

    EngineSpec {
        name: Some(spec.name.clone()),
        labels: Some(service_labels),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(resolved.image),
                labels: Some(container_labels),
                env: Some(env),
                health_check: Some(health(&spec.health_check)),
                init: Some(config.init),
                stop_grace_period: Some(nanos(config.stop_grace_period)),
                secrets: (!resolved.secrets.is_empty()).then_some(resolved.secrets),
                ..Default::default()
            }),
            resources: Some(resources(spec)),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(nanos(config.restart_delay)),
                max_attempts: Some(0),
                window: Some(0),
            }),
            force_update: Some(resolved.force_update),
            networks: Some(networks),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(spec.replicas)),
            }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(monitor),
            max_failure_ratio: Some(0.0),
            order: Some(if start_first {
                ServiceSpecUpdateConfigOrderEnum::START_FIRST
            } else {
                ServiceSpecUpdateConfigOrderEnum::STOP_FIRST
            }),
        }),
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            delay: Some(0),
            // A rollback that fails cannot roll back again: stop and let a person look.
            failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
            monitor: Some(monitor),
            max_failure_ratio: Some(0.0),
            order: Some(if start_first {
                ServiceSpecRollbackConfigOrderEnum::START_FIRST
            } else {
                ServiceSpecRollbackConfigOrderEnum::STOP_FIRST
            }),
        }),
        networks: None,
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::VIP),
            ports: None,
        }),
    }
}

/// The `ForceUpdate` an apply writes: above the current spec's and at least the clock in
/// milliseconds, so it keeps growing across engine rollbacks (which restore an older value and
/// whose previous spec the API does not show).
pub(crate) fn next_force_update(current: u64, now_millis: u64) -> u64 {
    current.saturating_add(1).max(now_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paas_core::model::{AppId, OrgId, Port, Secret};
    use std::collections::BTreeMap;

    pub(crate) fn sample() -> ServiceSpec {
        ServiceSpec {
            name: "shop".into(),
            org: OrgId::new(),
            app: AppId::new(),
            release: 3,
            image: "paas-test/web:1".into(),
            env: BTreeMap::from([("GREETING".parse().unwrap(), Secret::new("hello"))]),
            replicas: 2,
            cpu_millis: 250,
            memory_mb: 64,
            health_check: HealthCheck {
                command: "wget -q -O- http://127.0.0.1:8080/".into(),
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
                retries: 3,
                start_period: Duration::from_secs(4),
            },
            listen_port: Some(Port::new(8080).unwrap()),
            domains: vec!["shop.example.com".parse().unwrap()],
            labels: BTreeMap::from([("team".into(), "red".into())]),
        }
    }

    fn resolved(network: &str) -> Resolved<'_> {
        Resolved {
            image: "paas-test/web:1".into(),
            network,
            secrets: Vec::new(),
            force_update: 7,
        }
    }

    #[test]
    fn builds_every_part_the_issue_asks_for() {
        let spec = sample();
        let e = build(&spec, resolved("paas-shop"), &SwarmConfig::default());
        let labels = e.labels.as_ref().unwrap();
        assert_eq!(labels["paas.managed"], "true");
        assert_eq!(labels["paas.release"], "3");
        assert_eq!(labels["paas.org"], spec.org.to_string());
        assert_eq!(labels["paas.app"], spec.app.to_string());
        assert_eq!(labels["team"], "red");
        assert_eq!(labels["traefik.swarm.network"], "paas-shop");
        let t = e.task_template.as_ref().unwrap();
        assert_eq!(t.force_update, Some(7));
        let c = t.container_spec.as_ref().unwrap();
        assert_eq!(c.env.as_ref().unwrap(), &vec!["GREETING=hello".to_owned()]);
        assert_eq!(c.labels.as_ref().unwrap()["paas.release"], "3");
        let h = c.health_check.as_ref().unwrap();
        assert_eq!(h.test.as_ref().unwrap()[0], "CMD-SHELL");
        assert_eq!(h.interval, Some(2_000_000_000));
        let r = t.resources.as_ref().unwrap();
        assert_eq!(r.limits.as_ref().unwrap().nano_cpus, Some(250_000_000));
        assert_eq!(
            r.reservations.as_ref().unwrap().memory_bytes,
            Some(64 << 20)
        );
        let u = e.update_config.as_ref().unwrap();
        assert_eq!(u.parallelism, Some(1));
        assert_eq!(
            u.failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
        assert_eq!(u.order, Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST));
        // 4 s start + 4 rounds of (2 s + 1 s)
        assert_eq!(u.monitor, Some(16_000_000_000));
        assert_eq!(
            e.rollback_config.as_ref().unwrap().monitor,
            Some(16_000_000_000)
        );
        assert_eq!(
            e.mode
                .as_ref()
                .unwrap()
                .replicated
                .as_ref()
                .unwrap()
                .replicas,
            Some(2)
        );
    }

    #[test]
    fn secret_files_keep_values_out_of_the_spec() {
        let spec = sample();
        let config = SwarmConfig::default().with_env_delivery(EnvDelivery::SecretFiles);
        let e = build(&spec, resolved("paas-shop"), &config);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("hello"));
        assert!(json.contains("GREETING_FILE=/run/secrets/GREETING"));
    }

    #[test]
    fn platform_labels_win_and_routing_network_is_joined() {
        let spec = sample();
        let mut config = SwarmConfig::default();
        config.routing.network = Some("traefik-public".into());
        let e = build(&spec, resolved("paas-shop"), &config);
        let nets: Vec<_> = e
            .task_template
            .unwrap()
            .networks
            .unwrap()
            .into_iter()
            .filter_map(|n| n.target)
            .collect();
        assert_eq!(
            nets,
            vec!["paas-shop".to_owned(), "traefik-public".to_owned()]
        );
        assert_eq!(e.labels.unwrap()["traefik.swarm.network"], "traefik-public");
    }

    #[test]
    fn monitor_covers_start_period_and_retries() {
        let hc = HealthCheck::default();
        assert!(monitor_period(&hc) > hc.start_period + hc.interval * hc.retries);
    }

    #[test]
    fn validation() {
        assert!(validate(&sample()).is_ok());
        for name in ["", "Shop", "-a", "a_b", &"a".repeat(64)] {
            let mut s = sample();
            s.name = name.to_owned();
            assert!(validate(&s).is_err(), "{name}");
        }
        let mut s = sample();
        s.labels.insert("paas.release".into(), "9".into());
        assert!(validate(&s).is_err());
        let mut s = sample();
        s.health_check.interval = Duration::ZERO;
        assert!(validate(&s).is_err());
        let mut s = sample();
        s.image = "a b".into();
        assert!(validate(&s).is_err());
    }

    #[test]
    fn force_update_only_grows() {
        assert_eq!(next_force_update(4, 0), 5);
        assert_eq!(next_force_update(4, 1_000), 1_000);
        assert_eq!(next_force_update(u64::MAX, 0), u64::MAX);
    }
}
