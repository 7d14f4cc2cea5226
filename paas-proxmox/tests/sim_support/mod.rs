//! A tiny PVE client over reqwest, shared by the simulator's tests.
#![allow(dead_code)]

use std::time::Duration;

use paas_proxmox::sim::PveSim;
use serde_json::Value;

/// A client for one simulator.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: String,
}

/// A reply: status code, reason phrase and JSON body (`Null` when the body is empty or not
/// JSON, as for pveproxy's own 401/501/596 replies).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub body: Value,
}

impl Resp {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    pub fn error(&self, param: &str) -> &str {
        self.body["errors"][param].as_str().unwrap_or_default()
    }
}

impl Api {
    /// Token-authenticated client over plain HTTP.
    pub fn new(sim: &PveSim) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: format!("{}/api2/json", sim.http_url()),
            auth: sim.token().header_value(),
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Resp {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("Authorization", &self.auth);
        if !form.is_empty() {
            if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
                req = req.query(form);
            } else {
                req = req.form(form);
            }
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let reason = reason_of(&resp);
        let body = resp.json().await.unwrap_or(Value::Null);
        Resp {
            status,
            reason,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, &[]).await
    }

    pub async fn get_q(&self, path: &str, q: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::GET, path, q).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::POST, path, form).await
    }

    pub async fn put(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(reqwest::Method::PUT, path, form).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, &[]).await
    }

    /// Polls a task until it stops; returns its status object.
    pub async fn wait(&self, upid: &str) -> Value {
        let node = upid.split(':').nth(1).expect("node in upid").to_string();
        for _ in 0..500 {
            let r = self
                .get(&format!("/nodes/{node}/tasks/{upid}/status"))
                .await;
            assert_eq!(r.status, 200, "task status: {:?}", r.body);
            if r.data()["status"] == "stopped" {
                return r.data().clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {upid} did not stop");
    }

    /// Runs a task-returning call and waits for it; asserts it ended OK.
    pub async fn run_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> String {
        let r = self.send(method, path, form).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        let upid = r.data().as_str().expect("upid").to_string();
        let st = self.wait(&upid).await;
        assert_eq!(st["exitstatus"], "OK", "{path}: {st}");
        upid
    }
}

/// The reason phrase of a response (PVE puts the error's first line there).
pub fn reason_of(resp: &reqwest::Response) -> String {
    resp.extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .and_then(|r| std::str::from_utf8(r.as_bytes()).ok().map(str::to_owned))
        .unwrap_or_default()
}

/// A simulator with PVE's defaults except a short 401 delay (PVE waits 3 s).
pub async fn quick_sim() -> PveSim {
    PveSim::builder()
        .auth_failure_delay(Duration::from_millis(20))
        .start()
        .await
        .expect("start the simulator")
}

/// The Debian template every simulated node has.
pub const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
