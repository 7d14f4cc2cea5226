"""Storages, container mount points, move_volume and resize through proxmoxer (https, token),
on the `sim` and `prox` fixtures of conftest.py, waiting on every task with proxmoxer's own
`Tasks.blocking_status`.
"""

import pytest
from conftest import TEMPLATE, wait
from proxmoxer import ResourceException
from proxmoxer.tools import Tasks

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

GIB = 1 << 30


def ct(prox, vmid, **extra):
    upid = prox.nodes("pve1").lxc.post(
        vmid=vmid, ostemplate=TEMPLATE, rootfs="local-lvm:4", **extra
    )
    assert wait(prox, upid)["exitstatus"] == "OK"


def test_storage_listing_and_status(prox):
    storages = {s["storage"]: s for s in prox.storage.get()}
    assert storages["local"]["content"] == "iso,vztmpl,backup,import"
    assert storages["local-lvm"]["type"] == "lvmthin"
    for_cts = prox.nodes("pve1").storage.get(content="rootdir", enabled=1)
    assert [s["storage"] for s in for_cts] == ["local-lvm"]
    status = prox.nodes("pve1").storage("local-lvm").status.get()
    assert status["total"] == status["used"] + status["avail"]
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").storage("nope").status.get()
    assert err.value.status_code == 400
    assert err.value.errors["storage"] == "No such storage."


def test_a_container_on_local_is_refused(prox):
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc.post(vmid=150, ostemplate=TEMPLATE)
    assert err.value.status_code == 400
    assert err.value.errors["storage"] == "storage 'local' does not support container directories"


def test_mp0_on_create_resize_and_move_to_another_container(prox):
    node = prox.nodes("pve1")
    used = node.storage("local-lvm").status.get()["used"]
    ct(prox, 200, mp0="local-lvm:2,mp=/srv/data,backup=1", env="MODE=prod\0TOKEN=x=y")
    ct(prox, 201)
    cfg = node.lxc(200).config.get()
    assert cfg["mp0"] == "local-lvm:vm-200-disk-1,mp=/srv/data,backup=1,size=2G"
    assert cfg["env"] == "MODE=prod\0TOKEN=x=y"
    assert node.storage("local-lvm").status.get()["used"] == used + 10 * GIB

    upid = node.lxc(200).resize.put(disk="mp0", size="+1G")
    assert Tasks.decode_upid(upid)["type"] == "resize"
    assert wait(prox, upid)["exitstatus"] == "OK"
    assert node.lxc(200).config.get()["mp0"].endswith(",size=3G")
    with pytest.raises(ResourceException) as err:
        node.lxc(200).resize.put(disk="mp0", size="1G")
    assert "unable to shrink disk size" in str(err.value)

    upid = node.lxc(200).move_volume.post(**{"volume": "mp0", "target-vmid": 201})
    decoded = Tasks.decode_upid(upid)
    assert decoded["type"] == "move_volume"
    assert decoded["id"] == "200-mp0>201-mp0"
    assert wait(prox, upid)["exitstatus"] == "OK"
    assert "mp0" not in node.lxc(200).config.get()
    assert node.lxc(201).config.get()["mp0"] == "local-lvm:vm-201-disk-1,mp=/srv/data,backup=1,size=3G"
    # Nothing left to move: PVE's text.
    with pytest.raises(ResourceException) as err:
        node.lxc(200).move_volume.post(**{"volume": "mp0", "target-vmid": 201})
    assert "volume 'mp0' for container '200' does not exist" in str(err.value)
    # A move allocates nothing.
    assert node.storage("local-lvm").status.get()["used"] == used + 11 * GIB
