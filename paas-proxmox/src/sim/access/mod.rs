//! The simulated `user.cfg` (users, API tokens, ACLs, roles, pools) and PVE's permission
//! model over it (pve-access-control `AccessControl.pm` and `RPCEnvironment.pm`, pinned
//! df0a60e74d80).
//!
//! The default cluster has one user, `root@pam`, with the non-privilege-separated token
//! `root@pam!paas`: it can do everything, as before permissions were modelled.

mod perm;
mod roles;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub(crate) use perm::{Perms, PrivSet, compute_api_permission, normalize_path, perm_error};

use super::auth::Caller;
use super::schema::Operation;
use super::wire::ApiError;

/// Checks that `caller` may call `op` with `params` (the request's raw parameters), as
/// pveproxy does before it validates them: `allowtoken`, then the schema's `permissions`.
pub(crate) fn check_route(
    cfg: &AccessConfig,
    op: &Operation,
    caller: &Caller,
    params: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if caller.token_id.is_some() && !op.allowtoken {
        return Err(perm_error(Some(&format!(
            "URI '{}' not available with API token, need proper ticket.\n",
            op.path
        ))));
    }
    perm::check_permissions(cfg, &op.permissions, &caller.authid(), params)
}

/// The superuser.
pub(crate) const ROOT: &str = "root@pam";

/// One user of `user.cfg`.
#[derive(Clone, Default)]
pub(crate) struct User {
    pub enable: bool,
    /// Epoch seconds; 0 = never.
    pub expire: i64,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub comment: Option<String>,
    /// The `pve` realm password (other realms authenticate elsewhere; the sim has no PAM).
    pub password: Option<String>,
    pub tokens: BTreeMap<String, Token>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("enable", &self.enable)
            .field("expire", &self.expire)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// One API token of a user (`token.cfg` holds its secret).
#[derive(Clone)]
pub(crate) struct Token {
    /// Privilege separation: the token's rights are its own ACLs, intersected with the user's.
    pub privsep: bool,
    /// Epoch seconds; 0 = never.
    pub expire: i64,
    pub comment: Option<String>,
    pub secret: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("privsep", &self.privsep)
            .field("expire", &self.expire)
            .field("comment", &self.comment)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Role assignments on one ACL path: who -> role -> propagate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AclNode {
    pub users: BTreeMap<String, BTreeMap<String, bool>>,
    pub tokens: BTreeMap<String, BTreeMap<String, bool>>,
    pub groups: BTreeMap<String, BTreeMap<String, bool>>,
}

impl AclNode {
    fn is_empty(&self) -> bool {
        [&self.users, &self.tokens, &self.groups]
            .iter()
            .all(|m| m.values().all(BTreeMap::is_empty))
    }
}

/// One resource pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pool {
    pub comment: Option<String>,
    pub vms: BTreeSet<u32>,
    pub storage: BTreeSet<String>,
}

/// `user.cfg`: users, roles, ACLs, pools, and which pool each guest belongs to.
#[derive(Debug, Clone)]
pub(crate) struct AccessConfig {
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, BTreeSet<String>>,
    /// Normalised ACL path (`/`, `/vms/100`) -> assignments.
    pub acl: BTreeMap<String, AclNode>,
    pub pools: BTreeMap<String, Pool>,
    /// vmid -> pool (`$usercfg->{vms}`); it outlives a guest destroyed behind PVE's back.
    pub vm_pool: BTreeMap<u32, String>,
}

impl AccessConfig {
    /// `root@pam` (enabled) with the token `root@pam!<token_id>` (no privilege separation).
    pub fn new(token_id: &str, secret: &str) -> Self {
        let mut root = User {
            enable: true,
            ..User::default()
        };
        root.tokens.insert(
            token_id.to_string(),
            Token {
                privsep: false,
                expire: 0,
                comment: None,
                secret: secret.to_string(),
            },
        );
        AccessConfig {
            users: BTreeMap::from([(ROOT.to_string(), root)]),
            roles: roles::builtin_roles(),
            acl: BTreeMap::new(),
            pools: BTreeMap::new(),
            vm_pool: BTreeMap::new(),
        }
    }

    /// The checks of the caller `authid` (`user@realm` or `user@realm!token`).
    pub fn perms<'a>(&'a self, authid: &'a str) -> Perms<'a> {
        Perms::new(self, authid)
    }

