//! The permission checks of creating, restoring and cloning guests that PVE runs in the
//! handler code (the schema says `user => 'all'` or checks only part): pool existence,
//! `VM.Allocate` on the guest or its pool, config keys, storages, bridges, templates.

use crate::sim::access::{Perms, perm_error};
use crate::sim::server::Call;
use crate::sim::state::State;
use crate::sim::wire::ApiError;

/// Parameters of `POST /nodes/{node}/lxc` that are not config keys (extracted before
/// `check_ct_modify_config_perm` runs, CT API2/LXC.pm:245-310).
const LXC_NOT_CONFIG: [&str; 15] = [
    "node",
    "vmid",
    "ignore-unpack-errors",
    "bwlimit",
    "start",
    "ha-managed",
    "unprivileged",
    "restore",
    "unique",
    "force",
    "password",
    "ssh-public-keys",
    "pool",
    "ostemplate",
    "storage",
];

/// `check_vnet_access` for a plain bridge: `SDN.Use` on `/sdn/zones/localnetwork/<bridge>`
/// (or the VLAN below it), PVE GC GuestHelpers.pm:397-421.
fn check_bridge(perms: &Perms<'_>, net: &str) -> Result<(), ApiError> {
    if perms.is_root() {
        return Ok(());
    }
    let opt = |k: &str| {
        net.split(',')
            .find_map(|p| p.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    let Some(bridge) = opt("bridge") else {
        return Ok(());
    };
    match opt("tag") {
        Some(tag) => perms.check(
            &format!("/sdn/zones/localnetwork/{bridge}/{tag}"),
            &["SDN.Use"],
        ),
        None => perms.check(&format!("/sdn/zones/localnetwork/{bridge}"), &["SDN.Use"]),
    }
}

/// The storage of a volume spec (`local-lvm:8`, `local-lvm:vm-100-disk-0,size=8G`).
fn storage_of(value: &str) -> Option<&str> {
    value
        .split(',')
        .next()
        .and_then(|v| v.split_once(':'))
        .map(|(s, _)| s)
}

/// `check_pool_exist` then `VM.Allocate` on `/vms/<vmid>` or on the pool; a restore over an
/// existing guest (`force`) also passes with `VM.Backup` (CT API2/LXC.pm:288-312, QS
/// API2/Qemu.pm:1260-1280).
pub(crate) fn check_allocate(
    st: &State,
    call: &Call,
    vmid: u32,
    restore_over_existing: bool,
) -> Result<(), ApiError> {
    let authid = call.caller.authid();
    let perms = st.access.perms(&authid);
    let pool = call.get("pool");
    if let Some(pool) = pool {
        perms.check_pool_exist(pool)?;
    }
    if perms.has(&format!("/vms/{vmid}"), &["VM.Allocate"])
        || pool.is_some_and(|p| perms.has(&format!("/pool/{p}"), &["VM.Allocate"]))
        || (restore_over_existing && perms.has(&format!("/vms/{vmid}"), &["VM.Backup"]))
    {
        return Ok(());
    }
    Err(perm_error(None))
}

/// The checks of `POST /nodes/{node}/lxc` after the VMID is known to be free (or restored
/// over): `Sys.Modify` for a privileged container, pool and `VM.Allocate`, the config keys
/// (`check_ct_modify_config_perm`), the template (or backup) volume and the storages.
pub(crate) fn check_lxc_create(
    st: &State,
    call: &Call,
    vmid: u32,
    restore_over_existing: bool,
) -> Result<(), ApiError> {
    let authid = call.caller.authid();
    let perms = st.access.perms(&authid);
    let restore = call.flag("restore");
    let unprivileged = call.get("unprivileged") != Some("0");
    if !restore && !unprivileged {
        perms.check("/", &["Sys.Modify"])?;
    }
    check_allocate(st, call, vmid, restore_over_existing)?;
    let pool = call.get("pool");
    let keys: Vec<&str> = call
        .params
        .keys()
        .map(String::as_str)
        .filter(|k| !LXC_NOT_CONFIG.contains(k))
        .collect();
    check_ct_config(&perms, call, vmid, pool, &keys, unprivileged)?;
    let ostemplate = call.get("ostemplate").unwrap_or_default();
    let content = if restore { "backup" } else { "vztmpl" };
    check_volume_access(&perms, st, vmid, ostemplate, content)?;
    // `$check_and_activate_storage`: the rootfs/mp storages, or the default one.
    let mut storages: Vec<&str> = call
        .params
        .iter()
        .filter(|(k, _)| *k == "rootfs" || is_indexed(k, "mp"))
        .filter_map(|(_, v)| {
            if v.split(',')
                .next()
                .is_some_and(|s| s.parse::<f64>().is_ok())
            {
                call.get("storage").or(Some("local"))
            } else {
                storage_of(v)
            }
        })
        .collect();
    if !call.params.contains_key("rootfs") {
        storages.push(call.get("storage").unwrap_or("local"));
    }
    for sid in storages {
        perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
    }
    Ok(())
}

fn is_indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `PVE::LXC::check_ct_modify_config_perm` (CT LXC.pm), for `keys` being set.
pub(crate) fn check_ct_config(
    perms: &Perms<'_>,
    call: &Call,
    vmid: u32,
    pool: Option<&str>,
    keys: &[&str],
    unprivileged: bool,
) -> Result<(), ApiError> {
    if perms.is_root() {
        return Ok(());
    }
    for &key in keys {
        let value = call.get(key).unwrap_or_default();
        match key {
            "cores" | "cpuunits" | "cpulimit" => {
                perms.check_vm(vmid, pool, &["VM.Config.CPU"], false)?;
            }
            k if k == "rootfs" || is_indexed(k, "mp") => {
                perms.check_vm(vmid, pool, &["VM.Config.Disk"], false)?;
                if let Some(sid) = storage_of(value) {
                    perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
                }
            }
            "memory" | "swap" => perms.check_vm(vmid, pool, &["VM.Config.Memory"], false)?,
            k if is_indexed(k, "net") => {
                perms.check_vm(vmid, pool, &["VM.Config.Network"], false)?;
                check_bridge(perms, value)?;
            }
            k if is_indexed(k, "dev") => {
                return Err(perm_error(Some(
                    "configuring device passthrough is only allowed for root@pam",
                )));
            }
            "nameserver" | "searchdomain" | "hostname" => {
                perms.check_vm(vmid, pool, &["VM.Config.Network"], false)?;
            }
            "features" => {
                if !unprivileged {
                    return Err(perm_error(Some(
                        "changing feature flags for privileged container is only allowed for root@pam",
                    )));
                }
                let features: Vec<&str> = value.split(',').filter(|f| !f.is_empty()).collect();
                let only_nesting = features.len() == 1 && features[0].starts_with("nesting=");
                if !features.is_empty() && !only_nesting {
                    return Err(perm_error(Some(
                        "changing feature flags (except nesting) is only allowed for root@pam",
                    )));
                }
                if only_nesting {
                    perms.check_vm(vmid, pool, &["VM.Allocate"], false)?;
                }
            }
            "hookscript" => {
                return Err(perm_error(Some(
                    "changing the hookscript is only allowed for root@pam",
                )));
            }
            // `assert_tag_permissions` with the default `user-tag-access` (free): the
            // guest's own VM.Config.Options, not the pool's.
            "tags" => perms.check_vm(vmid, None, &["VM.Config.Options"], false)?,
            _ => perms.check_vm(vmid, pool, &["VM.Config.Options"], false)?,
        }
    }
    Ok(())
}

/// `PVE::Storage::check_volume_access` for a volume a guest is made from.
pub(crate) fn check_volume_access(
    perms: &Perms<'_>,
    st: &State,
    vmid: u32,
    volid: &str,
    content: &str,
) -> Result<(), ApiError> {
    let Some((sid, volname)) = volid.split_once(':') else {
        if perms.is_root() {
            return Ok(());
        }
        return Err(ApiError::internal(
            "Only root can pass arbitrary filesystem paths.",
        ));
    };
    let vtype = volname.split('/').next().unwrap_or_default();
    let vtype = match vtype {
        "vztmpl" | "iso" | "backup" | "import" | "snippets" => vtype,
        _ => "images",
    };
    if vtype != content {
        return Err(ApiError::internal(format!(
            "unable to use volume {volid} - content type needs to be '{content}'"
        )));
    }
    if perms.has(&format!("/storage/{sid}"), &["Datastore.Allocate"]) {
        return Ok(());
    }
    match vtype {
        "vztmpl" | "iso" | "import" => perms.check_any(
            &format!("/storage/{sid}"),
            &["Datastore.AllocateSpace", "Datastore.Audit"],
        ),
        "backup" => {
            let owner = st
                .backups
                .iter()
                .find(|b| b.volid == volid)
                .map(|b| b.vmid)
                .or_else(|| backup_owner(volname));
            match owner {
                Some(o) if o == vmid => Ok(()),
                Some(o) => {
                    perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
                    perms.check(&format!("/vms/{o}"), &["VM.Backup"])
                }
                None => Err(ApiError::internal(format!(
                    "missing privileges to access {volid}"
                ))),
            }
        }
        _ => Err(ApiError::internal(format!(
            "missing privileges to access {volid}"
        ))),
    }
}

/// The VMID a standard backup name encodes (`backup/vzdump-lxc-100-...`).
pub(crate) fn backup_owner(volname: &str) -> Option<u32> {
    let name = volname.strip_prefix("backup/")?;
    let rest = name
        .strip_prefix("vzdump-lxc-")
        .or_else(|| name.strip_prefix("vzdump-qemu-"))?;
    rest.split('-').next()?.parse().ok()
}

/// The checks of a clone that PVE runs in `$load_and_check`: the pool, the storages the new
/// disks go to, and the bridges (QS API2/Qemu.pm:4350-4398).
pub(crate) fn check_clone(
    st: &State,
    call: &Call,
    source_config: &[(String, String)],
) -> Result<(), ApiError> {
    let authid = call.caller.authid();
    let perms = st.access.perms(&authid);
    if let Some(pool) = call.get("pool") {
        perms.check_pool_exist(pool)?;
    }
    for (key, value) in source_config {
        let is_disk = ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
            .iter()
            .any(|p| is_indexed(key, p));
        if is_disk && !value.contains("media=cdrom") {
            let sid = call.get("storage").or_else(|| storage_of(value));
            if let Some(sid) = sid {
                perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
            }
        }
        if is_indexed(key, "net") {
            check_bridge(&perms, value)?;
        }
    }
    Ok(())
}

/// QS API2/Qemu.pm:759-832: which privilege each QEMU option needs.
fn qemu_option_privs(opt: &str) -> Option<&'static [&'static str]> {
    const CPU: [&str; 9] = [
        "cores",
        "cpu",
        "runningcpu",
        "cpulimit",
        "cpuunits",
        "numa",
        "smp",
        "sockets",
        "vcpus",
    ];
    const MEMORY: [&str; 4] = ["memory", "balloon", "shares", "allow-ksm"];
    const HWTYPE: [&str; 12] = [
        "acpi",
        "hotplug",
        "kvm",
        "machine",
        "runningmachine",
        "scsihw",
        "smbios1",
        "tablet",
        "vga",
        "watchdog",
        "audio0",
        "rng0",
    ];
    const GENERAL: [&str; 17] = [
        "agent",
        "autostart",
        "bios",
        "description",
        "keyboard",
        "localtime",
        "migrate_downtime",
        "migrate_speed",
        "name",
        "onboot",
        "ostype",
        "protection",
        "reboot",
        "startdate",
        "startup",
        "tdf",
        "template",
    ];
    const DISK: [&str; 3] = ["boot", "bootdisk", "vmstatestorage"];
    const CLOUDINIT: [&str; 8] = [
        "cicustom",
        "cipassword",
        "citype",
        "ciuser",
        "ciupgrade",
        "nameserver",
        "searchdomain",
        "sshkeys",
    ];
    Some(if CPU.contains(&opt) || is_indexed(opt, "numa") {
        &["VM.Config.CPU"]
    } else if MEMORY.contains(&opt) {
        &["VM.Config.Memory"]
    } else if HWTYPE.contains(&opt) {
        &["VM.Config.HWType"]
    } else if GENERAL.contains(&opt) {
        &["VM.Config.Options"]
    } else if opt == "freeze" {
        &["VM.PowerMgmt"]
    } else if DISK.contains(&opt) {
        &["VM.Config.Disk"]
    } else if is_indexed(opt, "net") {
        &["VM.Config.Network"]
    } else if CLOUDINIT.contains(&opt) || is_indexed(opt, "ipconfig") {
        // Either of the two (`check_vm_perm(..., 1)`).
        &["VM.Config.Cloudinit", "VM.Config.Network"]
    } else {
        return None;
    })
}

/// `$check_vm_modify_config_perm` (QS API2/Qemu.pm:961-1008) plus the drive and tag checks
/// PVE runs next to it.
pub(crate) fn check_vm_config(
    perms: &Perms<'_>,
    call: &Call,
    vmid: u32,
    pool: Option<&str>,
    keys: &[&str],
) -> Result<(), ApiError> {
    if perms.is_root() {
        return Ok(());
    }
    for &key in keys {
        let value = call.get(key).unwrap_or_default();
        let is_drive = ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"]
            .iter()
            .any(|p| is_indexed(key, p));
        if is_drive || key == "cdrom" {
            if value.contains("media=cdrom") || key == "cdrom" {
                perms.check_vm(vmid, pool, &["VM.Config.CDROM"], false)?;
            } else {
                perms.check_vm(vmid, pool, &["VM.Config.Disk"], false)?;
                if let Some(sid) = storage_of(value) {
                    perms.check(&format!("/storage/{sid}"), &["Datastore.AllocateSpace"])?;
                }
            }
            continue;
        }
        if ["unused", "usb", "hostpci", "virtiofs"]
            .iter()
            .any(|p| is_indexed(key, p))
        {
            continue;
        }
        if key == "tags" {
            perms.check_vm(vmid, None, &["VM.Config.Options"], false)?;
            continue;
        }
        if is_indexed(key, "serial") {
            if value == "socket" {
                perms.check_vm(vmid, pool, &["VM.Config.HWType"], false)?;
                continue;
            }
            return Err(ApiError::internal(format!(
                "only root can set '{key}' config for real devices"
            )));
        }
        if key == "vmstate" {
            perms.check_vm(vmid, pool, &["VM.Config.Disk", "VM.PowerMgmt"], false)?;
            continue;
        }
        let Some(privs) = qemu_option_privs(key) else {
            return Err(ApiError::internal(format!(
                "only root can set '{key}' config"
            )));
        };
        let any = privs.len() > 1;
        perms.check_vm(vmid, pool, privs, any)?;
        if key == "startup" {
            perms.check("/", &["Sys.Modify"])?;
        }
        if is_indexed(key, "net") {
            check_bridge(perms, value)?;
        }
    }
    Ok(())
}

/// The per-key checks of `PUT .../config` (set and deleted keys), which the schema's "any of
/// VM.Config.*" does not cover: a token with `VM.Config.CPU` alone cannot change memory.
pub(crate) fn check_config_update(
    st: &State,
    call: &Call,
    guest: &crate::sim::state::Guest,
    not_config: &[&str],
) -> Result<(), ApiError> {
    let authid = call.caller.authid();
    let perms = st.access.perms(&authid);
    if guest.kind == crate::sim::types::GuestKind::Qemu && call.flag("skiplock") && !perms.is_root()
    {
        return Err(ApiError::param(
            "skiplock",
            "Only root may use this option.",
        ));
    }
    let mut keys: Vec<&str> = call
        .params
        .keys()
        .map(String::as_str)
        .filter(|k| !not_config.contains(k))
        .collect();
    let deletes: Vec<&str> = call
        .get("delete")
        .map(|d| d.split([',', ';', ' ']).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    keys.extend(deletes.iter().copied());
    match guest.kind {
        crate::sim::types::GuestKind::Lxc => {
            let unprivileged = guest.config.get("unprivileged").is_some_and(|u| u == "1");
            check_ct_config(&perms, call, guest.vmid, None, &keys, unprivileged)
        }
        crate::sim::types::GuestKind::Qemu => {
            check_vm_config(&perms, call, guest.vmid, None, &keys)
        }
    }
}
