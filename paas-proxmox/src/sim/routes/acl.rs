//! `/access/acl`, `/access/roles` and `/access/permissions` (AC API2/ACL.pm, API2/Role.pm,
//! API2/AccessControl.pm, pinned df0a60e74d80).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::sim::access::{PrivSet, is_userid, normalize_path, split_tokenid};
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::wire::{ApiError, ApiResult, Reply};

/// `check_path` (AC AccessControl.pm:1274-1310): the paths an ACL may name.
fn valid_acl_path(path: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if path == "/" {
        return true;
    }
    match parts.as_slice() {
        ["access"] | ["nodes"] | ["pool"] | ["sdn"] | ["storage"] | ["vms"] | ["mapping"] => true,
        ["access", "groups" | "realm"] => true,
        ["access", "groups" | "realm", n] => name(n),
        ["nodes" | "storage", n] => name(n),
        ["pool", rest @ ..] => rest.len() <= 3 && rest.iter().all(|p| name(p)),
        ["vms", id] => {
            id.len() >= 3 && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit())
        }
        ["sdn", "controllers" | "dns" | "fabrics" | "ipams" | "zones"] => true,
        [
            "sdn",
            "controllers" | "dns" | "fabrics" | "ipams" | "zones",
            n,
        ] => name(n),
        ["sdn", "zones", z, b] => name(z) && name(b),
        ["sdn", "zones", z, b, tag] => {
            name(z)
                && name(b)
                && tag.parse::<u16>().is_ok_and(|t| (1..=9999).contains(&t))
                && !tag.starts_with('0')
        }
        ["mapping", n] => name(n),
        ["mapping", a, b] => name(a) && name(b),
        _ => false,
    }
}

