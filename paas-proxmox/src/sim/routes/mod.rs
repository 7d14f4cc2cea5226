//! The handlers of the implemented operations, one module per API area.

mod access;
mod acl;
mod allocate;
mod backup;
mod backup_volumes;
mod cluster;
mod guest;
mod lxc;
mod net;
mod pools;
mod power;
mod qemu;
mod qemu_config;
mod qemu_create;
mod restore;
mod snapshot;
mod storage;
mod tasks;
mod users;
mod volumes;
mod worker;

use std::sync::Arc;

use super::core::Inner;
use super::locks::{self, LockGuard};
use super::server::Call;
use super::state::{Guest, State, conf_path};
use super::types::GuestKind;
use super::wire::{ApiError, ApiResult, ErrorBody};

/// Runs the handler of `METHOD path-template`.
pub(crate) async fn dispatch(
    inner: &Arc<Inner>,
    method: &str,
    path: &str,
    call: Call,
) -> ApiResult {
    use GuestKind::{Lxc, Qemu};
    match (method, path) {
        ("GET", "/version") => cluster::version(),
        ("GET", "/nodes") => cluster::nodes(inner, &call),
        ("GET", "/nodes/{node}/status") => cluster::node_status(inner, &call),
        ("GET", "/cluster/resources") => cluster::resources(inner, &call),
        ("GET", "/cluster/nextid") => cluster::nextid(inner, &call),
        ("GET", "/nodes/{node}/storage/{storage}/content") => {
            cluster::storage_content(inner, &call)
        }
        ("POST", "/access/ticket") => access::ticket(inner, &call),
        ("POST", "/nodes/{node}/vzdump") => backup::vzdump(inner, &call).await,
        ("GET", "/nodes/{node}/storage/{storage}/content/{volume}") => {
            backup_volumes::volume_attributes(inner, &call)
        }
        ("PUT", "/nodes/{node}/storage/{storage}/content/{volume}") => {
            backup_volumes::update_volume(inner, &call)
        }
        ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}") => {
            backup_volumes::delete_volume(inner, &call).await
        }
        ("GET", "/nodes/{node}/storage/{storage}/prunebackups") => {
            backup_volumes::prune_dry_run(inner, &call)
        }
        ("DELETE", "/nodes/{node}/storage/{storage}/prunebackups") => {
            backup_volumes::prune_delete(inner, &call).await
        }
        ("GET", "/access/users") => users::list(inner, &call),
        ("POST", "/access/users") => users::create(inner, &call),
        ("GET", "/access/users/{userid}") => users::read(inner, &call),
        ("PUT", "/access/users/{userid}") => users::update(inner, &call),
        ("DELETE", "/access/users/{userid}") => users::delete(inner, &call),
        ("GET", "/access/users/{userid}/token") => users::token_list(inner, &call),
        ("GET", "/access/users/{userid}/token/{tokenid}") => users::token_read(inner, &call),
        ("POST", "/access/users/{userid}/token/{tokenid}") => users::token_create(inner, &call),
        ("PUT", "/access/users/{userid}/token/{tokenid}") => users::token_update(inner, &call),
        ("DELETE", "/access/users/{userid}/token/{tokenid}") => users::token_delete(inner, &call),
        ("GET", "/access/acl") => acl::read(inner, &call),
        ("PUT", "/access/acl") => acl::update(inner, &call),
        ("GET", "/access/roles") => acl::roles(inner),
        ("GET", "/access/roles/{roleid}") => acl::role(inner, &call),
        ("GET", "/access/permissions") => acl::permissions(inner, &call),
        ("GET", "/pools") => pools::index(inner, &call),
        ("POST", "/pools") => pools::create(inner, &call),
        ("PUT", "/pools" | "/pools/{poolid}") => pools::update(inner, &call),
        ("DELETE", "/pools" | "/pools/{poolid}") => pools::delete(inner, &call),
        ("GET", "/pools/{poolid}") => pools::read(inner, &call),
        ("GET", "/nodes/{node}/tasks/{upid}/status") => tasks::status(inner, &call),
        ("GET", "/nodes/{node}/tasks/{upid}/log") => tasks::log(inner, &call),
        ("GET", "/nodes/{node}/tasks") => tasks::list(inner, &call),
        ("DELETE", "/nodes/{node}/tasks/{upid}") => tasks::stop(inner, &call),
        ("GET", "/cluster/tasks") => tasks::cluster(inner, &call),
        ("GET", "/nodes/{node}/lxc") => guest::list(inner, &call, Lxc),
        ("GET", "/nodes/{node}/qemu") => guest::list(inner, &call, Qemu),
        ("POST", "/nodes/{node}/lxc") if call.flag("restore") => restore::lxc(inner, &call).await,
        ("POST", "/nodes/{node}/lxc") => lxc::create(inner, &call).await,
        ("POST", "/nodes/{node}/qemu") => qemu_create::qemu(inner, &call).await,
        ("POST", "/nodes/{node}/qemu/{vmid}/clone") => qemu::clone(inner, &call).await,
        ("GET", "/nodes/{node}/lxc/{vmid}") => guest::index(inner, &call, Lxc),
        ("GET", "/nodes/{node}/qemu/{vmid}") => guest::index(inner, &call, Qemu),
        ("DELETE", "/nodes/{node}/lxc/{vmid}") => guest::destroy(inner, &call, Lxc).await,
        ("DELETE", "/nodes/{node}/qemu/{vmid}") => guest::destroy(inner, &call, Qemu).await,
        ("GET", "/nodes/{node}/lxc/{vmid}/status/current") => guest::status(inner, &call, Lxc),
        ("GET", "/nodes/{node}/qemu/{vmid}/status/current") => guest::status(inner, &call, Qemu),
        ("GET", "/nodes/{node}/lxc/{vmid}/config") => guest::config(inner, &call, Lxc),
        ("GET", "/nodes/{node}/qemu/{vmid}/config") => guest::config(inner, &call, Qemu),
        ("PUT", "/nodes/{node}/lxc/{vmid}/config") => guest::update_config(inner, &call, Lxc).await,
        ("PUT", "/nodes/{node}/qemu/{vmid}/config") => {
            guest::update_config(inner, &call, Qemu).await
        }
        ("GET", "/nodes/{node}/lxc/{vmid}/interfaces") => net::lxc_interfaces(inner, &call),
        ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces") => {
            net::agent_interfaces(inner, &call)
        }
        ("POST", p) if p.starts_with("/nodes/{node}/lxc/{vmid}/status/") => {
            let action = p.rsplit('/').next().unwrap_or_default();
            power::power(inner, &call, Lxc, action).await
        }
        ("POST", p) if p.starts_with("/nodes/{node}/qemu/{vmid}/status/") => {
            let action = p.rsplit('/').next().unwrap_or_default();
            power::power(inner, &call, Qemu, action).await
        }
        (m, p) if p.contains("/{vmid}/snapshot") => {
            let kind = if p.starts_with("/nodes/{node}/lxc/") {
                Lxc
            } else {
                Qemu
            };
            snapshot::dispatch(inner, m, p, kind, &call).await
        }
        (m, p) if handles_volumes(m, p) => volumes_dispatch(inner, m, p, call).await,
        _ => Err(ApiError::not_implemented(method, path)),
    }
}

