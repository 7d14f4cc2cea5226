//! `POST /nodes/{node}/qemu/{vmid}/clone` (qemu-server 4dbb6e4437fc `API2/Qemu.pm` clone_vm,
//! :4233-4645).
//!
//! As in PVE 9.x the request runs only lock-free checks (`$load_and_check->(); # early checks
//! before forking/locking`, :4642) and returns the UPID of a `qmclone` task whose id is the
//! *source* VMID. The worker takes the source's lock *shared* when the source is stopped
//! (exclusive when it runs), 1 s (:4633-4639), then the target's exclusive, 1 s (:4630), checks
//! again, writes the target's temporary config `lock: clone` and copies the disks. So parallel
//! clones of a stopped template all succeed, a lock that cannot be had is the task's error,
//! and the new VMID has no config until the worker writes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::check_node;
use super::guest::spec;
use super::missing_conf;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, State};
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::volumes::{has_content, numbered, parse_size, storage_def, storage_of};
use crate::sim::wire::{ApiError, ApiResult, Reply};
use crate::sim::worker::{self, LockReq};

/// Disk keys of a QEMU config.
fn is_disk_key(k: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
        .iter()
        .any(|p| numbered(k, p))
}

/// What a clone was asked for.
#[derive(Debug, Clone)]
struct CloneJob {
    node: String,
    vmid: u32,
    newid: u32,
    target: Option<String>,
    storage: Option<String>,
    full: Option<bool>,
    name: Option<String>,
    description: Option<String>,
    pool: Option<String>,
    running: bool,
}

/// A check's failure: a parameter error (HTTP 400 at request time) or a plain error text.
enum Refusal {
    Param(&'static str, String),
    Text(String),
}

impl Refusal {
    fn api(self) -> ApiError {
        match self {
            Refusal::Param(p, m) => ApiError::param(p, m),
            Refusal::Text(m) => ApiError::internal(m),
        }
    }

