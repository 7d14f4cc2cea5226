//! Task history on the simulator: `GET /nodes/{node}/tasks` with PVE's filters,
//! `GET /cluster/tasks`, `DELETE /nodes/{node}/tasks/{upid}`, and the task fault modes.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::Duration;

use paas_proxmox::sim::{Faults, GuestKind, NewGuest, PveSim};
use reqwest::Method;
use serde_json::Value;
use support::{Api, DEBIAN};

fn upids(r: &Value) -> Vec<String> {
    r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["upid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn node_task_list_filters_like_pve() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_millis(5))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let create = api
        .run_ok(
            Method::POST,
            "/nodes/pve1/lxc",
            &[("vmid", "100"), ("ostemplate", DEBIAN)],
        )
        .await;
    let start = api
        .run_ok(Method::POST, "/nodes/pve1/lxc/100/status/start", &[])
        .await;
    // A failing one: a start of an absent CT.
    let r = api.post("/nodes/pve1/lxc/555/status/start", &[]).await;
    let failed = r.data().as_str().unwrap().to_string();
    api.wait(&failed).await;
    // One on another node.
    sim.add_unmanaged_guest(NewGuest::new(200, "pve2", GuestKind::Lxc))
        .unwrap();
    api.run_ok(Method::POST, "/nodes/pve2/lxc/200/status/start", &[])
        .await;

    // Default: the archive of this node, newest first, with `total`.
    let r = api.get("/nodes/pve1/tasks").await.body;
    assert_eq!(
        upids(&r),
        vec![failed.clone(), start.clone(), create.clone()],
        "{r}"
    );
    assert_eq!(r["total"], 3);
    let first = &r["data"][2];
    assert_eq!(first["type"], "vzcreate");
    assert_eq!(first["id"], "100");
    assert_eq!(first["user"], "root@pam");
    assert_eq!(first["tokenid"], "paas");
    assert_eq!(first["status"], "OK");
    assert!(first["endtime"].as_i64().unwrap() >= first["starttime"].as_i64().unwrap());
    assert_eq!(
        r["data"][0]["status"],
        "Configuration file 'nodes/pve1/lxc/555.conf' does not exist"
    );

    // Filters (PM API2/Tasks.pm:197-213).
    let q = |pairs: &[(&str, &str)]| {
        let api = &api;
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        async move {
            let p: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            api.get_q("/nodes/pve1/tasks", &p).await.body
        }
    };
    assert_eq!(
        upids(&q(&[("vmid", "100")]).await),
        vec![start.clone(), create.clone()]
    );
    assert_eq!(
        upids(&q(&[("typefilter", "vzcreate")]).await),
        vec![create.clone()]
    );
    assert_eq!(
        upids(&q(&[("statusfilter", "error")]).await),
        vec![failed.clone()]
    );
    assert_eq!(upids(&q(&[("errors", "1")]).await), vec![failed.clone()]);
    assert_eq!(upids(&q(&[("statusfilter", "ok,warning")]).await).len(), 2);
    // userfilter is a case-insensitive substring of the user (token split off).
    assert_eq!(upids(&q(&[("userfilter", "ROOT@p")]).await).len(), 3);
    assert!(upids(&q(&[("userfilter", "paas")]).await).is_empty());
    // start/limit page; total counts every match.
    let page = q(&[("start", "1"), ("limit", "1")]).await;
    assert_eq!(upids(&page), vec![start.clone()]);
    assert_eq!(page["total"], 3);
    let now = page["data"][0]["starttime"].as_i64().unwrap();
    assert_eq!(
        upids(&q(&[("since", &(now + 3600).to_string())]).await).len(),
        0
    );
    assert_eq!(
        upids(&q(&[("until", &(now + 3600).to_string())]).await).len(),
        3
    );
    // Validation of the filters comes from the schema.
    let r = api.get_q("/nodes/pve1/tasks", &[("source", "x")]).await;
    assert_eq!(
        r.error("source"),
        "value 'x' does not have a value in the enumeration 'archive, active, all'"
    );
    let r = api.get_q("/nodes/pve1/tasks", &[("vmid", "99")]).await;
    assert_eq!(
        r.error("vmid"),
        "invalid format - value does not look like a valid VM ID\n"
    );

    // Running tasks are only in the active list (`source=active|all`), as `RUNNING`.
    sim.set_faults(Faults::default());
    let slow = PveSim::builder()
        .task_duration(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let sapi = Api::new(&slow);
    let r = sapi
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "300"), ("ostemplate", DEBIAN)],
        )
        .await;
    let running = r.data().as_str().unwrap().to_string();
    assert!(upids(&sapi.get("/nodes/pve1/tasks").await.body).is_empty());
    let act = sapi
        .get_q("/nodes/pve1/tasks", &[("source", "active")])
        .await
        .body;
    assert_eq!(upids(&act), vec![running.clone()]);
    assert_eq!(act["data"][0]["status"], "RUNNING");
    assert_eq!(
        upids(
            &sapi
                .get_q("/nodes/pve1/tasks", &[("source", "all")])
                .await
                .body
        ),
        vec![running.clone()]
    );
    // /cluster/tasks: every node's running and recent tasks.
    let all = upids(&api.get("/cluster/tasks").await.body);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.iter().any(|u| u.starts_with("UPID:pve2:")));
    let c = sapi.get("/cluster/tasks").await.body;
    assert_eq!(c["data"][0]["upid"], running.as_str());
    assert!(c["data"][0].get("status").is_none());
    assert!(c["data"][0]["pid"].is_number());
}