/// Whether `METHOD path` is one of the storage, volume and VM config operations (routed
/// apart so that the big table above stays as it is).
fn handles_volumes(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("GET", "/storage")
            | ("GET", "/nodes/{node}/storage")
            | ("GET", "/nodes/{node}/storage/{storage}/status")
            | ("POST", "/nodes/{node}/lxc/{vmid}/move_volume")
            | ("PUT", "/nodes/{node}/lxc/{vmid}/resize")
            | ("PUT", "/nodes/{node}/qemu/{vmid}/resize")
            | ("POST", "/nodes/{node}/qemu/{vmid}/config")
    )
}

async fn volumes_dispatch(inner: &Arc<Inner>, method: &str, path: &str, call: Call) -> ApiResult {
    match (method, path) {
        ("GET", "/storage") => storage::index(inner, &call),
        ("GET", "/nodes/{node}/storage") => storage::node_index(inner, &call),
        ("GET", "/nodes/{node}/storage/{storage}/status") => storage::status(inner, &call),
        ("POST", "/nodes/{node}/lxc/{vmid}/move_volume") => {
            volumes::move_volume(inner, &call).await
        }
        ("PUT", "/nodes/{node}/lxc/{vmid}/resize") => {
            volumes::resize(inner, &call, GuestKind::Lxc).await
        }
        ("PUT", "/nodes/{node}/qemu/{vmid}/resize") => {
            volumes::resize(inner, &call, GuestKind::Qemu).await
        }
        ("POST", "/nodes/{node}/qemu/{vmid}/config") => {
            qemu_config::update_async(inner, &call).await
        }
        _ => Err(ApiError::not_implemented(method, path)),
    }
}

