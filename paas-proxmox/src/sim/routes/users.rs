//! `/access/users` and `/access/users/{userid}/token/{tokenid}` (AC API2/User.pm, pinned
//! df0a60e74d80). Errors inside `lock_user_config` carry its prefix (`create user failed: `).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::sim::access::{ROOT, Token, User, split_tokenid};
use crate::sim::auth::random_uuid;
use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::wire::{ApiError, ApiResult, Reply};

fn realm_type(userid: &str) -> Option<&'static str> {
    match userid.rsplit_once('@').map(|(_, r)| r) {
        Some("pam") => Some("pam"),
        Some("pve") => Some("pve"),
        _ => None,
    }
}

/// `$extract_user_data`: the stored properties (and with `full`, groups and tokens).
fn user_json(u: &User, full: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("enable".into(), json!(u8::from(u.enable)));
    m.insert("expire".into(), json!(u.expire));
    for (k, v) in [
        ("firstname", &u.firstname),
        ("lastname", &u.lastname),
        ("email", &u.email),
        ("comment", &u.comment),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if full {
        m.insert("groups".into(), json!([]));
        let tokens: Map<String, Value> = u
            .tokens
            .iter()
            .map(|(id, t)| (id.clone(), token_json(t, true)))
            .collect();
        m.insert("tokens".into(), Value::Object(tokens));
    }
    m
}

/// A token's `info` (never its secret).
fn token_json(t: &Token, with_expire: bool) -> Value {
    let mut v = json!({"privsep": u8::from(t.privsep)});
    if with_expire {
        v["expire"] = json!(t.expire);
    }
    if let Some(c) = &t.comment {
        v["comment"] = json!(c);
    }
    v
}

/// `GET /access/users`: everyone for callers with `User.Modify` or `Sys.Audit` on
/// `/access/groups`, otherwise only the caller itself (the simulator has no groups).
pub(crate) fn list(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let authid = call.caller.authid();
    let st = inner.state();
    let perms = st.access.perms(&authid);
    let can_modify = perms.has_any("/access/groups", &["User.Modify", "Sys.Audit"]);
    let full = call.flag("full");
    let enabled = call.get("enabled").map(|v| v == "1");
    let mut out = Vec::new();
    for (id, u) in &st.access.users {
        if !(can_modify || *id == authid) {
            continue;
        }
        if enabled.is_some_and(|e| e != u.enable) {
            continue;
        }
        let mut m = user_json(u, full);
        if full {
            // `join(',', @groups)` of an empty list.
            m.insert("groups".into(), json!(""));
            let tokens: Vec<Value> = u
                .tokens
                .iter()
                .map(|(tid, t)| {
                    let mut v = token_json(t, true);
                    v["tokenid"] = json!(tid);
                    v
                })
                .collect();
            m.insert("tokens".into(), json!(tokens));
        }
        if let Some(rt) = realm_type(id) {
            m.insert("realm-type".into(), json!(rt));
        }
        m.insert("userid".into(), json!(id));
        out.push(Value::Object(m));
    }
    Ok(Reply::data(Value::Array(out)))
}

/// `POST /access/users`.
pub(crate) fn create(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default().to_string();
    let failed = |m: String| ApiError::internal(format!("create user failed: {m}"));
    let mut st = inner.state();
    if st.access.users.contains_key(&userid) {
        return Err(failed(format!("user '{userid}' already exists")));
    }
    if let Some(g) = call
        .get("groups")
        .and_then(|g| g.split([',', ';', ' ']).find(|s| !s.is_empty()))
    {
        return Err(failed(format!("no such group '{g}'")));
    }
    let realm = userid.rsplit_once('@').map(|(_, r)| r).unwrap_or_default();
    let password = match call.get("password") {
        Some(_) if realm == "pam" => {
            // PAM's domain_set_password runs `passwd` for a Linux account the simulator does
            // not have.
            return Err(failed(format!(
                "setting password for '{userid}' failed: no such Linux user"
            )));
        }
        Some(_) if realm != "pve" => {
            return Err(failed(format!("auth domain '{realm}' does not exist")));
        }
        other => other.map(str::to_string),
    };
    let user = User {
        enable: call.get("enable") != Some("0"),
        expire: call.int("expire").unwrap_or(0),
        firstname: call
            .get("firstname")
            .filter(|s| !s.is_empty())
            .map(Into::into),
        lastname: call
            .get("lastname")
            .filter(|s| !s.is_empty())
            .map(Into::into),
        email: call.get("email").filter(|s| !s.is_empty()).map(Into::into),
        comment: call
            .get("comment")
            .filter(|s| !s.is_empty())
            .map(Into::into),
        password,
        tokens: Default::default(),
    };
    st.access.users.insert(userid, user);
    Ok(Reply::data(Value::Null))
}

/// `GET /access/users/{userid}`.
pub(crate) fn read(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default();
    let st = inner.state();
    let u = st
        .access
        .users
        .get(userid)
        .ok_or_else(|| ApiError::internal(format!("no such user ('{userid}')")))?;
    Ok(Reply::data(Value::Object(user_json(u, true))))
}

/// `PUT /access/users/{userid}`.
pub(crate) fn update(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default();
    let failed = |m: String| ApiError::internal(format!("update user failed: {m}"));
    let mut st = inner.state();
    if let Some(g) = call
        .get("groups")
        .and_then(|g| g.split([',', ';', ' ']).find(|s| !s.is_empty()))
    {
        return Err(failed(format!("no such group '{g}'")));
    }
    let u = st
        .access
        .users
        .get_mut(userid)
        .ok_or_else(|| failed(format!("no such user ('{userid}')")))?;
    if let Some(e) = call.get("enable") {
        u.enable = e == "1";
    }
    if let Some(e) = call.int("expire") {
        u.expire = e;
    }
    for (k, field) in [
        ("firstname", &mut u.firstname),
        ("lastname", &mut u.lastname),
        ("email", &mut u.email),
        ("comment", &mut u.comment),
    ] {
        if let Some(v) = call.get(k) {
            *field = (!v.is_empty()).then(|| v.to_string());
        }
    }
    Ok(Reply::data(Value::Null))
}

/// `DELETE /access/users/{userid}`: the user, its tokens and its ACL entries.
pub(crate) fn delete(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default().to_string();
    let mut st = inner.state();
    if let Some(u) = st.access.users.remove(&userid) {
        for t in u.tokens.keys() {
            st.access.delete_acls_of(&format!("{userid}!{t}"));
        }
    }
    st.access.delete_acls_of(&userid);
    // `userconfig_force_defaults`: root@pam always exists.
    if userid == ROOT {
        st.access.users.insert(
            ROOT.to_string(),
            User {
                enable: true,
                ..User::default()
            },
        );
    }
    Ok(Reply::data(Value::Null))
}

fn user_of<'a>(st: &'a crate::sim::state::State, userid: &str) -> Result<&'a User, ApiError> {
    st.access
        .users
        .get(userid)
        .ok_or_else(|| ApiError::internal(format!("no such user ('{userid}')")))
}

