"""The PVE simulator against a third-party client: proxmoxer (https backend, token auth).

Starts the `pve-sim` binary (path from $PVE_SIM_BIN, default target/debug/pve-sim relative to
the repository root), parses the `key=value` lines it prints, and drives an LXC container
through create, start, stop and delete, waiting on every task with proxmoxer's own
`Tasks.blocking_status`.
"""

import os
import subprocess
import time

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# The simulator's certificate is self-signed, as PVE's is by default: verify_ssl=False.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"


@pytest.fixture(scope="module")
def sim():
    binary = os.environ.get("PVE_SIM_BIN", os.path.join(REPO, "target", "debug", "pve-sim"))
    if not os.path.isabs(binary):
        binary = os.path.join(REPO, binary)
    proc = subprocess.Popen(
        [binary, "--task-ms", "100", "--seed", "1"],
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
            break
        key, _, value = line.partition("=")
        info[key] = value
    else:
        proc.kill()
        raise RuntimeError("pve-sim did not become ready")
    yield info
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def prox(sim):
    hostport = sim["https_url"].removeprefix("https://")
    host, port = hostport.rsplit(":", 1)
    return ProxmoxAPI(
        host,
        port=int(port),
        user=sim["user"],
        token_name=sim["token_id"],
        token_value=sim["token_secret"],
        verify_ssl=False,
        service="PVE",
    )


def wait(prox, upid):
    status = Tasks.blocking_status(prox, upid, timeout=30, polling_interval=0.05)
    assert status is not None, f"task {upid} did not finish"
    assert status["status"] == "stopped"
    return status


def test_version_and_nodes(prox, sim):
    assert prox.version.get()["version"] == "9.1.3"
    nodes = prox.nodes.get()
    assert [n["node"] for n in nodes] == ["pve1", "pve2", "pve3"]
    assert all(n["ssl_fingerprint"] == sim["fingerprint"] for n in nodes)


def test_lxc_lifecycle(prox):
    vmid = int(prox.cluster.nextid.get())
    node = prox.nodes("pve2")
    upid = node.lxc.post(
        vmid=vmid,
        ostemplate=TEMPLATE,
        storage="local-lvm",
        hostname="proxmoxer-ct",
        memory=512,
        net0="name=eth0,bridge=vmbr0,ip=dhcp",
        tags="paas;proxmoxer",
    )
    decoded = Tasks.decode_upid(upid)
    assert decoded["node"] == "pve2"
    assert decoded["type"] == "vzcreate"
    assert decoded["id"] == str(vmid)
    assert wait(prox, upid)["exitstatus"] == "OK"
    log = node.tasks(upid).log.get(start=0, limit=50)
    assert Tasks.decode_log(log).splitlines()[-1] == "TASK OK"

    assert node.lxc(vmid).status.current.get()["status"] == "stopped"
    assert node.lxc(vmid).config.get()["hostname"] == "proxmoxer-ct"

    assert wait(prox, node.lxc(vmid).status.start.post())["exitstatus"] == "OK"
    assert node.lxc(vmid).status.current.get()["status"] == "running"

    with pytest.raises(ResourceException) as err:
        node.lxc(vmid).delete()
    assert err.value.status_code == 500
    assert "container is running" in str(err.value)

    assert wait(prox, node.lxc(vmid).status.stop.post())["exitstatus"] == "OK"
    assert node.lxc(vmid).status.current.get()["status"] == "stopped"

    assert wait(prox, node.lxc(vmid).delete())["exitstatus"] == "OK"
    with pytest.raises(ResourceException) as err:
        node.lxc(vmid).status.current.get()
    assert err.value.status_code == 500
    assert f"Configuration file 'nodes/pve2/lxc/{vmid}.conf' does not exist" in str(err.value)


def test_validation_errors_reach_proxmoxer(prox):
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc.post(vmid=99, start="true")
    assert err.value.status_code == 400
    assert err.value.errors["vmid"] == "value must have a minimum value of 100"
    assert err.value.errors["start"] == "type check ('boolean') failed - got 'true'"
    assert err.value.errors["ostemplate"] == "property is missing and it is not optional"
