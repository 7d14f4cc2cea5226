#!/usr/bin/env bash
# Puts the local Docker engine in swarm mode (single node) if it is not, for the paas-swarm
# tests and benchmarks. Idempotent: an active swarm is left alone.
#
# Advertises on $PAAS_SWARM_ADVERTISE_ADDR (default 127.0.0.1) so it works on a machine without
# a routable interface. Exits non-zero with the engine's own error when swarm mode cannot start.
set -euo pipefail

ADDR=${PAAS_SWARM_ADVERTISE_ADDR:-127.0.0.1}
log() { printf '[ensure-swarm] %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "cannot reach the Docker engine (is dockerd running, and may this user use its socket?)"
  docker info >&2 || true
  exit 1
fi

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
case "$state" in
  active)
    log "swarm mode already active"
    ;;
  inactive)
    log "swarm mode inactive: running 'docker swarm init --advertise-addr $ADDR'"
    docker swarm init --advertise-addr "$ADDR" >&2
    ;;
  *)
    log "swarm node state is '$state'; expected 'active' or 'inactive': fix it by hand"
    exit 1
    ;;
esac

if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != "true" ]; then
  log "this node is not a swarm manager: the tests need a manager node"
  exit 1
fi
log "swarm mode active on a manager node"
