#!/usr/bin/env bash
# Runs every proxmoxer compatibility test (test_*.py beside this script) against the pve-sim
# binary, over HTTPS with token auth.
# Usage (from anywhere): paas-proxmox/tests/proxmoxer/run.sh [pytest args...]
# Env: PVE_SIM_BIN (default: $CARGO_TARGET_DIR/debug/pve-sim or target/debug/pve-sim),
#      PYTHON (default: python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
py="${PYTHON:-python3}"

if ! "$py" -c "import proxmoxer, requests, pytest" 2>/dev/null; then
    "$py" -m pip install --quiet proxmoxer requests pytest
fi

cd "$repo"
cargo build -p paas-proxmox --features sim --bin pve-sim
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export PVE_SIM_BIN="${PVE_SIM_BIN:-$target_dir/debug/pve-sim}"
exec "$py" -m pytest -q -p no:cacheprovider "$here"/test_*.py "$@"
