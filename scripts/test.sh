#!/usr/bin/env bash
# The whole test suite, on a fresh machine: this is the README's test command and all .ci/run does.
#
# It installs and starts what the tests need when it is missing: PostgreSQL (Debian's packages),
# swarm mode on the local Docker engine plus the test images (built here, no registry), and the
# Python tools (maturin, pytest, proxmoxer from PyPI) in a virtualenv under target/.
# With CI=true nothing is skipped: a test that needs Postgres or Docker fails when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "PostgreSQL"
url_line=$(scripts/ensure-postgres.sh | tail -n 1)
export "${url_line?}"
echo "$url_line"

step "Docker swarm mode and test images"
scripts/ensure-swarm.sh
scripts/build-test-images.sh

step "Python tools"
PYENV=target/pyenv
[ -x "$PYENV/bin/python" ] || python3 -m venv "$PYENV"
"$PYENV/bin/python" -m pip install -q --disable-pip-version-check maturin pytest proxmoxer requests

step "Rust tests (cargo nextest, every crate, every feature)"
cargo nextest run --workspace --all-features --no-fail-fast

step "Rust doc tests"
cargo test --workspace --all-features --doc --quiet

step "proxmoxer against the PVE simulator"
PATH="$PWD/$PYENV/bin:$PATH" paas-proxmox/tests/proxmoxer/run.sh

step "Python bindings"
(
  cd paas-py
  VIRTUAL_ENV="$PWD/../$PYENV" PATH="$PWD/../$PYENV/bin:$PATH" maturin develop --quiet
  "../$PYENV/bin/python" -m pytest -q tests
)

step "all green in $(( $(date +%s) - started ))s"
