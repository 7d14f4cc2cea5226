//! Privileges of a user or token on an ACL path, and the checks PVE runs with them
//! (AC RPCEnvironment.pm `permissions`, `check`, `check_any`, `exec_api2_perm_check`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{AccessConfig, ROOT, split_tokenid};
use crate::sim::wire::ApiError;

/// Privilege -> propagate flag, as `$rpcenv->permissions` returns it.
pub(crate) type PrivSet = BTreeMap<String, bool>;

/// `raise_perm_exc($what)`: HTTP 403 `Permission check failed (...)`.
pub(crate) fn perm_error(what: Option<&str>) -> ApiError {
    match what {
        Some(w) => ApiError::new(403, format!("Permission check failed ({w})")),
        None => ApiError::new(403, "Permission check failed"),
    }
}

/// `normalize_path` (AC AccessControl.pm:1256-1272).
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let mut p = String::with_capacity(path.len() + 1);
    for c in path.chars() {
        if c == '/' && p.ends_with('/') {
            continue;
        }
        p.push(c);
    }
    if p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    if p.is_empty() {
        p.push('/');
    }
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    p.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b))
        .then_some(p)
}

/// The checks of one caller (`authid`: `user@realm` or `user@realm!token`) against one
/// `user.cfg`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Perms<'a> {
    pub cfg: &'a AccessConfig,
    pub authid: &'a str,
}

impl<'a> Perms<'a> {
    /// The checks of `authid`.
    pub fn new(cfg: &'a AccessConfig, authid: &'a str) -> Self {
        Perms { cfg, authid }
    }

    /// Whether the caller is `root@pam` itself (not one of its tokens): PVE skips many
    /// checks for it (`return 1 if $authuser eq 'root@pam'`).
    pub fn is_root(&self) -> bool {
        self.authid == ROOT
    }

    /// The caller's privileges on `path`.
    pub fn privileges(&self, path: &str) -> PrivSet {
        permissions(self.cfg, self.authid, path)
    }

    /// Whether the caller has every one of `privs` on `path`.
    pub fn has(&self, path: &str, privs: &[&str]) -> bool {
        let p = self.privileges(path);
        privs.iter().all(|x| p.contains_key(*x))
    }

    /// Whether the caller has any of `privs` on `path`.
    pub fn has_any(&self, path: &str, privs: &[&str]) -> bool {
        let p = self.privileges(path);
        privs.iter().any(|x| p.contains_key(*x))
    }

    /// `$rpcenv->check`: 403 naming the first privilege missing.
    pub fn check(&self, path: &str, privs: &[&str]) -> Result<(), ApiError> {
        let p = self.privileges(path);
        match privs.iter().find(|x| !p.contains_key(**x)) {
            Some(missing) => Err(perm_error(Some(&format!("{path}, {missing}")))),
            None => Ok(()),
        }
    }

    /// `$rpcenv->check_any`: 403 naming all the alternatives.
    pub fn check_any(&self, path: &str, privs: &[&str]) -> Result<(), ApiError> {
        if self.has_any(path, privs) {
            Ok(())
        } else {
            Err(perm_error(Some(&format!("{path}, {}", privs.join("|")))))
        }
    }

    fn check_full(&self, path: &str, privs: &[&str], any: bool) -> Result<(), ApiError> {
        if any {
            self.check_any(path, privs)
        } else {
            self.check(path, privs)
        }
    }

    /// `check_vm_perm`: the privileges on the pool are enough, else those on `/vms/<vmid>`.
    pub fn check_vm(
        &self,
        vmid: u32,
        pool: Option<&str>,
        privs: &[&str],
        any: bool,
    ) -> Result<(), ApiError> {
        if let Some(pool) = pool
            && self
                .check_full(&format!("/pool/{pool}"), privs, any)
                .is_ok()
        {
            return Ok(());
        }
        self.check_full(&format!("/vms/{vmid}"), privs, any)
    }

    /// `check_perm_modify` (AC RPCEnvironment.pm:442-458).
    pub fn check_perm_modify(&self, path: Option<&str>) -> Result<(), ApiError> {
        let Some(path) = path else {
            return self.check("/access", &["Permissions.Modify"]);
        };
        let mut test = vec!["Permissions.Modify"];
        if path.starts_with("/storage/") && path.len() > 9 {
            test.push("Datastore.Allocate");
        } else if path.starts_with("/vms/") && path.len() > 5 {
            test.push("VM.Allocate");
        } else if path.starts_with("/pool/") && path.len() > 6 {
            test.push("Pool.Allocate");
        }
        self.check_any(path, &test)
    }

