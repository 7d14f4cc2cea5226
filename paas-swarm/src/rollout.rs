//! Where a rollout stands, judged from the service and its tasks as the engine reports them.
//! Pure: the orchestrator fetches, this module decides.
//!
//! A task belongs to the rollout when its copy of the spec carries the rollout's release label
//! and the service's current `ForceUpdate` (every apply bumps it, so tasks of an earlier apply
//! of the same release do not count). Swarm moves a task with a health check to `running` only
//! once the check passed, so "running" here means "running healthy".

use crate::labels;
use bollard::models::{Service, ServiceUpdateStatusStateEnum, Task, TaskState};
use chrono::{DateTime, Utc};
use paas_core::ports::RolloutState;

/// The facts about a service the decision needs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Observed {
    /// Release label of the service's current spec.
    pub release: Option<u32>,
    /// `ForceUpdate` of the current spec.
    pub force_update: u64,
    /// Replicas wanted.
    pub desired: u32,
    /// The engine's update state, if an update ever ran.
    pub update_state: Option<ServiceUpdateStatusStateEnum>,
    /// The engine's update message.
    pub update_message: Option<String>,
    /// When the current update started (or the service was created): failures before it
    /// belong to earlier rollouts.
    pub since: Option<DateTime<Utc>>,
    /// The service's tasks.
    pub tasks: Vec<TaskView>,
}

/// One task, reduced.
#[derive(Clone, Debug)]
pub(crate) struct TaskView {
    pub release: Option<u32>,
    pub force_update: u64,
    pub desired_running: bool,
    pub state: Option<TaskState>,
    pub error: Option<String>,
    pub message: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

fn parse_time(s: Option<&String>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Observed {
    /// Reduces what the engine reported.
    pub fn from_engine(service: &Service, tasks: &[Task]) -> Observed {
        let spec = service.spec.as_ref();
        let update = service.update_status.as_ref();
        let since = update
            .and_then(|u| parse_time(u.started_at.as_ref()))
            .or_else(|| parse_time(service.created_at.as_ref()));
        Observed {
            release: labels::parse_u32(spec.and_then(|s| s.labels.as_ref()), labels::RELEASE),
            force_update: spec
                .and_then(|s| s.task_template.as_ref())
                .and_then(|t| t.force_update)
                .unwrap_or(0),
            desired: spec
                .and_then(|s| s.mode.as_ref())
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0),
            update_state: update.and_then(|u| u.state),
            update_message: update.and_then(|u| u.message.clone()),
            since,
            tasks: tasks.iter().map(TaskView::from_engine).collect(),
        }
    }
}

impl TaskView {
    fn from_engine(task: &Task) -> TaskView {
        let spec = task.spec.as_ref();
        let status = task.status.as_ref();
        TaskView {
            release: labels::parse_u32(
                spec.and_then(|s| s.container_spec.as_ref())
                    .and_then(|c| c.labels.as_ref()),
                labels::RELEASE,
            ),
            force_update: spec.and_then(|s| s.force_update).unwrap_or(0),
            desired_running: task.desired_state == Some(TaskState::RUNNING),
            state: status.and_then(|s| s.state),
            error: status.and_then(|s| s.err.clone()).filter(|e| !e.is_empty()),
            message: status.and_then(|s| s.message.clone()),
            created_at: parse_time(task.created_at.as_ref()),
        }
    }
}

fn is_rollback(state: Option<ServiceUpdateStatusStateEnum>) -> bool {
    matches!(
        state,
        Some(
            ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
                | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED
                | ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED
        )
    )
}

/// Decides where the rollout of `release` stands.
pub(crate) fn evaluate(release: u32, o: &Observed) -> RolloutState {
    let ours = |t: &&TaskView| t.release == Some(release) && t.force_update == o.force_update;
    let recent = |t: &&TaskView| match (o.since, t.created_at) {
        (Some(since), Some(created)) => created >= since,
        _ => true,
    };
    let describe = |t: &TaskView| {
        let state = t.state.map(|s| s.to_string()).unwrap_or_default();
        let why = t
            .error
            .clone()
            .or_else(|| t.message.clone())
            .unwrap_or_default();
        format!("a task of release {release} {}: {why}", state_verb(&state))
    };
    let failed = |t: &&TaskView| matches!(t.state, Some(TaskState::FAILED | TaskState::REJECTED));
    let task_failure = o
        .tasks
        .iter()
        .filter(ours)
        .filter(recent)
        .find(failed)
        .map(describe);
    // After an engine rollback the failed tasks carry the spec rolled back from: the latest
    // failure of the release explains it.
    let release_failure = o
        .tasks
        .iter()
        .filter(|t| t.release == Some(release))
        .filter(failed)
        .max_by_key(|t| t.created_at)
        .map(describe);
    let engine_message = o
        .update_message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "no message from the engine".to_owned());

