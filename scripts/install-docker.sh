#!/usr/bin/env bash
# Install the Docker engine (Debian docker.io) and Compose v2, start dockerd, wait for it.
# Idempotent: every step is skipped when already done. Needs root and apt access.
# Compose v2 comes from Debian trixie's docker-compose package (a static binary), fetched with
# a trixie source list kept in a temporary directory, so the system's sources stay bookworm.
# apt-get waits for the dpkg/apt locks (held for minutes by unattended-upgrades on fresh VMs):
# up to APT_LOCK_TIMEOUT_S (600), saying so, then fails naming the lock (scripts/apt-lock.sh).
set -euo pipefail
# shellcheck source=scripts/apt-lock.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/apt-lock.sh"

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

log() { printf '[install-docker] %s\n' "$*" >&2; }

install_engine() {
    if [ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ]; then
        log "docker.io already installed"
        return
    fi
    log "installing docker.io"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
}

start_daemon() {
    if docker_ok; then
        log "dockerd already answers"
        return
    fi
    if ! pgrep -x dockerd >/dev/null; then
        log "starting dockerd (log: $DOCKERD_LOG)"
        setsid dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
    fi
    for _ in $(seq 1 120); do
        if docker_ok; then log "dockerd is up"; return; fi
        sleep 0.5
    done
    log "dockerd did not answer within 60 s; last log lines:"
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    exit 1
}

docker_ok() { [ -S /var/run/docker.sock ] && /usr/bin/docker info >/dev/null 2>&1; }

install_compose() {
    if /usr/bin/docker compose version >/dev/null 2>&1; then
        log "compose v2 present: $(/usr/bin/docker compose version --short)"
        return
    fi
    local bin
    bin="$(command -v docker-compose || true)"
    if [ -z "$bin" ] || ! "$bin" version 2>/dev/null | grep -q 'v2\.'; then
        log "installing docker-compose v2 from Debian trixie (temporary source list)"
        local tmp
        tmp="$(mktemp -d)"
        mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/archives/partial"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" >"$tmp/sources.list"
        local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts"
                    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
                    -o "APT::Sandbox::User=root")
        apt_get "${opts[@]}" update -qq
        (cd "$tmp" && apt_get "${opts[@]}" download docker-compose)
        # bookworm's dpkg-deb rejects trixie's long Static-Built-Using field: unpack with ar + tar.
        command -v ar >/dev/null || apt_get install -y -qq --no-install-recommends binutils xz-utils >/dev/null
        (cd "$tmp" && ar x docker-compose_*.deb && mkdir root && tar -C root -xf data.tar.*)
        bin="$tmp/root/usr/libexec/docker/cli-plugins/docker-compose"
        [ -x "$bin" ] || bin=""
        [ -n "$bin" ] || { log "no docker-compose binary in the trixie package ($tmp)"; exit 1; }
        install -m 0755 "$bin" /usr/local/bin/docker-compose
        bin=/usr/local/bin/docker-compose
        rm -rf "$tmp"
    fi
    mkdir -p "$PLUGIN_DIR"
    ln -sf "$bin" "$PLUGIN_DIR/docker-compose"
    /usr/bin/docker compose version >/dev/null || { log "'docker compose' still not working"; exit 1; }
    log "compose: $(/usr/bin/docker compose version --short)"
}

install_engine
start_daemon
install_compose
# /usr/local/bin/docker (a newer client) may sit first in PATH; it must speak the daemon's API.
if ! docker version >/dev/null 2>&1; then
    log "the 'docker' first in PATH cannot talk to dockerd; use /usr/bin/docker or export DOCKER_API_VERSION=$(/usr/bin/docker version -f '{{.Server.APIVersion}}')"
fi
log "ready: $(/usr/bin/docker version -f 'engine {{.Server.Version}} (API {{.Server.APIVersion}})')"
