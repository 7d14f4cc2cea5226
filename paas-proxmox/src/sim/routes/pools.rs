//! `/pools` and `/pools/{poolid}` (PM API2/Pool.pm, pinned 5829c814947b). Pool membership
//! lives in `user.cfg`, not in the guests' configs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::cluster::guest_resource;
use crate::sim::access::{Perms, Pool};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{STORAGES, State};
use crate::sim::wire::{ApiError, ApiResult, Reply};

fn list_of(v: Option<&str>) -> Vec<String> {
    v.map(|s| {
        s.split([',', ';', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// The members of a pool as `extract_vm_stats` / `extract_storage_stats` show them.
fn members(inner: &Inner, st: &State, pool: &Pool, ty: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for vmid in &pool.vms {
        // Guests destroyed behind PVE's back stay in user.cfg but are not listed.
        let Some(g) = st.guests.get(vmid) else {
            continue;
        };
        if ty.is_some_and(|t| t != g.kind.as_str()) {
            continue;
        }
        let mut v = guest_resource(inner, g);
        if let Some(o) = v.as_object_mut() {
            for k in ["tags", "lock", "pool"] {
                o.remove(k);
            }
        }
        out.push(v);
    }
    if ty.is_none() || ty == Some("storage") {
        // "prefer local node": the node answering the request; the simulator answers as pve1.
        let node = st.nodes.first().map(|n| n.name.clone()).unwrap_or_default();
        for sid in &pool.storage {
            let Some((_, plugin, content)) = STORAGES.iter().find(|(n, _, _)| n == sid) else {
                continue;
            };
            let maxdisk = st.node(&node).map(|n| n.maxdisk).unwrap_or(0);
            out.push(json!({
                "id": format!("storage/{node}/{sid}"),
                "storage": sid,
                "node": node,
                "type": "storage",
                "plugintype": plugin,
                "status": "available",
                "shared": 0,
                "content": content,
                "maxdisk": maxdisk,
                "disk": st.node_disk_used(&node),
            }));
        }
    }
    out
}

fn pool_info(inner: &Inner, st: &State, poolid: &str, ty: Option<&str>) -> Result<Value, ApiError> {
    let pool = st
        .access
        .pools
        .get(poolid)
        .ok_or_else(|| ApiError::internal(format!("pool '{poolid}' does not exist")))?;
    let mut v = json!({"members": members(inner, st, pool, ty), "poolid": poolid});
    if let Some(c) = &pool.comment {
        v["comment"] = json!(c);
    }
    Ok(v)
}

/// `GET /pools`: the pools the caller may audit, or one pool with its members.
pub(crate) fn index(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    if let Some(poolid) = call.get("poolid") {
        // PM Pool.pm:95 `$rpcenv->check($authuser, "/pool/$poolid", ['Pool.Audit'], 1);`
        // ignores the result, so PVE shows any pool's members to any user here.
        let info = pool_info(inner, &st, poolid, call.get("type"))?;
        return Ok(Reply::data(json!([info])));
    }
    let perms = st.access.perms(&authid);
    let list: Vec<Value> = st
        .access
        .pools
        .iter()
        .filter(|(id, _)| perms.has(&format!("/pool/{id}"), &["Pool.Audit"]))
        .map(|(id, p)| {
            let mut v = json!({"poolid": id});
            if let Some(c) = &p.comment {
                v["comment"] = json!(c);
            }
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `GET /pools/{poolid}` (deprecated form).
pub(crate) fn read(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let info = pool_info(
        inner,
        &st,
        call.get("poolid").unwrap_or_default(),
        call.get("type"),
    )?;
    Ok(Reply::data(info))
}

/// `POST /pools`: a pool; a nested one (`a/b`) needs its parent.
pub(crate) fn create(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let poolid = call.get("poolid").unwrap_or_default().to_string();
    let failed = |m: String| ApiError::internal(format!("create pool failed: {m}"));
    let mut st = inner.state();
    if st.access.pools.contains_key(&poolid) {
        return Err(failed(format!("pool '{poolid}' already exists")));
    }
    let leaf = match poolid.rsplit_once('/') {
        Some((parent, leaf)) => {
            if !st.access.pools.contains_key(parent) {
                return Err(failed(format!(
                    "parent '{parent}' of pool '{poolid}' does not exist"
                )));
            }
            leaf
        }
        None => poolid.as_str(),
    };
    if !leaf.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(failed("pool name must start with a letter".into()));
    }
    let comment = call
        .get("comment")
        .filter(|c| !c.is_empty())
        .map(Into::into);
    st.access.pools.insert(
        poolid,
        Pool {
            comment,
            ..Pool::default()
        },
    );
    Ok(Reply::data(Value::Null))
}

/// `PUT /pools` and `PUT /pools/{poolid}`: comment, and guests/storages to add (or with
/// `delete=1` remove). The caller needs the right to modify permissions on each of them.
pub(crate) fn update(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let poolid = call.get("poolid").unwrap_or_default().to_string();
    let failed = |m: String| ApiError::internal(format!("update pools failed: {m}"));
    // An exception object (403) inside lock_user_config turns into this 500.
    let perm_failed = |e: ApiError| failed(format!("{} {}", e.status, e.message));
    let authid = call.caller.authid();
    let mut st = inner.state();
    let mut cfg = st.access.clone();
    let perms_cfg = st.access.clone();
    let perms = perms_cfg.perms(&authid);
    let Some(pool) = cfg.pools.get(&poolid).cloned() else {
        return Err(failed(format!("pool '{poolid}' does not exist")));
    };
    let mut pool = pool;
    if let Some(c) = call.get("comment") {
        pool.comment = (!c.is_empty()).then(|| c.to_string());
    }
    let delete = call.flag("delete");
    for vm in list_of(call.get("vms")) {
        perms
            .check_perm_modify(Some(&format!("/vms/{vm}")))
            .map_err(perm_failed)?;
        let vmid: u32 = vm.parse().unwrap_or(0);
        if delete {
            if !pool.vms.remove(&vmid) {
                return Err(failed(format!("VM {vmid} is not a pool member")));
            }
            cfg.vm_pool.remove(&vmid);
        } else {
            if pool.vms.contains(&vmid) {
                return Err(failed(format!("VM {vmid} is already a pool member")));
            }
            if let Some(existing) = cfg.vm_pool.get(&vmid).cloned() {
                if !call.flag("allow-move") {
                    return Err(failed(format!(
                        "VM {vmid} belongs already to pool '{existing}' and 'allow-move' is not set"
                    )));
                }
                perms
                    .check(&format!("/pool/{existing}"), &["Pool.Allocate"])
                    .map_err(perm_failed)?;
                if let Some(p) = cfg.pools.get_mut(&existing) {
                    p.vms.remove(&vmid);
                }
            }
            pool.vms.insert(vmid);
            cfg.vm_pool.insert(vmid, poolid.clone());
        }
    }
    for sid in list_of(call.get("storage")) {
        perms
            .check_perm_modify(Some(&format!("/storage/{sid}")))
            .map_err(perm_failed)?;
        if delete {
            if !pool.storage.remove(&sid) {
                return Err(failed(format!("Storage '{sid}' is not a pool member")));
            }
        } else if !pool.storage.insert(sid.clone()) {
            return Err(failed(format!("Storage '{sid}' is already a pool member")));
        }
    }
    cfg.pools.insert(poolid, pool);
    // All or nothing, as the locked read-modify-write of user.cfg.
    st.access = cfg;
    Ok(Reply::data(Value::Null))
}

/// `DELETE /pools` and `DELETE /pools/{poolid}`: only an empty pool (members that no longer
/// exist do not count), and its ACLs with it.
pub(crate) fn delete(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let poolid = call.get("poolid").unwrap_or_default().to_string();
    let failed = |m: String| ApiError::internal(format!("delete pool failed: {m}"));
    let mut st = inner.state();
    let Some(pool) = st.access.pools.get(&poolid) else {
        return Err(failed(format!("pool '{poolid}' does not exist")));
    };
    let prefix = format!("{poolid}/");
    if let Some(sub) = st
        .access
        .pools
        .keys()
        .find(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
    {
        return Err(failed(format!(
            "pool '{poolid}' is not empty (contains pool '{sub}')"
        )));
    }
    if let Some(vmid) = pool.vms.iter().find(|v| st.guests.contains_key(v)) {
        return Err(failed(format!(
            "pool '{poolid}' is not empty (contains VM {vmid})"
        )));
    }
    if let Some(sid) = pool
        .storage
        .iter()
        .find(|s| STORAGES.iter().any(|(n, _, _)| n == *s))
    {
        return Err(failed(format!(
            "pool '{poolid}' is not empty (contains storage '{sid}')"
        )));
    }
    if let Some(p) = st.access.pools.remove(&poolid) {
        for vmid in p.vms {
            st.access.vm_pool.remove(&vmid);
        }
    }
    // `delete_pool_acl` drops the pool's ACL subtree.
    let acl_path = format!("/pool/{poolid}");
    let acl_prefix = format!("{acl_path}/");
    st.access
        .acl
        .retain(|p, _| *p != acl_path && !p.starts_with(&acl_prefix));
    Ok(Reply::data(Value::Null))
}

/// The `pool` and `vm` entries of `/cluster/resources` for a caller (PM API2/Cluster.pm:
/// 512-590): pools it may audit (with the running members' totals), and the guests it may
/// audit, each with the `pool` of its membership when the caller may audit that pool.
pub(crate) fn resource_entries(
    inner: &Inner,
    st: &State,
    perms: &Perms<'_>,
    want_pools: bool,
    want_vms: bool,
) -> Vec<Value> {
    let mut pools: BTreeMap<&str, Value> = BTreeMap::new();
    if want_pools {
        for id in st.access.pools.keys() {
            if perms.has(&format!("/pool/{id}"), &["Pool.Audit"]) {
                pools.insert(
                    id,
                    json!({"id": format!("/pool/{id}"), "pool": id, "type": "pool"}),
                );
            }
        }
    }
    let mut guests = Vec::new();
    if want_vms || want_pools {
        for g in st.guests.values() {
            let mut entry = guest_resource(inner, g);
            let pool = st.access.vm_pool.get(&g.vmid);
            if let Some(pe) = pool.and_then(|p| pools.get_mut(p.as_str()))
                && entry["uptime"].as_i64().unwrap_or(0) > 0
            {
                let add = |pe: &mut Value, k: &str, v: f64| {
                    let cur = pe[k].as_f64().unwrap_or(0.0);
                    pe[k] = json!(cur + v);
                };
                let up = entry["uptime"].as_i64().unwrap_or(0);
                if pe["uptime"].as_i64().unwrap_or(0) < up {
                    pe["uptime"] = json!(up);
                }
                add(pe, "mem", entry["mem"].as_f64().unwrap_or(0.0));
                add(pe, "maxmem", entry["maxmem"].as_f64().unwrap_or(0.0));
                let (cpu, maxcpu) = (
                    pe["cpu"].as_f64().unwrap_or(0.0),
                    pe["maxcpu"].as_f64().unwrap_or(0.0),
                );
                let (ecpu, emax) = (
                    entry["cpu"].as_f64().unwrap_or(0.0),
                    entry["maxcpu"].as_f64().unwrap_or(0.0),
                );
                if maxcpu + emax > 0.0 {
                    pe["cpu"] = json!((cpu * maxcpu + ecpu * emax) / (maxcpu + emax));
                }
                pe["maxcpu"] = json!(maxcpu + emax);
            }
            if !want_vms || !perms.has(&format!("/vms/{}", g.vmid), &["VM.Audit"]) {
                continue;
            }
            if let Some(p) = pool
                && perms.has(&format!("/pool/{p}"), &["Pool.Audit"])
            {
                entry["pool"] = json!(p);
            }
            guests.push(entry);
        }
    }
    pools.into_values().chain(guests).collect()
}