    if o.release != Some(release) {
        if is_rollback(o.update_state) {
            let reason = match &release_failure {
                Some(f) => format!("{engine_message}; {f}"),
                None => engine_message,
            };
            return RolloutState::RolledBack {
                reason: format!(
                    "the engine rolled the service back to release {}: {reason}",
                    o.release.map_or_else(|| "?".to_owned(), |r| r.to_string())
                ),
            };
        }
        return RolloutState::Failed {
            reason: format!(
                "the service now runs release {} instead of {release}: a later apply replaced it",
                o.release.map_or_else(|| "?".to_owned(), |r| r.to_string())
            ),
        };
    }
    if matches!(
        o.update_state,
        Some(ServiceUpdateStatusStateEnum::PAUSED | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED)
    ) {
        let reason = match &task_failure {
            Some(f) => format!("{engine_message}; {f}"),
            None => engine_message,
        };
        return RolloutState::Failed {
            reason: format!("the engine paused the update: {reason}"),
        };
    }
    if let Some(failure) = task_failure {
        let tail = if o.update_state == Some(ServiceUpdateStatusStateEnum::UPDATING) {
            "; the engine rolls the service back to its previous spec"
        } else {
            ""
        };
        return RolloutState::Failed {
            reason: format!("{failure}{tail}"),
        };
    }
    if let Some(unplaced) = o.tasks.iter().filter(ours).find(|t| {
        t.desired_running
            && t.state == Some(TaskState::PENDING)
            && t.error
                .as_deref()
                .is_some_and(|e| e.contains("no suitable node"))
    }) {
        return RolloutState::Failed {
            reason: format!(
                "no suitable node for release {release}: {} (free resources on a node, or lower \
                 the plan or the replicas)",
                unplaced.error.as_deref().unwrap_or_default()
            ),
        };
    }
    let running = o
        .tasks
        .iter()
        .filter(ours)
        .filter(|t| t.desired_running && t.state == Some(TaskState::RUNNING))
        .count();
    let running = u32::try_from(running).unwrap_or(u32::MAX);
    let others_wanted = o.tasks.iter().any(|t| {
        t.desired_running && !(t.release == Some(release) && t.force_update == o.force_update)
    });
    if running >= o.desired && !others_wanted {
        RolloutState::Converged
    } else {
        RolloutState::InProgress {
            running: running.min(o.desired),
            desired: o.desired,
        }
    }
}

