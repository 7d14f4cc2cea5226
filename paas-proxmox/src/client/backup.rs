//! Backups: `vzdump`, the backup volumes of a storage, their removal, notes and protection,
//! pruning by retention, and restoring into a new (or, with `force`, the same) guest.

use super::{ApiRequest, Method, ProxmoxClient, Upid, num};
use paas_core::Result;
use serde::{Deserialize, Serialize};

/// How `vzdump` treats a running guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackupMode {
    /// Live, from a storage snapshot (falls back to `suspend` where volumes cannot be
    /// snapshotted).
    Snapshot,
    /// Suspend the guest for the final sync.
    Suspend,
    /// Stop the guest for the backup and start it again afterwards.
    Stop,
}

impl BackupMode {
    /// The API value.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMode::Snapshot => "snapshot",
            BackupMode::Suspend => "suspend",
            BackupMode::Stop => "stop",
        }
    }
}

/// Compression of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// None (`0`).
    None,
    /// LZO (`.lzo`).
    Lzo,
    /// gzip (`.gz`).
    Gzip,
    /// zstd (`.zst`), what the GUI uses.
    Zstd,
}

impl Compression {
    /// The API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "0",
            Compression::Lzo => "lzo",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Retention (`prune-backups`): how many backups to keep, per guest. All `None` (or all zero)
/// means keep everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep everything (cannot be combined with the counts).
    pub keep_all: bool,
    /// The last N backups.
    pub keep_last: Option<u32>,
    /// The latest backup of each of the last N hours.
    pub keep_hourly: Option<u32>,
    /// ... days.
    pub keep_daily: Option<u32>,
    /// ... ISO weeks.
    pub keep_weekly: Option<u32>,
    /// ... months.
    pub keep_monthly: Option<u32>,
    /// ... years.
    pub keep_yearly: Option<u32>,
}

impl Retention {
    /// The property string PVE takes, e.g. `keep-daily=7,keep-last=3`.
    ///
    /// ```
    /// use paas_proxmox::client::backup::Retention;
    /// let r = Retention { keep_last: Some(3), keep_daily: Some(7), ..Retention::default() };
    /// assert_eq!(r.to_param(), "keep-last=3,keep-daily=7");
    /// assert_eq!(Retention::default().to_param(), "keep-all=1");
    /// ```
    pub fn to_param(&self) -> String {
        let counts = [
            ("keep-last", self.keep_last),
            ("keep-hourly", self.keep_hourly),
            ("keep-daily", self.keep_daily),
            ("keep-weekly", self.keep_weekly),
            ("keep-monthly", self.keep_monthly),
            ("keep-yearly", self.keep_yearly),
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter_map(|(k, v)| v.map(|n| format!("{k}={n}")))
            .collect();
        if self.keep_all || parts.is_empty() {
            let mut all = vec!["keep-all=1".to_string()];
            if self.keep_all {
                all.extend(parts);
            }
            return all.join(",");
        }
        parts.join(",")
    }
}

/// Parameters of `POST /nodes/{node}/vzdump`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vzdump {
    /// The guests to back up (those on other nodes are skipped by this node).
    pub vmids: Vec<u32>,
    /// Back up every guest of the node (instead of `vmids`).
    pub all: Option<bool>,
    /// Every guest of this pool (instead of `vmids`).
    pub pool: Option<String>,
    /// The target storage (PVE's default: `local`); it must hold `backup` content.
    pub storage: Option<String>,
    /// Mode (PVE's default: snapshot).
    pub mode: Option<BackupMode>,
    /// Compression (PVE's default: none).
    pub compress: Option<Compression>,
    /// Prune older backups by `prune_backups` (PVE's default: yes).
    pub remove: Option<bool>,
    /// Retention to prune by, instead of the storage's.
    pub prune_backups: Option<Retention>,
    /// Notes template, e.g. `{{guestname}} ({{vmid}})`; needs `storage`.
    pub notes_template: Option<String>,
    /// Mark the backups protected; needs `storage`.
    pub protected: Option<bool>,
}

/// One backup volume of `GET .../storage/{storage}/content?content=backup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupVolume {
    /// e.g. `local:backup/vzdump-lxc-100-2025_01_30-14_05_12.tar.zst`.
    pub volid: String,
    /// `tar.zst`, `vma.zst`, ...
    #[serde(default)]
    pub format: Option<String>,
    /// Size, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub size: Option<u64>,
    /// Creation time, Unix seconds.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub ctime: Option<u64>,
    /// The guest it belongs to.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub vmid: Option<u64>,
    /// `lxc` or `qemu`.
    #[serde(default)]
    pub subtype: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Protected from removal and pruning.
    #[serde(default, deserialize_with = "num::bool")]
    pub protected: bool,
}

