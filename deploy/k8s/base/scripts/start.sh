#!/bin/sh
# Kubernetes: start pod redis-<n> (`start.sh redis`) or sentinel-<n> (`start.sh sentinel`).
# Names, not IPs: pod IPs change when a pod is rescheduled; the headless Services keep
# redis-<n>.redis and sentinel-<n>.sentinel (Sentinel with resolve-hostnames/announce-hostnames).
# redis: config written once on the pod's volume (Sentinel rewrites it on a failover). On that
#   first start the pod asks the Sentinels for the current primary; with none answering (a new
#   deployment) redis-0 is the primary and the others replicate from redis-0.redis.
# sentinel: config in an emptyDir, written at every start from what a peer Sentinel says.
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD must be set (from the Secret taskq-secrets)}"
MASTER="${REDIS_SENTINEL_MASTER:-mymaster}"
ME="$(hostname)"

# The current primary as any Sentinel other than this pod reports it; empty if none answers.
current_primary() {
    for peer in sentinel-0 sentinel-1 sentinel-2; do
        [ "$peer" != "$ME" ] || continue
        found="$(timeout 2 env -u REDISCLI_AUTH redis-cli -h "$peer.sentinel" -p 26379 sentinel get-master-addr-by-name "$MASTER" 2>/dev/null | head -n 1 || true)"
        [ -z "$found" ] || { echo "$found"; return; }
    done
}

start_redis() {
    conf=/data/redis.conf
    if [ ! -f "$conf" ]; then
        primary="$(current_primary)"
        [ -n "$primary" ] || case "$ME" in *-0) primary="$ME.redis" ;; *) primary="redis-0.redis" ;; esac
        {
            printf 'port 6379\nbind * -::*\nprotected-mode no\ndir /data\nappendonly yes\n'
            echo "appendfsync ${REDIS_APPENDFSYNC:-everysec}"
            echo "requirepass \"$REDIS_PASSWORD\""
            echo "masterauth \"$REDIS_PASSWORD\""
            echo "replica-announce-ip $ME.redis"
            [ "$primary" = "$ME.redis" ] || echo "replicaof $primary 6379"
        } >"$conf"
    fi
    exec redis-server "$conf"
}

start_sentinel() {
    conf=/data/sentinel.conf
    primary="$(current_primary)"
    {
        printf 'port 26379\ndir /data\nprotected-mode no\n'
        printf 'sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n'
        echo "sentinel announce-ip $ME.sentinel"
        echo "sentinel monitor $MASTER ${primary:-redis-0.redis} 6379 ${SENTINEL_QUORUM:-2}"
        echo "sentinel auth-pass $MASTER $REDIS_PASSWORD"
        echo "sentinel down-after-milliseconds $MASTER ${SENTINEL_DOWN_AFTER_MS:-3000}"
        echo "sentinel failover-timeout $MASTER ${SENTINEL_FAILOVER_TIMEOUT_MS:-5000}"
        echo "sentinel parallel-syncs $MASTER 1"
    } >"$conf"
    exec redis-sentinel "$conf"
}

case "${1:-}" in
    redis) start_redis ;;
    sentinel) start_sentinel ;;
    *) echo "usage: start.sh redis|sentinel" >&2; exit 2 ;;
esac
