"""The PVE simulator's snapshots, backups, pools and permissions against proxmoxer (https
backend, token auth): a third-party client must see what it would see on Proxmox VE.

Starts its own `pve-sim` (conftest.py's `start_sim`) and waits on every task with proxmoxer's
`Tasks.blocking_status`.
"""

import pytest
from conftest import TEMPLATE, client, start_sim, stop_sim
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

NODE = "pve1"


@pytest.fixture(scope="module")
def sim():
    proc, info = start_sim("--task-ms", "50")
    yield info
    stop_sim(proc)


@pytest.fixture(scope="module")
def prox(sim):
    return client(sim)


def connect(sim, user, token_name, token_value):
    host, port = sim["https_url"].removeprefix("https://").rsplit(":", 1)
    return ProxmoxAPI(
        host,
        port=int(port),
        user=user,
        token_name=token_name,
        token_value=token_value,
        verify_ssl=False,
        service="PVE",
    )


def wait(prox, upid):
    status = Tasks.blocking_status(prox, upid, timeout=30, polling_interval=0.02)
    assert status is not None, f"task {upid} did not finish"
    assert status["status"] == "stopped"
    return status


def ok(prox, upid):
    status = wait(prox, upid)
    assert status["exitstatus"] == "OK", status
    return upid


def new_ct(prox, **extra):
    vmid = int(prox.cluster.nextid.get())
    ok(
        prox,
        prox.nodes(NODE).lxc.post(
            vmid=vmid,
            ostemplate=TEMPLATE,
            hostname=f"ct{vmid}",
            memory=256,
            rootfs="local-lvm:2",
            net0="name=eth0,bridge=vmbr0,ip=dhcp",
            **extra,
        ),
    )
    return vmid


def test_snapshots_create_list_rollback_delete(prox):
    node = prox.nodes(NODE)
    vmid = new_ct(prox)
    ct = node.lxc(vmid)
    upid = ct.snapshot.post(snapname="before", description="pre-upgrade")
    assert Tasks.decode_upid(upid)["type"] == "vzsnapshot"
    ok(prox, upid)
    ct.config.put(memory=1024)
    snaps = {s["name"]: s for s in ct.snapshot.get()}
    assert set(snaps) == {"before", "current"}
    assert snaps["before"]["description"] == "pre-upgrade"
    assert snaps["current"]["parent"] == "before"
    assert ct.snapshot("before").config.get()["memory"] == 256

    with pytest.raises(ResourceException) as err:
        ct.snapshot.post(snapname="current")
    assert err.value.status_code == 500
    assert "unable to use snapshot name 'current' (reserved name)" in str(err.value)
    dup = wait(prox, ct.snapshot.post(snapname="before"))
    assert dup["exitstatus"] == "snapshot name 'before' already used"

    upid = ct.snapshot("before").rollback.post()
    assert Tasks.decode_upid(upid)["type"] == "vzrollback"
    ok(prox, upid)
    assert ct.config.get()["memory"] == 256

    ok(prox, ct.snapshot("before").delete())
    assert [s["name"] for s in ct.snapshot.get()] == ["current"]
    gone = wait(prox, ct.snapshot("before").delete())
    assert gone["exitstatus"] == "snapshot 'before' does not exist"


