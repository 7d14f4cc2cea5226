//! `POST /access/ticket`.

use std::sync::Arc;

use crate::sim::core::Inner;
use crate::sim::server::Call;
use crate::sim::wire::{ApiResult, Reply};

/// `POST /access/ticket`: username + password (or a valid ticket as password).
pub(crate) fn ticket(inner: &Arc<Inner>, call: &Call) -> ApiResult {
    let st = inner.state();
    let data = inner.auth.login(
        call.get("username").unwrap_or_default(),
        call.get("password").unwrap_or_default(),
        call.get("realm"),
        inner.clock.now(),
        &st.access,
    )?;
    Ok(Reply::data(data))
}
