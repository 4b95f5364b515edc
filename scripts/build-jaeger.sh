#!/usr/bin/env bash
# Build Jaeger v2 (`cmd/jaeger`: OTLP receiver on 4317/4318, query API and UI on 16686) as one
# static binary, from the Go module proxy. Used by scripts/install.sh (local runs, the tracing
# end-to-end test) and scripts/offline-images.sh (the FROM scratch image of the compose profile).
# `go install github.com/jaegertracing/jaeger/cmd/jaeger@VERSION` refuses to build it (Jaeger's
# go.mod has a replace directive), so the module's source is fetched with `go mod download` and
# built in a temporary copy. Heavy: several minutes on 2 cores. The web UI's assets are not in
# the Go module (they come from the separate jaeger-ui build), so this binary's UI shows Jaeger's
# placeholder page; the query API (/api/traces/<id>) and OTLP work fully.
# Usage: scripts/build-jaeger.sh OUTPUT_FILE      Env: JAEGER_VERSION (default v1.76.0 = Jaeger v2.13.0)
set -euo pipefail
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
out="${1:?usage: scripts/build-jaeger.sh OUTPUT_FILE}"
command -v go >/dev/null || { echo "build-jaeger: Go is not installed (https://go.dev/dl/)" >&2; exit 1; }
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
src="$(mktemp -d)"
trap 'chmod -R u+w "$src" 2>/dev/null || true; rm -rf "$src"' EXIT
dir="$(cd "$src" && go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] && [ -d "$dir" ] || { echo "build-jaeger: go mod download found no source for $JAEGER_VERSION" >&2; exit 1; }
cp -r "$dir/." "$src/"
chmod -R u+w "$src"
echo "build-jaeger: go build jaeger $JAEGER_VERSION (static, CGO_ENABLED=0) -> $out" >&2
(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" ./cmd/jaeger)
mv "$out.tmp" "$out"
