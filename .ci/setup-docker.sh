#!/usr/bin/env bash
# Prepare a real Docker engine for the docker tests, with no image registry.
#
# Idempotent: every step checks first and does nothing when its result is already there.
#   1. apt-get installs docker.io and debootstrap if missing
#   2. starts dockerd in the background if no engine answers (overlay2, else vfs)
#   3. builds scalectl/base:bookworm (debootstrap minbase + python3 + nginx-light, docker import),
#      caching the rootfs tarball under /var/cache/scalectl so later runs take seconds
#   4. builds the quickstart model image (v1, v2, broken, crashy) and the gateway image from that base
#
# Environment: SCALECTL_BASE_IMAGE (default scalectl/base:bookworm), SCALECTL_CACHE_DIR
# (default /var/cache/scalectl), DEBIAN_MIRROR (default: the mirror apt already uses).
set -euo pipefail

BASE_IMAGE="${SCALECTL_BASE_IMAGE:-scalectl/base:bookworm}"
GATEWAY_IMAGE="${SCALECTL_GATEWAY_IMAGE:-scalectl/gateway:local}"
QUICKSTART_IMAGE="${SCALECTL_QUICKSTART_IMAGE:-scalectl/quickstart}"
CACHE_DIR="${SCALECTL_CACHE_DIR:-/var/cache/scalectl}"
ROOTFS_TAR="$CACHE_DIR/base-bookworm-rootfs.tar"
DOCKERD_LOG="${SCALECTL_DOCKERD_LOG:-/var/log/scalectl-dockerd.log}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[setup-docker] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------- 1. packages
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}" iptables
fi

# ---------------------------------------------------------------- 2. engine
engine_up() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

wait_engine() {
  local i
  for i in $(seq 1 120); do
    engine_up && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}

start_dockerd() {
  local driver="$1" iptables="$2" pid
  log "starting dockerd (storage driver $driver, iptables $iptables), log: $DOCKERD_LOG"
  # containerd is started by dockerd itself when none is running. Without iptables, published
  # ports still work through docker-proxy, which is all the tests need.
  as_root nohup dockerd --storage-driver="$driver" --iptables="$iptables" \
    --log-level=warn >>"$DOCKERD_LOG" 2>&1 </dev/null &
  pid=$!
  if wait_engine "$pid"; then
    log "dockerd is up (pid $pid, $(docker info --format '{{.Driver}}'))"
    return 0
  fi
  log "dockerd with $driver did not come up; last log lines:"
  tail -n 5 "$DOCKERD_LOG" >&2 || true
  as_root kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  as_root rm -f /var/run/docker.pid
  return 1
}

if engine_up; then
  log "engine already running ($(docker info --format '{{.Driver}}' 2>/dev/null))"
else
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    as_root rm -f /var/run/docker.pid  # left by a dockerd that died; it would block a new one
  fi
  # overlay2 needs kernel support (not always there in nested sandboxes); vfs always works, slower.
  start_dockerd overlay2 true || start_dockerd vfs true || start_dockerd overlay2 false ||
    start_dockerd vfs false || { log "could not start dockerd; see $DOCKERD_LOG"; exit 1; }
fi

# ---------------------------------------------------------------- 3. base image
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(grep -hsE '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources | head -n1 | awk '{print $2}')"
  [ -n "$uri" ] || uri="$(grep -hsE '^deb .*/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -n1 | awk '{print $2}')"
  if [ -z "$uri" ]; then
    log "no Debian mirror found in apt's sources; set DEBIAN_MIRROR to one"
    exit 1
  fi
  echo "$uri"
}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE present"
else
  if [ ! -s "$ROOTFS_TAR" ]; then
    as_root mkdir -p "$CACHE_DIR"
    work="$(mktemp -d /var/tmp/scalectl-rootfs.XXXXXX)"
    trap 'as_root rm -rf "$work"' EXIT
    mirror="$(debian_mirror)"
    log "debootstrap bookworm minbase + python3 + nginx-light from $mirror (about a minute)"
    as_root debootstrap --variant=minbase --include=python3,nginx-light bookworm "$work/rootfs" "$mirror" \
      >"$CACHE_DIR/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
    # Trim what a container never needs, so import and every build stay fast.
    as_root rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* \
      "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man" "$work/rootfs/usr/share/locale"
    as_root tar -C "$work/rootfs" --numeric-owner -cf "$ROOTFS_TAR.tmp" .
    as_root mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    as_root rm -rf "$work"
    trap - EXIT
  else
    log "reusing cached rootfs $ROOTFS_TAR"
  fi
  log "importing $BASE_IMAGE"
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null
fi

# ---------------------------------------------------------------- 4. test images
build() {  # build TAG DIR [docker build args...]; docker's layer cache makes a rebuild take a second
  local tag="$1" dir="$2"
  shift 2
  log "building $tag"
  local out
  # The legacy builder: Debian's dockerd has no BuildKit; its deprecation notice is noise here.
  if ! out="$(DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$@" "$dir" 2>&1)"; then
    printf '%s\n' "$out" >&2
    exit 1
  fi
}

build "$GATEWAY_IMAGE" "$REPO/examples/quickstart/gateway" --build-arg "BASE_IMAGE=$BASE_IMAGE"
build "$QUICKSTART_IMAGE:v1" "$REPO/examples/quickstart" --build-arg "BASE_IMAGE=$BASE_IMAGE"
build "$QUICKSTART_IMAGE:v2" "$REPO/examples/quickstart" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg MODEL_VERSION=v2
build "$QUICKSTART_IMAGE:broken" "$REPO/examples/quickstart" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg MODEL_VERSION=broken
build "$QUICKSTART_IMAGE:crashy" "$REPO/examples/quickstart" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg MODEL_VERSION=crashy

log "ready: $BASE_IMAGE, $GATEWAY_IMAGE, $QUICKSTART_IMAGE:{v1,v2,broken,crashy}"
