//! `POST /nodes/{node}/qemu/{vmid}/config`: the asynchronous config update (qemu-server
//! 4dbb6e4437fc `API2/Qemu.pm` update_vm_async, :2018-2585 `$update_vm_api`).
//!
//! The request checks the parameters, takes the config lock, checks digest and lock, and forks
//! a `qmconfig` worker that inherits the lock and applies the changes; it returns the UPID, or
//! with `background_delay` waits that many seconds for the worker and returns null if it
//! ended OK in time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::guest::spec;
use super::{check_lock, find_guest, lock_guest};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::split_tags;
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Parameters of the call that are not config keys.
const NOT_CONFIG: [&str; 10] = [
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
    "skip_cloud_init",
    "import-working-storage",
];

fn config_params(call: &Call) -> BTreeMap<String, String> {
    call.params
        .iter()
        .filter(|(k, _)| !NOT_CONFIG.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `POST .../qemu/{vmid}/config`.
pub(crate) async fn update_async(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let vmid = call.vmid();
    let node = call.node().to_string();
    let set = config_params(call);
    let deletes: Vec<String> = call
        .get("delete")
        .map(|d| {
            d.split([',', ';', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| if s == "cdrom" { "ide2" } else { s }.to_string())
                .collect()
        })
        .unwrap_or_default();
    // :2061 `die "no options specified\n" if !$delete_str && !$revert_str && !scalar(keys %$param);`
    if deletes.is_empty() && call.get("revert").is_none() && set.is_empty() {
        return Err(ApiError::internal("no options specified"));
    }
    for key in &deletes {
        if set.contains_key(key) {
            return Err(ApiError::param(
                "delete",
                format!("you can't use '-{key}' and -delete {key}' at the same time"),
            ));
        }
    }
    {
        let st = inner.state();
        find_guest(&st, &node, GuestKind::Qemu, vmid)?;
    }
    let guard = lock_guest(inner, GuestKind::Qemu, vmid, inner.cfg.lock_timeout, "").await?;
    let upid = {
        let mut st = inner.state();
        let g = find_guest(&st, &node, GuestKind::Qemu, vmid)?;
        if let Some(digest) = call.get("digest")
            && !digest.is_empty()
            && digest != g.digest()
        {
            return Err(ApiError::internal(
                "detected modified configuration - file changed by other user? Try again.",
            ));
        }
        if !call.flag("skiplock") {
            check_lock(g)?;
        }
        let effect_node = node.clone();
        let effect: tasks::Effect = Box::new(move |st, fail| {
            let Some(g) = st
                .guests
                .get_mut(&vmid)
                .filter(|g| g.node == effect_node && g.kind == GuestKind::Qemu)
            else {
                return (
                    vec![],
                    Err(format!(
                        "Configuration file 'nodes/{effect_node}/qemu-server/{vmid}.conf' does not exist"
                    )),
                );
            };
            if fail {
                return (
                    vec![],
                    Err(format!(
                        "VM {vmid} qmp command 'device_add' failed - got timeout"
                    )),
                );
            }
            let mut log = Vec::new();
            for key in &deletes {
                if g.config.remove(key).is_some() {
                    log.push(format!("delete {key}"));
                }
            }
            for (key, value) in &set {
                let value = if key == "tags" {
                    split_tags(value).join(";")
                } else {
                    value.clone()
                };
                if key == "tags" && value.is_empty() {
                    g.config.remove(key);
                } else {
                    log.push(format!("update VM {vmid}: -{key} {value}"));
                    g.config.insert(key.clone(), value);
                }
            }
            (log, Ok(()))
        });
        tasks::spawn(
            inner,
            &mut st,
            spec(call, &node, "qmconfig", vmid, vec![]),
            vec![guard],
            effect,
        )
    };
    let Some(delay) = call.int("background_delay") else {
        return Ok(Reply::data(json!(upid)));
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(delay.unsigned_abs());
    loop {
        let status = {
            let st = inner.state();
            st.tasks
                .get(&upid)
                .filter(|t| !t.running)
                .map(|t| t.exitstatus.clone().unwrap_or_default())
        };
        match status {
            Some(s) if s == "OK" || s.starts_with("WARNINGS") => {
                return Ok(Reply::data(Value::Null));
            }
            Some(s) => {
                return Err(ApiError::internal(format!(
                    "failed to update VM {vmid}: {s}"
                )));
            }
            None if tokio::time::Instant::now() >= deadline => {
                return Ok(Reply::data(json!(upid)));
            }
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
