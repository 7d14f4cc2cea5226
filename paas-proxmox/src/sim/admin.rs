//! Out-of-band administration of a running simulator: users, API tokens, ACLs, pools,
//! snapshots and backups, for tests that need them set up (or inspected) without the API.

use std::collections::BTreeMap;

use super::PveSim;
use super::access::{Token, User, is_userid, normalize_path, split_tokenid};
use super::auth::random_uuid;
use super::types::{ApiToken, GuestKind, SimError};

/// A backup archive on a node's storage ([`PveSim::backups`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The node whose storage holds it.
    pub node: String,
    /// The volume id, e.g. `local:backup/vzdump-lxc-100-2025_01_30-14_05_12.tar.zst`.
    pub volid: String,
    /// The guest it is a backup of.
    pub vmid: u32,
    /// LXC or QEMU.
    pub kind: GuestKind,
    /// Creation time, epoch seconds of simulated time.
    pub ctime: i64,
    /// Whether it is protected from removal and pruning.
    pub protected: bool,
    /// Its notes.
    pub notes: Option<String>,
}

impl PveSim {
    /// Adds a user (realm `pve` users may log in with `password`).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::start().await?;
    /// sim.add_user("alice@pve", Some("correct horse"))?;
    /// # Ok(()) }
    /// ```
    pub fn add_user(&self, userid: &str, password: Option<&str>) -> Result<(), SimError> {
        if !is_userid(userid) {
            return Err(SimError::InvalidConfig(format!(
                "value '{userid}' does not look like a valid user name"
            )));
        }
        let mut st = self.inner.state();
        if st.access.users.contains_key(userid) {
            return Err(SimError::AlreadyExists(format!("user '{userid}'")));
        }
        st.access.users.insert(
            userid.to_string(),
            User {
                enable: true,
                password: password.map(str::to_string),
                ..User::default()
            },
        );
        Ok(())
    }

    /// Adds an API token `userid!token_id` and returns it with its secret. A
    /// privilege-separated token (`privsep`, PVE's default) has only the rights its own ACLs
    /// give it, and never more than its user has.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), paas_proxmox::sim::SimError> {
    /// let sim = paas_proxmox::sim::PveSim::start().await?;
    /// sim.add_user("ci@pve", None)?;
    /// let token = sim.add_token("ci@pve", "deploy", true)?;
    /// sim.grant("/vms", "ci@pve", "PVEVMUser", true)?;
    /// sim.grant("/vms", &token.full_id(), "PVEVMUser", true)?;
    /// # Ok(()) }
    /// ```
    pub fn add_token(
        &self,
        userid: &str,
        token_id: &str,
        privsep: bool,
    ) -> Result<ApiToken, SimError> {
        let full = format!("{userid}!{token_id}");
        if split_tokenid(&full).is_none() {
            return Err(SimError::InvalidConfig(format!(
                "value '{full}' does not look like a valid token ID"
            )));
        }
        let mut st = self.inner.state();
        let user = st
            .access
            .users
            .get_mut(userid)
            .ok_or_else(|| SimError::NotFound(format!("user '{userid}'")))?;
        if user.tokens.contains_key(token_id) {
            return Err(SimError::AlreadyExists(format!("token '{full}'")));
        }
        let secret = random_uuid(&mut rand::rng());
        user.tokens.insert(
            token_id.to_string(),
            Token {
                privsep,
                expire: 0,
                comment: None,
                secret: secret.clone(),
            },
        );
        Ok(ApiToken {
            user: userid.to_string(),
            token_id: token_id.to_string(),
            secret,
        })
    }

    /// Grants `role` on the ACL `path` to a user or token (`who`: `alice@pve` or
    /// `alice@pve!ci`), propagating to the paths below when `propagate`.
    pub fn grant(
        &self,
        path: &str,
        who: &str,
        role: &str,
        propagate: bool,
    ) -> Result<(), SimError> {
        let path = normalize_path(path)
            .ok_or_else(|| SimError::InvalidConfig(format!("invalid ACL path '{path}'")))?;
        let mut st = self.inner.state();
        if !st.access.roles.contains_key(role) {
            return Err(SimError::NotFound(format!("role '{role}'")));
        }
        let is_token = split_tokenid(who).is_some();
        let known = if is_token {
            st.access.token(who).is_some()
        } else {
            st.access.users.contains_key(who)
        };
        if !known {
            return Err(SimError::NotFound(format!("user or token '{who}'")));
        }
        let node = st.access.acl.entry(path).or_default();
        let map = if is_token {
            &mut node.tokens
        } else {
            &mut node.users
        };
        map.entry(who.to_string())
            .or_default()
            .insert(role.to_string(), propagate);
        Ok(())
    }

    /// The pools and the VMIDs each holds (membership as `user.cfg` records it).
    pub fn pools(&self) -> BTreeMap<String, Vec<u32>> {
        self.inner
            .state()
            .access
            .pools
            .iter()
            .map(|(id, p)| (id.clone(), p.vms.iter().copied().collect()))
            .collect()
    }

    /// The snapshot names of a guest (`None` if there is no such guest).
    pub fn snapshots(&self, vmid: u32) -> Option<Vec<String>> {
        self.inner
            .state()
            .guests
            .get(&vmid)
            .map(|g| g.snapshots.keys().cloned().collect())
    }

    /// Every backup archive on the cluster's storages.
    pub fn backups(&self) -> Vec<BackupInfo> {
        self.inner
            .state()
            .backups
            .iter()
            .map(|b| BackupInfo {
                node: b.node.clone(),
                volid: b.volid.clone(),
                vmid: b.vmid,
                kind: b.kind,
                ctime: b.ctime,
                protected: b.protected,
                notes: b.notes.clone(),
            })
            .collect()
    }
}