fn state_verb(state: &str) -> &'static str {
    if state == "rejected" {
        "was rejected"
    } else {
        "failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(release: u32, fu: u64, desired_running: bool, state: TaskState) -> TaskView {
        TaskView {
            release: Some(release),
            force_update: fu,
            desired_running,
            state: Some(state),
            error: None,
            message: None,
            created_at: None,
        }
    }

    fn observed(release: u32, fu: u64, desired: u32, tasks: Vec<TaskView>) -> Observed {
        Observed {
            release: Some(release),
            force_update: fu,
            desired,
            tasks,
            ..Default::default()
        }
    }

    #[test]
    fn converges_only_when_all_replicas_run_and_old_tasks_are_gone() {
        let o = observed(
            2,
            5,
            2,
            vec![
                task(2, 5, true, TaskState::RUNNING),
                task(2, 5, true, TaskState::STARTING),
            ],
        );
        assert_eq!(
            evaluate(2, &o),
            RolloutState::InProgress {
                running: 1,
                desired: 2
            }
        );
        let o = observed(
            2,
            5,
            1,
            vec![
                task(2, 5, true, TaskState::RUNNING),
                task(1, 4, true, TaskState::RUNNING),
            ],
        );
        assert_eq!(
            evaluate(2, &o),
            RolloutState::InProgress {
                running: 1,
                desired: 1
            }
        );
        let o = observed(
            2,
            5,
            1,
            vec![
                task(2, 5, true, TaskState::RUNNING),
                task(1, 4, false, TaskState::SHUTDOWN),
            ],
        );
        assert_eq!(evaluate(2, &o), RolloutState::Converged);
        // Same release, earlier apply: its tasks do not count.
        let o = observed(2, 6, 1, vec![task(2, 5, true, TaskState::RUNNING)]);
        assert!(!evaluate(2, &o).is_final());
        assert_eq!(
            evaluate(2, &observed(2, 1, 0, vec![])),
            RolloutState::Converged
        );
    }

    #[test]
    fn failed_and_rejected_tasks_fail_the_rollout_with_their_error() {
        let mut t = task(2, 5, false, TaskState::FAILED);
        t.error = Some("task: non-zero exit (1)".into());
        let o = observed(2, 5, 1, vec![t]);
        match evaluate(2, &o) {
            RolloutState::Failed { reason } => {
                assert!(reason.contains("non-zero exit (1)"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let mut t = task(2, 5, true, TaskState::REJECTED);
        t.error = Some("No such image: nope:1".into());
        match evaluate(2, &observed(2, 5, 1, vec![t])) {
            RolloutState::Failed { reason } => {
                assert!(reason.contains("was rejected") && reason.contains("No such image"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_before_the_update_started_are_ignored() {
        let since: DateTime<Utc> = "2026-01-01T00:00:10Z".parse().unwrap();
        let mut old = task(2, 5, false, TaskState::FAILED);
        old.created_at = Some("2026-01-01T00:00:05Z".parse().unwrap());
        let mut o = observed(2, 5, 1, vec![old, task(2, 5, true, TaskState::RUNNING)]);
        o.since = Some(since);
        assert_eq!(evaluate(2, &o), RolloutState::Converged);
    }

    #[test]
    fn engine_rollback_is_rolled_back_with_reasons() {
        let mut failed = task(2, 5, false, TaskState::FAILED);
        failed.error = Some("container unhealthy".into());
        let mut o = observed(1, 4, 1, vec![failed, task(1, 4, true, TaskState::RUNNING)]);
        o.update_state = Some(ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED);
        o.update_message = Some("rollback completed".into());
        match evaluate(2, &o) {
            RolloutState::RolledBack { reason } => {
                assert!(
                    reason.contains("release 1")
                        && reason.contains("rollback completed")
                        && reason.contains("container unhealthy"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn superseded_paused_and_unplaceable() {
        assert!(matches!(
            evaluate(2, &observed(3, 1, 1, vec![])),
            RolloutState::Failed { .. }
        ));
        let mut o = observed(2, 5, 1, vec![]);
        o.update_state = Some(ServiceUpdateStatusStateEnum::PAUSED);
        assert!(matches!(evaluate(2, &o), RolloutState::Failed { .. }));
        let mut t = task(2, 5, true, TaskState::PENDING);
        t.error = Some("no suitable node (insufficient resources on 1 node)".into());
        match evaluate(2, &observed(2, 5, 1, vec![t])) {
            RolloutState::Failed { reason } => assert!(reason.starts_with("no suitable node")),
            other => panic!("{other:?}"),
        }
    }
}
