#!/usr/bin/env bash
# Builds the images the paas-swarm tests and benchmarks deploy, without any registry.
#
# Each image is a scratch rootfs holding Debian's statically linked busybox (package
# busybox-static, installed when missing) and the files of docker/web/. The entrypoint
# (docker/web/start.sh) prints "paas-test web <version> starting" and then runs
# `busybox httpd -f -p 8080`; /www/index.html names the version and /www/healthz exists, so
# `wget -q -O- http://127.0.0.1:8080/healthz` is a working health check.
#
#   paas-test/web:1, paas-test/web:2   the web app, versions 1 and 2
#
# Idempotent: an image whose content label matches the inputs is not rebuilt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CTX="$ROOT/docker/web"
log() { printf '[build-test-images] %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "cannot reach the Docker engine"
  exit 1
fi

BUSYBOX=/bin/busybox
if ! [ -x "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  if ! dpkg -s busybox-static >/dev/null 2>&1; then
    log "installing busybox-static from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq busybox-static >&2
  fi
fi
if ! [ -x "$BUSYBOX" ]; then
  log "busybox-static is installed but $BUSYBOX is missing"
  exit 1
fi

# The content hash of the inputs decides whether an image is stale.
inputs_hash=$( (sha256sum "$BUSYBOX" "$CTX"/start.sh; echo "$CTX") | sha256sum | cut -c1-16)

build() {
  local version=$1 tag=paas-test/web:$1
  local want="$inputs_hash-$version"
  local have
  have=$(docker image inspect --format '{{index .Config.Labels "paas.test.inputs"}}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    log "$tag is up to date"
    return
  fi
  log "building $tag"
  local dir
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  mkdir -p "$dir/bin" "$dir/www" "$dir/tmp"
  cp "$BUSYBOX" "$dir/bin/busybox"
  cp "$CTX/start.sh" "$dir/start.sh"
  chmod 0755 "$dir/start.sh"
  printf 'paas-test web %s\n' "$version" >"$dir/www/index.html"
  printf 'ok\n' >"$dir/www/healthz"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY www /www
COPY start.sh /start.sh
ENV PATH=/bin APP_VERSION=$version
LABEL paas.test.inputs=$want
EXPOSE 8080
ENTRYPOINT ["/bin/sh", "/start.sh"]
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >&2
}

build 1
build 2
log "images ready: paas-test/web:1 paas-test/web:2"
