//! Storage content: the templates available for new containers.

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
