//! Task history: `GET /nodes/{node}/tasks`, `GET /cluster/tasks` and stopping a task with
//! `DELETE /nodes/{node}/tasks/{upid}` (PM API2/Tasks.pm and API2/Cluster.pm).

use super::{ApiRequest, Method, ProxmoxClient, Upid, num};
use paas_core::Result;
use serde::{Deserialize, Serialize};

/// Which tasks `GET /nodes/{node}/tasks` reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskSource {
    /// Finished tasks only (PVE's default).
    #[default]
    Archive,
    /// Running tasks only.
    Active,
    /// Both.
    All,
}

impl TaskSource {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskSource::Archive => "archive",
            TaskSource::Active => "active",
            TaskSource::All => "all",
        }
    }
}

/// Filters of `GET /nodes/{node}/tasks`; `None` leaves a filter out.
///
/// ```
/// use paas_proxmox::client::task_list::{TaskFilter, TaskSource, list_tasks_request};
/// let f = TaskFilter {
///     vmid: Some(101),
///     typefilter: Some("vzcreate".into()),
///     source: Some(TaskSource::All),
///     ..TaskFilter::default()
/// };
/// let req = list_tasks_request("pve1", &f);
/// assert_eq!(req.to_string(), "GET /nodes/pve1/tasks");
/// assert!(req.params().contains(&("source".into(), "all".into())));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks about this VMID.
    pub vmid: Option<u32>,
    /// Only tasks of this type (`vzstart`, `qmclone`, ...).
    pub typefilter: Option<String>,
    /// Archive (default), active or all.
    pub source: Option<TaskSource>,
    /// Only these kinds of end: a list of `ok`, `warning`, `error`, `unknown`.
    pub statusfilter: Option<String>,
    /// Only tasks whose user contains this text (case-insensitive).
    pub userfilter: Option<String>,
    /// Only tasks started at or after this Unix time.
    pub since: Option<i64>,
    /// Only tasks started at or before this Unix time.
    pub until: Option<i64>,
    /// Skip this many matching tasks.
    pub start: Option<u64>,
    /// Return at most this many (PVE's default: 50).
    pub limit: Option<u64>,
    /// Only failed tasks.
    pub errors: Option<bool>,
}

/// One entry of a task list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEntry {
    /// The task's id.
    pub upid: Upid,
    /// Node it ran on.
    #[serde(default)]
    pub node: Option<String>,
    /// Task type.
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
    /// Object id (usually a VMID).
    #[serde(default, deserialize_with = "num::opt_string")]
    pub id: Option<String>,
    /// The user (without the token part).
    #[serde(default)]
    pub user: Option<String>,
    /// The token, for tasks an API token started.
    #[serde(default)]
    pub tokenid: Option<String>,
    /// Start, Unix seconds.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub starttime: Option<u64>,
    /// End, Unix seconds (finished tasks).
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub endtime: Option<u64>,
    /// The exit status of a finished task (`OK`, `WARNINGS: N`, an error text), `RUNNING` for
    /// a running one in a node's list; absent for a running one in the cluster list.
    #[serde(default)]
    pub status: Option<String>,
}

impl TaskEntry {
    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        self.endtime.is_none() && self.status.as_deref().is_none_or(|s| s == "RUNNING")
    }
}

/// A page of a node's task list and how many tasks matched in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskList {
    /// The tasks asked for, newest first (running ones first with [`TaskSource::All`]).
    pub tasks: Vec<TaskEntry>,
    /// How many matched the filters (PVE omits it when zero).
    pub total: u64,
}

/// `GET /nodes/{node}/tasks` with `filter`.
pub fn list_tasks_request(node: &str, filter: &TaskFilter) -> ApiRequest {
    ApiRequest::new(Method::Get, ["nodes", node, "tasks"])
        .opt("vmid", filter.vmid)
        .opt("typefilter", filter.typefilter.as_deref())
        .opt("source", filter.source.map(TaskSource::as_str))
        .opt("statusfilter", filter.statusfilter.as_deref())
        .opt("userfilter", filter.userfilter.as_deref())
        .opt("since", filter.since)
        .opt("until", filter.until)
        .opt("start", filter.start)
        .opt("limit", filter.limit)
        .opt_flag("errors", filter.errors)
}

/// `GET /cluster/tasks`.
pub fn cluster_tasks_request() -> ApiRequest {
    ApiRequest::new(Method::Get, ["cluster", "tasks"])
}

/// `DELETE /nodes/{node}/tasks/{upid}`.
pub fn stop_task_request(upid: &Upid) -> ApiRequest {
    ApiRequest::new(
        Method::Delete,
        ["nodes", upid.node(), "tasks", &upid.to_string()],
    )
}

#[derive(Deserialize)]
struct ListEnvelope {
    #[serde(default)]
    data: Option<Vec<TaskEntry>>,
    #[serde(default, deserialize_with = "num::opt_u64")]
    total: Option<u64>,
}

impl ProxmoxClient {
    /// A node's tasks, filtered.
    ///
    /// ```no_run
    /// # async fn demo(c: paas_proxmox::client::ProxmoxClient) -> paas_core::Result<()> {
    /// use paas_proxmox::client::task_list::{TaskFilter, TaskSource};
    /// let running = c
    ///     .list_tasks("pve1", &TaskFilter { source: Some(TaskSource::Active), ..Default::default() })
    ///     .await?;
    /// println!("{} running", running.total);
    /// # Ok(()) }
    /// ```
    pub async fn list_tasks(&self, node: &str, filter: &TaskFilter) -> Result<TaskList> {
        let req = list_tasks_request(node, filter);
        let bytes = self.send_raw(&req).await?;
        let env: ListEnvelope =
            serde_json::from_slice(&bytes).map_err(|e| super::error::bad_response(&req, e))?;
        Ok(TaskList {
            tasks: env.data.unwrap_or_default(),
            total: env.total.unwrap_or(0),
        })
    }

    /// Every node's running and recent tasks (as pvestatd last broadcast them).
    pub async fn cluster_tasks(&self) -> Result<Vec<TaskEntry>> {
        self.send(&cluster_tasks_request()).await
    }

    /// Stops a running task (PVE sends its worker SIGTERM: it ends with `received interrupt`,
    /// or its own cleanup's text); a finished task is left as it is.
    pub async fn stop_task(&self, upid: &Upid) -> Result<()> {
        let _: Option<serde_json::Value> = self.send(&stop_task_request(upid)).await?;
        Ok(())
    }
}
