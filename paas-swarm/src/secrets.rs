//! Env values as Swarm secrets ([`EnvDelivery::SecretFiles`](crate::EnvDelivery)).
//!
//! A secret is named after a hash of its service, key and value, so the same value keeps its
//! secret and a changed value gets a new one; the service update then rotates to the new name
//! (Swarm secrets are immutable). Secrets neither the current nor the previous spec (the
//! engine's rollback target) references are deleted after each apply; `remove` deletes all.

use crate::error::map_docker_error;
use crate::labels;
use base64::Engine as _;
use bollard::Docker;
use bollard::models::{SecretSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets};
use bollard::query_parameters::ListSecretsOptionsBuilder;
use paas_core::model::{EnvKey, Secret};
use paas_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where a key's secret is mounted in the container.
pub fn mount_path(key: &EnvKey) -> String {
    format!("/run/secrets/{key}")
}

/// The secret's name for `key` = `value` of `service`: `<service>.<KEY>.<hash>`, or a hashed
/// form when that would pass the engine's 64 characters.
///
/// The hash is 64 bits of SHA-256 over service, key and value: enough to tell values apart,
/// but it is a fingerprint of the value, so a guessable value can be confirmed by someone
/// who can list secrets (they could inspect the service anyway under `Variables`).
pub fn secret_name(service: &str, key: &EnvKey, value: &Secret) -> String {
    let mut h = Sha256::new();
    for part in [
        service.as_bytes(),
        key.as_str().as_bytes(),
        value.expose().as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let digest = hex::encode(&h.finalize()[..8]);
    let readable = format!("{service}.{key}.{digest}");
    if readable.len() <= 64 {
        readable
    } else {
        let owner = Sha256::digest(format!("{service}\0{key}").as_bytes());
        format!("paas.{}.{digest}", hex::encode(&owner[..12]))
    }
}

async fn list(docker: &Docker, service: &str) -> Result<HashMap<String, String>> {
    let filter = format!("{}={service}", labels::SERVICE);
    let filters = HashMap::from([("label", vec![filter.as_str()])]);
    let secrets = docker
        .list_secrets(Some(
            ListSecretsOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| map_docker_error(e, format!("listing the secrets of service '{service}'")))?;
    Ok(secrets
        .into_iter()
        .filter_map(|s| Some((s.spec?.name?, s.id?)))
        .collect())
}

/// Creates the secrets of `env` that do not exist yet; returns the container's references.
pub(crate) async fn ensure(
    docker: &Docker,
    service: &str,
    env: &BTreeMap<EnvKey, Secret>,
) -> Result<Vec<TaskSpecContainerSpecSecrets>> {
    if env.is_empty() {
        return Ok(Vec::new());
    }
    let mut existing = list(docker, service).await?;
    let mut refs = Vec::with_capacity(env.len());
    for (key, value) in env {
        let name = secret_name(service, key, value);
        let id = match existing.remove(&name) {
            Some(id) => id,
            None => create(docker, service, key, value, &name).await?,
        };
        refs.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(key.to_string()),
                uid: Some("0".to_owned()),
                gid: Some("0".to_owned()),
                // Readable by any user: the image decides who the app runs as.
                mode: Some(0o444),
            }),
            secret_id: Some(id),
            secret_name: Some(name),
        });
    }
    Ok(refs)
}

async fn create(
    docker: &Docker,
    service: &str,
    key: &EnvKey,
    value: &Secret,
    name: &str,
) -> Result<String> {
    let spec = SecretSpec {
        name: Some(name.to_owned()),
        labels: Some(HashMap::from([
            (labels::MANAGED.to_owned(), "true".to_owned()),
            (labels::SERVICE.to_owned(), service.to_owned()),
            (labels::ENV_KEY.to_owned(), key.to_string()),
        ])),
        data: Some(base64::engine::general_purpose::STANDARD.encode(value.expose())),
        ..Default::default()
    };
    let doing = format!("creating secret '{name}' for env key {key} of service '{service}'");
    match docker.create_secret(spec).await {
        Ok(created) => Ok(created.id),
        Err(e) => {
            let err = map_docker_error(e, &doing);
            if !err.is_conflict() {
                return Err(err);
            }
            // Created meanwhile by a concurrent apply: same name, same content.
            list(docker, service).await?.remove(name).ok_or_else(|| {
                Error::conflict(format!(
                    "{doing}: the engine says it exists but does not list it; retry"
                ))
                .retryable(true)
                .with_backend(crate::error::BACKEND)
            })
        }
    }
}

/// Deletes the secrets of `service` not named in `keep`; in-use or vanished ones are skipped.
pub(crate) async fn prune(docker: &Docker, service: &str, keep: &HashSet<String>) -> Result<()> {
    for (name, id) in list(docker, service).await? {
        if keep.contains(&name) {
            continue;
        }
        if let Err(e) = docker.delete_secret(&id).await {
            tracing::debug!(secret = %name, error = %e, "old secret not deleted yet");
        }
    }
    Ok(())
}

/// Deletes every secret of `service`; fails (retryably) while the engine still uses one.
pub(crate) async fn remove_all(docker: &Docker, service: &str) -> Result<()> {
    for (name, id) in list(docker, service).await? {
        if let Err(e) = docker.delete_secret(&id).await {
            let err = map_docker_error(e, format!("deleting secret '{name}'"));
            if !err.is_not_found() {
                return Err(err.retryable(true));
            }
        }
    }
    Ok(())
}

/// The secret names a service spec references.
pub(crate) fn referenced(spec: Option<&bollard::models::ServiceSpec>) -> HashSet<String> {
    spec.and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .map(|refs| refs.iter().filter_map(|r| r.secret_name.clone()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> EnvKey {
        s.parse().unwrap()
    }

    #[test]
    fn names_follow_content_and_fit_the_engine() {
        let a = secret_name("shop", &key("DB_URL"), &Secret::new("postgres://a"));
        let b = secret_name("shop", &key("DB_URL"), &Secret::new("postgres://b"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            secret_name("shop", &key("DB_URL"), &Secret::new("postgres://a"))
        );
        assert!(a.starts_with("shop.DB_URL."));
        assert_ne!(
            a,
            secret_name("blog", &key("DB_URL"), &Secret::new("postgres://a"))
        );
        assert!(!a.contains("postgres"));

        let long = secret_name(&"s".repeat(63), &key(&"K".repeat(200)), &Secret::new("v"));
        assert!(long.len() <= 64, "{long}");
        assert!(long.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
    }
}
