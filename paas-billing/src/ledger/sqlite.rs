//! The ledger's statements on SQLite. SQLite has one writer at a time: a batch takes the write
//! lock up front (`BEGIN IMMEDIATE`), so reading the balances and writing the new ones can
//! never interleave with another writer.

use super::batch::{self, AccountState};
use super::rows::{self, AccountRow, TransferRow, db_error, uuid_of};
use super::shared::shared_ledger_statements;
use super::{MAX_ATTEMPTS, MIGRATIONS_TABLE};
use paas_core::model::Timestamp;
use paas_core::ports::{Account, AccountId, Posted, Transfer, TransferId, TransferOutcome};
use paas_core::{Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const BACKEND: &str = "sqlite";

shared_ledger_statements!(SqlitePool, SqliteRow, "./migrations/sqlite");

/// Rows per multi-row statement: keeps the bound parameters far below SQLite's limit.
const CHUNK: usize = 400;

pub(super) async fn history(
    pool: &SqlitePool,
    account: AccountId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Transfer>> {
    let doing = || format!("reading the history of ledger account {account}");
    let (from_s, from_n) = rows::split_time(from);
    let (to_s, to_n) = rows::split_time(to);
    let found = sqlx::query(
        "SELECT id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, linked \
         FROM ledger_transfers WHERE (debit_account = $1 OR credit_account = $1) \
           AND (at_secs, at_nanos) >= ($2, $3) AND (at_secs, at_nanos) < ($4, $5) \
         ORDER BY at_secs, at_nanos, id",
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

pub(super) async fn post(pool: &SqlitePool, batch: &[Transfer]) -> Result<Vec<TransferOutcome>> {
    let account_ids: Vec<Uuid> = batch::account_ids(batch)
        .iter()
        .map(|a| uuid_of(a.0))
        .collect();
    let transfer_ids: Vec<Uuid> = batch::transfer_ids(batch)
        .iter()
        .map(|t| uuid_of(t.0))
        .collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_post(pool, batch, &account_ids, &transfer_ids).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(e) if rows::is_transient(&e) && attempt < MAX_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5)).await;
            }
            Err(e) => {
                return Err(db_error(
                    e,
                    BACKEND,
                    &format!("posting a batch of {} transfers", batch.len()),
                ));
            }
        }
    }
}

fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn try_post(
    pool: &SqlitePool,
    batch: &[Transfer],
    account_ids: &[Uuid],
    transfer_ids: &[Uuid],
) -> std::result::Result<Vec<TransferOutcome>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;

    let mut accounts: HashMap<AccountId, AccountState> = HashMap::with_capacity(account_ids.len());
    for chunk in account_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, code, debits_must_not_exceed_credits, credit_limit, debits_posted, \
             credits_posted FROM ledger_accounts WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *tx).await? {
            let state = account_row(&row)?
                .into_state()
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            accounts.insert(state.account.id, state);
        }
    }

    let mut existing: HashMap<TransferId, Transfer> = HashMap::new();
    for chunk in transfer_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, \
             linked FROM ledger_transfers WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *tx).await? {
            let t = transfer_row(&row)?
                .into_transfer()
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            existing.insert(t.id, t);
        }
    }

    let plan = batch::plan(batch, &mut accounts, &existing);
    if plan.created.is_empty() {
        tx.rollback().await?;
        return Ok(plan.outcomes);
    }

    let created: Vec<&Transfer> = plan.created.iter().map(|&i| &batch[i]).collect();
    for chunk in created.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * 9 + 1, 9)))
            .collect();
        let sql = format!(
            "INSERT INTO ledger_transfers \
               (id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, linked) \
             VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in chunk {
            let (s, ns) = rows::split_time(t.at);
            query = query
                .bind(uuid_of(t.id.0))
                .bind(uuid_of(t.debit_account.0))
                .bind(uuid_of(t.credit_account.0))
                .bind(t.amount.micros())
                .bind(i32::from(t.code))
                .bind(t.memo.clone())
                .bind(s)
                .bind(ns)
                .bind(t.linked);
        }
        query.execute(&mut *tx).await?;
    }

    for id in &plan.touched {
        if let Some(state) = accounts.get(id) {
            sqlx::query(
                "UPDATE ledger_accounts SET debits_posted = $1, credits_posted = $2 WHERE id = $3",
            )
            .bind(state.debits)
            .bind(state.credits)
            .bind(uuid_of(id.0))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(plan.outcomes)
}
