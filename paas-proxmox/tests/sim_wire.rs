//! The simulator's wire protocol: validation, 501s, envelope, reason phrases, auth, HTTPS.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use paas_proxmox::sim::PveSim;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Api, DEBIAN, quick_sim, reason_of};
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
    // The vmid format comes before its minimum (PC JSONSchema.pm:1466-1505; FIDELITY.md
    // defect 4): this asserted `value must have a minimum value of 100` before.
    assert_eq!(
        r.body,
        json!({
            "data": null,
            "message": "Parameter verification failed.\n",
            "errors": {
                "vmid": "invalid format - value does not look like a valid VM ID\n",
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
        "invalid format - value does not look like a valid VM ID\n"
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
    // PC JSONSchema.pm:27 `qr/[a-z][a-z0-9_-]+/i`: `Bad` is a valid id, `9x` is not.
    let r = api
        .put("/nodes/pve1/lxc/100/config", &[("delete", "tags,9x")])
        .await;
    assert_eq!(
        r.error("delete"),
        "invalid format - invalid configuration ID '9x'\n"
    );
    // Format before maxLength: a long bad hostname reports its format.
    let bad_host = format!("-{}", "a".repeat(300));
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("hostname", &bad_host),
            ],
        )
        .await;
    assert_eq!(
        r.error("hostname"),
        "invalid format - value does not look like a valid DNS name\n"
    );
    // A property-string error ends in two newlines (PC Exception.pm:114).
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
                ("net0", "name=eth0,hwaddr=01:00:00:00:00:00"),
            ],
        )
        .await;
    assert_eq!(
        r.error("net0"),
        "invalid format - format error\nnet0.hwaddr: invalid format - value does not look like a valid unicast MAC address\n\n"
    );
    let r = api
        .post(
            "/nodes/pve1/lxc",
            &[
                ("vmid", "100"),
                ("ostemplate", DEBIAN),
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
    let sim = quick_sim().await;
    let api = Api::new(&sim);
    // PM HTTPServer.pm:139: no newline after the message.
    let r = api.get("/x").await;
    assert_eq!(r.status, 501);
    assert_eq!(
        r.body,
        json!({"data": null, "message": "Method 'GET /x' not implemented"})
    );
    let r = api.put("/version", &[("a", "b")]).await;
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "Method 'PUT /version' not implemented");
    // Authentication runs before routing (HS AnyEvent.pm:1602): unknown route, no token: 401.
    let anon = Api {
        auth: String::new(),
        ..Api::new(&sim)
    };
    assert_eq!(anon.get("/x").await.status, 401);

    // HS AnyEvent.pm:1651-1654: any content on a GET is a 501 with a plain-text body.
    let resp = api
        .http
        .get(format!("{}/version", api.base))
        .header("Authorization", &api.auth)
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 501);
    assert_eq!(reason_of(&resp), "Unexpected content for method 'GET'");
    assert!(resp.headers().get("content-type").is_none());
    assert_eq!(
        resp.text().await.unwrap(),
        "Unexpected content for method 'GET'"
    );
    // Even white space counts (Content-Length > 0), and DELETE too.
    let resp = api
        .http
        .delete(format!("{}/nodes/pve1/lxc/100", api.base))
        .header("Authorization", &api.auth)
        .body(" ")
        .send()
        .await
        .unwrap();
    assert_eq!(reason_of(&resp), "Unexpected content for method 'DELETE'");
    // ... but only after authentication.
    let resp = api
        .http
        .get(format!("{}/version", api.base))
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn reason_phrase_is_the_first_line_of_the_error() {
    let sim = quick_sim().await;
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
        .auth_failure_delay(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let resp = api
        .http
        .post(format!("{}/nodes/pve1/lxc?hostname=from-query", api.base))
        .header("Authorization", &api.auth)
        .json(&json!({"vmid": 120, "ostemplate": DEBIAN, "hostname": "from-body", "unprivileged": true}))
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
    let sim = quick_sim().await;
    let mut api = Api::new(&sim);
    assert_eq!(api.get("/version").await.status, 200);
    let token = sim.token();
    // pve-access-control 9.0.5 texts (AC AccessControl.pm:296, :497, :513, :671, :707), in the
    // reason phrase; the auth handler's 401s have no body (HS AnyEvent.pm:1620/1640).
    let cases = [
        (
            format!("PVEAPIToken={}!{}=wrong", token.user, token.token_id),
            "invalid token value!".to_string(),
        ),
        (
            format!("PVEAPIToken={}!other={}", token.user, token.secret),
            format!("no such token 'other' for user '{}'", token.user),
        ),
        (
            format!("PVEAPIToken=nobody@pam!{}={}", token.token_id, token.secret),
            "no such user ('nobody@pam')".to_string(),
        ),
        (
            "PVEAPIToken=root@pam=abc".to_string(),
            "'root@pam' is not a valid token ID - not able to split into user and token parts"
                .to_string(),
        ),
        (
            // The token id runs up to the last `=` (`/^(.*)=(.*)$/`).
            format!("PVEAPIToken={}={}", token.full_id(), "x=y"),
            format!(
                "'{}=x' is not a valid token ID - not able to split into user and token parts",
                token.full_id()
            ),
        ),
        (
            "PVEAPIToken=abc".to_string(),
            "no tokenid specified".to_string(),
        ),
        (String::new(), "No ticket".to_string()),
    ];
    for (auth, reason) in cases {
        api.auth = auth.clone();
        let r = api.get("/version").await;
        assert_eq!(
            (r.status, r.reason.as_str()),
            (401, reason.as_str()),
            "{auth}"
        );
        assert_eq!(r.body, Value::Null, "{auth}: empty body");
    }
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
        .auth_failure_delay(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("{}/api2/json", sim.http_url());

    // A failed login is the handler's 401: a JSON body (AC API2/AccessControl.pm:308).
    let resp = login(&sim, &http, "wrong-password").await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"data": null, "message": "authentication failure\n"})
    );
    // The realm is appended even to a name that has one (AC API2/AccessControl.pm:275).
    let resp = http
        .post(format!("{base}/access/ticket"))
        .form(&[
            ("username", sim.username()),
            ("password", sim.password()),
            ("realm", "pam"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http
        .post(format!("{base}/access/ticket"))
        .form(&[
            ("username", "root"),
            ("password", sim.password()),
            ("realm", "pam"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

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
    let form = [("vmid", "130"), ("ostemplate", DEBIAN)];
    let r = http
        .post(format!("{base}/nodes/pve1/lxc"))
        .header("Cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(reason_of(&r), "Permission denied - invalid csrf token");
    assert_eq!(
        r.text().await.unwrap(),
        "",
        "auth handler 401s have no body"
    );
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
    // PC Ticket.pm:106 (pve-common 9.1.1): an expired ticket is `permission denied - invalid
    // PVE ticket`, not `authentication failure` as this asserted before.
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(reason_of(&r), "permission denied - invalid PVE ticket");
    assert_eq!(r.text().await.unwrap(), "");
    // A ticket wins over an API token (HS AnyEvent.pm:1576-1594).
    let r = http
        .get(format!("{base}/nodes"))
        .header("Cookie", &cookie)
        .header("Authorization", sim.token().header_value())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // And a ticket in the Authorization header counts as one.
    let r = http
        .get(format!("{base}/nodes"))
        .header("Authorization", format!("PVEAuthCookie={renewed}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
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
    // A failed login waits too (HS AnyEvent.pm:1036-1038: the delay minus the time taken).
    let http = reqwest::Client::new();
    let t = Instant::now();
    assert_eq!(login(&sim, &http, "nope").await.status().as_u16(), 401);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // A good call does not.
    let t = Instant::now();
    assert_eq!(
        login(&sim, &http, sim.password()).await.status().as_u16(),
        200
    );
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn the_default_401_delay_is_pves_three_seconds() {
    let sim = PveSim::start().await.unwrap();
    let api = Api {
        auth: String::new(),
        ..Api::new(&sim)
    };
    let t = Instant::now();
    assert_eq!(api.get("/version").await.status, 401);
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
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
        .auth_failure_delay(Duration::ZERO)
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
                // Every reply is the JSON envelope; only pveproxy's own 501 for a body on
                // a GET is plain text.
                assert!(
                    r.body.get("data").is_some() || r.status == 501,
                    "{path}: {:?}",
                    r.body
                );
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

/// POSTs a raw form body (no encoding by a library) and returns status and JSON body.
async fn raw_form(api: &Api, path: &str, body: &str) -> (u16, Value) {
    let resp = api
        .http
        .post(format!("{}{path}", api.base))
        .header("Authorization", &api.auth)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The promise: a client encoding bug is refused as pveproxy refuses it (HS AnyEvent.pm:889-918,
/// FIDELITY.md defect 8), never silently repaired.
#[tokio::test]
async fn client_encoding_bugs_are_refused_as_pveproxy_refuses_them() {
    let sim = PveSim::builder()
        .task_duration(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let tmpl = DEBIAN.replace(':', "%3A").replace('/', "%2F");

    // A raw `=` inside a value: `split(/=/, $kv)` keeps only `name`, a key-less part of a
    // property string without a default key (PC JSONSchema.pm:1102).
    let (status, body) = raw_form(
        &api,
        "/nodes/pve1/lxc",
        &format!("vmid=100&ostemplate={tmpl}&net0=name=eth0,bridge=vmbr0"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"]["net0"],
        "invalid format - value without key, but schema does not define a default key\n"
    );
    // A raw `;` separates pairs: `tags=a;b` is `tags=a` and an unknown parameter `b`.
    let (status, body) = raw_form(
        &api,
        "/nodes/pve1/lxc",
        &format!("vmid=100&ostemplate={tmpl}&tags=a;b"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["b"],
        "property is not defined in schema and the schema does not allow additional properties"
    );
    // A repeated key is an array.
    let (status, body) = raw_form(
        &api,
        "/nodes/pve1/lxc",
        &format!("vmid=100&ostemplate={tmpl}&hostname=a&hostname=b"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["hostname"],
        "type check ('string') failed - got ARRAY"
    );
    // `true` for a boolean.
    let (_, body) = raw_form(
        &api,
        "/nodes/pve1/lxc",
        &format!("vmid=100&ostemplate={tmpl}&start=true"),
    )
    .await;
    assert_eq!(
        body["errors"]["start"],
        "type check ('boolean') failed - got 'true'"
    );
    // `k=` is undefined: a required parameter is missing.
    let (_, body) = raw_form(&api, "/nodes/pve1/lxc", "vmid=100&ostemplate=").await;
    assert_eq!(
        body["errors"]["ostemplate"],
        "property is missing and it is not optional"
    );
    // A parameter given twice, in the path and the body, with another value (PM HTTPServer.pm:153).
    let (status, body) = raw_form(
        &api,
        "/nodes/pve1/lxc",
        &format!("vmid=100&ostemplate={tmpl}&node=pve2"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["node"],
        "duplicate parameter (already defined in URI) with conflicting values!"
    );
    assert!(sim.guest(100).is_none(), "nothing was created");

    // JSON bodies keep their types (PC JSONSchema.pm:1209-1213 `got $vt`).
    let post_json = |v: Value| {
        let api = &api;
        async move {
            let resp = api
                .http
                .post(format!("{}/nodes/pve1/lxc", api.base))
                .header("Authorization", &api.auth)
                .json(&v)
                .send()
                .await
                .unwrap();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            body
        }
    };
    let body = post_json(json!({"vmid": 100, "ostemplate": DEBIAN, "hostname": ["a"], "description": {"a": 1}, "tags": true})).await;
    assert_eq!(
        body["errors"]["hostname"],
        "type check ('string') failed - got ARRAY"
    );
    assert_eq!(
        body["errors"]["description"],
        "type check ('string') failed - got HASH"
    );
    assert_eq!(
        body["errors"]["tags"],
        "type check ('string') failed - got JSON::PP::Boolean"
    );
    // A JSON boolean for a boolean is fine, and `_dc` (the GUI's cache buster) is dropped
    // (HS AnyEvent.pm:978).
    let body =
        post_json(json!({"vmid": 100, "ostemplate": DEBIAN, "start": false, "_dc": 123})).await;
    assert!(body["data"].is_string(), "{body}");
    let r = api.get_q("/version", &[("_dc", "1700000000")]).await;
    assert_eq!(r.status, 200);
    // A malformed JSON body dies in pveproxy's eval: a plain-text 500.
    let resp = api
        .http
        .post(format!("{}/nodes/pve1/lxc", api.base))
        .header("Authorization", &api.auth)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    assert!(resp.headers().get("content-type").is_none());
}
