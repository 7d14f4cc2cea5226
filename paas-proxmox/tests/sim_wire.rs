//! The simulator's wire protocol: validation, 501s, envelope, reason phrases, auth, HTTPS.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use paas_proxmox::sim::PveSim;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Api, DEBIAN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a raw HTTP/1.1 request and returns the status line.
async fn status_line(sim: &PveSim, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(sim.http_addr())
        .await
        .expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn validation_errors_have_pve_shape_and_texts() {
    let sim = PveSim::start().await.unwrap();
    let api = Api::new(&sim);
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "99"),
                ("start", "true"),
                ("memory", "abc"),
                ("bogus", "1"),
                ("cores", "9000"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({
            "data": null,
            "message": "Parameter verification failed.\n",
            "errors": {
                "vmid": "value must have a minimum value of 100",
                "start": "type check ('boolean') failed - got 'true'",
                "memory": "type check ('integer') failed - got 'abc'",
                "bogus": "property is not defined in schema and the schema does not allow additional properties",
                "ostemplate": "property is missing and it is not optional",
                "cores": "value must have a maximum value of 8192",
            }
        })
    );

    let long = "x".repeat(256);
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "1000000000"), ("ostemplate", &long)],
        )
        .await;
    assert_eq!(
        r.error("vmid"),
        "value must have a maximum value of 999999999"
    );
    assert_eq!(
        r.error("ostemplate"),
        "value may only be 255 characters long"
    );

    let r = api.get_q("/cluster/resources", &[("type", "foo")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error("type"),
        "value 'foo' does not have a value in the enumeration 'vm, storage, node, sdn'"
    );

    // Path parameters are validated too.
    let r = api.get("/nodes/pve1/lxc/abc/status/current").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error("vmid"), "type check ('integer') failed - got 'abc'");
    let r = api.get("/nodes/-bad-/lxc").await;
    assert_eq!(
        r.error("node"),
        "invalid format - value does not look like a valid node name\n"
    );

    // Formats and property strings.
    let r = api
        .put("/nodes/pve1/lxc/100/config", &[("delete", "tags,Bad")])
        .await;
    assert_eq!(
        r.error("delete"),
        "invalid format - invalid configuration ID 'Bad'\n"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("storage", "local-lvm"),
                ("net0", "name=eth0,foo=1"),
            ],
        )
        .await;
    assert_eq!(
        r.error("net0"),
        "invalid format - invalid key in comma-separated list property: foo\n"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[("vmid", "100"), ("ostemplate", DEBIAN), ("password", "abc")],
        )
        .await;
    assert_eq!(
        r.error("password"),
        "value must be at least 5 characters long"
    );
    assert!(sim.guest(100).is_none(), "nothing created by invalid calls");
}

#[tokio::test]
async fn unknown_routes_and_bodies_on_get_are_501() {
    let sim = PveSim::start().await.unwrap();
    let api = Api::new(&sim);
    let r = api.get("/x").await;
    assert_eq!(r.status, 501);
    assert_eq!(
        r.body,
        json!({"data": null, "message": "Method 'GET /x' not implemented\n"})
    );
    let r = api.put("/version", &[("a", "b")]).await;
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "Method 'PUT /version' not implemented\n");

    let resp = api
        .http
        .get(format!("{}/version", api.base))
        .header("Authorization", &api.auth)
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 501);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Unexpected content\n");
}