    /// `check_pool_exist`: even root gets a 403 (AC RPCEnvironment.pm:385).
    pub fn check_pool_exist(&self, pool: &str) -> Result<(), ApiError> {
        if self.cfg.pools.contains_key(pool) {
            Ok(())
        } else {
            Err(perm_error(Some(&format!("pool '{pool}' does not exist"))))
        }
    }

    /// Every path with a privilege for the caller (`get_effective_permissions`).
    pub fn effective(&self) -> BTreeMap<String, PrivSet> {
        let mut paths: BTreeSet<String> = [
            "/",
            "/access",
            "/access/groups",
            "/nodes",
            "/pool",
            "/sdn",
            "/storage",
            "/vms",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        paths.extend(self.cfg.acl.keys().cloned());
        for p in self.cfg.pools.values() {
            paths.extend(p.vms.iter().map(|v| format!("/vms/{v}")));
            paths.extend(p.storage.iter().map(|s| format!("/storage/{s}")));
        }
        paths
            .into_iter()
            .filter_map(|path| {
                let privs = self.privileges(&path);
                (!privs.is_empty()).then_some((path, privs))
            })
            .collect()
    }
}

/// Roles of a user or privilege-separated token on `path`, walking the ACL tree from `/`
/// (AC AccessControl.pm:1777-1885). Pools are not considered here.
fn roles(cfg: &AccessConfig, who: &str, path: &str) -> BTreeMap<String, bool> {
    let mut roles: BTreeMap<String, bool> = BTreeMap::new();
    let parts: Vec<&str> = if path == "/" {
        vec![""]
    } else {
        path.split('/').collect()
    };
    let mut prefix = String::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if !part.is_empty() {
            prefix.push('/');
            prefix.push_str(part);
        }
        let key = if prefix.is_empty() { "/" } else { &prefix };
        let Some(node) = cfg.acl.get(key) else {
            continue;
        };
        let pick = |ri: &BTreeMap<String, bool>| -> Option<BTreeMap<String, bool>> {
            let new: BTreeMap<String, bool> = ri
                .iter()
                .filter(|(_, prop)| last || **prop)
                .map(|(r, p)| (r.clone(), *p))
                .collect();
            (!new.is_empty()).then_some(new)
        };
        // Token roles, then user roles, then group roles: the first that applies wins
        // ("user privs always override group privs").
        if let Some(new) = node.tokens.get(who).and_then(pick) {
            roles = new;
            continue;
        }
        if let Some(new) = node.users.get(who).and_then(pick) {
            roles = new;
        }
        // Group roles would come next; groups have no members in the simulator (it serves
        // no /access/groups endpoints), so they never apply.
    }
    if let Some(p) = roles.get("NoAccess") {
        return BTreeMap::from([("NoAccess".to_string(), *p)]);
    }
    roles
}

/// `$rpcenv->permissions($user, $path)` (AC RPCEnvironment.pm:18-173).
pub(crate) fn permissions(cfg: &AccessConfig, authid: &str, path: &str) -> PrivSet {
    if authid == ROOT {
        return cfg
            .roles
            .get("Administrator")
            .map(|r| r.iter().map(|p| (p.clone(), true)).collect())
            .unwrap_or_default();
    }
    let owner_privs = if let Some((user, _)) = split_tokenid(authid) {
        let Some((_, token)) = cfg.token(authid) else {
            return PrivSet::new();
        };
        let user_privs = permissions(cfg, user, path);
        if !token.privsep {
            return user_privs;
        }
        Some(user_privs)
    } else {
        if !cfg.users.contains_key(authid) && !super::is_userid(authid) {
            return PrivSet::new();
        }
        None
    };

    // Roles inherited from pools: a pool's roles apply to its guests and storages.
    let mut pool_roles: BTreeMap<String, bool> = BTreeMap::new();
    for (name, pool) in &cfg.pools {
        let member = path
            .strip_prefix("/vms/")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|v| pool.vms.contains(&v))
            || path
                .strip_prefix("/storage/")
                .is_some_and(|s| pool.storage.contains(s));
        if !member {
            continue;
        }
        for role in roles(cfg, authid, &format!("/pool/{name}")).into_keys() {
            pool_roles.insert(role, false);
        }
    }
    let mut roles = roles(cfg, authid, path);
    // "NoAccess must not be trumped by pool ACLs", but a pool's NoAccess trumps the rest.
    if !pool_roles.is_empty() && !roles.contains_key("NoAccess") {
        if pool_roles.contains_key("NoAccess") {
            roles = BTreeMap::from([("NoAccess".to_string(), false)]);
        } else {
            for role in pool_roles.into_keys() {
                roles.entry(role).or_insert(false);
            }
        }
    }
    let mut privs = PrivSet::new();
    for (role, propagate) in &roles {
        if let Some(set) = cfg.roles.get(role) {
            for p in set {
                let e = privs.entry(p.clone()).or_insert(false);
                *e = *e || *propagate;
            }
        }
    }
    // A privilege-separated token: the intersection with its user's privileges.
    if let Some(user_privs) = owner_privs {
        privs = privs
            .into_iter()
            .filter_map(|(p, prop)| user_privs.get(&p).map(|up| (p, *up && prop)))
            .collect();
    }
    privs
}