fn no_such_token(userid: &str, tokenid: &str) -> ApiError {
    ApiError::internal(format!("no such token '{tokenid}' for user '{userid}'"))
}

/// `GET /access/users/{userid}/token`.
pub(crate) fn token_list(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let u = user_of(&st, call.get("userid").unwrap_or_default())?;
    let list: Vec<Value> = u
        .tokens
        .iter()
        .map(|(id, t)| {
            let mut v = token_json(t, true);
            v["tokenid"] = json!(id);
            v
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `GET /access/users/{userid}/token/{tokenid}`.
pub(crate) fn token_read(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default();
    let tokenid = call.get("tokenid").unwrap_or_default();
    let st = inner.state();
    let t = user_of(&st, userid)?
        .tokens
        .get(tokenid)
        .ok_or_else(|| no_such_token(userid, tokenid))?;
    Ok(Reply::data(token_json(t, true)))
}

/// `POST /access/users/{userid}/token/{tokenid}`: the secret is in this reply only.
pub(crate) fn token_create(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default().to_string();
    let tokenid = call.get("tokenid").unwrap_or_default().to_string();
    let full = format!("{userid}!{tokenid}");
    let mut st = inner.state();
    if user_of(&st, &userid)?.tokens.contains_key(&tokenid) {
        return Err(ApiError::param("tokenid", "Token already exists."));
    }
    if split_tokenid(&full).is_none() {
        return Err(ApiError::internal(format!(
            "generating token failed: value '{full}' does not look like a valid token ID"
        )));
    }
    let token = Token {
        privsep: call.get("privsep") != Some("0"),
        expire: call.int("expire").unwrap_or(0),
        comment: call
            .get("comment")
            .filter(|c| !c.is_empty())
            .map(Into::into),
        secret: random_uuid(&mut rand::rng()),
    };
    let mut info = token_json(&token, false);
    if call.get("expire").is_some() {
        info["expire"] = json!(token.expire);
    }
    let value = token.secret.clone();
    if let Some(u) = st.access.users.get_mut(&userid) {
        u.tokens.insert(tokenid, token);
    }
    Ok(Reply::data(json!({
        "full-tokenid": full,
        "info": info,
        "value": value,
    })))
}

/// `PUT /access/users/{userid}/token/{tokenid}`: privsep, expire, comment.
pub(crate) fn token_update(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default().to_string();
    let tokenid = call.get("tokenid").unwrap_or_default().to_string();
    let mut st = inner.state();
    let t = st
        .access
        .users
        .get_mut(&userid)
        .ok_or_else(|| ApiError::internal(format!("no such user ('{userid}')")))?
        .tokens
        .get_mut(&tokenid)
        .ok_or_else(|| no_such_token(&userid, &tokenid))?;
    let deletes: Vec<&str> = call
        .get("delete")
        .map(|d| d.split([',', ';', ' ']).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(bad) = deletes.iter().find(|d| **d != "comment") {
        return Err(ApiError::internal(format!(
            "updating token info failed: 400 Parameter verification failed.\ndelete: unknown option '{bad}'"
        )));
    }
    if let Some(p) = call.get("privsep") {
        t.privsep = p == "1";
    }
    if let Some(e) = call.int("expire") {
        t.expire = e;
    }
    if let Some(c) = call.get("comment") {
        t.comment = (!c.is_empty()).then(|| c.to_string());
    }
    if !deletes.is_empty() {
        t.comment = None;
    }
    Ok(Reply::data(token_json(t, true)))
}

/// `DELETE /access/users/{userid}/token/{tokenid}`: the token stops working at once.
pub(crate) fn token_delete(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let userid = call.get("userid").unwrap_or_default().to_string();
    let tokenid = call.get("tokenid").unwrap_or_default().to_string();
    let mut st = inner.state();
    let u = st
        .access
        .users
        .get_mut(&userid)
        .ok_or_else(|| ApiError::internal(format!("no such user ('{userid}')")))?;
    if u.tokens.remove(&tokenid).is_none() {
        return Err(no_such_token(&userid, &tokenid));
    }
    // PVE keeps ACL entries of a deleted token in user.cfg but drops them on the next parse
    // ("ignore invalid acl token"); either way they grant nothing.
    st.access.delete_acls_of(&format!("{userid}!{tokenid}"));
    Ok(Reply::data(Value::Null))
}