fn list_of(v: Option<&str>) -> Vec<String> {
    v.map(|s| {
        s.split([',', ';', ' '])
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// `GET /access/acl`: entries on paths where the caller may modify permissions (all with
/// `Sys.Audit` on `/access`).
pub(crate) fn read(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    let perms = st.access.perms(&authid);
    let audit = perms.has("/access", &["Sys.Audit"]);
    let mut out = Vec::new();
    for (path, node) in &st.access.acl {
        if !(audit || perms.check_perm_modify(Some(path)).is_ok()) {
            continue;
        }
        for (ty, map) in [
            ("user", &node.users),
            ("group", &node.groups),
            ("token", &node.tokens),
        ] {
            for (id, roles) in map {
                for (role, propagate) in roles {
                    out.push(json!({
                        "path": path,
                        "type": ty,
                        "ugid": id,
                        "roleid": role,
                        "propagate": u8::from(*propagate),
                    }));
                }
            }
        }
    }
    Ok(Reply::data(Value::Array(out)))
}

/// `PUT /access/acl`: grant (or with `delete=1` revoke) `roles` on `path` to users/tokens.
/// Without `Permissions.Modify` a caller may hand out only privileges it has itself.
pub(crate) fn update(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let users = list_of(call.get("users"));
    let groups = list_of(call.get("groups"));
    let tokens = list_of(call.get("tokens"));
    if users.is_empty() && groups.is_empty() && tokens.is_empty() {
        let msg = "either 'users', 'groups' or 'tokens' is required.";
        let mut e = ApiError::param("users", msg);
        if let Some(errors) = e.errors.as_mut() {
            errors.insert("groups".into(), msg.into());
            errors.insert("tokens".into(), msg.into());
        }
        return Err(e);
    }
    let raw = call.get("path").unwrap_or_default();
    let invalid = || ApiError::param("path", format!("invalid ACL path '{raw}'"));
    let path = normalize_path(raw).ok_or_else(invalid)?;
    let delete = call.flag("delete");
    if !delete && !valid_acl_path(&path) {
        return Err(invalid());
    }
    let propagate = call.get("propagate") != Some("0");
    let failed = |m: String| ApiError::internal(format!("ACL update failed: {m}"));
    let authid = call.caller.authid();
    let mut st = inner.state();
    let own = st.access.perms(&authid).privileges(&path);
    let roles = list_of(call.get("roles"));
    for role in &roles {
        let Some(role_privs) = st.access.roles.get(role).cloned() else {
            return Err(failed(format!("role '{role}' does not exist")));
        };
        if !own.contains_key("Permissions.Modify") {
            let verb = if delete { "remove" } else { "add" };
            // A parameter exception inside lock_user_config is stringified into the 500.
            let refuse =
                |m: String| failed(format!("400 Parameter verification failed.\nrole: {m}"));
            for p in &role_privs {
                match own.get(p) {
                    None => {
                        return Err(refuse(format!(
                            "Cannot {verb} role '{role}' - requires 'Permissions.Modify' or superset of privileges."
                        )));
                    }
                    Some(own_prop) if propagate && !*own_prop && !delete => {
                        return Err(refuse(format!(
                            "Cannot {verb} role '{role}' with propagation - requires 'Permissions.Modify' or propagated superset of privileges."
                        )));
                    }
                    _ => {}
                }
            }
            if role == "NoAccess" {
                return Err(refuse(format!(
                    "Cannot {verb} role '{role}' - requires 'Permissions.Modify'"
                )));
            }
        }
        if let Some(g) = groups.first() {
            return Err(failed(format!("group '{g}' does not exist")));
        }
        for u in &users {
            if !is_userid(u) {
                return Err(failed(format!(
                    "value '{u}' does not look like a valid user name"
                )));
            }
            if !st.access.users.contains_key(u) {
                return Err(failed(format!("user '{u}' does not exist")));
            }
        }
        for t in &tokens {
            let Some((user, token)) = split_tokenid(t) else {
                return Err(failed(format!(
                    "'{t}' is not a valid token ID - not able to split into user and token parts"
                )));
            };
            match st.access.users.get(user) {
                None => return Err(failed(format!("no such user ('{user}')"))),
                Some(u) if !u.tokens.contains_key(token) => {
                    return Err(failed(format!("no such token '{token}' for user '{user}'")));
                }
                Some(_) => {}
            }
        }
        let node = st.access.acl.entry(path.clone()).or_default();
        for (list, map) in [(&users, &mut node.users), (&tokens, &mut node.tokens)] {
            for who in list {
                let entry = map.entry(who.clone()).or_default();
                if delete {
                    entry.remove(role);
                } else {
                    entry.insert(role.clone(), propagate);
                }
            }
            map.retain(|_, r| !r.is_empty());
        }
    }
    st.access.prune_acl();
    Ok(Reply::data(Value::Null))
}

/// `GET /access/roles`.
pub(crate) fn roles(inner: &Arc<Inner>) -> ApiResult {
    let st = inner.state();
    let list: Vec<Value> = st
        .access
        .roles
        .iter()
        .map(|(id, privs)| {
            json!({
                "roleid": id,
                "privs": privs.iter().cloned().collect::<Vec<_>>().join(","),
                "special": 1,
            })
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `GET /access/roles/{roleid}`: privilege -> 1.
pub(crate) fn role(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let id = call.get("roleid").unwrap_or_default();
    let st = inner.state();
    let privs = st
        .access
        .roles
        .get(id)
        .ok_or_else(|| ApiError::internal(format!("role '{id}' does not exist")))?;
    let map: Map<String, Value> = privs.iter().map(|p| (p.clone(), json!(1))).collect();
    Ok(Reply::data(Value::Object(map)))
}

/// `GET /access/permissions`: the caller's own (or an owned token's) privileges, others' with
/// `Sys.Audit` on `/access`; on one `path`, or every path that grants something.
pub(crate) fn permissions(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let target = call.get("userid").unwrap_or(&authid).to_string();
    let st = inner.state();
    let mine = target == authid || split_tokenid(&target).is_some_and(|(user, _)| user == authid);
    if !mine {
        st.access.perms(&authid).check("/access", &["Sys.Audit"])?;
    }
    let perms = st.access.perms(&target);
    let flags = |p: PrivSet| -> Value {
        Value::Object(
            p.into_iter()
                .map(|(k, v)| (k, json!(u8::from(v))))
                .collect(),
        )
    };
    let out: Map<String, Value> = match call.get("path") {
        Some(path) => {
            let mut m = Map::new();
            m.insert(path.to_string(), flags(perms.privileges(path)));
            m
        }
        None => perms
            .effective()
            .into_iter()
            .map(|(path, p)| (path, flags(p)))
            .collect(),
    };
    Ok(Reply::data(Value::Object(out)))
}
