//! The simulator's `move_volume` over raw HTTP: a container's volume handed to another
//! container (the same volume, renamed, its content id kept) or copied to another storage,
//! with the request's early checks and the worker's locks as pve-container 963730e937c5
//! `API2/LXC.pm` move_volume has them.

mod sim_support;

use std::time::Duration;

use paas_proxmox::sim::PveSim;
use reqwest::Method;
use sim_support::{Api, DEBIAN};

const GIB: u64 = 1 << 30;

async fn sim() -> PveSim {
    PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .start()
        .await
        .unwrap()
}

/// Creates container `vmid` on pve1 with an 8 GB rootfs and the extra parameters.
async fn ct(api: &Api, vmid: &str, extra: &[(&str, &str)]) {
    let mut form = vec![
        ("vmid", vmid),
        ("ostemplate", DEBIAN),
        ("rootfs", "local-lvm:8"),
    ];
    form.extend_from_slice(extra);
    api.run_ok(Method::POST, "/nodes/pve1/lxc", &form).await;
}

fn used(sim: &PveSim, storage: &str) -> u64 {
    sim.storage_usage("pve1", storage).unwrap().0
}

/// Two stopped containers on pve1: 100 with a 2 GB data volume, 101 without.
async fn pair(api: &Api) {
    ct(api, "100", &[("mp0", "local-lvm:2,mp=/srv/data,backup=1")]).await;
    ct(api, "101", &[]).await;
}

#[tokio::test]
async fn move_volume_hands_the_same_volume_to_another_container() {
    let sim = sim().await;
    let api = Api::new(&sim);
    pair(&api).await;
    let data = sim.volumes(100)[1].clone();
    assert_eq!(data.key, "mp0");
    let before = used(&sim, "local-lvm");

    let mv = |form: Vec<(&'static str, String)>| {
        let api = &api;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.post("/nodes/pve1/lxc/100/move_volume", &form).await
        }
    };
    let to101 = || {
        vec![
            ("volume", "mp0".to_string()),
            ("target-vmid", "101".to_string()),
        ]
    };

    // The request's early checks, in $load_and_check_reassign_configs' order.
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[("volume", "rootfs"), ("target-vmid", "101")],
        )
        .await;
    assert_eq!(r.message(), "Cannot move to/from 'rootfs'\n");
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[("volume", "mp0"), ("target-vmid", "999")],
        )
        .await;
    assert_eq!(r.message(), "could not find CT 999\n");
    api.run_ok(
        Method::POST,
        "/nodes/pve2/lxc",
        &[
            ("vmid", "200"),
            ("ostemplate", DEBIAN),
            ("rootfs", "local-lvm:1"),
        ],
    )
    .await;
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[("volume", "mp0"), ("target-vmid", "200")],
        )
        .await;
    assert_eq!(
        r.message(),
        "Both containers need to be on the same node (pve1 != pve2)\n"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[
                ("volume", "mp0"),
                ("target-vmid", "101"),
                ("digest", "0000000000000000000000000000000000000000"),
            ],
        )
        .await;
    assert_eq!(
        r.message(),
        "Container 100: detected modified configuration - file changed by other user? Try again.\n"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[
                ("volume", "mp0"),
                ("target-vmid", "101"),
                ("storage", "local-lvm"),
            ],
        )
        .await;
    assert_eq!(
        r.message(),
        "either set storage or target-vmid, but not both\n"
    );
    let r = api
        .post("/nodes/pve1/lxc/100/move_volume", &[("volume", "mp0")])
        .await;
    assert_eq!(
        (r.status, r.error("target-vmid"), r.error("storage")),
        (
            400,
            "both 'storage' and 'target-vmid' missing, either needs to be set",
            "both 'storage' and 'target-vmid' missing, either needs to be set"
        )
    );
    api.run_ok(Method::POST, "/nodes/pve1/lxc/100/status/start", &[])
        .await;
    let r = mv(to101()).await;
    assert_eq!(
        r.message(),
        "Cannot move in-use volume while the source CT is running - detach or shutdown first\n"
    );
    api.run_ok(Method::POST, "/nodes/pve1/lxc/100/status/stop", &[])
        .await;

    // The move: a `move_volume` task whose id names both ends.
    let digest = api.get("/nodes/pve1/lxc/101/config").await.data()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut form = to101();
    form.push(("target-digest", digest));
    let r = mv(form).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let upid = r.data().as_str().unwrap().to_string();
    assert!(upid.contains(":move_volume:100-mp0>101-mp0:"), "{upid}");
    let st = api.wait(&upid).await;
    assert_eq!(st["exitstatus"], "OK", "{st}");
    // LvmThinPlugin.pm rename_volume: the first free name of the target.
    let cfg = sim.guest_config(101).unwrap();
    assert_eq!(
        cfg["mp0"],
        "local-lvm:vm-101-disk-1,mp=/srv/data,backup=1,size=2G"
    );
    assert!(!sim.guest_config(100).unwrap().contains_key("mp0"));
    let holders = sim.volumes_with_content(data.content_id);
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!((holders[0].vmid, holders[0].size), (101, 2 * GIB));
    assert_eq!(used(&sim, "local-lvm"), before, "a move allocates nothing");
    let log = api
        .get_q(&format!("/nodes/pve1/tasks/{upid}/log"), &[("limit", "0")])
        .await;
    let text: Vec<&str> = log
        .data()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["t"].as_str())
        .collect();
    assert!(
        text.contains(&"moving volume 'mp0' from container '100' to '101'"),
        "{text:?}"
    );

    // Again: the source has nothing to move any more, the target's key is taken.
    let r = mv(to101()).await;
    assert_eq!(
        r.message(),
        "volume 'mp0' for container '100' does not exist\n"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc/101/move_volume",
            &[
                ("volume", "rootfs"),
                ("target-vmid", "100"),
                ("target-volume", "mp0"),
            ],
        )
        .await;
    assert_eq!(r.message(), "Cannot move to/from 'rootfs'\n");
    ct(&api, "102", &[("mp0", "local-lvm:1,mp=/x")]).await;
    let r = api
        .post(
            "/nodes/pve1/lxc/101/move_volume",
            &[("volume", "mp0"), ("target-vmid", "102")],
        )
        .await;
    assert_eq!(
        r.message(),
        "Target volume key 'mp0' is already in use for container '102'\n"
    );

    // Destroying the container that gave it away leaves it; destroying the holder frees it.
    api.run_ok(Method::DELETE, "/nodes/pve1/lxc/100", &[]).await;
    assert_eq!(sim.volumes_with_content(data.content_id).len(), 1);
    api.run_ok(Method::DELETE, "/nodes/pve1/lxc/101", &[]).await;
    assert!(sim.volumes_with_content(data.content_id).is_empty());
}