    fn text(self) -> String {
        match self {
            Refusal::Param(p, m) => format!("{p}: {m}"),
            Refusal::Text(m) => m,
        }
    }
}

impl CloneJob {
    /// `$load_and_check` (:4336-4455), in its order; returns whether the clone is full.
    fn check(&self, st: &State) -> Result<bool, Refusal> {
        if let Some(t) = &self.target
            && st.node(t).is_none()
        {
            return Err(Refusal::Text(format!("no such cluster node '{t}'")));
        }
        if let Some(s) = &self.storage {
            if storage_def(s).is_none() {
                return Err(Refusal::Text(format!("storage '{s}' does not exist")));
            }
            if !has_content(s, "images") {
                return Err(Refusal::Param(
                    "storage",
                    format!("storage '{s}' does not support vm images"),
                ));
            }
            // The stock storages are all local (not `shared`).
            if self.target.is_some() {
                return Err(Refusal::Text(format!(
                    "can't clone to non-shared storage '{s}'"
                )));
            }
        }
        let src = st
            .guests
            .get(&self.vmid)
            .filter(|g| g.node == self.node && g.kind == GuestKind::Qemu)
            .ok_or_else(|| {
                Refusal::Text(missing_conf(&self.node, GuestKind::Qemu, self.vmid).message)
            })?;
        if let Some(l) = src.lock() {
            return Err(Refusal::Text(format!("VM is locked ({l})")));
        }
        if src.running != self.running {
            return Err(Refusal::Text("unexpected state change".into()));
        }
        let full = self.full.unwrap_or(!src.is_template());
        if self.storage.is_some() && !full {
            return Err(Refusal::Text(
                "parameter 'storage' not allowed for linked clones".into(),
            ));
        }
        // `$check_storage_access_clone`: a VM on any non-shared storage is not shared.
        let shared = disks(src).is_empty();
        if let Some(t) = &self.target
            && !shared
        {
            return Err(Refusal::Text(format!(
                "can't clone VM to node '{t}' (VM uses local storage)"
            )));
        }
        // `-f $conffile`: only this node's QEMU configs are seen here.
        if st
            .guests
            .get(&self.newid)
            .is_some_and(|g| g.node == self.node && g.kind == GuestKind::Qemu)
        {
            return Err(Refusal::Text(format!(
                "unable to create VM {}: config file already exists",
                self.newid
            )));
        }
        for (key, volid) in disks(src) {
            // A linked clone's `base-9000-disk-0/vm-600-disk-0` is no base volume itself.
            let base = volid
                .split_once(':')
                .is_some_and(|(_, n)| n.rsplit('/').next().unwrap_or(n).starts_with("base-"));
            if !full && !base {
                return Err(Refusal::Text(format!(
                    "Linked clone feature is not supported for '{volid}' ({key})"
                )));
            }
        }
        Ok(full)
    }
}

/// The `(key, volume id)` of a VM's disks (CD-ROMs and cloud-init drives aside).
fn disks(g: &Guest) -> Vec<(String, String)> {
    g.config
        .iter()
        .filter(|(k, v)| is_disk_key(k) && !v.contains("media=cdrom"))
        .filter_map(|(k, v)| {
            let volid = v.split(',').next()?;
            storage_of(volid)?;
            Some((k.clone(), volid.to_string()))
        })
        .collect()
}

/// `POST /nodes/{node}/qemu/{vmid}/clone`.
pub(crate) async fn clone(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let newid = call
        .int("newid")
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let mut st = inner.state();
    check_node(&st, &node)?;
    let vmid = call.vmid();
    let job = CloneJob {
        target: call
            .get("target")
            .filter(|t| *t != node && *t != "localhost")
            .map(str::to_string),
        storage: call.get("storage").map(str::to_string),
        full: call.get("full").map(|f| f == "1"),
        name: call.get("name").map(str::to_string),
        description: call.get("description").map(str::to_string),
        pool: call.get("pool").map(str::to_string),
        running: st
            .guests
            .get(&vmid)
            .is_some_and(|g| g.node == node && g.kind == GuestKind::Qemu && g.running),
        node: node.clone(),
        vmid,
        newid,
    };
    // The pool, storage and bridge permissions of `$load_and_check` (:4350-4398).
    if let Some(src) = st
        .guests
        .get(&vmid)
        .filter(|g| g.node == node && g.kind == GuestKind::Qemu)
    {
        let src_config: Vec<(String, String)> = src.config.clone().into_iter().collect();
        super::allocate::check_clone(&st, call, &src_config)?;
    }
    job.check(&st).map_err(Refusal::api)?;
    let timeout = inner.cfg.clone_lock_timeout;
    let locks = vec![
        LockReq {
            kind: GuestKind::Qemu,
            vmid,
            timeout,
            shared: !job.running,
        },
        LockReq::exclusive(GuestKind::Qemu, newid, timeout),
    ];
    let first = job.clone();
    let begin: worker::Begin = Box::new(move |st| {
        first.check(st).map_err(Refusal::text)?;
        if st.guests.contains_key(&first.newid) {
            // pmxcfs refuses a second config for a VMID that a container or another node
            // holds, so the temporary config's rename fails; it is written outside the
            // clone's eval, hence without "clone failed: " (pve-common PVE/File.pm
            // file_set_contents; the errno text is inferred).
            return Err(format!(
                "close (rename) atomic file '/etc/pve/nodes/{}/qemu-server/{}.conf' failed: File exists",
                first.node, first.newid
            ));
        }
        // :4519 `file_set_contents($conffile, "# qmclone temporary file\nlock: clone\n")`.
        let mut config = BTreeMap::new();
        config.insert("lock".to_string(), "clone".to_string());
        let dhcp_ip = st.new_dhcp_ip();
        st.guests.insert(
            first.newid,
            Guest {
                vmid: first.newid,
                node: first.node.clone(),
                kind: GuestKind::Qemu,
                config,
                running: false,
                started: None,
                started_epoch: 0,
                dhcp_ip,
                snapshots: BTreeMap::new(),
            },
        );
        Ok(Vec::new())
    });
    let effect: tasks::Effect = Box::new(move |st, fail| finish(st, &job, fail));
    let upid = worker::spawn_locked(
        inner,
        &mut st,
        spec(call, &node, "qmclone", vmid, vec![]),
        locks,
        begin,
        effect,
    );
    Ok(Reply::data(json!(upid)))
}

/// The clone's eval (:4525-4610): copy or link every disk, write the final config, move it
/// to the target node. A failure frees the new disks and the config: `clone failed: <err>`.
fn finish(st: &mut State, job: &CloneJob, fail: bool) -> (Vec<String>, Result<(), String>) {
    let newid = job.newid;
    let Some(src) = st
        .guests
        .get(&job.vmid)
        .filter(|g| g.kind == GuestKind::Qemu)
        .cloned()
    else {
        st.guests.remove(&newid);
        return (
            vec![],
            Err(format!(
                "clone failed: {}",
                missing_conf(&job.node, GuestKind::Qemu, job.vmid).message
            )),
        );
    };
    let full = job.full.unwrap_or(!src.is_template());
    let mut log = Vec::new();
    if fail {
        st.guests.remove(&newid);
        return (
            log,
            Err(format!(
                "clone failed: command '/usr/bin/qemu-img convert -p -n -f raw -O raw /dev/pve/base-{}-disk-0 zeroinit:/dev/pve/vm-{newid}-disk-0' failed: exit code 1",
                job.vmid
            )),
        );
    }
    let mut config: BTreeMap<String, String> = src
        .config
        .iter()
        .filter(|(k, _)| !numbered(k, "unused") && k.as_str() != "template")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    config.insert(
        "name".into(),
        job.name.clone().unwrap_or_else(|| {
            format!(
                "Copy-of-VM-{}",
                src.config
                    .get("name")
                    .cloned()
                    .unwrap_or_else(|| job.vmid.to_string())
            )
        }),
    );
    if let Some(d) = &job.description {
        config.insert("description".into(), d.clone());
    }
    // Disks, in key order: full copies get new volumes of the same size (fresh data ids),
    // linked clones a thin snapshot of the base volume.
    let src_disks = disks(&src);
    let mut wanted = Vec::new();
    for (key, volid) in &src_disks {
        let value = &src.config[key];
        let size = value
            .split(',')
            .find_map(|p| p.strip_prefix("size="))
            .and_then(parse_size);
        let bytes = st.volume_size(&src.node, volid, size);
        let store = job
            .storage
            .clone()
            .unwrap_or_else(|| storage_of(volid).unwrap_or("local-lvm").to_string());
        wanted.push((store, bytes));
    }
    let made = if full {
        st.alloc_volumes(&job.node, newid, &wanted)
    } else {
        let names = st.alloc_volumes(&job.node, newid, &wanted);
        src_disks
            .iter()
            .zip(names)
            .map(|((_, base), new)| {
                let name = new
                    .split_once(':')
                    .map_or(new.as_str(), |(_, n)| n)
                    .to_string();
                let linked = format!("{base}/{name}");
                let bytes = st.volume_size(&job.node, &new, None);
                st.set_volume_size(&job.node, &linked, bytes);
                linked
            })
            .collect()
    };
    for ((key, volid), new) in src_disks.iter().zip(&made) {
        let opts: Vec<&str> = src.config[key].split(',').skip(1).collect();
        let name = new.rsplit(['/', ':']).next().unwrap_or_default();
        log.push(format!(
            "create {} clone of drive {key} ({volid})",
            if full { "full" } else { "linked" }
        ));
        log.push(format!("  Logical volume \"{name}\" created."));
        let mut v = new.clone();
        for o in opts {
            v.push(',');
            v.push_str(o);
        }
        config.insert(key.clone(), v);
    }
    // Cloud-init drives are regenerated for the new VM.
    for (key, value) in src
        .config
        .iter()
        .filter(|(k, v)| is_disk_key(k) && v.contains("media=cdrom"))
    {
        let volid = value.split(',').next().unwrap_or_default();
        if volid.contains("cloudinit") {
            let store = storage_of(volid).unwrap_or("local-lvm");
            let rest: Vec<&str> = value.split(',').skip(1).collect();
            config.insert(
                key.clone(),
                std::iter::once(format!("{store}:vm-{newid}-cloudinit"))
                    .chain(rest.into_iter().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    if full && !made.is_empty() {
        log.push("transferred 8.0 GiB of 8.0 GiB (100.00%)".to_string());
    }
    let nets: Vec<String> = config
        .keys()
        .filter(|k| numbered(k, "net"))
        .cloned()
        .collect();
    for key in nets {
        let mac = st.new_mac();
        if let Some(v) = config.get_mut(&key) {
            let rest: Vec<&str> = v.split(',').skip(1).collect();
            let model = v
                .split(',')
                .next()
                .and_then(|m| m.split_once('='))
                .map(|(m, _)| m.to_string())
                .unwrap_or_else(|| "virtio".into());
            *v = std::iter::once(format!("{model}={mac}"))
                .chain(rest.into_iter().map(str::to_string))
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    config.insert("smbios1".into(), format!("uuid={}", pseudo_uuid(newid, 1)));
    if config.contains_key("vmgenid") {
        config.insert("vmgenid".into(), pseudo_uuid(newid, 2));
    }
    let Some(g) = st.guests.get_mut(&newid) else {
        return (
            log,
            Err(format!(
                "clone failed: configuration file for VM {newid} vanished"
            )),
        );
    };
    g.config = config;
    if let Some(t) = &job.target {
        g.node = t.clone();
    }
    // QS API2/Qemu.pm:4607 `add_vm_to_pool($newid, $pool) if $pool;` at the task's end.
    if let Some(pool) = &job.pool {
        st.access.add_vm_to_pool(newid, pool);
    }
    (log, Ok(()))
}

/// A stable UUID-shaped string for a new VM's `smbios1` / `vmgenid`.
fn pseudo_uuid(vmid: u32, salt: u32) -> String {
    let a = vmid.wrapping_mul(2_654_435_761) ^ salt.wrapping_mul(40_503);
    format!(
        "{a:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 16 & 0xffff,
        a & 0xfff,
        (a >> 4) & 0xfff,
        u64::from(a) * 7919
    )
}
