#!/bin/sh
# A three-node Docker Swarm of Docker-in-Docker containers on this machine (docs/swarm.md).
#   scripts/swarm-nodes.sh up [--nodes 3] [--name taskq-swarm-dev] [--image IMG ...]
#   scripts/swarm-nodes.sh down [--name taskq-swarm-dev]
set -eu
cd "$(dirname "$0")/.."
exec python3 -m harness.swarm.nodes "$@"
