"""Task history through proxmoxer: listing a node's tasks with PVE's filters, a task's log,
cancelling a running task, and the cluster-wide list (PM API2/Tasks.pm, API2/Cluster.pm).
"""

import pytest
from proxmoxer import ResourceException

from conftest import TEMPLATE, client, start_sim, stop_sim, wait

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="module")
def slow():
    """A second simulator whose tasks run 30 s, so that they can be seen running and stopped."""
    proc, info = start_sim("--task-ms", "30000")
    yield client(info)
    stop_sim(proc)


def test_listing_with_filters_and_a_log(prox):
    node = prox.nodes("pve1")
    created = node.lxc.post(vmid=150, ostemplate=TEMPLATE, hostname="tasks-ct")
    assert wait(prox, created)["exitstatus"] == "OK"
    started = node.lxc(150).status.start.post()
    assert wait(prox, started)["exitstatus"] == "OK"
    failed = node.lxc(151).status.start.post()  # no such CT: the task fails
    assert wait(prox, failed)["exitstatus"] == "Configuration file 'nodes/pve1/lxc/151.conf' does not exist"

    everything = node.tasks.get(vmid=150)
    assert [t["upid"] for t in everything] == [started, created]  # newest first
    entry = everything[1]
    assert entry["type"] == "vzcreate" and entry["status"] == "OK"
    assert entry["user"] == "root@pam" and entry["tokenid"] == "paas"
    assert entry["endtime"] >= entry["starttime"]

    assert [t["upid"] for t in node.tasks.get(typefilter="vzcreate", vmid=150)] == [created]
    assert [t["upid"] for t in node.tasks.get(statusfilter="error")] == [failed]
    assert [t["upid"] for t in node.tasks.get(errors=1)] == [failed]
    assert len(node.tasks.get(limit=1)) == 1
    assert node.tasks.get(since=entry["starttime"] + 3600) == []

    log = node.tasks(created).log.get(start=0, limit=500)
    assert log[0]["n"] == 1
    assert log[-1]["t"] == "TASK OK"
    assert node.tasks(failed).log.get()[-1]["t"].startswith("TASK ERROR: ")

    with pytest.raises(ResourceException) as err:
        node.tasks.get(source="nope")
    assert err.value.status_code == 400
    assert "enumeration" in err.value.errors["source"]


def test_cancelling_a_running_task(slow):
    node = slow.nodes("pve2")
    upid = node.lxc.post(vmid=160, ostemplate=TEMPLATE)
    # A running task is only in the active list, as RUNNING.
    assert node.tasks.get(vmid=160) == []
    active = node.tasks.get(vmid=160, source="active")
    assert [t["upid"] for t in active] == [upid]
    assert active[0]["status"] == "RUNNING"
    assert node.tasks(upid).status.get()["status"] == "running"
    assert any(t["upid"] == upid for t in slow.cluster.tasks.get())

    assert node.tasks(upid).delete() is None
    status = wait(slow, upid, timeout=10)
    assert status["exitstatus"] == "unable to create CT 160 - received interrupt"
    assert node.tasks(upid).log.get()[-1]["t"] == (
        "TASK ERROR: unable to create CT 160 - received interrupt"
    )
    # The interrupted create removed its config.
    with pytest.raises(ResourceException):
        node.lxc(160).status.current.get()
    archived = node.tasks.get(vmid=160)
    assert [t["status"] for t in archived] == ["unable to create CT 160 - received interrupt"]

    with pytest.raises(ResourceException) as err:
        node.tasks("UPID:pve2:00001234:00001234:6745A1B2:vzstart:1:root@pam:").delete()
    assert err.value.errors["upid"] == "no such task"