#[tokio::test]
async fn stopping_a_task_interrupts_it_and_undoes_its_work() {
    let sim = PveSim::builder()
        .task_duration(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "100"), ("ostemplate", DEBIAN)],
        )
        .await;
    let upid = r.data().as_str().unwrap().to_string();
    assert_eq!(sim.guest(100).unwrap().lock.as_deref(), Some("create"));
    let r = api.delete(&format!("/nodes/pve1/tasks/{upid}")).await;
    assert_eq!(r.body, serde_json::json!({"data": null}));
    let st = api.wait(&upid).await;
    // The worker dies in its SIGTERM handler (PC RESTEnvironment.pm:567) inside the create
    // code, whose error gets the create prefix (CT API2/LXC.pm:616).
    assert_eq!(
        st["exitstatus"],
        "unable to create CT 100 - received interrupt"
    );
    assert!(
        sim.guest(100).is_none(),
        "the interrupted create removed its config"
    );
    let log = api.get(&format!("/nodes/pve1/tasks/{upid}/log")).await;
    let last = log.data().as_array().unwrap().last().unwrap()["t"].clone();
    assert_eq!(
        last,
        "TASK ERROR: unable to create CT 100 - received interrupt"
    );
    // Stopping a stopped task is fine and changes nothing.
    let r = api.delete(&format!("/nodes/pve1/tasks/{upid}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(api.wait(&upid).await["exitstatus"], st["exitstatus"]);
    // Unknown and malformed UPIDs.
    let ghost = "UPID:pve1:00001234:00001234:6745A1B2:vzstart:300:root@pam:";
    assert_eq!(
        api.delete(&format!("/nodes/pve1/tasks/{ghost}"))
            .await
            .error("upid"),
        "no such task"
    );
    assert_eq!(
        api.delete("/nodes/pve1/tasks/nope").await.error("upid"),
        "unable to parse worker upid"
    );

    // A task waiting for a lock is interrupted there: PC Tools.pm:261's prefix.
    sim.add_unmanaged_guest(NewGuest::new(101, "pve1", GuestKind::Lxc))
        .unwrap();
    let first = api.post("/nodes/pve1/lxc/101/status/start", &[]).await;
    let first = first.data().as_str().unwrap().to_string();
    let r = api.post("/nodes/pve1/lxc/101/status/start", &[]).await;
    let second = r.data().as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.delete(&format!("/nodes/pve1/tasks/{second}")).await;
    assert_eq!(
        api.wait(&second).await["exitstatus"],
        "can't lock file '/run/lock/lxc/pve-config-101.lock' - received interrupt"
    );
    api.delete(&format!("/nodes/pve1/tasks/{first}")).await;
    assert_eq!(api.wait(&first).await["exitstatus"], "received interrupt");
    assert_eq!(
        sim.guest(101).unwrap().status,
        paas_proxmox::sim::GuestStatus::Stopped
    );
}

#[tokio::test]
async fn warnings_and_lost_responses() {
    let sim = PveSim::builder()
        .task_duration(Duration::ZERO)
        .faults(Faults {
            task_warning_rate: 1.0,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "100"), ("ostemplate", DEBIAN)],
        )
        .await;
    let upid = r.data().as_str().unwrap().to_string();
    let st = api.wait(&upid).await;
    let exit = st["exitstatus"].as_str().unwrap().to_string();
    // PC UPID.pm:80 `TASK (WARNINGS: \d+)`: a success.
    assert!(exit.starts_with("WARNINGS: "), "{exit}");
    let log = api.get(&format!("/nodes/pve1/tasks/{upid}/log")).await;
    let last = log.data().as_array().unwrap().last().unwrap()["t"].clone();
    assert_eq!(last, format!("TASK {exit}").as_str());
    assert_eq!(sim.guest(100).unwrap().lock, None, "the create happened");
    let r = api
        .get_q("/nodes/pve1/tasks", &[("statusfilter", "warning")])
        .await;
    assert_eq!(upids(&r.body), vec![upid]);

    // A lost response: the call ran (a task exists) but the client got a 596.
    sim.set_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    });
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "101"), ("ostemplate", DEBIAN)],
        )
        .await;
    assert_eq!((r.status, r.reason.as_str()), (596, "Connection timed out"));
    sim.set_faults(Faults::default());
    assert!(sim.guest(101).is_some(), "the create ran");
    let r = api.get_q("/nodes/pve1/tasks", &[("vmid", "101")]).await;
    assert_eq!(r.data().as_array().unwrap().len(), 1);
    // A dropped connection: the call ran too.
    sim.set_faults(Faults {
        dropped_response_rate: 1.0,
        ..Faults::default()
    });
    let sent = api
        .http
        .post(format!("{}/nodes/pve1/lxc/101/status/start", api.base))
        .header("Authorization", &api.auth)
        .send()
        .await;
    let broken = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(broken, "the response must not arrive");
    sim.set_faults(Faults::default());
    let r = api
        .get_q(
            "/nodes/pve1/tasks",
            &[("typefilter", "vzstart"), ("source", "all")],
        )
        .await;
    assert_eq!(r.data().as_array().unwrap().len(), 1);
}
