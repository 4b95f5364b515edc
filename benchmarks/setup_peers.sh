#!/usr/bin/env bash
# Create the peers' virtualenv (Celery, RQ, Dramatiq) apart from the project's own requirements.
# Idempotent: a stamp file records the installed spec; a second run returns in well under a second.
# Usage: bash benchmarks/setup_peers.sh [VENV_DIR]   (default: $PEERS_VENV or <repo>/.venv-peers)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-${PEERS_VENV:-$(cd "$here/.." && pwd)/.venv-peers}}"
python="${PYTHON:-python3}"
spec="celery[redis]>=5.3,<6 rq>=1.16 dramatiq[redis]>=1.16 redis>=5"
stamp="$venv/.peers-installed"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$spec" ]]; then
  echo "peers venv ready: $venv"
  exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $spec
echo "$spec" > "$stamp"
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
print("installed:", ", ".join(f"{p} {version(p)}" for p in ("celery", "kombu", "rq", "dramatiq", "redis")))
PY
echo "peers venv ready: $venv"
