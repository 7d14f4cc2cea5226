#!/usr/bin/env python3
"""Generate paas-proxmox/src/sim/schema.json from the Proxmox VE API schema.

Usage (from the repository root):

    python3 scripts/gen-pve-schema.py [PATH/TO/apidata.json]

The default input is ../shared/pve/apidata.json relative to the repository root: the
Proxmox VE 9.1.3 schema, converted to plain JSON from the `api-viewer/apidata.js` file that
the Proxmox `pve-docs` package ships. Only the operations the simulator implements
(OPERATIONS below) are kept, with descriptions stripped, so that builds never need the full
schema. Properties named like `net[n]` get an `n_max` key: the highest index PVE accepts.
Each operation keeps its `permissions` (`check`, `user`; descriptions stripped) and
`allowtoken`: the simulator evaluates them as pve-access-control's `check_api2_permissions`
does.
"""

import json
import os
import sys

# (method, path) of every operation the simulator implements.
OPERATIONS = [
    ("GET", "/version"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{node}/status"),
    ("GET", "/cluster/resources"),
    ("GET", "/cluster/nextid"),
    ("POST", "/access/ticket"),
    ("GET", "/nodes/{node}/lxc"),
    ("POST", "/nodes/{node}/lxc"),
    ("GET", "/nodes/{node}/lxc/{vmid}"),
    ("DELETE", "/nodes/{node}/lxc/{vmid}"),
    ("GET", "/nodes/{node}/lxc/{vmid}/status/current"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/start"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/stop"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/reboot"),
    ("GET", "/nodes/{node}/lxc/{vmid}/config"),
    ("PUT", "/nodes/{node}/lxc/{vmid}/config"),
    ("GET", "/nodes/{node}/lxc/{vmid}/interfaces"),
    ("GET", "/nodes/{node}/qemu"),
    ("POST", "/nodes/{node}/qemu/{vmid}/clone"),
    ("GET", "/nodes/{node}/qemu/{vmid}"),
    ("DELETE", "/nodes/{node}/qemu/{vmid}"),
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"),
    ("GET", "/nodes/{node}/qemu/{vmid}/config"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"),
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"),
    ("GET", "/nodes/{node}/storage/{storage}/content"),
    ("GET", "/nodes/{node}/tasks/{upid}/status"),
    ("GET", "/nodes/{node}/tasks/{upid}/log"),
    ("GET", "/storage"),
    ("GET", "/nodes/{node}/storage"),
    ("GET", "/nodes/{node}/storage/{storage}/status"),
    ("POST", "/nodes/{node}/lxc/{vmid}/move_volume"),
    ("PUT", "/nodes/{node}/lxc/{vmid}/resize"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot"),
    ("POST", "/nodes/{node}/qemu/{vmid}/config"),
    ("GET", "/nodes/{node}/tasks"),
    ("DELETE", "/nodes/{node}/tasks/{upid}"),
    ("GET", "/cluster/tasks"),
    # Backups and restore.
    ("POST", "/nodes/{node}/vzdump"),
    ("GET", "/nodes/{node}/storage/{storage}/content/{volume}"),
    ("PUT", "/nodes/{node}/storage/{storage}/content/{volume}"),
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"),
    ("GET", "/nodes/{node}/storage/{storage}/prunebackups"),
    ("DELETE", "/nodes/{node}/storage/{storage}/prunebackups"),
    ("POST", "/nodes/{node}/qemu"),
    # Snapshots.
    ("GET", "/nodes/{node}/lxc/{vmid}/snapshot"),
    ("POST", "/nodes/{node}/lxc/{vmid}/snapshot"),
    ("GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}"),
    ("DELETE", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}"),
    ("POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback"),
    ("GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config"),
    ("PUT", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config"),
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot"),
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot"),
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"),
    ("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"),
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback"),
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config"),
    # Pools.
    ("GET", "/pools"),
    ("POST", "/pools"),
    ("PUT", "/pools"),
    ("DELETE", "/pools"),
    ("GET", "/pools/{poolid}"),
    ("PUT", "/pools/{poolid}"),
    ("DELETE", "/pools/{poolid}"),
    # Users, API tokens, ACLs, roles, permissions.
    ("GET", "/access/users"),
    ("POST", "/access/users"),
    ("GET", "/access/users/{userid}"),
    ("PUT", "/access/users/{userid}"),
    ("DELETE", "/access/users/{userid}"),
    ("GET", "/access/users/{userid}/token"),
    ("GET", "/access/users/{userid}/token/{tokenid}"),
    ("POST", "/access/users/{userid}/token/{tokenid}"),
    ("PUT", "/access/users/{userid}/token/{tokenid}"),
    ("DELETE", "/access/users/{userid}/token/{tokenid}"),
    ("GET", "/access/acl"),
    ("PUT", "/access/acl"),
    ("GET", "/access/roles"),
    ("GET", "/access/roles/{roleid}"),
    ("GET", "/access/permissions"),
]

# Highest index of the `name[n]` properties (pve-container and qemu-server limits).
N_MAX = {
    "net": 31, "mp": 255, "unused": 255, "dev": 255, "scsi": 30, "virtio": 15, "sata": 5,
    "ide": 3, "ipconfig": 31, "hostpci": 15, "serial": 3, "parallel": 2, "usb": 4, "numa": 7,
    "virtiofs": 9,
}

KEEP = {
    "type", "optional", "format", "enum", "minimum", "maximum", "maxLength", "minLength",
    "pattern", "default", "default_key", "alias", "requires",
}


def strip(prop):
    out = {}
    for key, value in prop.items():
        if key not in KEEP:
            continue
        if key == "format" and isinstance(value, dict):
            value = {k: strip(v) for k, v in value.items()}
        out[key] = value
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if len(sys.argv) > 1:
        src = sys.argv[1]
    else:
        # ../shared/pve/apidata.json from the repository root; from a git worktree nested
        # deeper, the nearest ancestor holding shared/pve/apidata.json.
        src = os.path.join(root, "..", "shared", "pve", "apidata.json")
        up = root
        while not os.path.exists(src) and os.path.dirname(up) != up:
            up = os.path.dirname(up)
            src = os.path.join(up, "shared", "pve", "apidata.json")
    with open(src) as f:
        tree = json.load(f)
    index = {}

    def walk(node):
        index[node["path"]] = node
        for child in node.get("children") or []:
            walk(child)

    for node in tree:
        walk(node)

    ops = []
    for method, path in OPERATIONS:
        node = index.get(path)
        if node is None or method not in (node.get("info") or {}):
            sys.exit(f"operation {method} {path} is not in {src}")
        info = node["info"][method]
        params = info.get("parameters") or {}
        props = {}
        for name, prop in (params.get("properties") or {}).items():
            p = strip(prop)
            if name.endswith("[n]"):
                base = name[:-3]
                if base not in N_MAX:
                    sys.exit(f"no index limit known for {name} in {method} {path}")
                p["n_max"] = N_MAX[base]
            props[name] = p
        perms = {k: v for k, v in (info.get("permissions") or {}).items() if k != "description"}
        ops.append({
            "method": method,
            "path": path,
            "permissions": perms,
            "allowtoken": info.get("allowtoken", 1),
            "parameters": {
                "additionalProperties": params.get("additionalProperties", 1),
                "properties": dict(sorted(props.items())),
            },
        })

    out = {
        "source": "Subset of the Proxmox VE 9.1.3 API schema (api-viewer/apidata.js from the "
                  "pve-docs package, converted to JSON as shared/pve/apidata.json): only the "
                  "operations the simulator implements, descriptions stripped. Regenerate with "
                  "`python3 scripts/gen-pve-schema.py ../shared/pve/apidata.json` from the "
                  "repository root; edit OPERATIONS in that script to add operations.",
        "operations": ops,
    }
    dst = os.path.join(root, "paas-proxmox", "src", "sim", "schema.json")
    with open(dst, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {len(ops)} operations to {dst}")


if __name__ == "__main__":
    main()
