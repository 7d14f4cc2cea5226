//! The shared shape of every conformance suite.
//!
//! A suite is a module of `testkit` (one per port). It exposes:
//!
//! - one `pub async fn <check>(port: &dyn Port) -> CheckResult` per documented semantic. Each
//!   check expects an **empty** backend, sets up what it needs through the port itself, and
//!   returns `Err(Failure)` instead of panicking, so one broken semantic does not hide the
//!   others;
//! - `pub async fn run_all<F, Fut>(fresh: F) -> SuiteReport` where `F: FnMut() -> Fut` and
//!   `Fut: Future<Output = Arc<dyn Port>>`: it calls `fresh()` once per check (a new in-memory
//!   backend, a fresh SQLite database, a new Postgres schema, ...) and runs every check against
//!   its own backend. Suites whose checks need configuration pass it to `fresh` (the
//!   allocator's `fresh` receives the [`Pools`](crate::ports::Pools) to configure).
//!
//! A backend's test then reads:
//!
//! ```
//! # async fn demo() {
//! use paas_core::memory::MemoryStore;
//! use paas_core::ports::Store;
//! use paas_core::testkit::store;
//! use std::sync::Arc;
//!
//! let report = store::run_all(|| async { Arc::new(MemoryStore::default()) as Arc<dyn Store> })
//!     .await;
//! report.assert_all_passed();
//! # }
//! ```
//!
//! Inside a check, [`ensure!`](crate::ensure) and [`ensure_eq!`](crate::ensure_eq) turn a false
//! condition into a [`Failure`], and [`OrFail::or_fail`] turns a port's [`Error`] into one, so
//! checks read as straight-line code with `?`:
//!
//! ```
//! use paas_core::testkit::check::{CheckResult, OrFail};
//! use paas_core::{ensure, ensure_eq};
//!
//! const CHECK: &str = "adds_up";
//! fn adds_up(x: paas_core::Result<u32>) -> CheckResult {
//!     let x = x.or_fail(CHECK, "computing x")?;
//!     ensure!(CHECK, x > 1, "x should exceed 1, got {x}");
//!     ensure_eq!(CHECK, x + 1, 3, "x + 1");
//!     Ok(())
//! }
//! assert!(adds_up(Ok(2)).is_ok());
//! assert_eq!(adds_up(Ok(5)).unwrap_err().check, "adds_up");
//! ```
//!
//! Suites build their report with [`SuiteRunner`], which also turns a panic or a hang inside a
//! check into a failure of that check.

use crate::{Error, ErrorKind};
use futures::FutureExt;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// One check that did not hold: which check, and what was observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The check's name (the name of its function).
    pub check: &'static str,
    /// What was expected and what happened.
    pub message: String,
}

impl Failure {
    /// A failure of `check`.
    pub fn new(check: &'static str, message: impl Into<String>) -> Self {
        Failure {
            check,
            message: message.into(),
        }
    }

    /// A failure of `check` caused by `err` returned while `doing` something.
    pub fn from_error(check: &'static str, doing: impl fmt::Display, err: &Error) -> Self {
        Failure::new(
            check,
            format!(
                "{doing}: unexpected error ({kind}): {err}",
                kind = err.kind()
            ),
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

impl std::error::Error for Failure {}

/// What a check returns.
pub type CheckResult = Result<(), Failure>;

/// Turns a port's `Result` into a check's, naming the check and what was being done.
pub trait OrFail<T> {
    /// `Ok` passes through; an `Err` becomes a [`Failure`] of `check` saying what was being
    /// done.
    fn or_fail(self, check: &'static str, doing: impl fmt::Display) -> Result<T, Failure>;
}

impl<T> OrFail<T> for crate::Result<T> {
    fn or_fail(self, check: &'static str, doing: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::from_error(check, doing, &e))
    }
}

/// Checks that `result` is an error of `kind`; returns the error for further inspection.
///
/// ```
/// use paas_core::testkit::check::expect_err;
/// use paas_core::{Error, ErrorKind};
/// let r: paas_core::Result<()> = Err(Error::conflict("taken"));
/// assert!(expect_err("c", "second insert", r, ErrorKind::Conflict).is_ok());
/// let r: paas_core::Result<()> = Ok(());
/// assert!(expect_err("c", "second insert", r, ErrorKind::Conflict).is_err());
/// ```
pub fn expect_err<T: fmt::Debug>(
    check: &'static str,
    doing: impl fmt::Display,
    result: crate::Result<T>,
    kind: ErrorKind,
) -> Result<Error, Failure> {
    match result {
        Err(e) if e.kind() == kind => Ok(e),
        Err(e) => Err(Failure::new(
            check,
            format!(
                "{doing}: expected a {kind} error, got {} error: {e}",
                e.kind()
            ),
        )),
        Ok(v) => Err(Failure::new(
            check,
            format!("{doing}: expected a {kind} error, but it succeeded with {v:?}"),
        )),
    }
}

/// Fails the check unless a condition holds.
///
/// `ensure!(CHECK, condition, "format", args...)` returns
/// `Err(Failure { check: CHECK, message })` from the enclosing function when `condition` is
/// false.
#[macro_export]
macro_rules! ensure {
    ($check:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return ::core::result::Result::Err($crate::testkit::check::Failure::new(
                $check,
                ::std::format!($($fmt)+),
            ));
        }
    };
}

/// Fails the check unless `actual == expected`, showing both.
///
/// `ensure_eq!(CHECK, actual, expected, "what is compared", args...)`; both sides must be
/// `PartialEq + Debug`.
#[macro_export]
macro_rules! ensure_eq {
    ($check:expr, $actual:expr, $expected:expr, $($fmt:tt)+) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if !(*actual == *expected) {
                    return ::core::result::Result::Err($crate::testkit::check::Failure::new(
                        $check,
                        ::std::format!(
                            "{}: expected {:?}, got {:?}",
                            ::std::format!($($fmt)+),
                            expected,
                            actual
                        ),
                    ));
                }
            }
        }
    };
}

