"""Shared fixtures of the proxmoxer tests: one `pve-sim` process per module, and a proxmoxer
client for it over HTTPS with token auth.

`pve-sim` comes from $PVE_SIM_BIN (default target/debug/pve-sim relative to the repository
root). It prints `key=value` lines and then `ready`.
"""

import os
import subprocess
import sys
import time

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

sys.path.insert(0, os.path.dirname(__file__))

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"


def start_sim(*args):
    binary = os.environ.get("PVE_SIM_BIN", os.path.join(REPO, "target", "debug", "pve-sim"))
    if not os.path.isabs(binary):
        binary = os.path.join(REPO, binary)
    # PVE delays every 401 by 3 s; these tests keep it short.
    proc = subprocess.Popen(
        [binary, "--seed", "1", "--auth-delay-ms", "20", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    info = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"pve-sim exited: {proc.stderr.read()}")
        line = line.strip()
        if line == "ready":
            return proc, info
        key, _, value = line.partition("=")
        info[key] = value
    proc.kill()
    raise RuntimeError("pve-sim did not become ready")


def stop_sim(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def client(info):
    hostport = info["https_url"].removeprefix("https://")
    host, port = hostport.rsplit(":", 1)
    return ProxmoxAPI(
        host,
        port=int(port),
        user=info["user"],
        token_name=info["token_id"],
        token_value=info["token_secret"],
        verify_ssl=False,
        service="PVE",
    )


@pytest.fixture(scope="module")
def sim():
    proc, info = start_sim("--task-ms", "100")
    yield info
    stop_sim(proc)


@pytest.fixture(scope="module")
def prox(sim):
    return client(sim)


def wait(prox, upid, timeout=30):
    status = Tasks.blocking_status(prox, upid, timeout=timeout, polling_interval=0.05)
    assert status is not None, f"task {upid} did not finish"
    assert status["status"] == "stopped"
    return status
