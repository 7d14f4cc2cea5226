//! Resource pools: tenant grouping of guests and storages (`/pools`, the 8.1+ forms with
//! `poolid` as a parameter, which also allow nested pools `a/b/c`).

use super::{ApiRequest, Method, ProxmoxClient, num};
use paas_core::Result;
use serde::{Deserialize, Serialize};

/// One pool of `GET /pools`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolEntry {
    /// The pool id (`tenant-a`, `tenants/acme`).
    pub poolid: String,
    /// Its comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// One pool with its members (`GET /pools?poolid=`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// The pool id.
    #[serde(default)]
    pub poolid: String,
    /// Its comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// The guests and storages in it.
    #[serde(default)]
    pub members: Vec<PoolMember>,
}

/// A guest or storage in a pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolMember {
    /// `lxc/100`, `qemu/101` or `storage/pve1/local`.
    pub id: String,
    /// `lxc`, `qemu` or `storage`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The node.
    #[serde(default)]
    pub node: Option<String>,
    /// A guest's VMID.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub vmid: Option<u64>,
    /// A storage's id.
    #[serde(default)]
    pub storage: Option<String>,
    /// A guest's name.
    #[serde(default, deserialize_with = "num::opt_string")]
    pub name: Option<String>,
    /// `running`, `stopped`, `available`, `unknown`, ...
    #[serde(default)]
    pub status: Option<String>,
}

/// Changes to a pool (`PUT /pools`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolUpdate {
    /// New comment.
    pub comment: Option<String>,
    /// Guests to add (or with `delete`, remove).
    pub vms: Vec<u32>,
    /// Storages to add (or with `delete`, remove).
    pub storage: Vec<String>,
    /// Remove `vms` and `storage` instead of adding them.
    pub delete: bool,
    /// Move a guest that is in another pool (else that is an error).
    pub allow_move: bool,
}

/// `GET /pools`.
pub fn list_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["pools"])
}

/// `GET /pools?poolid=`.
pub fn get_request(poolid: &str) -> ApiRequest {
    ApiRequest::new(Method::Get, ["pools"]).param("poolid", poolid)
}

/// `POST /pools`.
pub fn create_request(poolid: &str, comment: Option<&str>) -> ApiRequest {
    ApiRequest::new(Method::Post, ["pools"])
        .param("poolid", poolid)
        .opt("comment", comment)
}

/// `PUT /pools`.
pub fn update_request(poolid: &str, u: &PoolUpdate) -> ApiRequest {
    let vms: Vec<String> = u.vms.iter().map(u32::to_string).collect();
    let mut req = ApiRequest::new(Method::Put, ["pools"])
        .param("poolid", poolid)
        .opt("comment", u.comment.as_deref())
        .opt("vms", (!vms.is_empty()).then(|| vms.join(",")))
        .opt(
            "storage",
            (!u.storage.is_empty()).then(|| u.storage.join(",")),
        );
    if u.delete {
        req = req.flag("delete", true);
    }
    if u.allow_move {
        req = req.flag("allow-move", true);
    }
    req
}

/// `DELETE /pools?poolid=`.
pub fn delete_request(poolid: &str) -> ApiRequest {
    ApiRequest::new(Method::Delete, ["pools"]).param("poolid", poolid)
}

impl ProxmoxClient {
    /// The pools the caller may audit.
    pub async fn pools(&self) -> Result<Vec<PoolEntry>> {
        self.send(&list_request()).await
    }

    /// One pool and its members.
    pub async fn pool(&self, poolid: &str) -> Result<PoolInfo> {
        let mut list: Vec<PoolInfo> = self.send(&get_request(poolid)).await?;
        list.pop().ok_or_else(|| {
            super::error::ApiError::transport(
                super::ErrorClass::BadResponse,
                format!("GET /pools?poolid={poolid} returned no pool"),
            )
            .into_error(get_request(poolid))
        })
    }

    /// Creates a pool (a nested one needs its parent).
    ///
    /// ```no_run
    /// # async fn demo(c: paas_proxmox::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::pools::PoolUpdate;
    /// c.create_pool("tenant-a", Some("Acme Corp")).await?;
    /// c.update_pool("tenant-a", &PoolUpdate { vms: vec![100], ..PoolUpdate::default() }).await?;
    /// let members = c.pool("tenant-a").await?.members;
    /// # Ok(()) }
    /// ```
    pub async fn create_pool(&self, poolid: &str, comment: Option<&str>) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&create_request(poolid, comment)).await?;
        Ok(())
    }

    /// Adds or removes members, or changes the comment.
    pub async fn update_pool(&self, poolid: &str, update: &PoolUpdate) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&update_request(poolid, update)).await?;
        Ok(())
    }

    /// Deletes an empty pool.
    pub async fn delete_pool(&self, poolid: &str) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&delete_request(poolid)).await?;
        Ok(())
    }
}