/// `check_api2_permissions` of an operation's schema `permissions` for `authid`, with the
/// request's raw parameters (PVE checks before it validates them).
pub(crate) fn check_permissions(
    cfg: &AccessConfig,
    permissions: &Value,
    authid: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if permissions.get("user").and_then(Value::as_str) == Some("world") {
        return Ok(());
    }
    if authid == ROOT {
        return Ok(());
    }
    if permissions.as_object().is_none_or(|o| o.is_empty()) {
        return Err(perm_error(Some("user != root@pam")));
    }
    if permissions.get("user").and_then(Value::as_str) == Some("all") {
        return Ok(());
    }
    match permissions.get("check").and_then(Value::as_array) {
        Some(check) => exec_check(&Perms::new(cfg, authid), check, params, false).map(|_| ()),
        None => Err(perm_error(None)),
    }
}

/// `${name}` placeholders replaced from the parameters, `-` for a missing one
/// (`PVE::Tools::template_replace`).
fn template_replace(tmpl: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                let name = &rest[start + 1..start + end];
                match params.get(name).filter(|v| !v.is_empty() && *v != "0") {
                    Some(v) => out.push_str(v),
                    None => out.push('-'),
                }
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The `key => value` options after the fixed elements of a check.
fn options(check: &[Value], from: usize) -> BTreeMap<&str, &Value> {
    let mut out = BTreeMap::new();
    let mut i = from;
    while i + 1 < check.len() {
        if let Some(k) = check[i].as_str() {
            out.insert(k, &check[i + 1]);
        }
        i += 2;
    }
    out
}

/// `exec_api2_perm_check`: `Ok(true)` passes; `Ok(false)` fails quietly (only with `noerr`).
fn exec_check(
    perms: &Perms<'_>,
    check: &[Value],
    params: &BTreeMap<String, String>,
    noerr: bool,
) -> Result<bool, ApiError> {
    let fail = |what: Option<&str>| -> Result<bool, ApiError> {
        if noerr {
            Ok(false)
        } else {
            Err(perm_error(what))
        }
    };
    let quiet = |r: Result<(), ApiError>| -> Result<bool, ApiError> {
        match r {
            Ok(()) => Ok(true),
            Err(_) if noerr => Ok(false),
            Err(e) => Err(e),
        }
    };
    match check.first().and_then(Value::as_str) {
        Some("and") => {
            for sub in &check[1..] {
                if let Some(sub) = sub.as_array() {
                    exec_check(perms, sub, params, false)?;
                }
            }
            Ok(true)
        }
        Some("or") => {
            for sub in &check[1..] {
                if let Some(sub) = sub.as_array()
                    && exec_check(perms, sub, params, true)?
                {
                    return Ok(true);
                }
            }
            fail(None)
        }
        Some("perm") => {
            let tmpl = check.get(1).and_then(Value::as_str).unwrap_or_default();
            let privs = strings(check.get(2));
            let opts = options(check, 3);
            let any = opts
                .get("any")
                .is_some_and(|v| crate::sim::schema::truthy(v));
            if let Some(req) = opts.get("require_param").and_then(|v| v.as_str())
                && !params.contains_key(req)
            {
                return fail(None);
            }
            let path = template_replace(tmpl, params);
            let path = normalize_path(&path).unwrap_or(path);
            quiet(perms.check_full(&path, &privs, any))
        }
        Some("userid-param") => {
            let userid = params.get("userid").map(String::as_str).unwrap_or_default();
            // `verify_username` dies here, before the parameters are validated.
            let len = userid.chars().count();
            if len < 3 {
                return Err(ApiError::internal(format!(
                    "user name '{userid}' is too short"
                )));
            }
            if len > 64 {
                return Err(ApiError::internal(format!(
                    "user name '{userid}' is too long ({len} > 64)"
                )));
            }
            if !super::is_userid(userid) {
                return Err(ApiError::internal(format!(
                    "value '{userid}' does not look like a valid user name"
                )));
            }
            match check.get(1).and_then(Value::as_str) {
                Some("self") => {
                    if !perms.cfg.users.contains_key(userid) {
                        return if noerr {
                            Ok(false)
                        } else {
                            Err(ApiError::internal(format!("no such user ('{userid}')")))
                        };
                    }
                    if perms.authid == userid {
                        Ok(true)
                    } else {
                        fail(None)
                    }
                }
                Some("Realm.AllocateUser") => {
                    let realm = userid.rsplit_once('@').map(|(_, r)| r).unwrap_or_default();
                    quiet(perms.check(&format!("/access/realm/{realm}"), &["Realm.AllocateUser"]))
                }
                _ => Err(ApiError::internal("unknown userid-param test")),
            }
        }
        Some("userid-group") => {
            let privs = strings(check.get(1));
            let opts = options(check, 2);
            let groups_param = opts.get("groups_param").and_then(|v| v.as_str());
            let userid = params.get("userid").map(String::as_str).unwrap_or_default();
            let check_existing = groups_param != Some("create");
            if check_existing && !perms.cfg.users.contains_key(userid) {
                return if noerr {
                    Ok(false)
                } else {
                    Err(ApiError::internal(format!("no such user ('{userid}')")))
                };
            }
            if !perms.has_any("/access/groups", &privs) {
                // No groups exist in the simulator, so no group grants anything.
                let joined = privs.join("|");
                if groups_param.is_some() {
                    let groups: Vec<&str> = params
                        .get("groups")
                        .map(|g| g.split([',', ';', ' ']).filter(|s| !s.is_empty()).collect())
                        .unwrap_or_default();
                    match groups.first() {
                        None => return Err(perm_error(Some(&format!("/access/groups, {joined}")))),
                        Some(g) => {
                            return Err(perm_error(Some(&format!("/access/groups/{g}, {joined}"))));
                        }
                    }
                }
                if check_existing {
                    return fail(None);
                }
            }
            Ok(true)
        }
        Some("perm-modify") => {
            let tmpl = check.get(1).and_then(Value::as_str).unwrap_or_default();
            let Some(path) = normalize_path(&template_replace(tmpl, params)) else {
                return Ok(false);
            };
            quiet(perms.check_perm_modify(Some(&path)))
        }
        _ => Err(ApiError::internal("unknown permission test")),
    }
}

/// The `cap` object of a login reply (`compute_api_permission`, AC RPCEnvironment.pm:175).
pub(crate) fn compute_api_permission(cfg: &AccessConfig, authid: &str) -> Value {
    let cats: [(&str, &[&str]); 7] = [
        ("vms", &["VM.", "Permissions.Modify"]),
        ("access", &["User.", "Group.", "Permissions.Modify"]),
        ("storage", &["Datastore.", "Permissions.Modify"]),
        ("nodes", &["Sys.", "Permissions.Modify"]),
        ("sdn", &["SDN.", "Permissions.Modify"]),
        ("dc", &["Sys.Audit", "Sys.Modify", "SDN."]),
        ("mapping", &["Mapping.", "Permissions.Modify"]),
    ];
    let mut res: BTreeMap<&str, BTreeMap<String, u8>> =
        cats.iter().map(|(c, _)| (*c, BTreeMap::new())).collect();
    let mut paths: BTreeSet<String> = [
        "/",
        "/nodes",
        "/access/groups",
        "/vms",
        "/storage",
        "/sdn",
        "/mapping",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.extend(cfg.acl.keys().cloned());
    for path in paths {
        let privs = permissions(cfg, authid, &path);
        let top = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|t| !t.is_empty())
            .unwrap_or("dc");
        if top == "pool" {
            for p in privs.keys() {
                if p.starts_with("VM.") {
                    res.entry("vms").or_default().insert(p.clone(), 1);
                } else if p.starts_with("Datastore.") {
                    res.entry("storage").or_default().insert(p.clone(), 1);
                } else if p == "Permissions.Modify" {
                    res.entry("storage").or_default().insert(p.clone(), 1);
                    res.entry("vms").or_default().insert(p.clone(), 1);
                }
            }
            continue;
        }
        let Some((cat, prefixes)) = cats.iter().find(|(c, _)| *c == top) else {
            continue;
        };
        for p in privs.keys() {
            if prefixes.iter().any(|pre| p.starts_with(pre)) {
                res.entry(cat).or_default().insert(p.clone(), 1);
            }
        }
    }
    json!(res)
}

#[cfg(test)]
#[path = "perm_tests.rs"]
mod tests;
