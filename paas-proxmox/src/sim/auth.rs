//! Authentication: API tokens, tickets (`PVEAuthCookie`) and CSRF prevention tokens.

use std::fmt;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::access::{AccessConfig, compute_api_permission, split_tokenid};
use super::types::ApiToken;
use super::wire::{ApiError, percent_decode};

/// Who made a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// `root@pam`.
    pub user: String,
    /// `paas` for token calls.
    pub token_id: Option<String>,
}

impl Caller {
    /// The id permissions are checked for (PVE's `$rpcenv->get_user()`): `root@pam` or
    /// `root@pam!paas`.
    pub fn authid(&self) -> String {
        self.upid_user()
    }

    /// The user as a UPID shows it: `root@pam` or `root@pam!paas`.
    pub fn upid_user(&self) -> String {
        match &self.token_id {
            Some(t) => format!("{}!{}", self.user, t),
            None => self.user.clone(),
        }
    }
}

/// The credentials of the simulated cluster. Debug hides the secrets.
pub(crate) struct Auth {
    pub token: ApiToken,
    pub password: String,
    key: [u8; 32],
    /// How long a ticket is valid.
    pub ticket_lifetime: Duration,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token)
            .field("password", &"<redacted>")
            .field("ticket_lifetime", &self.ticket_lifetime)
            .finish_non_exhaustive()
    }
}

/// The simulated superuser.
pub(crate) const USER: &str = "root@pam";

/// A random UUID (v4), as PVE makes token secrets.
pub(crate) fn random_uuid(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Auth {
    /// Fresh random credentials.
    pub fn new(ticket_lifetime: Duration) -> Self {
        let mut rng = rand::rng();
        let token = ApiToken {
            user: USER.into(),
            token_id: "paas".into(),
            secret: random_uuid(&mut rng),
        };
        let password: String = hex::encode(rng.random::<[u8; 12]>());
        Auth {
            token,
            password,
            key: rng.random(),
            ticket_lifetime,
        }
    }

    fn sign(&self, data: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(data.as_bytes());
        hex::encode(h.finalize())
    }

    /// A ticket for `user` issued at `now` (epoch seconds): `PVE:root@pam:6745A1B2::<sig>`.
    pub fn ticket(&self, user: &str, now: i64) -> String {
        let data = format!("PVE:{user}:{:08X}", now.max(0));
        let sig = self.sign(&data);
        format!("{data}::{sig}")
    }

    /// The CSRF prevention token that goes with a ticket.
    pub fn csrf_token(&self, user: &str, now: i64) -> String {
        let t = format!("{:08X}", now.max(0));
        let sig = self.sign(&format!("CSRF:{t}:{user}"));
        format!("{t}:{}", &sig[..43])
    }

    /// Checks a ticket; returns the user.
    pub fn verify_ticket(&self, ticket: &str, now: i64) -> Option<String> {
        let (data, sig) = ticket.split_once("::")?;
        if self.sign(data) != sig {
            return None;
        }
        let rest = data.strip_prefix("PVE:")?;
        let (user, time) = rest.rsplit_once(':')?;
        let issued = i64::from_str_radix(time, 16).ok()?;
        let age = now.saturating_sub(issued);
        let lifetime = i64::try_from(self.ticket_lifetime.as_secs()).unwrap_or(i64::MAX);
        (age >= -300 && age < lifetime).then(|| user.to_string())
    }

    fn verify_csrf(&self, token: &str, user: &str, now: i64) -> bool {
        let Some((t, _)) = token.split_once(':') else {
            return false;
        };
        let Ok(issued) = i64::from_str_radix(t, 16) else {
            return false;
        };
        let lifetime = i64::try_from(self.ticket_lifetime.as_secs()).unwrap_or(i64::MAX);
        let age = now.saturating_sub(issued);
        token == self.csrf_token(user, issued) && age >= -300 && age < lifetime
    }

    /// Authenticates a call from its headers (`method` decides whether CSRF is needed), as
    /// HS AnyEvent.pm:1576-1594 and PM HTTPServer.pm:82-125 do it: a `PVEAuthCookie` cookie
    /// wins, then a `PVEAuthCookie` in the `Authorization` header, and only without a ticket
    /// an API token. Texts are pve-manager 9.1.3's (9.1.5 turns them all into
    /// `Authentication failed!`). Users and tokens come from `access`.
    pub fn authenticate(
        &self,
        method: &str,
        headers: &HeaderMap,
        now: i64,
        access: &AccessConfig,
    ) -> Result<Caller, ApiError> {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| extract_auth_value(v, "PVEAuthCookie"));
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let ticket = cookie
            .filter(|t| !t.is_empty())
            .or_else(|| authorization.and_then(|a| extract_auth_value(a, "PVEAuthCookie")))
            .filter(|t| !t.is_empty());
        let Some(ticket) = ticket else {
            if let Some(token) = authorization.and_then(|a| extract_auth_value(a, "PVEAPIToken")) {
                return verify_token(&token, access, now);
            }
            // PM HTTPServer.pm:89 `die "No ticket\n" if !$ticket;`
            return Err(ApiError::new(401, "No ticket"));
        };
        // PC Ticket.pm:106 `raise("permission denied - invalid $prefix ticket\n", code =>
        // HTTP_UNAUTHORIZED)`.
        let user = self
            .verify_ticket(&ticket, now)
            .filter(|u| check_user_enabled(access, u, now).is_ok())
            .ok_or_else(|| ApiError::new(401, "permission denied - invalid PVE ticket"))?;
        if method != "GET" {
            let csrf = headers
                .get("CSRFPreventionToken")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !self.verify_csrf(csrf, &user, now) {
                return Err(ApiError::new(401, "Permission denied - invalid csrf token"));
            }
        }
        Ok(Caller {
            user,
            token_id: None,
        })
    }

    /// `POST /access/ticket`: a password or a still valid ticket gives a new ticket.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        realm: Option<&str>,
        now: i64,
        access: &AccessConfig,
    ) -> Result<Value, ApiError> {
        // AC API2/AccessControl.pm:275 `$username .= "\@$param->{realm}" if
        // $param->{realm};`: appended even when the name already has a realm.
        let user = match realm.filter(|r| !r.is_empty()) {
            Some(realm) => format!("{username}@{realm}"),
            None => username.to_string(),
        };
        // root@pam has the simulator's password; `pve` realm users the one they were
        // created with.
        let by_password = check_user_enabled(access, &user, now).is_ok()
            && if user == USER {
                password == self.password
            } else {
                access
                    .users
                    .get(&user)
                    .and_then(|u| u.password.as_deref())
                    .is_some_and(|p| p == password)
            };
        let by_ticket = password.starts_with("PVE:")
            && self.verify_ticket(password, now).is_some_and(|u| u == user);
        if !(by_password || by_ticket) {
            return Err(ApiError::new(401, "authentication failure"));
        }
        Ok(json!({
            "username": user,
            "ticket": self.ticket(&user, now),
            "CSRFPreventionToken": self.csrf_token(&user, now),
            "cap": compute_api_permission(access, &user),
        }))
    }
}

