#!/usr/bin/env bash
# Build local stand-ins for the public images the compose stack uses, without any registry:
#   - a Debian bookworm base (debootstrap + docker import) with python3 and redis: it stands in for
#     both python:3.12-slim (app build base) and redis:7 (primary, replica, sentinels);
#   - Toxiproxy from `go install` in a FROM scratch image (stands in for ghcr.io/shopify/toxiproxy);
#   - Jaeger v2 (scripts/build-jaeger.sh) in a FROM scratch image, for the compose profile `tracing`
#     (stands in for jaegertracing/jaeger): from the `jaeger` binary on PATH when there is one
#     (scripts/install.sh builds it), else built only with WITH_JAEGER=1 (a long compile);
#   - a wheelhouse (docker/wheelhouse/) so the app image installs requirements.txt offline;
#   - the app image itself (`docker compose build`).
# Every step is skipped when its result already exists, so a second run takes seconds.
# Writes the image names (PYTHON_IMAGE, REDIS_IMAGE, TOXIPROXY_IMAGE, PIP_ARGS) into a marked
# block of `.env` at the project root, which `docker compose` reads by itself (no sourcing), and
# the same lines into docker/offline.env (read by the harness and the e2e tests).
# Needs: a Docker engine (scripts/install-docker.sh), debootstrap (installed with apt-get when
# missing and run as root), Go >= 1.22 for Toxiproxy (checked, not installed). Each is checked
# first, before any work, and temporary folders are removed also when a step fails.
# Options (env): REBUILD=1 rebuilds everything; DEBIAN_MIRROR; TOXIPROXY_VERSION.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.9.0}"
BASE_IMAGE="${OFFLINE_BASE_IMAGE:-taskq-local/debian-base:bookworm}"
TOXI_IMAGE="${OFFLINE_TOXIPROXY_IMAGE:-taskq-local/toxiproxy:${TOXIPROXY_VERSION#v}}"
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
JAEGER_IMAGE="${OFFLINE_JAEGER_IMAGE:-taskq-local/jaeger:${JAEGER_VERSION#v}}"
WHEELHOUSE="$ROOT/docker/wheelhouse"
REQS="$ROOT/docker/app/requirements.txt"  # the app image's runtime packages
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
ENV_FILE="$ROOT/docker/offline.env"
DOTENV="$ROOT/.env"
BEGIN_MARK="# >>> scripts/offline-images.sh (local images; delete this block to use the public ones)"
END_MARK="# <<< scripts/offline-images.sh"
REBUILD="${REBUILD:-0}"
DOCKER="${DOCKER:-docker}"

