#!/usr/bin/env bash
# Run one chaos scenario end to end and write its report (default: kill a worker under load).
# Usage: bash scripts/demo.sh [scenarios/NAME.yaml ...] [harness run options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
[ $# -gt 0 ] || set -- scenarios/kill-worker.yaml
exec python3 -m harness run "$@"
