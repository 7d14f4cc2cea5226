//! The ledger, provisioner and orchestrator suites catch a backend with one semantic broken:
//! each wrapper below delegates to an honest in-memory backend except for that one semantic,
//! and the suite must report a failure of the check that covers it.

use async_trait::async_trait;
use futures::stream::BoxStream;
use paas_core::Result;
use paas_core::memory::{FakeOrchestrator, FakeProvisioner, MemoryLedger};
use paas_core::model::{Node, Timestamp};
use paas_core::ports::{
    Account, AccountFlags, AccountId, Balance, Guest, GuestRef, GuestSpec, Ledger, LogLine,
    LogOptions, Orchestrator, Posted, Provisioner, Rollout, RolloutState, Service, ServiceSpec,
    StopMode, Transfer, TransferId, TransferOutcome,
};
use paas_core::testkit::check::SuiteReport;
use paas_core::testkit::orchestrator::{self, OrchestratorFixture, Unhealthy};
use paas_core::testkit::{ledger, provisioner};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which ledger semantic the wrapper breaks.
#[derive(Debug, Clone, Copy)]
enum LedgerBug {
    /// A transfer id already posted with the same content is posted again.
    RepostPostsAgain,
    /// `debits_must_not_exceed_credits` is not enforced.
    OverdraftIgnored,
}

#[derive(Debug)]
struct BrokenLedger {
    inner: MemoryLedger,
    bug: LedgerBug,
    reposts: AtomicU64,
    /// The accounts as created, so `account()` still shows the flag the bug ignores.
    created: Mutex<HashMap<AccountId, Account>>,
}