/// `check_user_enabled` (AC AccessControl.pm:663-696).
fn check_user_enabled(access: &AccessConfig, user: &str, now: i64) -> Result<(), String> {
    let Some(u) = access.users.get(user) else {
        return Err(format!("no such user ('{user}')"));
    };
    if !u.enable {
        return Err(format!("user '{user}' is disabled"));
    }
    if u.expire > 0 && u.expire < now {
        return Err(format!("user '{user}' access expired"));
    }
    Ok(())
}

/// `PVEAPIToken=USER@REALM!TOKENID=SECRET` (AC AccessControl.pm:487-516, 9.1.3 texts).
fn verify_token(value: &str, access: &AccessConfig, now: i64) -> Result<Caller, ApiError> {
    let unauthorized = |m: String| ApiError::new(401, m);
    if value.is_empty() {
        return Err(unauthorized("no API token specified".into()));
    }
    // `/^(.*)=(.*)$/`: the token id runs up to the last `=`.
    let Some((tokenid, secret)) = value.rsplit_once('=') else {
        return Err(unauthorized("no tokenid specified".into()));
    };
    let Some((user, token)) = split_tokenid(tokenid) else {
        return Err(unauthorized(format!(
            "'{tokenid}' is not a valid token ID - not able to split into user and token parts"
        )));
    };
    check_user_enabled(access, user, now).map_err(unauthorized)?;
    let Some(info) = access.users.get(user).and_then(|u| u.tokens.get(token)) else {
        return Err(unauthorized(format!(
            "no such token '{token}' for user '{user}'"
        )));
    };
    if info.expire > 0 && info.expire < now {
        return Err(unauthorized(format!("token '{token}' access expired")));
    }
    if secret != info.secret {
        return Err(unauthorized("invalid token value!".into()));
    }
    Ok(Caller {
        user: user.to_string(),
        token_id: Some(token.to_string()),
    })
}

/// HS Formatter.pm:78-88 `extract_auth_value`: `(?:^|\s)KEY(?:=| )([^;]*)`, unescaped.
fn extract_auth_value(header: &str, key: &str) -> Option<String> {
    let mut from = 0;
    while let Some(pos) = header[from..].find(key) {
        let at = from + pos;
        let starts = at == 0
            || header[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
        let rest = &header[at + key.len()..];
        if starts && (rest.starts_with('=') || rest.starts_with(' ')) {
            let value = rest[1..].split(';').next().unwrap_or_default();
            return Some(percent_decode(value));
        }
        from = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_expire() {
        let a = Auth::new(Duration::from_secs(7200));
        let t = a.ticket(USER, 1000);
        assert_eq!(a.verify_ticket(&t, 1000).as_deref(), Some(USER));
        assert_eq!(a.verify_ticket(&t, 1000 + 7199).as_deref(), Some(USER));
        assert_eq!(a.verify_ticket(&t, 1000 + 7200), None);
        assert_eq!(a.verify_ticket("PVE:x", 1000), None);
        assert!(a.verify_csrf(&a.csrf_token(USER, 1000), USER, 1001));
        assert!(!format!("{a:?}").contains(&a.password));
        assert!(!format!("{a:?}").contains(&a.token.secret));
    }

    #[test]
    fn auth_values_are_found_like_pveproxy_finds_them() {
        assert_eq!(
            extract_auth_value("a=b; PVEAuthCookie=PVE%3Aroot; x=y", "PVEAuthCookie").as_deref(),
            Some("PVE:root")
        );
        assert_eq!(
            extract_auth_value("PVEAPIToken root@pam!t=s", "PVEAPIToken").as_deref(),
            Some("root@pam!t=s")
        );
        assert_eq!(extract_auth_value("xPVEAPIToken=a", "PVEAPIToken"), None);
        assert_eq!(split_tokenid("root@pam!paas"), Some(("root@pam", "paas")));
        assert_eq!(split_tokenid("root!paas"), None);
        assert_eq!(split_tokenid("root@pam!"), None);
    }
}
