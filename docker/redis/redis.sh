#!/bin/sh
# Start the Redis primary or replica (REPLICA_OF=host) with AOF and the password from REDIS_PASSWORD.
# The config lives on the data volume and is written only once: Sentinel rewrites it on failover
# (CONFIG REWRITE), so a restarted node keeps the role Sentinel gave it instead of its first one.
# Works on redis:7 (its entrypoint is bypassed, so it runs as root) and on the local Debian base.
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD must be set (docker-compose.yml has a local default)}"
mkdir -p /data
CONF=/data/redis.conf
if [ ! -f "$CONF" ]; then
    cat >"$CONF" <<CONF
port 6379
bind * -::*
protected-mode no
dir /data
appendonly yes
appendfsync ${REDIS_APPENDFSYNC:-everysec}
requirepass "$REDIS_PASSWORD"
masterauth "$REDIS_PASSWORD"
CONF
    if [ -n "${REPLICA_OF:-}" ]; then
        echo "replicaof $REPLICA_OF 6379" >>"$CONF"
    fi
fi
# Bounded memory on the command line (so existing data volumes get it too): Redis refuses writes
# rather than evicting task records; the gateway's SUBMIT_MEMORY_BUDGET answers 503 before that.
exec redis-server "$CONF" --maxmemory "${REDIS_MAXMEMORY:-512mb}" --maxmemory-policy noeviction
