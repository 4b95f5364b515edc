#!/bin/sh
# Health of a Redis node (`health.sh redis`) or a Sentinel (`health.sh sentinel`).
#   redis:    answers PING with the password, and is a primary or a replica whose link is up;
#   sentinel: `SENTINEL CKQUORUM` says a quorum of Sentinels can authorise a failover.
set -eu
. /opt/taskq/lib.sh
case "${1:-redis}" in
    redis)
        REDISCLI_AUTH="$(secret REDIS_PASSWORD)"; export REDISCLI_AUTH
        info="$(redis-cli -p 6379 info replication)"
        echo "$info" | grep -q '^role:master' && exit 0
        echo "$info" | grep -q '^master_link_status:up' && exit 0
        echo "replica link down"; exit 1 ;;
    sentinel)
        REDISCLI_AUTH="$(secret REDIS_SENTINEL_PASSWORD)"; export REDISCLI_AUTH
        out="$(redis-cli -p 26379 sentinel ckquorum "${REDIS_SENTINEL_MASTER:-mymaster}")"
        case "$out" in OK*) exit 0 ;; *) echo "$out"; exit 1 ;; esac ;;
esac
