//! Users, API tokens, ACLs, roles and effective permissions (`/access/...`): what a platform
//! needs to give each tenant a privilege-separated token limited to its pool.

use super::{ApiRequest, Method, ProxmoxClient, num};
use paas_core::Result;
use paas_core::model::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A new user (`POST /access/users`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewUser {
    /// `name@realm`, e.g. `tenant-a@pve`.
    pub userid: String,
    /// Password (realm `pve` only; at least 8 characters; redacted in Debug).
    pub password: Option<Secret>,
    /// Comment.
    pub comment: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Enabled (PVE's default: yes).
    pub enable: Option<bool>,
    /// Expiry, Unix seconds (0: never).
    pub expire: Option<u64>,
}

/// One user of `GET /access/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// `name@realm`.
    pub userid: String,
    /// Enabled.
    #[serde(default, deserialize_with = "num::bool")]
    pub enable: bool,
    /// Expiry, Unix seconds (0: never).
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub expire: Option<u64>,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// `pam`, `pve`, ...
    #[serde(rename = "realm-type", default)]
    pub realm_type: Option<String>,
}

/// What a token may do and until when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token id (in listings).
    #[serde(default)]
    pub tokenid: Option<String>,
    /// Privilege separation: its own ACLs, never more than its user's.
    #[serde(default, deserialize_with = "num::bool")]
    pub privsep: bool,
    /// Expiry, Unix seconds (0: never).
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub expire: Option<u64>,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Options of a new token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewToken {
    /// Privilege separation (PVE's default: yes).
    pub privsep: Option<bool>,
    /// Expiry, Unix seconds.
    pub expire: Option<u64>,
    /// Comment.
    pub comment: Option<String>,
}

/// A token just made: its secret is shown this once.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedToken {
    /// `user@realm!tokenid`.
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    /// Its settings.
    #[serde(default)]
    pub info: TokenInfo,
    /// The secret (redacted in Debug).
    pub value: Secret,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("full_tokenid", &self.full_tokenid)
            .field("info", &self.info)
            .field("value", &self.value)
            .finish()
    }
}

impl CreatedToken {
    /// The user and token id (`user@realm`, `tokenid`) of [`CreatedToken::full_tokenid`].
    pub fn ids(&self) -> Option<(&str, &str)> {
        self.full_tokenid.rsplit_once('!')
    }
}

/// One ACL entry of `GET /access/acl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// `/vms/100`, `/pool/tenant-a`, `/storage/local`, ...
    pub path: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user, group or token id.
    pub ugid: String,
    /// The role.
    pub roleid: String,
    /// Whether it applies to the paths below too.
    #[serde(default, deserialize_with = "num::bool")]
    pub propagate: bool,
}

/// A change to the ACL (`PUT /access/acl`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclUpdate {
    /// The path.
    pub path: String,
    /// Roles to grant (or with `delete`, revoke).
    pub roles: Vec<String>,
    /// Users.
    pub users: Vec<String>,
    /// Tokens (`user@realm!tokenid`).
    pub tokens: Vec<String>,
    /// Propagate to the paths below (PVE's default: yes).
    pub propagate: Option<bool>,
    /// Revoke instead of grant.
    pub delete: bool,
}

/// A role and its privileges (`GET /access/roles`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// `PVEVMAdmin`, `Administrator`, ...
    pub roleid: String,
    /// Comma-separated privileges.
    #[serde(default)]
    pub privs: String,
    /// Built in.
    #[serde(default, deserialize_with = "num::bool")]
    pub special: bool,
}

impl Role {
    /// The privileges as a list.
    pub fn privileges(&self) -> Vec<&str> {
        self.privs.split(',').filter(|p| !p.is_empty()).collect()
    }
}

/// Effective privileges: path -> privilege -> whether it propagates.
pub type Permissions = BTreeMap<String, BTreeMap<String, bool>>;

/// `POST /access/users`.
pub fn create_user_request(u: &NewUser) -> ApiRequest {
    let mut req = ApiRequest::new(Method::Post, ["access", "users"])
        .param("userid", &u.userid)
        .opt("comment", u.comment.as_deref())
        .opt("email", u.email.as_deref())
        .opt_flag("enable", u.enable)
        .opt("expire", u.expire);
    if let Some(pw) = &u.password {
        req = req.secret("password", pw.expose());
    }
    req
}

/// `GET /access/users`.
pub fn users_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["access", "users"])
}

/// `DELETE /access/users/{userid}`.
pub fn delete_user_request(userid: &str) -> ApiRequest {
    ApiRequest::new(Method::Delete, ["access", "users", userid])
}

/// `GET /access/users/{userid}/token`.
pub fn tokens_request(userid: &str) -> ApiRequest {
    ApiRequest::new(Method::Get, ["access", "users", userid, "token"])
}

/// `POST /access/users/{userid}/token/{tokenid}`.
pub fn create_token_request(userid: &str, tokenid: &str, t: &NewToken) -> ApiRequest {
    ApiRequest::new(Method::Post, ["access", "users", userid, "token", tokenid])
        .opt_flag("privsep", t.privsep)
        .opt("expire", t.expire)
        .opt("comment", t.comment.as_deref())
}