    /// The token `user!token`, if the user and the token exist.
    pub fn token(&self, tokenid: &str) -> Option<(&User, &Token)> {
        let (user, token) = split_tokenid(tokenid)?;
        let u = self.users.get(user)?;
        Some((u, u.tokens.get(token)?))
    }

    /// Adds `vmid` to `pool` (`add_vm_to_pool`: only if the pool still exists).
    pub fn add_vm_to_pool(&mut self, vmid: u32, pool: &str) {
        if let Some(p) = self.pools.get_mut(pool) {
            p.vms.insert(vmid);
            self.vm_pool.insert(vmid, pool.to_string());
        }
    }

    /// `remove_vm_access`: drops the ACLs on `/vms/<vmid>` and the pool membership (PVE does
    /// this when it destroys a guest: CT API2/LXC.pm:902, QS API2/Qemu.pm:2812).
    pub fn remove_vm_access(&mut self, vmid: u32) {
        self.acl.remove(&format!("/vms/{vmid}"));
        if let Some(pool) = self.vm_pool.remove(&vmid)
            && let Some(p) = self.pools.get_mut(&pool)
        {
            p.vms.remove(&vmid);
        }
    }

    /// Removes every ACL entry naming `who` (a user or token id).
    pub fn delete_acls_of(&mut self, who: &str) {
        for node in self.acl.values_mut() {
            node.users.remove(who);
            node.tokens.remove(who);
        }
        self.acl.retain(|_, n| !n.is_empty());
    }

    /// Drops ACL nodes left without any assignment.
    pub fn prune_acl(&mut self) {
        self.acl.retain(|_, n| !n.is_empty());
    }
}

/// Splits `user@realm!token` (PVE's `$token_full_regex`).
pub(crate) fn split_tokenid(tokenid: &str) -> Option<(&str, &str)> {
    let (user, token) = tokenid.rsplit_once('!')?;
    (is_userid(user) && is_token_subid(token)).then_some((user, token))
}

/// `^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$` and 3..=64 characters (`verify_username`).
pub(crate) fn is_userid(v: &str) -> bool {
    let Some((name, realm)) = v.rsplit_once('@') else {
        return false;
    };
    (3..=64).contains(&v.chars().count())
        && !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == ':' || c == '/')
        && is_token_subid(realm)
}

/// `[A-Za-z][A-Za-z0-9.\-_]+` (realms and token ids share it).
pub(crate) fn is_token_subid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(c))
}

/// `verify_poolname` (AC AccessControl.pm:1342-1356).
pub(crate) fn verify_poolname(name: &str) -> Result<(), String> {
    // Perl's `split("/", $poolname) > 3` drops trailing empty fields.
    let levels = name.trim_end_matches('/').split('/').count();
    if levels > 3 {
        return Err(format!(
            "pool name '{name}' nested too deeply (max levels = 3)\n"
        ));
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
    };
    if !name.split('/').all(part_ok) {
        return Err(format!("pool name '{name}' contains invalid characters\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_pool_names() {
        assert_eq!(split_tokenid("root@pam!paas"), Some(("root@pam", "paas")));
        assert_eq!(
            split_tokenid("a@pve!x"),
            None,
            "token ids have 2+ characters"
        );
        assert_eq!(split_tokenid("root@pam"), None);
        assert!(is_userid("alice@pve"));
        assert!(!is_userid("al ice@pve"));
        assert!(!is_userid("@pve"));
        assert!(verify_poolname("a/b/c").is_ok());
        assert_eq!(
            verify_poolname("a/b/c/d").unwrap_err(),
            "pool name 'a/b/c/d' nested too deeply (max levels = 3)\n"
        );
        assert_eq!(
            verify_poolname("a b").unwrap_err(),
            "pool name 'a b' contains invalid characters\n"
        );
        assert!(verify_poolname("a//b").is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let cfg = AccessConfig::new("paas", "s3cr3t-value");
        let alice = User {
            password: Some("hunter22".into()),
            ..User::default()
        };
        let shown = format!("{cfg:?} {alice:?}");
        assert!(!shown.contains("s3cr3t-value"));
        assert!(!shown.contains("hunter22"));
    }
}
