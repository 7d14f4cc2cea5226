//! The raw SQLite column of an app's env holds no value in clear text.

mod common;

use paas_core::engine::{NewApp, NewPlan};
use paas_core::model::{Money, Runtime, Secret};
use paas_proxmox::sim::PveSim;

const CLEAR: &str = "s3cr3t-db-password-9931";

#[tokio::test]
async fn raw_sqlite_row_has_no_clear_env_value() {
    let sim = PveSim::builder()
        .task_duration(std::time::Duration::from_millis(1))
        .start()
        .await
        .unwrap();
    let (db, raw) = common::sqlite().await;
    let platform = common::builder(&db, common::provisioner(&sim, 3))
        .build()
        .unwrap();
    let org = platform.create_org("Acme").await.unwrap().id;
    let plan = platform
        .create_plan(NewPlan::new("s", 1, 64, 1, Money::ZERO))
        .await
        .unwrap();
    let app = platform
        .create_app(
            org,
            NewApp::new(
                "shop",
                Runtime::Lxc {
                    template: common::DEBIAN.into(),
                },
                plan.id,
            )
            .env("DB_PASSWORD".parse().unwrap(), Secret::new(CLEAR)),
        )
        .await
        .unwrap();
    platform
        .set_env(
            org,
            app.id,
            "API_KEY".parse().unwrap(),
            Secret::new("clear-api-key-77"),
        )
        .await
        .unwrap();
    let op = platform.deploy(org, app.id).await.unwrap();
    platform.worker().run_until_idle().await.unwrap();
    assert!(platform.wait(org, op).await.unwrap().state.is_finished());

    let env_column: String = sqlx::query_scalar("SELECT env FROM apps")
        .fetch_one(raw.pool())
        .await
        .unwrap();
    assert!(
        env_column.contains("DB_PASSWORD"),
        "the column is not the env: {env_column}"
    );
    assert!(!env_column.contains(CLEAR) && !env_column.contains("clear-api-key-77"));
    // Nowhere else in the database either.
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(checkpoint, '') || COALESCE(error, '') FROM operations \
         UNION ALL SELECT message FROM events UNION ALL SELECT env_digest FROM releases",
    )
    .fetch_all(raw.pool())
    .await
    .unwrap();
    assert!(!dump.is_empty());
    assert!(dump.iter().all(|row| !row.contains(CLEAR)));
}
