//! `GET /storage`, `GET /nodes/{node}/storage` and `GET /nodes/{node}/storage/{storage}/status`
//! (pve-storage 6f49432acc6d `API2/Storage/Config.pm` index, `API2/Storage/Status.pm` index and
//! read_status, `Storage.pm` storage_info).

use std::sync::Arc;

use serde_json::{Value, json};

use super::check_node;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{STORAGES, State};
use crate::sim::volumes::total_bytes;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// The digest of the simulated `storage.cfg` (it never changes).
const STORAGE_CFG_DIGEST: &str = "8c4e4d8d5f1a6e0c2b9a7f3e1d0c6b5a4f3e2d1c";

/// Config.pm/Status.pm index: `next if !$rpcenv->check_any($authuser, "/storage/$storeid",
/// ['Datastore.Audit', 'Datastore.AllocateSpace'], 1);`.
fn may_see(st: &State, call: &Call, storage: &str) -> bool {
    let authid = call.caller.authid();
    st.access.perms(&authid).has_any(
        &format!("/storage/{storage}"),
        &["Datastore.Audit", "Datastore.AllocateSpace"],
    )
}

/// `GET /storage`: the storage configuration (`type` filters by plugin type), the storages
/// the caller may see.
pub(crate) fn index(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let list: Vec<Value> = STORAGES
        .iter()
        .filter(|(name, _, _)| may_see(&st, call, name))
        .filter(|(_, plugin, _)| call.get("type").is_none_or(|t| t == *plugin))
        .map(|(name, plugin, content)| {
            let mut v = json!({
                "storage": name,
                "type": plugin,
                "content": content,
                "digest": STORAGE_CFG_DIGEST,
            });
            match *plugin {
                "dir" => v["path"] = json!("/var/lib/vz"),
                _ => {
                    v["vgname"] = json!("pve");
                    v["thinpool"] = json!("data");
                }
            }
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// One storage's status on a node, as storage_info reports it.
fn status_json(st: &State, node: &str, name: &str) -> Option<Value> {
    let (_, plugin, content) = STORAGES.iter().find(|(n, _, _)| *n == name)?;
    let n = st.node(node)?;
    let total = total_bytes(n.maxdisk, name);
    let used = st.storage_used(node, name);
    Some(json!({
        "type": plugin,
        "content": content,
        "active": 1,
        "enabled": 1,
        "shared": 0,
        "total": total,
        "used": used,
        "avail": total.saturating_sub(used),
    }))
}

/// `GET /nodes/{node}/storage`: filters `storage`, `content` (any of a list), `enabled`,
/// `target` (only shared storages, so none here) and `format`.
pub(crate) fn node_index(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let node = call.node();
    check_node(&st, node)?;
    let only = call.get("storage");
    if let Some(s) = only
        && !STORAGES.iter().any(|(n, _, _)| *n == s)
    {
        // Status.pm: `raise_param_exc({ storage => "No such storage." })`.
        return Err(ApiError::param("storage", "No such storage."));
    }
    let wanted: Vec<&str> = call
        .get("content")
        .map(|c| c.split([',', ';', ' ']).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let other_target = call
        .get("target")
        .is_some_and(|t| t != node && t != "localhost");
    let mut out = Vec::new();
    for (name, plugin, content) in STORAGES {
        if only.is_some_and(|s| s != name) || other_target || !may_see(&st, call, name) {
            continue;
        }
        if !wanted.is_empty() && !content.split(',').any(|c| wanted.contains(&c)) {
            continue;
        }
        let Some(mut v) = status_json(&st, node, name) else {
            continue;
        };
        v["storage"] = json!(name);
        if let (Some(total), Some(used)) = (v["total"].as_u64(), v["used"].as_u64())
            && total > 0
        {
            v["used_fraction"] = json!(used as f64 / total as f64);
        }
        if call.flag("format") {
            let (supported, default) = match plugin {
                "dir" => (vec!["qcow2", "raw", "vmdk"], "raw"),
                _ => (vec!["raw"], "raw"),
            };
            let valid: serde_json::Map<String, Value> = supported
                .iter()
                .map(|f| ((*f).to_string(), json!(1)))
                .collect();
            v["formats"] = json!({"supported": supported, "default": default});
            v["format"] = json!([valid, default]);
        }
        out.push(v);
    }
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /nodes/{node}/storage/{storage}/status`.
pub(crate) fn status(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    check_node(&st, call.node())?;
    let storage = call.get("storage").unwrap_or_default();
    match status_json(&st, call.node(), storage) {
        Some(v) => Ok(Reply::data(v)),
        None => Err(ApiError::param("storage", "No such storage.")),
    }
}
