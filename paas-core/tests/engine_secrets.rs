//! Env values at rest: encrypted in the stored record, decrypted only into the deploy.

mod engine_support;

use engine_support::Env;
use paas_core::engine::{MasterKey, Platform};
use paas_core::memory::{MemoryIdAllocator, MemoryStore};
use paas_core::model::{AppStatus, OperationState, Secret};
use paas_core::ports::Store;
use paas_core::{ErrorKind, NewApp};
use std::sync::Arc;

const CLEAR: &str = "pg-password-Zq81x";

#[tokio::test]
async fn the_stored_record_holds_no_env_value_in_clear_text() {
    let env = Env::new().await;
    let app = env
        .platform
        .create_app(
            env.org,
            NewApp::new(
                "api",
                paas_core::model::Runtime::Container {
                    image: "api:1".into(),
                },
                env.plan.id,
            )
            .env("DB_PASSWORD".parse().unwrap(), Secret::new(CLEAR)),
        )
        .await
        .unwrap();
    env.platform
        .set_env(
            env.org,
            app.id,
            "API_KEY".parse().unwrap(),
            Secret::new("key-4471-clear"),
        )
        .await
        .unwrap();
    env.ok(env.platform.deploy(env.org, app.id).await.unwrap())
        .await;

    // The memory store's record, serialised as a database would keep it.
    let raw = serde_json::to_string(&env.store.get_app(env.org, app.id).await.unwrap()).unwrap();
    assert!(raw.contains("DB_PASSWORD"), "the key names are kept");
    assert!(
        !raw.contains(CLEAR) && !raw.contains("key-4471-clear"),
        "clear text in {raw}"
    );
    // Nor in what else the deploy wrote: releases, operations, events.
    for other in [
        serde_json::to_string(&env.store.list_releases(env.org, app.id).await.unwrap()).unwrap(),
        serde_json::to_string(
            &env.store
                .list_operations(env.org, app.id, 100)
                .await
                .unwrap(),
        )
        .unwrap(),
        serde_json::to_string(&env.events(app.id).await).unwrap(),
        format!("{:?}", env.app(app.id).await),
    ] {
        assert!(!other.contains(CLEAR));
    }
    // The deploy itself got the value.
    let spec = env.orch.spec("api").unwrap();
    assert_eq!(
        spec.env
            .get(&"DB_PASSWORD".parse().unwrap())
            .unwrap()
            .expose(),
        CLEAR
    );
    assert_eq!(
        env.platform.env_keys(env.org, app.id).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_app_does_not_open() {
    let env = Env::new().await;
    let a = env.container_app("a", "a:1").await;
    let b = env.container_app("b", "b:1").await;
    let a = env
        .platform
        .set_env(env.org, a.id, "K".parse().unwrap(), Secret::new(CLEAR))
        .await
        .unwrap();
    // Someone with database access copies A's ciphertext into B's record.
    let mut stolen = env.store.get_app(env.org, b.id).await.unwrap();
    stolen.env = a.env.clone();
    env.store.update_app(&stolen).await.unwrap();
    let op = env
        .done(env.platform.deploy(env.org, b.id).await.unwrap())
        .await;
    assert_eq!(op.state, OperationState::Failed);
    assert!(op.error.unwrap().contains("cannot be decrypted"));
    assert_eq!(env.app(b.id).await.status, AppStatus::Failed);
    assert!(env.orch.spec("b").is_none());
}

#[tokio::test]
async fn the_platform_refuses_to_start_without_a_strong_key() {
    let base = || {
        Platform::builder()
            .store(Arc::new(MemoryStore::new()))
            .ids(Arc::new(MemoryIdAllocator::default()))
    };
    let err = base().build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("master key"));
    for weak in [
        "00".repeat(32),
        "41".repeat(32),
        "abcd".into(),
        "0102030405".repeat(6) + "0102",
    ] {
        assert!(MasterKey::from_hex(&weak).is_err(), "{weak} accepted");
    }
    assert!(base().development_mode().build().is_ok());
    assert!(base().master_key(MasterKey::generate()).build().is_ok());
    let key = MasterKey::generate();
    assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    assert!(!format!("{:?}", base().master_key(key.clone())).contains(&key.to_hex()));
}
