//! Which operation may run on an app in which status: the one table, used both when a request
//! arrives and when a worker starts the operation.

use crate::model::{AppStatus, OperationKind};
use crate::{Error, Result};

/// What an operation does, given the app's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Run it.
    Run,
    /// Nothing to do (e.g. suspending an app that never ran); succeeds at once, with this note.
    Noop(&'static str),
}

/// Whether `kind` may act on an app in `status`; an `InvalidInput` error says why not and what
/// to do instead.
pub(crate) fn admit(kind: &OperationKind, status: AppStatus, slug: &str) -> Result<Admit> {
    use AppStatus::*;
    use OperationKind as K;
    let refuse = |what: &str| {
        Err(Error::invalid_input(format!(
            "cannot {} app '{slug}' while it is {status}: {what}",
            kind.name()
        )))
    };
    match (kind, status) {
        (K::Delete, Deleted) => Ok(Admit::Noop("the app is already deleted")),
        (K::Suspend | K::Resume, Deleted | Deleting) => Ok(Admit::Noop("the app is being deleted")),
        (_, Deleted) => refuse("it has been deleted"),
        (K::Delete, _) => Ok(Admit::Run),
        (_, Deleting) => refuse("it is being deleted"),

        (
            K::Deploy { .. } | K::Rollback { .. },
            Created | Failed | Running | Stopped | Lost | Deploying,
        ) => Ok(Admit::Run),
        (K::Deploy { .. } | K::Rollback { .. }, Suspended) => {
            refuse("its organisation's wallet is empty; top it up first")
        }

        (K::Start | K::Stop | K::Restart, Running | Stopped) => Ok(Admit::Run),
        (K::Start | K::Stop | K::Restart, Created | Failed | Lost) => {
            refuse("it has nothing deployed; deploy it first")
        }
        (K::Start | K::Stop | K::Restart, Suspended) => {
            refuse("its organisation's wallet is empty; top it up and it resumes")
        }
        (K::Start | K::Stop | K::Restart, Deploying) => refuse("wait for the deploy to finish"),

        (K::Scale { .. }, Deploying) => refuse("wait for the deploy to finish"),
        (K::Scale { .. }, _) => Ok(Admit::Run),

        (K::Suspend, Running | Stopped) => Ok(Admit::Run),
        (K::Suspend, Suspended) => Ok(Admit::Noop("the app is already suspended")),
        (K::Suspend, _) => Ok(Admit::Noop("the app has nothing running to suspend")),

        (K::Resume, Suspended) => Ok(Admit::Run),
        (K::Resume, _) => Ok(Admit::Noop("the app is not suspended")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<OperationKind> {
        vec![
            OperationKind::Deploy { release: 1 },
            OperationKind::Start,
            OperationKind::Stop,
            OperationKind::Restart,
            OperationKind::Delete,
            OperationKind::Scale { replicas: 2 },
            OperationKind::Rollback { release: 1 },
            OperationKind::Suspend,
            OperationKind::Resume,
        ]
    }

    #[test]
    fn only_delete_acts_on_a_deleting_app_and_nothing_on_a_deleted_one() {
        for kind in all_kinds() {
            let deleting = admit(&kind, AppStatus::Deleting, "x");
            let deleted = admit(&kind, AppStatus::Deleted, "x");
            match kind {
                OperationKind::Delete => assert_eq!(deleting.unwrap(), Admit::Run),
                OperationKind::Suspend | OperationKind::Resume => {
                    assert!(matches!(deleting.unwrap(), Admit::Noop(_)))
                }
                _ => assert!(deleting.is_err()),
            }
            assert!(
                !matches!(deleted, Ok(Admit::Run)),
                "{kind} ran on a deleted app"
            );
        }
    }

    #[test]
    fn billing_never_fails() {
        for st in AppStatus::ALL {
            assert!(admit(&OperationKind::Suspend, st, "x").is_ok());
            assert!(admit(&OperationKind::Resume, st, "x").is_ok());
        }
    }
}
