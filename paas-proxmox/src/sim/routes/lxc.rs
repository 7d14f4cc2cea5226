//! `POST /nodes/{node}/lxc`: create a container from a template.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::guest::{spec, with_start_time};
use super::{check_node, lock_guest};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::state::{Guest, STORAGES, noun, split_tags};
use crate::sim::tasks;
use crate::sim::types::GuestKind;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// Parameters copied into the config as they are.
const COPIED: [&str; 14] = [
    "memory",
    "swap",
    "cores",
    "cpulimit",
    "cpuunits",
    "unprivileged",
    "features",
    "onboot",
    "description",
    "nameserver",
    "searchdomain",
    "arch",
    "timezone",
    "startup",
];

/// `POST /nodes/{node}/lxc`: returns the UPID of a `vzcreate` task; the config carries
/// `lock: create` until it ends.
pub(crate) async fn create(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let node = call.node().to_string();
    let vmid = call.vmid();
    {
        let st = inner.state();
        check_node(&st, &node)?;
    }
    let prefix = format!("unable to create CT {vmid} - ");
    let guard = lock_guest(inner, GuestKind::Lxc, vmid, inner.cfg.lock_timeout, &prefix).await?;
    let mut st = inner.state();
    if let Some(other) = st.guests.get(&vmid) {
        return Err(ApiError::internal(format!(
            "{} {vmid} already exists on node '{}'",
            noun(other.kind),
            other.node
        )));
    }
    super::allocate::check_lxc_create(&st, call, vmid, false)?;
    // Storages.
    let ostemplate = call.get("ostemplate").unwrap_or_default().to_string();
    let (tmpl_store, _) = ostemplate.split_once(':').unwrap_or(("", ""));
    if !STORAGES.iter().any(|(n, _, _)| *n == tmpl_store) {
        return Err(if tmpl_store.is_empty() {
            ApiError::internal(format!("can't find file '{ostemplate}'"))
        } else {
            ApiError::internal(format!("storage '{tmpl_store}' does not exist"))
        });
    }
    let Some(template) = st.templates.iter().find(|t| t.volid == ostemplate).cloned() else {
        return Err(ApiError::internal(format!(
            "can't find file '{ostemplate}'"
        )));
    };
    let default_store = call.get("storage").unwrap_or("local");
    let rootfs_param = call
        .get("rootfs")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{default_store}:4"));
    let mut parts = rootfs_param.split(',');
    let volume = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let (store, size) = volume.split_once(':').unwrap_or((volume, "4"));
    if !STORAGES.iter().any(|(n, _, _)| *n == store) {
        return Err(ApiError::internal(format!(
            "storage '{store}' does not exist"
        )));
    }
    let size_gb = size.trim_end_matches('G').parse::<f64>().unwrap_or(4.0);
    let disk = if store == "local" {
        format!("local:{vmid}/vm-{vmid}-disk-0.raw")
    } else {
        format!("{store}:vm-{vmid}-disk-0")
    };
    let mut rootfs = format!("{disk},size={size_gb}G");
    for r in rest.iter().filter(|r| !r.starts_with("size=")) {
        rootfs.push(',');
        rootfs.push_str(r);
    }

    let mut config: BTreeMap<String, String> = BTreeMap::new();
    let os = [
        "debian",
        "ubuntu",
        "alpine",
        "centos",
        "fedora",
        "archlinux",
    ]
    .into_iter()
    .find(|os| ostemplate.contains(os))
    .unwrap_or("unmanaged");
    config.insert("arch".into(), "amd64".into());
    config.insert("ostype".into(), os.into());
    config.insert(
        "hostname".into(),
        call.get("hostname")
            .map(str::to_string)
            .unwrap_or_else(|| format!("CT{vmid}")),
    );
    config.insert("memory".into(), "512".into());
    config.insert("swap".into(), "512".into());
    config.insert("rootfs".into(), rootfs);
    config.insert("lock".into(), "create".into());
    for key in COPIED {
        if let Some(v) = call.get(key) {
            config.insert(key.into(), v.into());
        }
    }
    if let Some(tags) = call.get("tags") {
        let tags = split_tags(tags).join(";");
        if !tags.is_empty() {
            config.insert("tags".into(), tags);
        }
    }
    for (key, value) in &call.params {
        let is_net = key
            .strip_prefix("net")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_net {
            let mut v = value.clone();
            if !v.contains("hwaddr=") {
                v.push_str(&format!(",hwaddr={}", st.new_mac()));
            }
            if !v.contains("type=") {
                v.push_str(",type=veth");
            }
            config.insert(key.clone(), v);
        }
    }
    let dhcp_ip = st.new_dhcp_ip();
    st.guests.insert(
        vmid,
        Guest {
            vmid,
            node: node.clone(),
            kind: GuestKind::Lxc,
            config,
            running: false,
            started: None,
            started_epoch: 0,
            dhcp_ip,
            snapshots: BTreeMap::new(),
        },
    );
    let start = call.flag("start");
    let archive = template
        .volid
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let first_log = vec![format!(
        "extracting archive '/var/lib/vz/template/cache/{archive}'"
    )];
    let effect_node = node.clone();
    let pool = call.get("pool").map(str::to_string);
    let effect: tasks::Effect = Box::new(move |st, fail| {
        let Some(g) = st
            .guests
            .get_mut(&vmid)
            .filter(|g| g.node == effect_node && g.kind == GuestKind::Lxc)
        else {
            return (
                vec![],
                Err(format!(
                    "unable to create CT {vmid} - configuration file vanished"
                )),
            );
        };
        if fail {
            st.guests.remove(&vmid);
            return (
                vec![],
                Err(format!(
                    "unable to create CT {vmid} - command 'tar xpf - --zstd --totals --one-file-system -C /var/lib/lxc/{vmid}/rootfs' failed: exit code 2"
                )),
            );
        }
        g.config.remove("lock");
        let mut log = vec![
            format!(
                "Total bytes read: {} ({}MiB, 312MiB/s)",
                template.size * 4,
                template.size * 4 / (1 << 20)
            ),
            format!("Detected OS distribution as '{os}'"),
            "Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ..."
                .to_string(),
        ];
        if start {
            g.running = true;
            g.started = Some(Instant::now());
            log.push(format!("starting CT {vmid}"));
        }
        // Pool membership comes last, once the container exists (CT API2/LXC.pm:627).
        if let Some(pool) = &pool {
            st.access.add_vm_to_pool(vmid, pool);
        }
        (log, Ok(()))
    });
    let effect = with_start_time(inner, effect, vmid);
    let upid = tasks::spawn(
        inner,
        &mut st,
        spec(call, &node, "vzcreate", vmid, first_log),
        vec![guard],
        effect,
    );
    Ok(Reply::data(json!(upid)))
}