/// What a prune does (or would do) to one backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneEntry {
    /// The backup.
    pub volid: String,
    /// `keep`, `remove`, `protected` or `renamed`.
    pub mark: String,
    /// Creation time, Unix seconds.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub ctime: Option<u64>,
    /// `lxc`, `qemu`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The guest.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub vmid: Option<u64>,
}

/// Parameters of a restore into container `vmid` (`POST /nodes/{node}/lxc` with `restore=1`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreLxc {
    /// The container to restore into.
    pub vmid: u32,
    /// The backup volume, e.g. `local:backup/vzdump-lxc-100-...tar.zst`.
    pub archive: String,
    /// Where the volumes go (PVE's default `local`); the backed-up sizes are kept.
    pub storage: Option<String>,
    /// Replace the existing (stopped) container `vmid`.
    pub force: Option<bool>,
    /// New MAC addresses.
    pub unique: Option<bool>,
    /// Add it to this pool.
    pub pool: Option<String>,
    /// Start it afterwards.
    pub start: Option<bool>,
    /// Instead of the backed-up hostname.
    pub hostname: Option<String>,
    /// Instead of the backed-up root volume, e.g. `local-lvm:8`.
    pub rootfs: Option<String>,
}

/// Parameters of a restore into VM `vmid` (`POST /nodes/{node}/qemu` with `archive`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreVm {
    /// The VM to restore into.
    pub vmid: u32,
    /// The backup volume, e.g. `local:backup/vzdump-qemu-101-...vma.zst`.
    pub archive: String,
    /// Where the disks go (default: where they were).
    pub storage: Option<String>,
    /// Replace the existing (stopped) VM `vmid`.
    pub force: Option<bool>,
    /// New MAC addresses.
    pub unique: Option<bool>,
    /// Add it to this pool.
    pub pool: Option<String>,
    /// Start it afterwards.
    pub start: Option<bool>,
    /// Instead of the backed-up name.
    pub name: Option<String>,
}

/// `POST /nodes/{node}/vzdump`.
pub fn vzdump_request(node: &str, p: &Vzdump) -> ApiRequest {
    let vmids: Vec<String> = p.vmids.iter().map(u32::to_string).collect();
    ApiRequest::new(Method::Post, ["nodes", node, "vzdump"])
        .opt("vmid", (!vmids.is_empty()).then(|| vmids.join(",")))
        .opt_flag("all", p.all)
        .opt("pool", p.pool.as_deref())
        .opt("storage", p.storage.as_deref())
        .opt("mode", p.mode.map(BackupMode::as_str))
        .opt("compress", p.compress.map(Compression::as_str))
        .opt_flag("remove", p.remove)
        .opt("prune-backups", p.prune_backups.map(|r| r.to_param()))
        .opt("notes-template", p.notes_template.as_deref())
        .opt_flag("protected", p.protected)
}

/// `GET /nodes/{node}/storage/{storage}/content?content=backup[&vmid=]`.
pub fn list_request(node: &str, storage: &str, vmid: Option<u32>) -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes", node, "storage", storage, "content"])
        .param("content", "backup")
        .opt("vmid", vmid)
}

/// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`.
pub fn delete_request(node: &str, storage: &str, volid: &str) -> ApiRequest {
    ApiRequest::new(
        Method::Delete,
        ["nodes", node, "storage", storage, "content", volid],
    )
}

/// `PUT /nodes/{node}/storage/{storage}/content/{volume}` (notes and/or protection).
pub fn update_request(
    node: &str,
    storage: &str,
    volid: &str,
    notes: Option<&str>,
    protected: Option<bool>,
) -> ApiRequest {
    ApiRequest::new(
        Method::Put,
        ["nodes", node, "storage", storage, "content", volid],
    )
    .opt("notes", notes)
    .opt_flag("protected", protected)
}

/// `GET` (dry run) or `DELETE /nodes/{node}/storage/{storage}/prunebackups`.
pub fn prune_request(
    method: Method,
    node: &str,
    storage: &str,
    retention: Option<&Retention>,
    vmid: Option<u32>,
) -> ApiRequest {
    ApiRequest::new(method, ["nodes", node, "storage", storage, "prunebackups"])
        .opt("prune-backups", retention.map(Retention::to_param))
        .opt("vmid", vmid)
}

