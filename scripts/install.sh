#!/usr/bin/env bash
# Install what the project needs to run locally: redis-server, redis-sentinel, redis-tools,
# faketime (libfaketime), toxiproxy-server, kustomize, jaeger and the Python packages. Idempotent and
# quick when everything is there.
# Needs root (or sudo) only for the Debian packages and a system-wide toxiproxy-server.
set -euo pipefail
cd "$(dirname "$0")/.."
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.9.0}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.5.0}"
PYTHON="${PYTHON:-python3}"
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-sentinel >/dev/null || need_apt+=(redis-sentinel)
command -v redis-benchmark >/dev/null || need_apt+=(redis-tools)
command -v faketime >/dev/null || need_apt+=(faketime)   # libfaketime: the clock_skew fault
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts a redis-server on 6379 when the package is installed; the project starts its own.

if ! command -v toxiproxy-server >/dev/null; then
  command -v go >/dev/null || { echo "install: toxiproxy-server is missing and Go is not installed; see README" >&2; exit 1; }
  echo "install: go install toxiproxy $TOXIPROXY_VERSION"
  gobin="$(mktemp -d)"
  GOBIN="$gobin" CGO_ENABLED=0 go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  GOBIN="$gobin" CGO_ENABLED=0 go install "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
  dest=/usr/local/bin; [ -w "$dest" ] || dest="$HOME/.local/bin"; mkdir -p "$dest"
  install -m 0755 "$gobin/server" "$dest/toxiproxy-server"
  install -m 0755 "$gobin/cli" "$dest/toxiproxy-cli"
  rm -rf "$gobin"
fi

# kustomize renders deploy/k8s in tests/unit/test_k8s_manifests.py (no cluster needed).
if ! command -v kustomize >/dev/null; then
  command -v go >/dev/null || { echo "install: kustomize is missing and Go is not installed; see README" >&2; exit 1; }
  echo "install: go install kustomize $KUSTOMIZE_VERSION"
  gobin="$(mktemp -d)"
  GOBIN="$gobin" CGO_ENABLED=0 go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  dest=/usr/local/bin; [ -w "$dest" ] || dest="$HOME/.local/bin"; mkdir -p "$dest"
  install -m 0755 "$gobin/kustomize" "$dest/kustomize"
  rm -rf "$gobin"
fi

# Jaeger v2 for the tracing end-to-end test (tests/integration/test_tracing.py) and local tracing.
if ! command -v jaeger >/dev/null; then
  if command -v go >/dev/null; then
    dest=/usr/local/bin; [ -w "$dest" ] || dest="$HOME/.local/bin"; mkdir -p "$dest"
    echo "install: building jaeger (several minutes)"
    scripts/build-jaeger.sh "$dest/jaeger"
  else
    echo "install: skipping jaeger: Go is not installed (tracing works without it; its end-to-end test skips, and fails under CI=true)" >&2
  fi
fi

stamp=".cache/pip-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || ! command -v harness >/dev/null; then
  echo "install: pip install -r requirements.txt -e ."
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements.txt
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps -e .
  mkdir -p .cache && touch "$stamp"
fi