#[tokio::test]
async fn reason_phrase_is_the_first_line_of_the_error() {
    let sim = PveSim::start().await.unwrap();
    let auth = sim.token().header_value();
    let line = status_line(
        &sim,
        &format!("GET /api2/json/nodes/pve1/lxc/999/status/current HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(
        line,
        "HTTP/1.1 500 Configuration file 'nodes/pve1/lxc/999.conf' does not exist"
    );
    let line = status_line(
        &sim,
        &format!("GET /api2/json/cluster/nextid?vmid=5 HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(line, "HTTP/1.1 400 Parameter verification failed.");
    let line = status_line(
        &sim,
        "GET /api2/json/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(line, "HTTP/1.1 401 No ticket");
}

#[tokio::test]
async fn envelope_numbers_as_strings_and_node_fingerprints() {
    let sim = PveSim::start().await.unwrap();
    let api = Api::new(&sim);
    let r = api.get("/cluster/nextid").await;
    assert_eq!(r.body, json!({"data": "100"}));
    let r = api.get_q("/cluster/nextid", &[("vmid", "9000")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error("vmid"), "VM 9000 already exists");
    let r = api.get_q("/cluster/nextid", &[("vmid", "4242")]).await;
    assert_eq!(r.body, json!({"data": "4242"}));

    let r = api.get("/nodes").await;
    let nodes = r.data().as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for n in nodes {
        assert_eq!(n["ssl_fingerprint"], sim.fingerprint());
        assert_eq!(n["status"], "online");
    }
    let r = api.get("/version").await;
    assert_eq!(r.data()["version"], "9.1.3");
    let r = api.get("/nodes/pve2/status").await;
    assert!(r.data()["memory"]["total"].as_u64().unwrap() > 0);
    let r = api.get("/nodes/nope/status").await;
    assert_eq!(r.status, 500);
    assert!(r.message().starts_with("hostname lookup 'nope' failed"));
}

#[tokio::test]
async fn json_bodies_and_query_over_body() {
    let sim = PveSim::builder()
        .task_duration(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let resp = api
        .http
        .post(format!("{}/nodes/pve1/lxc?hostname=from-query", api.base))
        .header("Authorization", &api.auth)
        .json(&json!({"vmid": 120, "ostemplate": DEBIAN, "storage": "local-lvm", "hostname": "from-body", "unprivileged": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    api.wait(body["data"].as_str().unwrap()).await;
    let g = sim.guest(120).unwrap();
    assert_eq!(g.name, "from-query");
    assert_eq!(sim.guest_config(120).unwrap()["unprivileged"], "1");
}

#[tokio::test]
async fn token_auth() {
    let sim = PveSim::start().await.unwrap();
    let mut api = Api::new(&sim);
    assert_eq!(api.get("/version").await.status, 200);
    let token = sim.token();
    api.auth = format!("PVEAPIToken={}!{}=wrong", token.user, token.token_id);
    let r = api.get("/version").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"data": null, "message": "invalid token value!\n"})
    );
    api.auth = format!("PVEAPIToken={}!other={}", token.user, token.secret);
    assert_eq!(api.get("/version").await.status, 401);
    api.auth = String::new();
    let r = api.get("/version").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "No ticket\n");
}

async fn login(sim: &PveSim, http: &reqwest::Client, password: &str) -> reqwest::Response {
    http.post(format!("{}/api2/json/access/ticket", sim.http_url()))
        .form(&[("username", sim.username()), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ticket_auth_csrf_renewal_and_expiry() {
    let sim = PveSim::builder()
        .ticket_lifetime(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("{}/api2/json", sim.http_url());

    let resp = login(&sim, &http, "wrong-password").await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "authentication failure\n");

    let body: Value = login(&sim, &http, sim.password())
        .await
        .json()
        .await
        .unwrap();
    let ticket = body["data"]["ticket"].as_str().unwrap().to_string();
    let csrf = body["data"]["CSRFPreventionToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(body["data"]["username"], "root@pam");
    assert!(ticket.starts_with("PVE:root@pam:"));

    let cookie = format!("PVEAuthCookie={ticket}");
    let r = http
        .get(format!("{base}/nodes"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Non-GET needs the CSRF token.
    let form = [
        ("vmid", "130"),
        ("ostemplate", DEBIAN),
        ("storage", "local-lvm"),
    ];
    let r = http
        .post(format!("{base}/nodes/pve1/lxc"))
        .header("Cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Permission denied - invalid csrf token\n");
    let r = http
        .post(format!("{base}/nodes/pve1/lxc"))
        .header("Cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["data"]
            .as_str()
            .unwrap()
            .ends_with(":vzcreate:130:root@pam:")
    );

    // Renewal: the old ticket as password.
    sim.advance_time(Duration::from_secs(30));
    let body: Value = login(&sim, &http, &ticket).await.json().await.unwrap();
    let renewed = body["data"]["ticket"].as_str().unwrap().to_string();
    assert_ne!(renewed, ticket);

    // The first ticket expires, the renewed one still works.
    sim.advance_time(Duration::from_secs(40));
    let r = http
        .get(format!("{base}/nodes"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "authentication failure\n");
    let r = http
        .get(format!("{base}/nodes"))
        .header("Cookie", format!("PVEAuthCookie={renewed}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // An expired ticket cannot be renewed.
    assert_eq!(login(&sim, &http, &ticket).await.status().as_u16(), 401);
}

#[tokio::test]
async fn auth_failure_delay_is_configurable() {
    let sim = PveSim::builder()
        .auth_failure_delay(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let api = Api {
        auth: "PVEAPIToken=root@pam!paas=nope".into(),
        ..Api::new(&sim)
    };
    let t = Instant::now();
    assert_eq!(api.get("/version").await.status, 401);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn https_serves_the_certificate_whose_fingerprint_is_reported() {
    let sim = PveSim::start().await.unwrap();
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .unwrap();
    let resp = insecure
        .get(format!("{}/api2/json/version", sim.https_url()))
        .header("Authorization", sim.token().header_value())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let info = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls info");
    let der = info.peer_certificate().expect("peer certificate");
    let fp: Vec<String> = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(fp.join(":"), sim.fingerprint());
    assert_eq!(sim.fingerprint().len(), 32 * 3 - 1);

    // Trusting the served certificate as a root works without "insecure".
    let pinned = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(sim.certificate_pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let resp = pinned
        .get(format!(
            "{}/api2/json/nodes",
            sim.https_url().replace("127.0.0.1", "localhost")
        ))
        .header("Authorization", sim.token().header_value())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn odd_inputs_never_break_the_server() {
    let sim = PveSim::builder()
        .task_duration(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let values = [
        "",
        "-1",
        "0",
        "+5",
        "99999999999999999999",
        "18446744073709551615",
        "1e9",
        "%00",
        "\u{2603}",
        "a=b,c",
        ",,,",
        "name=eth0,ip=dhcp,ip=dhcp",
        "local-lvm:99999999999999",
        "true",
    ];
    let long = "z".repeat(70_000);
    let paths = [
        "/nodes/pve1/lxc",
        "/nodes/pve1/lxc/100/config",
        "/nodes/pve1/lxc/100/status/start",
        "/nodes/pve1/qemu/9000/clone",
        "/nodes/pve1/qemu/9000/config",
        "/cluster/nextid",
        "/access/ticket",
    ];
    for path in paths {
        for v in values.iter().copied().chain([long.as_str()]) {
            let form = [
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("storage", "local-lvm"),
                ("memory", v),
                ("net0", v),
                ("rootfs", v),
                ("tags", v),
                ("newid", v),
                ("username", v),
                ("password", v),
            ];
            for r in [
                api.post(path, &form).await,
                api.put(path, &form).await,
                api.get_q(path, &form[..1]).await,
            ] {
                assert!(
                    [200, 400, 401, 500, 501].contains(&r.status),
                    "{path} {v:?}: {:?}",
                    r.body
                );
                assert!(r.body.get("data").is_some(), "{path}: {:?}", r.body);
            }
        }
    }
    // Huge memory values are accounted without overflow.
    let r = api
        .post(
            "/nodes/pve2/lxc",
            &[
                ("vmid", "777"),
                ("ostemplate", DEBIAN),
                ("storage", "local-lvm"),
                ("memory", "18446744073709551615"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    api.wait(r.data().as_str().unwrap()).await;
    api.run_ok(
        reqwest::Method::POST,
        "/nodes/pve2/lxc/777/status/start",
        &[],
    )
    .await;
    assert_eq!(api.get("/nodes/pve2/status").await.status, 200);
    assert_eq!(api.get("/cluster/resources").await.status, 200);
    assert_eq!(api.get("/version").await.status, 200);
}