#[async_trait]
impl Ledger for BrokenLedger {
    async fn create_account(&self, account: &Account) -> Result<Posted> {
        let mut stored = account.clone();
        if let LedgerBug::OverdraftIgnored = self.bug {
            stored.flags = AccountFlags::default();
        }
        let posted = self.inner.create_account(&stored).await?;
        self.created
            .lock()
            .unwrap()
            .entry(account.id)
            .or_insert_with(|| account.clone());
        Ok(posted)
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.created.lock().unwrap().get(&id).cloned())
    }

    async fn post(&self, transfers: &[Transfer]) -> Result<Vec<TransferOutcome>> {
        let mut batch = transfers.to_vec();
        if let LedgerBug::RepostPostsAgain = self.bug {
            for t in &mut batch {
                if let Some(existing) = self.inner.transfer(t.id).await?
                    && existing.same_content(t)
                {
                    // Under a fresh id the inner ledger posts it a second time.
                    let n = self.reposts.fetch_add(1, Ordering::Relaxed) + 1;
                    t.id = TransferId(t.id.0 ^ (u128::from(n) << 100));
                }
            }
        }
        self.inner.post(&batch).await
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>> {
        self.inner.transfer(id).await
    }

    async fn balance(&self, account: AccountId) -> Result<Balance> {
        self.inner.balance(account).await
    }

    async fn history(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Transfer>> {
        self.inner.history(account, from, to).await
    }
}

async fn ledger_report(bug: LedgerBug) -> SuiteReport {
    ledger::run_all(|| async move {
        Arc::new(BrokenLedger {
            inner: MemoryLedger::new(),
            bug,
            reposts: AtomicU64::new(0),
            created: Mutex::new(HashMap::new()),
        }) as Arc<dyn Ledger>
    })
    .await
}

#[tokio::test]
async fn ledger_suite_catches_a_repost_that_posts_again() {
    let report = ledger_report(LedgerBug::RepostPostsAgain).await;
    assert!(
        report.has_failed("reposting_same_id_changes_nothing"),
        "{report}"
    );
    assert!(
        report.has_failed("reposting_a_batch_changes_nothing"),
        "{report}"
    );
    assert!(!report.has_failed("overflow_is_rejected"), "{report}");
}

#[tokio::test]
async fn ledger_suite_catches_an_ignored_overdraft_flag() {
    let report = ledger_report(LedgerBug::OverdraftIgnored).await;
    assert!(
        report.has_failed("no_overdraft_refuses_debits_beyond_credits"),
        "{report}"
    );
    assert!(
        report.has_failed("no_overdraft_holds_under_concurrency"),
        "{report}"
    );
    assert!(
        report.has_failed("credit_limit_extends_no_overdraft"),
        "{report}"
    );
    assert!(
        !report.has_failed("reposting_same_id_changes_nothing"),
        "{report}"
    );
}

/// Destroy of an absent guest is an error instead of `Ok`.
#[derive(Debug)]
struct DestroyAbsentErrs(FakeProvisioner);

#[async_trait]
impl Provisioner for DestroyAbsentErrs {
    async fn nodes(&self) -> Result<Vec<Node>> {
        self.0.nodes().await
    }
    async fn create(&self, spec: &GuestSpec) -> Result<GuestRef> {
        self.0.create(spec).await
    }
    async fn start(&self, guest: &GuestRef) -> Result<()> {
        self.0.start(guest).await
    }
    async fn stop(&self, guest: &GuestRef, mode: StopMode) -> Result<()> {
        self.0.stop(guest, mode).await
    }
    async fn destroy(&self, guest: &GuestRef) -> Result<()> {
        self.0.status(guest).await?;
        self.0.destroy(guest).await
    }
    async fn status(&self, guest: &GuestRef) -> Result<Guest> {
        self.0.status(guest).await
    }
    async fn addresses(&self, guest: &GuestRef) -> Result<Vec<IpAddr>> {
        self.0.addresses(guest).await
    }
    async fn list(&self) -> Result<Vec<Guest>> {
        self.0.list().await
    }
    async fn move_data_volume(&self, from: &GuestRef, to: &GuestRef) -> Result<()> {
        self.0.move_data_volume(from, to).await
    }
}

#[tokio::test]
async fn provisioner_suite_catches_destroy_of_absent_failing() {
    let fixture =
        provisioner::ProvisionerFixture::new("pve1".parse().unwrap(), "local:vztmpl/t.tar.zst");
    let report = provisioner::run_all(
        || async { Arc::new(DestroyAbsentErrs(FakeProvisioner::new())) as Arc<dyn Provisioner> },
        &fixture,
    )
    .await;
    assert_eq!(
        report.failed_checks(),
        vec!["destroy_is_idempotent"],
        "{report}"
    );
}

/// Remove of an absent service is an error instead of `Ok`.
#[derive(Debug)]
struct RemoveAbsentErrs(FakeOrchestrator);

#[async_trait]
impl Orchestrator for RemoveAbsentErrs {
    async fn apply(&self, spec: &ServiceSpec) -> Result<Rollout> {
        self.0.apply(spec).await
    }
    async fn rollout_status(&self, rollout: &Rollout) -> Result<RolloutState> {
        self.0.rollout_status(rollout).await
    }
    async fn await_rollout(&self, rollout: &Rollout, deadline: Duration) -> Result<RolloutState> {
        self.0.await_rollout(rollout, deadline).await
    }
    async fn scale(&self, name: &str, replicas: u32) -> Result<()> {
        self.0.scale(name, replicas).await
    }
    async fn rollback(&self, name: &str) -> Result<Rollout> {
        self.0.rollback(name).await
    }
    async fn remove(&self, name: &str) -> Result<()> {
        self.0.status(name).await?;
        self.0.remove(name).await
    }
    async fn status(&self, name: &str) -> Result<Service> {
        self.0.status(name).await
    }
    async fn list(&self) -> Result<Vec<Service>> {
        self.0.list().await
    }
    async fn logs(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        self.0.logs(name, options).await
    }
}

#[tokio::test]
async fn orchestrator_suite_catches_remove_of_absent_failing() {
    let mut fixture = OrchestratorFixture::new(
        "suite/app:1",
        Unhealthy::Image("suite/unhealthy:1".into()),
        "suite",
    );
    fixture.deadline = Duration::from_secs(2);
    let report = orchestrator::run_all(
        || async { Arc::new(RemoveAbsentErrs(FakeOrchestrator::new())) as Arc<dyn Orchestrator> },
        &fixture,
    )
    .await;
    assert_eq!(
        report.failed_checks(),
        vec!["remove_is_idempotent"],
        "{report}"
    );
}
