//! The ledger's statements that are the same on PostgreSQL and SQLite: migrations, account and
//! transfer rows, account creation and lookups.
//!
//! sqlx has no practical way to be generic over the database here (each backend has its own pool
//! and row types), so `shared_ledger_statements!` writes these functions into each backend module,
//! where `BACKEND` and the helpers they call resolve. Batch posting and history differ per
//! backend (UNNEST vs chunked inserts, index strategy) and stay in the backend modules.

/// Emits the shared statements for a backend's pool type, row type and migrations folder.
macro_rules! shared_ledger_statements {
    ($pool:ty, $row:ty, $migrations:tt) => {
        pub(super) async fn migrate(pool: &$pool) -> Result<()> {
            let mut migrator = sqlx::migrate!($migrations);
            migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
            migrator
                .run(pool)
                .await
                .map_err(|e| db_error(e.into(), BACKEND, "migrating the ledger's tables"))
        }

        fn account_row(row: &$row) -> std::result::Result<AccountRow, sqlx::Error> {
            Ok(AccountRow {
                id: row.try_get(0)?,
                code: row.try_get(1)?,
                no_overdraft: row.try_get(2)?,
                credit_limit: row.try_get(3)?,
                debits: row.try_get(4)?,
                credits: row.try_get(5)?,
            })
        }

        fn transfer_row(row: &$row) -> std::result::Result<TransferRow, sqlx::Error> {
            Ok(TransferRow {
                id: row.try_get(0)?,
                debit_account: row.try_get(1)?,
                credit_account: row.try_get(2)?,
                amount: row.try_get(3)?,
                code: row.try_get(4)?,
                memo: row.try_get(5)?,
                at_secs: row.try_get(6)?,
                at_nanos: row.try_get(7)?,
                linked: row.try_get(8)?,
            })
        }

        pub(super) async fn create_account(pool: &$pool, account: &Account) -> Result<Posted> {
            let inserted = sqlx::query(
                "INSERT INTO ledger_accounts (id, code, debits_must_not_exceed_credits, credit_limit) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(uuid_of(account.id.0))
            .bind(i32::from(account.code))
            .bind(account.flags.debits_must_not_exceed_credits)
            .bind(account.credit_limit.micros())
            .execute(pool)
            .await
            .map_err(|e| {
                db_error(
                    e,
                    BACKEND,
                    &format!("creating ledger account {}", account.id),
                )
            })?
            .rows_affected();
            if inserted == 1 {
                return Ok(Posted::Created);
            }
            let existing = self::account(pool, account.id).await?.ok_or_else(|| {
                Error::internal(format!(
                    "ledger account {} vanished while being created",
                    account.id
                ))
            })?;
            if rows::same_account(&existing.account, account) {
                Ok(Posted::Exists)
            } else {
                Err(Error::conflict(format!(
                    "ledger account {} already exists with other content ({:?}); accounts are immutable",
                    account.id, existing.account
                ))
                .with_backend(BACKEND))
            }
        }

        pub(super) async fn account(pool: &$pool, id: AccountId) -> Result<Option<AccountState>> {
            let doing = || format!("reading ledger account {id}");
            let row = sqlx::query(
                "SELECT id, code, debits_must_not_exceed_credits, credit_limit, debits_posted, \
                 credits_posted FROM ledger_accounts WHERE id = $1",
            )
            .bind(uuid_of(id.0))
            .fetch_optional(pool)
            .await
            .map_err(|e| db_error(e, BACKEND, &doing()))?;
            match row {
                None => Ok(None),
                Some(row) => {
                    let decoded = account_row(&row).map_err(|e| db_error(e, BACKEND, &doing()))?;
                    decoded.into_state().map(Some)
                }
            }
        }

        pub(super) async fn transfer(pool: &$pool, id: TransferId) -> Result<Option<Transfer>> {
            let doing = || format!("reading transfer {id}");
            let row = sqlx::query(
                "SELECT id, debit_account, credit_account, amount, code, memo, at_secs, at_nanos, linked \
                 FROM ledger_transfers WHERE id = $1",
            )
            .bind(uuid_of(id.0))
            .fetch_optional(pool)
            .await
            .map_err(|e| db_error(e, BACKEND, &doing()))?;
            match row {
                None => Ok(None),
                Some(row) => transfer_row(&row)
                    .map_err(|e| db_error(e, BACKEND, &doing()))?
                    .into_transfer()
                    .map(Some),
            }
        }
    };
}

pub(super) use shared_ledger_statements;
