//! Ticket authentication: log in, keep the ticket, renew it before it expires.
//!
//! A ticket lasts two hours. The client renews it once it is older than the configured age
//! (90 minutes by default) by posting the old ticket as the password, and logs in afresh with
//! the password if that fails or after a 401. One renewal runs at a time; concurrent callers
//! wait for it and share the result.

use paas_core::model::Secret;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// How long PVE honours a ticket.
pub(crate) const TICKET_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// A ticket in use.
pub(crate) struct Ticket {
    /// The `PVEAuthCookie` value.
    pub(crate) ticket: Secret,
    /// The `CSRFPreventionToken` header value.
    pub(crate) csrf: Secret,
    /// When it was issued (by our clock).
    pub(crate) obtained: Instant,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("obtained", &self.obtained)
            .finish_non_exhaustive()
    }
}

/// The reply of `POST /access/ticket`.
#[derive(Deserialize)]
pub(crate) struct TicketReply {
    pub(crate) ticket: Option<String>,
    #[serde(rename = "CSRFPreventionToken")]
    pub(crate) csrf: Option<String>,
    #[allow(dead_code)]
    pub(crate) username: Option<String>,
}

/// The ticket store, shared by every request of one client.
#[derive(Default)]
pub(crate) struct TicketStore {
    current: RwLock<Option<Arc<Ticket>>>,
    /// Held while a login or renewal runs, so only one runs at a time.
    pub(crate) renewing: Mutex<()>,
}

impl std::fmt::Debug for TicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketStore")
    }
}

impl TicketStore {
    /// The current ticket if it is younger than `renew_after`.
    pub(crate) async fn fresh(&self, renew_after: Duration) -> Option<Arc<Ticket>> {
        self.current
            .read()
            .await
            .as_ref()
            .filter(|t| t.obtained.elapsed() < renew_after)
            .cloned()
    }

    /// The current ticket whatever its age (to renew it, while it is still valid).
    pub(crate) async fn any_valid(&self) -> Option<Arc<Ticket>> {
        self.current
            .read()
            .await
            .as_ref()
            .filter(|t| t.obtained.elapsed() + Duration::from_secs(60) < TICKET_LIFETIME)
            .cloned()
    }

    /// Replaces the ticket.
    pub(crate) async fn set(&self, t: Arc<Ticket>) {
        *self.current.write().await = Some(t);
    }

    /// Forgets `used` if it is still the current ticket (after the server refused it).
    pub(crate) async fn invalidate(&self, used: &Arc<Ticket>) {
        let mut cur = self.current.write().await;
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, used)) {
            *cur = None;
        }
    }
}