/// `DELETE /access/users/{userid}/token/{tokenid}`.
pub fn delete_token_request(userid: &str, tokenid: &str) -> ApiRequest {
    ApiRequest::new(
        Method::Delete,
        ["access", "users", userid, "token", tokenid],
    )
}

/// `GET /access/acl`.
pub fn acl_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["access", "acl"])
}

/// `PUT /access/acl`.
pub fn update_acl_request(u: &AclUpdate) -> ApiRequest {
    let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    let mut req = ApiRequest::new(Method::Put, ["access", "acl"])
        .param("path", &u.path)
        .param("roles", u.roles.join(","))
        .opt("users", list(&u.users))
        .opt("tokens", list(&u.tokens))
        .opt_flag("propagate", u.propagate);
    if u.delete {
        req = req.flag("delete", true);
    }
    req
}

/// `GET /access/roles`.
pub fn roles_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["access", "roles"])
}

/// `GET /access/permissions[?path=][&userid=]`.
pub fn permissions_request(path: Option<&str>, userid: Option<&str>) -> ApiRequest {
    ApiRequest::new(Method::Get, ["access", "permissions"])
        .opt("path", path)
        .opt("userid", userid)
}

#[derive(Deserialize)]
#[serde(transparent)]
struct RawPermissions(BTreeMap<String, BTreeMap<String, serde_json::Value>>);

impl ProxmoxClient {
    /// Creates a user.
    pub async fn create_user(&self, user: &NewUser) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&create_user_request(user)).await?;
        Ok(())
    }

    /// The users the caller may see (always itself).
    pub async fn users(&self) -> Result<Vec<UserEntry>> {
        self.send(&users_request()).await
    }

    /// Deletes a user with its tokens and ACL entries.
    pub async fn delete_user(&self, userid: &str) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&delete_user_request(userid)).await?;
        Ok(())
    }

    /// A user's tokens (never their secrets).
    pub async fn tokens(&self, userid: &str) -> Result<Vec<TokenInfo>> {
        self.send(&tokens_request(userid)).await
    }

    /// Creates an API token; the reply holds its secret, which PVE never shows again.
    ///
    /// ```no_run
    /// # async fn demo(c: paas_proxmox::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::access::{AclUpdate, NewToken};
    /// let t = c.create_token("tenant-a@pve", "deploy", &NewToken::default()).await?;
    /// c.update_acl(&AclUpdate {
    ///     path: "/pool/tenant-a".into(),
    ///     roles: vec!["PVEVMAdmin".into()],
    ///     tokens: vec![t.full_tokenid.clone()],
    ///     ..AclUpdate::default()
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_token(
        &self,
        userid: &str,
        tokenid: &str,
        options: &NewToken,
    ) -> Result<CreatedToken> {
        self.send(&create_token_request(userid, tokenid, options))
            .await
    }

    /// Deletes a token: it stops working at once.
    pub async fn delete_token(&self, userid: &str, tokenid: &str) -> Result<()> {
        let _: Option<serde_json::Value> =
            self.send(&delete_token_request(userid, tokenid)).await?;
        Ok(())
    }

    /// The ACL entries on paths where the caller may change permissions.
    pub async fn acl(&self) -> Result<Vec<AclEntry>> {
        self.send(&acl_request()).await
    }

    /// Grants or revokes roles.
    pub async fn update_acl(&self, update: &AclUpdate) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&update_acl_request(update)).await?;
        Ok(())
    }

    /// The roles and their privileges.
    pub async fn roles(&self) -> Result<Vec<Role>> {
        self.send(&roles_request()).await
    }

    /// Effective privileges of the caller (or of `userid`: one of its tokens, or anyone with
    /// `Sys.Audit` on `/access`), on `path` or on every path that grants something.
    pub async fn permissions(
        &self,
        path: Option<&str>,
        userid: Option<&str>,
    ) -> Result<Permissions> {
        let raw: RawPermissions = self.send(&permissions_request(path, userid)).await?;
        Ok(raw
            .0
            .into_iter()
            .map(|(p, privs)| {
                let privs = privs
                    .into_iter()
                    .map(|(k, v)| {
                        let on = match v {
                            serde_json::Value::Bool(b) => b,
                            serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                            serde_json::Value::String(s) => s == "1",
                            _ => false,
                        };
                        (k, on)
                    })
                    .collect();
                (p, privs)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let t: CreatedToken = serde_json::from_str(
            r#"{"full-tokenid":"a@pve!x1","info":{"privsep":1},"value":"0d9e7f3a-1111-4222-8333-444455556666"}"#,
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("0d9e7f3a"));
        assert_eq!(t.ids(), Some(("a@pve", "x1")));
        assert!(t.info.privsep);
        let u = NewUser {
            userid: "a@pve".into(),
            password: Some(Secret::new("hunter2222")),
            ..NewUser::default()
        };
        let r = create_user_request(&u);
        assert!(!format!("{r:?}").contains("hunter2222"));
        assert!(!format!("{u:?}").contains("hunter2222"));
    }
}
