//! The `Store` methods whose SQL, binds and decoding are the same on PostgreSQL and SQLite.
//!
//! sqlx has no practical way to be generic over the database for these queries (each backend has
//! its own pool, row and argument types), but the text of the queries is shared: `impl_store!`
//! emits one `impl Store` for a backend type from these methods plus the few the backend writes
//! itself (`list_plans`, `count_apps`, `append_event`). The names the methods use (`db_err`,
//! `json`, `app_from_row`, ...) resolve in the invoking module, which imports its backend's
//! helpers, and `self.db()` is the backend's own pool.

/// Emits `impl Store for $backend` from the shared methods and the backend's own `$specific` ones.
macro_rules! impl_store {
    ($backend:ty, { $($specific:tt)* }) => {
        #[async_trait]
        impl Store for $backend {
        async fn create_org(&self, org: &Organization) -> Result<()> {
            sqlx::query(concat!(
                "INSERT INTO orgs (",
                org_columns!(),
                ") VALUES ($1, $2, $3, $4)"
            ))
            .bind(org.id.as_uuid())
            .bind(&org.name)
            .bind(org.slug.as_str())
            .bind(ts_to_ns(org.created_at)?)
            .execute(self.db())
            .await
            .map_err(db_err(format!("creating organisation '{}'", org.slug)))?;
            Ok(())
        }

        async fn get_org(&self, id: OrgId) -> Result<Organization> {
            let row = sqlx::query(concat!(
                "SELECT ",
                org_columns!(),
                " FROM orgs WHERE id = $1"
            ))
            .bind(id.as_uuid())
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("reading organisation {id}")))?;
            match row {
                Some(r) => org_from_row(&r),
                None => Err(not_found(format!("organisation {id} does not exist"))),
            }
        }

        async fn list_orgs_all(&self) -> Result<Vec<Organization>> {
            sqlx::query(concat!("SELECT ", org_columns!(), " FROM orgs ORDER BY id"))
                .fetch_all(self.db())
                .await
                .map_err(db_err("listing organisations"))?
                .iter()
                .map(org_from_row)
                .collect()
        }

        async fn create_plan(&self, plan: &Plan) -> Result<()> {
            sqlx::query(concat!(
                "INSERT INTO plans (",
                plan_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(plan.id.as_uuid())
            .bind(&plan.name)
            .bind(i64::from(plan.cpu))
            .bind(i64::from(plan.memory_mb))
            .bind(i64::from(plan.disk_gb))
            .bind(plan.price_per_hour.micros())
            .bind(i64::from(plan.max_replicas))
            .execute(self.db())
            .await
            .map_err(db_err(format!("creating plan '{}'", plan.name)))?;
            Ok(())
        }

        async fn get_plan(&self, id: PlanId) -> Result<Plan> {
            let row = sqlx::query(concat!(
                "SELECT ",
                plan_columns!(),
                " FROM plans WHERE id = $1"
            ))
            .bind(id.as_uuid())
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("reading plan {id}")))?;
            match row {
                Some(r) => plan_from_row(&r),
                None => Err(not_found(format!("plan {id} does not exist"))),
            }
        }

        async fn create_app(&self, app: &Application) -> Result<()> {
            let p = AppParams::new(app)?;
            bind_app!(
                sqlx::query(concat!(
                    "INSERT INTO apps (",
                    app_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                      $17, $18, $19)"
                )),
                p
            )
            .execute(self.db())
            .await
            .map_err(db_err(format!("creating app '{}'", app.slug)))?;
            Ok(())
        }

        async fn get_app(&self, org: OrgId, id: AppId) -> Result<Application> {
            let row = sqlx::query(concat!(
                "SELECT ",
                app_columns!(),
                " FROM apps WHERE id = $1 AND org = $2"
            ))
            .bind(id.as_uuid())
            .bind(org.as_uuid())
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("reading app {id}")))?;
            match row {
                Some(r) => app_from_row(&r),
                None => Err(not_found(format!(
                    "app {id} does not exist in organisation {org}"
                ))),
            }
        }

        async fn update_app(&self, app: &Application) -> Result<Application> {
            let p = AppParams::new(app)?;
            let row = bind_app!(
                sqlx::query(concat!(
                    "UPDATE apps SET name = $3, slug = $4, runtime = $5, plan = $6, replicas = $7,
                        env = $8, domains = $9, health_check = $10, listen_port = $11, status = $12,
                        status_reason = $13, placement = $14, ports = $15, current_release = $16,
                        created_at_ns = $17, updated_at_ns = $18, version = version + 1
                     WHERE id = $1 AND org = $2 AND version = $19
                     RETURNING ",
                    app_columns!()
                )),
                p
            )
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("updating app '{}'", app.slug)))?;
            if let Some(r) = row {
                return app_from_row(&r);
            }
            let stored: Option<i64> =
                sqlx::query_scalar("SELECT version FROM apps WHERE id = $1 AND org = $2")
                    .bind(app.id.as_uuid())
                    .bind(app.org.as_uuid())
                    .fetch_optional(self.db())
                    .await
                    .map_err(db_err(format!("updating app '{}'", app.slug)))?;
            Err(match stored {
                None => not_found(format!(
                    "app {} does not exist in organisation {}",
                    app.id, app.org
                )),
                Some(v) => Error::conflict(format!(
                    "updating app '{}': it was changed by someone else (stored version {v}, given \
                     {}); read it again and reapply the change",
                    app.slug, app.version
                ))
                .with_backend(BACKEND),
            })
        }

        async fn list_apps(&self, org: OrgId, query: &AppQuery) -> Result<Page<Application>> {
            self.list_apps_in(Some(org), query).await
        }

        async fn list_apps_all(&self, query: &AppQuery) -> Result<Page<Application>> {
            self.list_apps_in(None, query).await
        }

        async fn create_release(&self, release: &Release) -> Result<()> {
            let done = sqlx::query(concat!(
                "INSERT INTO releases (",
                release_columns!(),
                ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
                   WHERE EXISTS (SELECT 1 FROM apps WHERE id = $3 AND org = $2)"
            ))
            .bind(release.id.as_uuid())
            .bind(release.org.as_uuid())
            .bind(release.app.as_uuid())
            .bind(i64::from(release.number))
            .bind(json(&release.runtime, "runtime")?)
            .bind(&release.env_digest)
            .bind(i64::from(release.replicas))
            .bind(release.plan.as_uuid())
            .bind(ts_to_ns(release.created_at)?)
            .execute(self.db())
            .await
            .map_err(db_err(format!(
                "creating release {} of app {}",
                release.number, release.app
            )))?;
            if done.rows_affected() == 0 {
                return Err(not_found(format!(
                    "creating release {}: app {} does not exist in organisation {}",
                    release.number, release.app, release.org
                )));
            }
            Ok(())
        }

        async fn get_release(&self, org: OrgId, app: AppId, number: u32) -> Result<Release> {
            let row = sqlx::query(concat!(
                "SELECT ",
                release_columns!(),
                " FROM releases WHERE org = $1 AND app = $2 AND number = $3"
            ))
            .bind(org.as_uuid())
            .bind(app.as_uuid())
            .bind(i64::from(number))
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("reading release {number} of app {app}")))?;
            match row {
                Some(r) => release_from_row(&r),
                None => Err(not_found(format!(
                    "release {number} of app {app} does not exist"
                ))),
            }
        }

        async fn list_releases(&self, org: OrgId, app: AppId) -> Result<Vec<Release>> {
            let items = sqlx::query(concat!(
                "SELECT ",
                release_columns!(),
                " FROM releases WHERE org = $1 AND app = $2 ORDER BY number"
            ))
            .bind(org.as_uuid())
            .bind(app.as_uuid())
            .fetch_all(self.db())
            .await
            .map_err(db_err(format!("listing releases of app {app}")))?
            .iter()
            .map(release_from_row)
            .collect::<Result<Vec<_>>>()?;
            self.nonempty_or_app_exists(org, app, "listing releases", items)
                .await
        }

        async fn enqueue(&self, op: &Operation) -> Result<()> {
            self.enqueue_op(op).await
        }

        async fn get_operation(&self, org: OrgId, id: OperationId) -> Result<Operation> {
            let row = sqlx::query(concat!(
                "SELECT ",
                operation_columns!(),
                " FROM operations WHERE id = $1 AND org = $2"
            ))
            .bind(id.as_uuid())
            .bind(org.as_uuid())
            .fetch_optional(self.db())
            .await
            .map_err(db_err(format!("reading operation {id}")))?;
            match row {
                Some(r) => operation_from_row(&r),
                None => Err(not_found(format!(
                    "operation {id} does not exist in organisation {org}"
                ))),
            }
        }

        async fn list_operations(&self, org: OrgId, app: AppId, limit: u32) -> Result<Vec<Operation>> {
            let items = sqlx::query(concat!(
                "SELECT ",
                operation_columns!(),
                " FROM operations WHERE org = $1 AND app = $2 ORDER BY seq DESC LIMIT $3"
            ))
            .bind(org.as_uuid())
            .bind(app.as_uuid())
            .bind(i64::from(limit))
            .fetch_all(self.db())
            .await
            .map_err(db_err(format!("listing operations of app {app}")))?
            .iter()
            .map(operation_from_row)
            .collect::<Result<Vec<_>>>()?;
            self.nonempty_or_app_exists(org, app, "listing operations", items)
                .await
        }

        async fn count_unfinished_operations(&self) -> Result<u64> {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM operations WHERE state IN ('queued', 'running')",
            )
            .fetch_one(self.db())
            .await
            .map_err(db_err("counting unfinished operations"))?;
            to_u64(n, "operation count")
        }

        async fn lease(
            &self,
            worker: &str,
            now: Timestamp,
            lease_for: Duration,
        ) -> Result<Option<Operation>> {
            self.lease_op(worker, now, lease_for).await
        }

        async fn heartbeat(
            &self,
            id: OperationId,
            worker: &str,
            now: Timestamp,
            lease_for: Duration,
        ) -> Result<()> {
            self.heartbeat_op(id, worker, now, lease_for).await
        }

        async fn checkpoint(
            &self,
            id: OperationId,
            worker: &str,
            checkpoint: &serde_json::Value,
        ) -> Result<()> {
            self.checkpoint_op(id, worker, checkpoint).await
        }

        async fn checkpoint_with_event(
            &self,
            id: OperationId,
            worker: &str,
            checkpoint: &serde_json::Value,
            event: &NewEvent,
        ) -> Result<Event> {
            self.checkpoint_with_event_op(id, worker, checkpoint, event)
                .await
        }

        async fn complete(&self, id: OperationId, worker: &str, now: Timestamp) -> Result<()> {
            self.complete_op(id, worker, now).await
        }

        async fn retry_at(
            &self,
            id: OperationId,
            worker: &str,
            at: Timestamp,
            error: &str,
        ) -> Result<()> {
            self.retry_op_at(id, worker, at, error).await
        }

        async fn fail(&self, id: OperationId, worker: &str, now: Timestamp, error: &str) -> Result<()> {
            self.fail_op(id, worker, now, error).await
        }

        async fn wait_for_work(&self, timeout: Duration) {
            self.wait(timeout).await;
        }

        async fn list_events(
            &self,
            org: OrgId,
            app: AppId,
            after: u64,
            limit: u32,
        ) -> Result<Vec<Event>> {
            // Past the last possible seq: nothing, if the app is the organisation's.
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let items = sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE org = $1 AND app = $2 AND seq > $3 ORDER BY seq LIMIT $4"
            ))
            .bind(org.as_uuid())
            .bind(app.as_uuid())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.db())
            .await
            .map_err(db_err(format!("listing events of app {app}")))?
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
            self.nonempty_or_app_exists(org, app, "listing events", items)
                .await
        }

        async fn record_usage(&self, usage: &UsageRecord) -> Result<bool> {
            let doing = format!("recording usage of app {} at {}", usage.app, usage.hour);
            let done = sqlx::query(concat!(
                "INSERT INTO usage_records (",
                usage_columns!(),
                ") SELECT $1, $2, $3, $4, $5, $6
                   WHERE EXISTS (SELECT 1 FROM apps WHERE id = $2 AND org = $1)
                 ON CONFLICT (app, hour_ns) DO NOTHING"
            ))
            .bind(usage.org.as_uuid())
            .bind(usage.app.as_uuid())
            .bind(ts_to_ns(usage.hour)?)
            .bind(i64::from(usage.replicas))
            .bind(usage.amount.micros())
            .bind(&usage.transfer_id)
            .execute(self.db())
            .await
            .map_err(db_err(doing.clone()))?;
            if done.rows_affected() == 1 {
                return Ok(true);
            }
            let exists: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM apps WHERE id = $1 AND org = $2")
                    .bind(usage.app.as_uuid())
                    .bind(usage.org.as_uuid())
                    .fetch_optional(self.db())
                    .await
                    .map_err(db_err(doing.clone()))?;
            match exists {
                Some(_) => Ok(false),
                None => Err(not_found(format!(
                    "{doing}: app {} does not exist in organisation {}",
                    usage.app, usage.org
                ))),
            }
        }

        /// All or nothing: one statement (Postgres) or one transaction (SQLite); a row naming
        /// another organisation's app fails the whole batch with `NotFound`.

        async fn record_usages(&self, usages: &[UsageRecord]) -> Result<u64> {
            self.insert_usages(usages).await
        }

        async fn list_usage(
            &self,
            org: OrgId,
            from: Timestamp,
            to: Timestamp,
        ) -> Result<Vec<UsageRecord>> {
            sqlx::query(concat!(
                "SELECT ",
                usage_columns!(),
                " FROM usage_records WHERE org = $1 AND hour_ns >= $2 AND hour_ns < $3
                  ORDER BY hour_ns, app"
            ))
            .bind(org.as_uuid())
            .bind(ts_to_ns_clamped(from))
            .bind(ts_to_ns_clamped(to))
            .fetch_all(self.db())
            .await
            .map_err(db_err(format!("listing usage of organisation {org}")))?
            .iter()
            .map(usage_from_row)
            .collect()
        }

            $($specific)*
        }
    };
}

pub(crate) use impl_store;