log() { printf '[offline-images] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
have_image() { [ "$REBUILD" != 1 ] && "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# Temporary folders/files of the running step; removed on any exit, failure included.
TEMPS=()
cleanup() { [ ${#TEMPS[@]} -eq 0 ] || rm -rf "${TEMPS[@]}"; }
trap cleanup EXIT

# What the missing images need, checked before any work starts.
check_prerequisites() {
    command -v "$DOCKER" >/dev/null \
        || die "the docker CLI is missing: run scripts/install-docker.sh first"
    "$DOCKER" info >/dev/null 2>&1 \
        || die "no Docker engine answers ('$DOCKER info' fails): run scripts/install-docker.sh (starts dockerd)"
    "$DOCKER" compose version >/dev/null 2>&1 \
        || die "'docker compose' (v2) is missing: run scripts/install-docker.sh"
    if ! have_image "$BASE_IMAGE" && ! command -v debootstrap >/dev/null; then
        [ "$(id -u)" = 0 ] || die "debootstrap is missing: sudo apt-get install debootstrap (building $BASE_IMAGE needs root)"
        log "debootstrap is missing: apt-get install debootstrap"
        # shellcheck source=scripts/apt-lock.sh
        . "$ROOT/scripts/apt-lock.sh"
        apt_get update -qq && apt_get install -y -qq --no-install-recommends debootstrap >/dev/null \
            || die "could not install debootstrap with apt-get (see above)"
    fi
    if ! have_image "$BASE_IMAGE"; then
        [ "$(id -u)" = 0 ] || die "building $BASE_IMAGE (debootstrap, docker import) needs root"
    fi
    if ! have_image "$TOXI_IMAGE" && ! command -v go >/dev/null; then
        die "Go is missing (needed once, to build $TOXI_IMAGE with go install): install Go >= 1.22 from https://go.dev/dl/ and put it on PATH, or load an existing $TOXI_IMAGE"
    fi
}

build_base() {
    if have_image "$BASE_IMAGE"; then log "reuse $BASE_IMAGE"; return; fi
    log "debootstrap bookworm -> $BASE_IMAGE (about a minute)"
    local dir
    dir="$(mktemp -d /var/tmp/taskq-base.XXXXXX)"
    TEMPS+=("$dir" "$dir.log")
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,redis-server,redis-sentinel,ca-certificates,passwd \
        bookworm "$dir" "$MIRROR" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; exit 1; }
    # Trim what a container never needs: apt lists and caches, docs, man pages, locales.
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
           "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
    tar -C "$dir" -c . | "$DOCKER" import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$dir" "$dir.log"
}

build_toxiproxy() {
    if have_image "$TOXI_IMAGE"; then log "reuse $TOXI_IMAGE"; return; fi
    log "go install toxiproxy $TOXIPROXY_VERSION -> $TOXI_IMAGE"
    local ctx
    ctx="$(mktemp -d)"
    TEMPS+=("$ctx")
    GOBIN="$ctx/bin" CGO_ENABLED=0 go install \
        "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
        "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
    cp "$ctx/bin/server" "$ctx/toxiproxy"
    cp "$ctx/bin/cli" "$ctx/toxiproxy-cli"
    cp "$ROOT/docker/toxiproxy/Dockerfile" "$ctx/Dockerfile"
    # The classic builder needs no buildx plugin (docker.io has none); its deprecation notice is noise.
    DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$TOXI_IMAGE" "$ctx" >"$ctx/build.log" 2>&1 \
        || { cat "$ctx/build.log" >&2; exit 1; }
    rm -rf "$ctx"
}

build_jaeger() {
    if have_image "$JAEGER_IMAGE"; then log "reuse $JAEGER_IMAGE"; return; fi
    local ctx bin
    bin="$(command -v jaeger || true)"
    if [ -z "$bin" ] && [ "${WITH_JAEGER:-0}" != 1 ]; then
        log "skip $JAEGER_IMAGE (profile tracing): no jaeger binary on PATH; scripts/install.sh builds one, or set WITH_JAEGER=1"
        return
    fi
    ctx="$(mktemp -d)"
    TEMPS+=("$ctx")
    if [ -n "$bin" ]; then
        log "jaeger binary $bin -> $JAEGER_IMAGE"
        cp "$bin" "$ctx/jaeger"
    else
        log "build jaeger $JAEGER_VERSION -> $JAEGER_IMAGE (several minutes)"
        JAEGER_VERSION="$JAEGER_VERSION" "$ROOT/scripts/build-jaeger.sh" "$ctx/jaeger"
    fi
    cp "$ROOT/docker/jaeger/Dockerfile" "$ctx/Dockerfile"
    DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$JAEGER_IMAGE" "$ctx" >"$ctx/build.log" 2>&1 \
        || { cat "$ctx/build.log" >&2; exit 1; }
    rm -rf "$ctx"
}

build_wheelhouse() {
    local stamp="$WHEELHOUSE/.requirements.sha256" want
    want="$(sha256sum "$REQS" | cut -d' ' -f1)"
    if [ "$REBUILD" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "reuse wheelhouse ($(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels)"
        return
    fi
    log "building the wheelhouse inside $BASE_IMAGE (PyPI through pip, host CA bundle)"
    find "$WHEELHOUSE" -name '*.whl' -delete
    "$DOCKER" run --rm --network host \
        -v "$CA_BUNDLE:/etc/ssl/certs/host-ca.crt:ro" \
        -v "$REQS:/req/requirements.txt:ro" \
        -v "$WHEELHOUSE:/wheelhouse" \
        "$BASE_IMAGE" sh -euc '
            python3 -m venv /tmp/venv
            /tmp/venv/bin/pip install -q --cert /etc/ssl/certs/host-ca.crt --upgrade pip wheel
            /tmp/venv/bin/pip wheel -q --cert /etc/ssl/certs/host-ca.crt -w /wheelhouse -r /req/requirements.txt'
    echo "$want" >"$stamp"
}

write_env() {
    cat >"$ENV_FILE" <<ENV
# Written by scripts/offline-images.sh: local images instead of the public ones.
PYTHON_IMAGE=$BASE_IMAGE
REDIS_IMAGE=$BASE_IMAGE
TOXIPROXY_IMAGE=$TOXI_IMAGE
PIP_ARGS="--no-index --find-links /wheelhouse"
ENV
    if "$DOCKER" image inspect "$JAEGER_IMAGE" >/dev/null 2>&1; then
        echo "JAEGER_IMAGE=$JAEGER_IMAGE" >>"$ENV_FILE"
    fi
    log "wrote ${ENV_FILE#$ROOT/}"
    write_dotenv
}

# Put the same lines between markers in .env (other lines of .env are kept): compose reads
# .env from the project directory by itself, so `docker compose up` works in any new shell.
write_dotenv() {
    local tmp
    tmp="$(mktemp "$DOTENV.XXXXXX")"
    TEMPS+=("$tmp")
    if [ -f "$DOTENV" ]; then
        # drop an earlier block (matched by the start of its marker lines), keep every other line
        awk -v b="${BEGIN_MARK%% (*}" -v e="$END_MARK" \
            'index($0, b) == 1 {skip=1} !skip {print} index($0, e) == 1 {skip=0}' "$DOTENV" >"$tmp"
    fi
    { echo "$BEGIN_MARK"; grep -v '^#' "$ENV_FILE"; echo "$END_MARK"; } >>"$tmp"
    mv "$tmp" "$DOTENV"
    log "wrote the image names into ${DOTENV#$ROOT/} (compose reads it; variables set in the shell win)"
}

build_app() {
    log "docker compose build (cached layers are reused)"
    (cd "$ROOT" && "$DOCKER" compose build -q)
    # A rebuild re-tags the app image and leaves the previous one untagged: drop those (ours only).
    "$DOCKER" image prune -f --filter label=org.taskq.image=app >/dev/null
}

main() {
    local start
    start=$(date +%s)
    [ -f "$REQS" ] || die "$REQS is missing"
    check_prerequisites
    build_base
    build_toxiproxy
    build_jaeger
    build_wheelhouse
    write_env
    [ "${SKIP_APP_BUILD:-0}" = 1 ] || build_app
    log "done in $(( $(date +%s) - start )) s"
    "$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^taskq' >&2 || true
}

# Sourcing the file defines the steps without running them (handy to re-run one step).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
