#!/bin/sh
# Start one Sentinel watching the primary `redis` (quorum 2 of 3). The config is written once per
# container: Sentinel rewrites it with what it learned (current primary, peers, epoch).
# Addresses are IPs on purpose: with hostnames, every reconnect to a stopped primary is a DNS
# lookup of a name Docker no longer knows; those lookups block Sentinel's event loop long enough
# to send it into TILT mode (30 s without failover). The IP of `redis` is looked up once, here.
# SENTINEL_HOSTNAMES=yes (the Swarm stack) monitors by hostname instead: there a Redis task that
# Swarm restarts or reschedules comes back under a new address but the same service name, so an
# address goes stale while the name does not (Redis >= 6.2: resolve-hostnames/announce-hostnames;
# the Redis nodes announce their service names, REDIS_ANNOUNCE_HOST; docs/swarm.md).
# Sentinels require REDIS_SENTINEL_PASSWORD (also between themselves) and run as the `redis` user.
set -eu
. /opt/taskq/lib.sh
REDIS_PASSWORD="$(secret REDIS_PASSWORD)"
SENTINEL_PASSWORD="$(secret REDIS_SENTINEL_PASSWORD)"
MASTER="${REDIS_SENTINEL_MASTER:-mymaster}"
PRIMARY_HOST="${PRIMARY_HOST:-redis}"
mkdir -p /var/lib/sentinel
CONF=/var/lib/sentinel/sentinel.conf
if [ ! -f "$CONF" ]; then
    ip=""
    for _ in $(seq 1 50); do
        ip="$(getent hosts "$PRIMARY_HOST" | awk '{print $1; exit}')" && [ -n "$ip" ] && break
        sleep 0.2
    done
    [ -n "$ip" ] || { echo "sentinel: cannot resolve $PRIMARY_HOST" >&2; exit 1; }
    umask 077
    {
        echo "port 26379"
        if [ "${SENTINEL_HOSTNAMES:-no}" = yes ]; then
            ip="$PRIMARY_HOST"  # resolve-hostnames must come before the monitor line
            echo "sentinel resolve-hostnames yes"
            echo "sentinel announce-hostnames yes"
            [ -z "${SENTINEL_ANNOUNCE_HOST:-}" ] || echo "sentinel announce-ip $SENTINEL_ANNOUNCE_HOST"
        fi
    } >"$CONF"
    cat >>"$CONF" <<CONF
dir /var/lib/sentinel
requirepass $SENTINEL_PASSWORD
sentinel sentinel-pass $SENTINEL_PASSWORD
sentinel monitor $MASTER $ip 6379 ${SENTINEL_QUORUM:-2}
sentinel auth-pass $MASTER $REDIS_PASSWORD
sentinel down-after-milliseconds $MASTER ${SENTINEL_DOWN_AFTER_MS:-3000}
sentinel failover-timeout $MASTER ${SENTINEL_FAILOVER_TIMEOUT_MS:-5000}
sentinel parallel-syncs $MASTER 1
CONF
fi
as_redis /var/lib/sentinel redis-sentinel "$CONF"