def test_backup_and_restore_a_container_and_a_vm(prox):
    node = prox.nodes(NODE)
    vmid = new_ct(prox, tags="backed-up")
    upid = node.vzdump.post(vmid=vmid, storage="local", compress="zstd", mode="snapshot")
    decoded = Tasks.decode_upid(upid)
    assert (decoded["type"], decoded["id"]) == ("vzdump", str(vmid))
    ok(prox, upid)
    backups = node.storage("local").content.get(content="backup", vmid=vmid)
    assert len(backups) == 1
    backup = backups[0]
    assert backup["volid"].startswith(f"local:backup/vzdump-lxc-{vmid}-")
    assert backup["format"] == "tar.zst"
    assert backup["subtype"] == "lxc"

    # Into a new container.
    new_id = int(prox.cluster.nextid.get())
    upid = node.lxc.post(vmid=new_id, ostemplate=backup["volid"], restore=1, storage="local-lvm")
    assert Tasks.decode_upid(upid)["type"] == "vzrestore"
    ok(prox, upid)
    cfg = node.lxc(new_id).config.get()
    assert cfg["hostname"] == f"ct{vmid}"
    assert cfg["tags"] == "backed-up"
    assert cfg["rootfs"] == f"local-lvm:vm-{new_id}-disk-0,size=2G"

    # Never over an existing one without force.
    with pytest.raises(ResourceException) as err:
        node.lxc.post(vmid=vmid, ostemplate=backup["volid"], restore=1, storage="local-lvm")
    assert err.value.status_code == 500
    assert f"CT {vmid} already exists on node '{NODE}'" in str(err.value)
    ok(prox, node.lxc.post(vmid=vmid, ostemplate=backup["volid"], restore=1, storage="local-lvm", force=1))

    # A VM: back up a clone of the template, restore it under another VMID.
    vm = int(prox.cluster.nextid.get())
    ok(prox, node.qemu(9000).clone.post(newid=vm, name="to-back-up", full=1))
    ok(prox, node.vzdump.post(vmid=vm, storage="local", compress="zstd"))
    archive = node.storage("local").content.get(content="backup", vmid=vm)[0]["volid"]
    assert archive.endswith(".vma.zst")
    restored = int(prox.cluster.nextid.get())
    upid = node.qemu.post(vmid=restored, archive=archive, unique=1)
    assert Tasks.decode_upid(upid)["type"] == "qmrestore"
    ok(prox, upid)
    assert node.qemu(restored).config.get()["name"] == "to-back-up"

    # Removing a backup.
    upid = node.storage("local").content(archive).delete()
    assert Tasks.decode_upid(upid)["type"] == "imgdel"
    ok(prox, upid)
    assert node.storage("local").content.get(content="backup", vmid=vm) == []

    # A storage without backup content fails the job as vzdump does.
    bad = wait(prox, node.vzdump.post(vmid=vmid, storage="local-lvm"))
    assert bad["exitstatus"] == (
        "could not get storage information for 'local-lvm': "
        "can't use storage 'local-lvm' for backups - wrong content type"
    )


def test_pools_hold_guests_and_show_in_cluster_resources(prox):
    prox.pools.post(poolid="proxmoxer", comment="from proxmoxer")
    vmid = new_ct(prox, pool="proxmoxer")
    entry = [r for r in prox.cluster.resources.get(type="vm") if r["vmid"] == vmid][0]
    assert entry["pool"] == "proxmoxer"
    assert "pool" not in prox.nodes(NODE).lxc(vmid).config.get()
    members = prox.pools.get(poolid="proxmoxer")[0]["members"]
    assert [m["id"] for m in members] == [f"lxc/{vmid}"]

    with pytest.raises(ResourceException) as err:
        prox.pools.delete(poolid="proxmoxer")
    assert f"pool 'proxmoxer' is not empty (contains VM {vmid})" in str(err.value)
    with pytest.raises(ResourceException) as err:
        new_ct(prox, pool="no-such-pool")
    assert err.value.status_code == 403
    assert "Permission check failed (pool 'no-such-pool' does not exist)" in str(err.value)

    ok(prox, prox.nodes(NODE).lxc(vmid).delete())
    prox.pools.delete(poolid="proxmoxer")
    assert all(p["poolid"] != "proxmoxer" for p in prox.pools.get())


def test_a_privilege_separated_token_gets_403_until_granted(prox, sim):
    vmid = new_ct(prox)
    prox.access.users.post(userid="tenant@pve", comment="proxmoxer tenant")
    made = prox.access.users("tenant@pve").token("ci").post()
    assert made["full-tokenid"] == "tenant@pve!ci"
    assert made["info"]["privsep"] == 1
    tenant = connect(sim, "tenant@pve", "ci", made["value"])
    ct = tenant.nodes(NODE).lxc(vmid)

    with pytest.raises(ResourceException) as err:
        ct.status.current.get()
    assert err.value.status_code == 403
    assert f"Permission check failed (/vms/{vmid}, VM.Audit)" in str(err.value)

    # The user's right alone does not reach its privilege-separated token...
    prox.access.acl.put(path=f"/vms/{vmid}", roles="PVEVMUser", users="tenant@pve")
    with pytest.raises(ResourceException) as err:
        ct.status.current.get()
    assert err.value.status_code == 403
    # ... the token's own ACL does.
    prox.access.acl.put(path=f"/vms/{vmid}", roles="PVEVMUser", tokens="tenant@pve!ci")
    assert ct.status.current.get()["status"] == "stopped"
    ok(tenant, ct.status.start.post())
    # PVEVMUser has no VM.Allocate.
    with pytest.raises(ResourceException) as err:
        ct.delete()
    assert err.value.status_code == 403
    assert f"Permission check failed (/vms/{vmid}, VM.Allocate)" in str(err.value)
    # Listings show only what the token may audit.
    assert [r["vmid"] for r in tenant.cluster.resources.get(type="vm")] == [vmid]