#[tokio::test]
async fn move_volume_takes_its_locks_in_the_task() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(600))
        .lock_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    pair(&api).await;
    let data = sim.volumes(100)[1].content_id;
    // A resize of 101 holds its config lock for its whole task.
    let r = api
        .put(
            "/nodes/pve1/lxc/101/resize",
            &[("disk", "rootfs"), ("size", "+1G")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let resize = r.data().as_str().unwrap().to_string();
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[("volume", "mp0"), ("target-vmid", "101")],
        )
        .await;
    assert_eq!(r.status, 200, "the request takes no lock: {:?}", r.body);
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_eq!(
        st["exitstatus"],
        "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout"
    );
    assert_eq!(api.wait(&resize).await["exitstatus"], "OK");
    let holders = sim.volumes_with_content(data);
    assert_eq!((holders.len(), holders[0].vmid), (1, 100), "{holders:?}");
}

#[tokio::test]
async fn move_volume_to_another_storage() {
    let sim = sim().await;
    let api = Api::new(&sim);
    pair(&api).await;
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[("volume", "unused0"), ("storage", "local-lvm")],
        )
        .await;
    assert_eq!(
        r.message(),
        "cannot move volume 'unused0', only configured volumes can be moved to another storage\n"
    );
    // The copy is allocated in the task: LXC.pm:2590 alloc_disk.
    let r = api
        .post(
            "/nodes/pve1/lxc/100/move_volume",
            &[("volume", "mp0"), ("storage", "local")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let st = api.wait(r.data().as_str().unwrap()).await;
    assert_eq!(
        st["exitstatus"],
        "content type 'rootdir' is not available or configured on storage 'local'"
    );
    let cfg = sim.guest_config(100).unwrap();
    assert!(
        !cfg.contains_key("lock"),
        "the 'disk' lock is removed: {cfg:?}"
    );
    assert_eq!(
        cfg["mp0"],
        "local-lvm:vm-100-disk-1,mp=/srv/data,backup=1,size=2G"
    );
}
