#!/bin/sh
# Start the Redis primary or replica (REPLICA_OF=host) with AOF and the password from REDIS_PASSWORD
# (or the file REDIS_PASSWORD_FILE, a Docker secret), as the `redis` user.
# The config lives on the data volume and is written only once: Sentinel rewrites it on failover
# (CONFIG REWRITE), so a restarted node keeps the role Sentinel gave it instead of its first one.
# Works on redis:7 (its entrypoint is bypassed) and on the local Debian base.
set -eu
. /opt/taskq/lib.sh
REDIS_PASSWORD="$(secret REDIS_PASSWORD)"
mkdir -p /data
CONF=/data/redis.conf
if [ ! -f "$CONF" ]; then
    umask 077
    cat >"$CONF" <<CONF
port 6379
bind * -::*
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
# REDIS_ANNOUNCE_HOST (the Swarm stack: the service's own name) is what this node tells its primary
# to call it, so Sentinel finds the replica by a name that survives a restart under a new address.
set -- --maxmemory "${REDIS_MAXMEMORY:-512mb}" --maxmemory-policy noeviction
[ -z "${REDIS_ANNOUNCE_HOST:-}" ] || set -- "$@" --replica-announce-ip "$REDIS_ANNOUNCE_HOST"
as_redis /data redis-server "$CONF" "$@"
