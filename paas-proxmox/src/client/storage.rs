//! Storages: their configuration, their status on a node (space, content types), and their
//! content (the templates available for new containers).

use super::{ApiRequest, Method, ProxmoxClient, num};
use paas_core::Result;
use serde::{Deserialize, Serialize};

/// One volume of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageVolume {
    /// Volume id, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub volid: String,
    /// Content type (`vztmpl`, `iso`, `images`, ...).
    #[serde(default)]
    pub content: Option<String>,
    /// Format (`tzst`, `raw`, ...).
    #[serde(default)]
    pub format: Option<String>,
    /// Size, bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub size: Option<u64>,
    /// Creation time, Unix seconds.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub ctime: Option<u64>,
}

/// `GET /nodes/{node}/storage/{storage}/content[?content=...]`.
pub fn content_request(node: &str, storage: &str, content: Option<&str>) -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes", node, "storage", storage, "content"])
        .opt("content", content)
}

impl ProxmoxClient {
    /// The volumes on a storage, optionally of one content type (`vztmpl` for templates).
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        self.send(&content_request(node, storage, content)).await
    }

    /// The container templates on a storage.
    pub async fn lxc_templates(&self, node: &str, storage: &str) -> Result<Vec<StorageVolume>> {
        self.storage_content(node, storage, Some("vztmpl")).await
    }
}

/// One entry of `GET /storage`: a storage as `storage.cfg` configures it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageConfig {
    /// Storage id (`local-lvm`).
    pub storage: String,
    /// Plugin type (`dir`, `lvmthin`, `zfspool`, `nfs`, ...).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Content types it holds, comma-separated (`rootdir,images`).
    #[serde(default)]
    pub content: String,
    /// Shared between the nodes (clones and migrations to another node need it).
    #[serde(default, deserialize_with = "num::bool")]
    pub shared: bool,
    /// Disabled in the configuration.
    #[serde(default, deserialize_with = "num::bool")]
    pub disable: bool,
    /// Nodes it is restricted to, comma-separated (absent: every node).
    #[serde(default)]
    pub nodes: Option<String>,
}

/// One entry of `GET /nodes/{node}/storage`, or `GET .../storage/{storage}/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageStatus {
    /// Storage id (absent from the single-storage status; filled in by the client).
    #[serde(default)]
    pub storage: String,
    /// Plugin type.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Content types it holds, comma-separated.
    #[serde(default)]
    pub content: String,
    /// Accessible now.
    #[serde(default, deserialize_with = "num::bool")]
    pub active: bool,
    /// Enabled in the configuration.
    #[serde(default, deserialize_with = "num::bool")]
    pub enabled: bool,
    /// Shared between the nodes.
    #[serde(default, deserialize_with = "num::bool")]
    pub shared: bool,
    /// Total bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub total: Option<u64>,
    /// Used bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub used: Option<u64>,
    /// Available bytes.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub avail: Option<u64>,
}

impl StorageStatus {
    /// Whether it holds `content` (`rootdir` for containers, `images` for VM disks).
    pub fn holds(&self, content: &str) -> bool {
        self.content.split(',').any(|c| c.trim() == content)
    }
}

/// Filters of `GET /nodes/{node}/storage`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageFilter {
    /// Only storages holding one of these content types (`rootdir`, `images,rootdir`).
    pub content: Option<String>,
    /// Only enabled storages.
    pub enabled: Option<bool>,
    /// Only this storage.
    pub storage: Option<String>,
    /// Only storages shared with this other node.
    pub target: Option<String>,
}

/// `GET /storage[?type=...]`.
pub fn storages_request(kind: Option<&str>) -> ApiRequest {
    ApiRequest::new(Method::Get, ["storage"]).opt("type", kind)
}

/// `GET /nodes/{node}/storage` with filters.
pub fn node_storages_request(node: &str, f: &StorageFilter) -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes", node, "storage"])
        .opt("content", f.content.as_deref())
        .opt_flag("enabled", f.enabled)
        .opt("storage", f.storage.as_deref())
        .opt("target", f.target.as_deref())
}

/// `GET /nodes/{node}/storage/{storage}/status`.
pub fn storage_status_request(node: &str, storage: &str) -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes", node, "storage", storage, "status"])
}

impl ProxmoxClient {
    /// The cluster's storage configuration.
    pub async fn storages(&self) -> Result<Vec<StorageConfig>> {
        self.send(&storages_request(None)).await
    }

    /// The storages of a node with their space, filtered.
    ///
    /// ```no_run
    /// # async fn demo(c: &paas_proxmox::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::storage::StorageFilter;
    /// let for_containers = c
    ///     .node_storages("pve1", &StorageFilter {
    ///         content: Some("rootdir".into()),
    ///         enabled: Some(true),
    ///         ..StorageFilter::default()
    ///     })
    ///     .await?;
    /// for s in for_containers {
    ///     println!("{}: {:?} bytes free", s.storage, s.avail);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn node_storages(
        &self,
        node: &str,
        filter: &StorageFilter,
    ) -> Result<Vec<StorageStatus>> {
        self.send(&node_storages_request(node, filter)).await
    }

    /// One storage's status on a node.
    pub async fn storage_status(&self, node: &str, storage: &str) -> Result<StorageStatus> {
        let mut st: StorageStatus = self.send(&storage_status_request(node, storage)).await?;
        if st.storage.is_empty() {
            st.storage = storage.to_owned();
        }
        Ok(st)
    }
}
