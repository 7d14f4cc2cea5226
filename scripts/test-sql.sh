#!/usr/bin/env bash
# Runs the SQL store tests (SQLite and PostgreSQL) against a real PostgreSQL: starts one with
# scripts/ensure-postgres.sh (installing it from Debian's packages if missing) unless
# PAAS_TEST_DATABASE_URL is already set. Extra arguments go to the test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PAAS_TEST_DATABASE_URL:-}" ]; then
  line=$(scripts/ensure-postgres.sh | tail -n 1)
  export "${line?}"
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo test -p paas-core --features sqlite,postgres,testkit \
  --test sql_store --test sql_concurrency -- --test-threads=2 "$@"