pub use crate::{ensure, ensure_eq};

/// The outcome of a suite: which checks passed and which failed, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuiteReport {
    /// Names of the checks that passed.
    pub passed: Vec<&'static str>,
    /// The checks that failed.
    pub failed: Vec<Failure>,
}

impl SuiteReport {
    /// Records one check's result.
    pub fn record(&mut self, check: &'static str, result: CheckResult) {
        match result {
            Ok(()) => self.passed.push(check),
            Err(mut f) => {
                // The report is keyed by the check that ran, whatever helper produced the
                // failure.
                if f.check != check {
                    f.message = format!("(in {}) {}", f.check, f.message);
                    f.check = check;
                }
                self.failed.push(f)
            }
        }
    }

    /// True when no check failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// Whether `check` ran and failed.
    pub fn has_failed(&self, check: &str) -> bool {
        self.failed.iter().any(|f| f.check == check)
    }

    /// The names of the failed checks.
    pub fn failed_checks(&self) -> Vec<&'static str> {
        self.failed.iter().map(|f| f.check).collect()
    }

    /// Panics, listing every failure, unless every check passed. A backend's test calls this.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        if !self.is_ok() {
            let list: Vec<String> = self.failed.iter().map(|f| format!("  - {f}")).collect();
            panic!(
                "{} of {} conformance checks failed:\n{}",
                self.failed.len(),
                self.failed.len() + self.passed.len(),
                list.join("\n")
            );
        }
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        )?;
        for fail in &self.failed {
            write!(f, "\n  - {fail}")?;
        }
        Ok(())
    }
}

/// Runs checks one after another into a [`SuiteReport`]. A check that panics or takes longer
/// than the time limit (default 60 s) fails instead of taking the whole suite down.
///
/// ```
/// # async fn demo() {
/// use paas_core::testkit::check::{CheckResult, SuiteRunner};
/// async fn always() -> CheckResult { Ok(()) }
/// let mut runner = SuiteRunner::new();
/// runner.run("always", always()).await;
/// assert!(runner.finish().is_ok());
/// # }
/// ```
#[derive(Debug)]
pub struct SuiteRunner {
    report: SuiteReport,
    limit: Duration,
}

impl Default for SuiteRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl SuiteRunner {
    /// A runner with the default 60 s limit per check.
    pub fn new() -> Self {
        SuiteRunner {
            report: SuiteReport::default(),
            limit: Duration::from_secs(60),
        }
    }

    /// Sets the time limit of each check.
    #[must_use]
    pub fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Runs one check and records its result under `name`.
    pub async fn run<Fut>(&mut self, name: &'static str, check: Fut)
    where
        Fut: Future<Output = CheckResult>,
    {
        let guarded = AssertUnwindSafe(check).catch_unwind();
        let result = match tokio::time::timeout(self.limit, guarded).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                Err(Failure::new(name, format!("the check panicked: {what}")))
            }
            Err(_) => Err(Failure::new(
                name,
                format!("the check did not finish within {:?}", self.limit),
            )),
        };
        self.report.record(name, result);
    }

    /// The report of every check run.
    pub fn finish(self) -> SuiteReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &str = "sample";

    fn eq_check(a: u32, b: u32) -> CheckResult {
        ensure_eq!(CHECK, a, b, "comparing {}", "numbers");
        Ok(())
    }

    #[test]
    fn ensure_eq_reports_both_sides() {
        let f = eq_check(1, 2).unwrap_err();
        assert_eq!(f.check, CHECK);
        assert_eq!(f.message, "comparing numbers: expected 2, got 1");
        assert!(eq_check(3, 3).is_ok());
    }

    #[tokio::test]
    async fn runner_turns_panics_and_errors_into_failures() {
        async fn panics() -> CheckResult {
            panic!("boom")
        }
        async fn fails() -> CheckResult {
            Err::<(), _>(Error::not_found("gone")).or_fail("other", "reading")
        }
        let mut r = SuiteRunner::new();
        r.run("panics", panics()).await;
        r.run("fails", fails()).await;
        r.run("ok", async { Ok(()) }).await;
        let report = r.finish();
        assert_eq!(report.passed, vec!["ok"]);
        assert_eq!(report.failed_checks(), vec!["panics", "fails"]);
        assert!(report.failed[0].message.contains("boom"));
        assert!(report.failed[1].message.contains("(in other) reading"));
        assert!(!report.is_ok());
    }

    #[test]
    #[should_panic(expected = "1 of 2 conformance checks failed")]
    fn assert_all_passed_panics_with_the_list() {
        let mut report = SuiteReport::default();
        report.record("a", Ok(()));
        report.record("b", Err(Failure::new("b", "nope")));
        report.assert_all_passed();
    }
}
