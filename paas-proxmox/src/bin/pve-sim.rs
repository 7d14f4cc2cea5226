//! `pve-sim`: runs a Proxmox VE simulator until interrupted and prints how to reach it.
//!
//! ```text
//! pve-sim [--nodes N] [--seed S] [--http-port P] [--https-port P] [--task-ms MS]
//!         [--fault-rate R] [--ip-delay-ms MS] [--auth-delay-ms MS]
//! ```
//!
//! It prints `key=value` lines (`http_url`, `https_url`, `fingerprint`, `token_id`,
//! `token_secret`, `authorization`, `username`, `password`) and then `ready`. Every 401 waits
//! 3 s, as on PVE, unless `--auth-delay-ms` says otherwise.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use paas_proxmox::sim::{Faults, PveSim};

const USAGE: &str = "usage: pve-sim [--nodes N] [--seed S] [--http-port P] [--https-port P] \
[--task-ms MS] [--fault-rate R] [--ip-delay-ms MS] [--auth-delay-ms MS]";

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
    v.parse()
        .map_err(|_| format!("{flag}: invalid value '{v}'\n{USAGE}"))
}

async fn run() -> Result<(), String> {
    let mut builder = PveSim::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--nodes" => builder = builder.nodes(parse("--nodes", args.next())?),
            "--seed" => builder = builder.seed(parse("--seed", args.next())?),
            "--http-port" => builder = builder.http_port(parse("--http-port", args.next())?),
            "--https-port" => builder = builder.https_port(parse("--https-port", args.next())?),
            "--task-ms" => {
                builder =
                    builder.task_duration(Duration::from_millis(parse("--task-ms", args.next())?))
            }
            "--ip-delay-ms" => {
                builder =
                    builder.ip_delay(Duration::from_millis(parse("--ip-delay-ms", args.next())?))
            }
            "--auth-delay-ms" => {
                builder = builder.auth_failure_delay(Duration::from_millis(parse(
                    "--auth-delay-ms",
                    args.next(),
                )?))
            }
            "--fault-rate" => {
                let rate: f64 = parse("--fault-rate", args.next())?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("--fault-rate must be within 0..=1\n{USAGE}"));
                }
                builder = builder.faults(Faults {
                    error_rate: rate,
                    timeout_rate: rate / 2.0,
                    lock_timeout_rate: rate / 2.0,
                    task_failure_rate: rate,
                    ..Faults::default()
                });
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let sim = builder.start().await.map_err(|e| e.to_string())?;
    let token = sim.token();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "http_url={}", sim.http_url());
    let _ = writeln!(out, "https_url={}", sim.https_url());
    let _ = writeln!(out, "api_url={}/api2/json", sim.https_url());
    let _ = writeln!(out, "fingerprint={}", sim.fingerprint());
    let _ = writeln!(out, "user={}", token.user);
    let _ = writeln!(out, "token_id={}", token.token_id);
    let _ = writeln!(out, "token_secret={}", token.secret);
    let _ = writeln!(out, "authorization={}", token.header_value());
    let _ = writeln!(out, "username={}", sim.username());
    let _ = writeln!(out, "password={}", sim.password());
    let _ = writeln!(out, "nodes={}", sim.nodes().join(","));
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pve-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pve-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
