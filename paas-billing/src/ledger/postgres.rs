//! The ledger's statements on PostgreSQL: arrays and `UNNEST` so a batch of any size costs a
//! fixed number of round trips.

use super::batch::{self, AccountState};
use super::rows::{self, AccountRow, TransferRow, db_error, uuid_of};
use super::shared::shared_ledger_statements;
use super::{MAX_ATTEMPTS, MIGRATIONS_TABLE};
use paas_core::model::Timestamp;
use paas_core::ports::{Account, AccountId, Posted, Transfer, TransferId, TransferOutcome};
use paas_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const BACKEND: &str = "postgres";

shared_ledger_statements!(PgPool, PgRow, "./migrations/postgres");

pub(super) async fn history(
    pool: &PgPool,
    account: AccountId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Transfer>> {
    let doing = || format!("reading the history of ledger account {account}");
    let (from_s, from_n) = rows::split_time(from);
    let (to_s, to_n) = rows::split_time(to);
    // Two index range scans (debit side, credit side) rather than one OR over both columns.
    let found = sqlx::query(
        "SELECT id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, linked \
         FROM ( \
           SELECT * FROM ledger_transfers WHERE debit_account = $1 \
             AND (at_secs, at_nanos) >= ($2, $3) AND (at_secs, at_nanos) < ($4, $5) \
           UNION ALL \
           SELECT * FROM ledger_transfers WHERE credit_account = $1 \
             AND (at_secs, at_nanos) >= ($2, $3) AND (at_secs, at_nanos) < ($4, $5) \
         ) t ORDER BY at_secs, at_nanos, id",
    )
    .bind(uuid_of(account.0))
    .bind(from_s)
    .bind(from_n)
    .bind(to_s)
    .bind(to_n)
    .fetch_all(pool)
    .await
    .map_err(|e| db_error(e, BACKEND, &doing()))?;
    found
        .iter()
        .map(|row| {
            transfer_row(row)
                .map_err(|e| db_error(e, BACKEND, &doing()))
                .and_then(TransferRow::into_transfer)
        })
        .collect()
}

pub(super) async fn post(pool: &PgPool, batch: &[Transfer]) -> Result<Vec<TransferOutcome>> {
    let account_ids: Vec<Uuid> = batch::account_ids(batch)
        .iter()
        .map(|a| uuid_of(a.0))
        .collect();
    let transfer_ids: Vec<Uuid> = batch::transfer_ids(batch)
        .iter()
        .map(|t| uuid_of(t.0))
        .collect();
    let doing = || format!("posting a batch of {} transfers", batch.len());
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_post(pool, batch, &account_ids, &transfer_ids).await {
            Ok(Some(outcomes)) => return Ok(outcomes),
            Ok(None) if attempt < MAX_ATTEMPTS => {}
            Ok(None) => {
                return Err(Error::unavailable(format!(
                    "{}: a concurrent batch kept posting the same transfer ids; retry",
                    doing()
                ))
                .with_backend(BACKEND));
            }
            Err(e) if rows::is_transient(&e) && attempt < MAX_ATTEMPTS => {}
            Err(e) => return Err(db_error(e, BACKEND, &doing())),
        }
        // Back off a little (growing with the attempt) so the competing batch can commit.
        tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2)).await;
    }
}

/// One attempt: `Ok(None)` when a concurrent batch inserted one of our new transfer ids after
/// we looked (the caller retries and will then see it).
async fn try_post(
    pool: &PgPool,
    batch: &[Transfer],
    account_ids: &[Uuid],
    transfer_ids: &[Uuid],
) -> std::result::Result<Option<Vec<TransferOutcome>>, sqlx::Error> {
    let mut tx = pool.begin().await?;

    // Lock every account of the batch in id order: a fixed order means no deadlock.
    let locked = sqlx::query(
        "SELECT id, code, debits_must_not_exceed_credits, credit_limit, debits_posted, \
         credits_posted FROM ledger_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(account_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut accounts: HashMap<AccountId, AccountState> = HashMap::with_capacity(locked.len());
    for row in &locked {
        let state = account_row(row)?
            .into_state()
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        accounts.insert(state.account.id, state);
    }

    // Read after locking: a batch that posted the same ids on the same accounts has committed.
    let found = sqlx::query(
        "SELECT id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, linked \
         FROM ledger_transfers WHERE id = ANY($1)",
    )
    .bind(transfer_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut existing: HashMap<TransferId, Transfer> = HashMap::with_capacity(found.len());
    for row in &found {
        let t = transfer_row(row)?
            .into_transfer()
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        existing.insert(t.id, t);
    }

    let plan = batch::plan(batch, &mut accounts, &existing);
    if plan.created.is_empty() {
        tx.rollback().await?;
        return Ok(Some(plan.outcomes));
    }

    // Insert in id order so concurrent inserts of overlapping ids wait in one direction.
    let mut created: Vec<&Transfer> = plan.created.iter().map(|&i| &batch[i]).collect();
    created.sort_unstable_by_key(|t| t.id);
    let n = created.len();
    let (mut ids, mut debits, mut credits, mut amounts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut codes, mut memos, mut secs, mut nanos, mut linked) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for t in &created {
        let (s, ns) = rows::split_time(t.at);
        ids.push(uuid_of(t.id.0));
        debits.push(uuid_of(t.debit_account.0));
        credits.push(uuid_of(t.credit_account.0));
        amounts.push(t.amount.micros());
        codes.push(i32::from(t.code));
        memos.push(t.memo.as_str());
        secs.push(s);
        nanos.push(ns);
        linked.push(t.linked);
    }
    let inserted = sqlx::query(
        "INSERT INTO ledger_transfers \
           (id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, linked) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::int4[], \
                              $6::text[], $7::int8[], $8::int4[], $9::bool[]) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&debits)
    .bind(&credits)
    .bind(&amounts)
    .bind(&codes)
    .bind(&memos)
    .bind(&secs)
    .bind(&nanos)
    .bind(&linked)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted != n as u64 {
        tx.rollback().await?;
        return Ok(None);
    }

    let mut touched_ids = Vec::with_capacity(plan.touched.len());
    let mut touched_debits = Vec::with_capacity(plan.touched.len());
    let mut touched_credits = Vec::with_capacity(plan.touched.len());
    for id in &plan.touched {
        if let Some(state) = accounts.get(id) {
            touched_ids.push(uuid_of(id.0));
            touched_debits.push(state.debits);
            touched_credits.push(state.credits);
        }
    }
    sqlx::query(
        "UPDATE ledger_accounts AS a SET debits_posted = v.d, credits_posted = v.c \
         FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS v(id, d, c) WHERE a.id = v.id",
    )
    .bind(&touched_ids)
    .bind(&touched_debits)
    .bind(&touched_credits)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(plan.outcomes))
}
