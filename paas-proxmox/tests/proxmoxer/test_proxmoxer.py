"""The PVE simulator against a third-party client: proxmoxer (https backend, token auth).

Drives an LXC container through create, start, stop and delete, waiting on every task with
proxmoxer's own `Tasks.blocking_status`. The `sim` and `prox` fixtures are in conftest.py.
"""

import pytest
from proxmoxer import ResourceException
from proxmoxer.tools import Tasks

from conftest import TEMPLATE, wait

# The simulator's certificate is self-signed, as PVE's is by default: verify_ssl=False.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


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
    # The vmid format is checked before its minimum (PC JSONSchema.pm:1466-1505).
    assert err.value.errors["vmid"] == "invalid format - value does not look like a valid VM ID\n"
    assert err.value.errors["start"] == "type check ('boolean') failed - got 'true'"
    assert err.value.errors["ostemplate"] == "property is missing and it is not optional"