/// PVE's error for a node that is not in the cluster.
pub(crate) fn check_node(st: &State, node: &str) -> Result<(), ApiError> {
    match st.node(node) {
        Some(n) if n.online => Ok(()),
        // pveproxy passes AnyEvent::HTTP's pseudo status through with the OS error as the
        // reason and no body (HS AnyEvent.pm:855-873; the reason text is inferred).
        Some(_) => Err(ApiError::new(595, "No route to host").with_body(ErrorBody::Empty)),
        None => Err(ApiError::internal(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        ))),
    }
}

/// The guest `vmid` of `kind` on `node`, or PVE's missing config file error.
pub(crate) fn find_guest<'a>(
    st: &'a State,
    node: &str,
    kind: GuestKind,
    vmid: u32,
) -> Result<&'a Guest, ApiError> {
    check_node(st, node)?;
    st.guests
        .get(&vmid)
        .filter(|g| g.node == node && g.kind == kind)
        .ok_or_else(|| missing_conf(node, kind, vmid))
}

/// Mutable variant of [`find_guest`].
pub(crate) fn find_guest_mut<'a>(
    st: &'a mut State,
    node: &str,
    kind: GuestKind,
    vmid: u32,
) -> Result<&'a mut Guest, ApiError> {
    check_node(st, node)?;
    st.guests
        .get_mut(&vmid)
        .filter(|g| g.node == node && g.kind == kind)
        .ok_or_else(|| missing_conf(node, kind, vmid))
}

pub(crate) fn missing_conf(node: &str, kind: GuestKind, vmid: u32) -> ApiError {
    ApiError::internal(format!(
        "Configuration file '{}' does not exist",
        conf_path(node, kind, vmid)
    ))
}

/// PVE's `check_lock`: `CT is locked (create)`.
pub(crate) fn check_lock(g: &Guest) -> Result<(), ApiError> {
    match g.lock() {
        Some(lock) => Err(ApiError::internal(format!(
            "{} is locked ({lock})",
            g.noun()
        ))),
        None => Ok(()),
    }
}

/// Takes a guest's config file lock for a mutating call (or fails with PVE's timeout text,
/// injected or real), with `prefix` put before the text (e.g. `unable to create CT 100 - `).
pub(crate) async fn lock_guest(
    inner: &Arc<Inner>,
    kind: GuestKind,
    vmid: u32,
    timeout: std::time::Duration,
    prefix: &str,
) -> Result<LockGuard, ApiError> {
    let path = locks::lock_path(kind, vmid);
    if inner.faults.lock_timeout() {
        return Err(ApiError::internal(format!(
            "{prefix}{}",
            locks::timeout_text(&path)
        )));
    }
    inner
        .locks
        .acquire(&path, timeout)
        .await
        .map_err(|e| ApiError::internal(format!("{prefix}{e}")))
}