/// `POST /nodes/{node}/lxc` with `restore=1`.
pub fn restore_lxc_request(node: &str, p: &RestoreLxc) -> ApiRequest {
    ApiRequest::new(Method::Post, ["nodes", node, "lxc"])
        .param("vmid", p.vmid)
        .param("ostemplate", &p.archive)
        .flag("restore", true)
        .opt("storage", p.storage.as_deref())
        .opt_flag("force", p.force)
        .opt_flag("unique", p.unique)
        .opt("pool", p.pool.as_deref())
        .opt_flag("start", p.start)
        .opt("hostname", p.hostname.as_deref())
        .opt("rootfs", p.rootfs.as_deref())
}

/// `POST /nodes/{node}/qemu` with `archive`.
pub fn restore_vm_request(node: &str, p: &RestoreVm) -> ApiRequest {
    ApiRequest::new(Method::Post, ["nodes", node, "qemu"])
        .param("vmid", p.vmid)
        .param("archive", &p.archive)
        .opt("storage", p.storage.as_deref())
        .opt_flag("force", p.force)
        .opt_flag("unique", p.unique)
        .opt("pool", p.pool.as_deref())
        .opt_flag("start", p.start)
        .opt("name", p.name.as_deref())
}

impl ProxmoxClient {
    /// Starts a backup job on `node`; returns its task (`vzdump`), or `None` when none of the
    /// guests is on `node` (PVE then answers `OK` and starts nothing). A guest carries
    /// `lock: backup` while its backup runs.
    ///
    /// ```no_run
    /// # async fn demo(c: paas_proxmox::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::backup::{Compression, Vzdump};
    /// use paas_proxmox::client::WaitOptions;
    /// let job = Vzdump { vmids: vec![100], storage: Some("local".into()),
    ///     compress: Some(Compression::Zstd), ..Vzdump::default() };
    /// if let Some(task) = c.vzdump("pve1", &job).await? {
    ///     c.wait_task(&task, WaitOptions::default()).await?;
    /// }
    /// let backups = c.backups("pve1", "local", Some(100)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn vzdump(&self, node: &str, params: &Vzdump) -> Result<Option<Upid>> {
        let reply: String = self.send(&vzdump_request(node, params)).await?;
        if reply == "OK" {
            return Ok(None);
        }
        reply.parse().map(Some)
    }

    /// The backups on a storage of `node`, optionally of one guest.
    pub async fn backups(
        &self,
        node: &str,
        storage: &str,
        vmid: Option<u32>,
    ) -> Result<Vec<BackupVolume>> {
        self.send(&list_request(node, storage, vmid)).await
    }

    /// Removes a volume (a backup: needs `VM.Backup` on its guest); returns the task
    /// (`imgdel`). A protected backup makes the task fail.
    pub async fn delete_volume(&self, node: &str, storage: &str, volid: &str) -> Result<Upid> {
        self.send(&delete_request(node, storage, volid)).await
    }

    /// Sets a backup's notes and/or protection.
    pub async fn update_backup(
        &self,
        node: &str,
        storage: &str,
        volid: &str,
        notes: Option<&str>,
        protected: Option<bool>,
    ) -> Result<()> {
        let _: Option<serde_json::Value> = self
            .send(&update_request(node, storage, volid, notes, protected))
            .await?;
        Ok(())
    }

    /// What pruning by `retention` would keep and remove (nothing is removed).
    pub async fn prune_preview(
        &self,
        node: &str,
        storage: &str,
        retention: &Retention,
        vmid: Option<u32>,
    ) -> Result<Vec<PruneEntry>> {
        self.send(&prune_request(
            Method::Get,
            node,
            storage,
            Some(retention),
            vmid,
        ))
        .await
    }

    /// Removes the backups `retention` does not keep; returns the task (`prunebackups`).
    pub async fn prune_backups(
        &self,
        node: &str,
        storage: &str,
        retention: &Retention,
        vmid: Option<u32>,
    ) -> Result<Upid> {
        self.send(&prune_request(
            Method::Delete,
            node,
            storage,
            Some(retention),
            vmid,
        ))
        .await
    }

    /// Restores a container backup; returns the task (`vzrestore`). Without `force` an
    /// existing `vmid` is refused (`CT 100 already exists on node 'pve1'`).
    pub async fn restore_lxc(&self, node: &str, params: &RestoreLxc) -> Result<Upid> {
        self.send(&restore_lxc_request(node, params)).await
    }

    /// Restores a VM backup; returns the task (`qmrestore`). Without `force` an existing
    /// `vmid` is refused.
    pub async fn restore_vm(&self, node: &str, params: &RestoreVm) -> Result<Upid> {
        self.send(&restore_vm_request(node, params)).await
    }
}
