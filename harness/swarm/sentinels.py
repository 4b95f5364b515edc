"""What the stack's three Sentinels agree on, asked at their host-mode ports (swarm backend).

On Swarm the Sentinels monitor by hostname (docker/redis/sentinel.sh, SENTINEL_HOSTNAMES), so
they name the primary by its service, `redis` or `redis-replica`, whatever its address is now.
The harness needs two answers: which service is the primary (a majority says so), and whether
every Sentinel sees a replica it could promote (before a redis_failover, else Sentinel aborts
with "no good slave").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis

REDIS_SERVICES = ("redis", "redis-replica")
QUORUM = 2


def majority(answers: Iterable[str | None], *, quorum: int = QUORUM) -> str | None:
    """The primary named by at least `quorum` Sentinels, else None (pure)."""
    votes: dict[str, int] = {}
    for host in answers:
        if host:
            votes[host] = votes.get(host, 0) + 1
    best = max(votes.items(), key=lambda kv: kv[1], default=None)
    return best[0] if best and best[1] >= quorum else None


def good_replica(replicas: Sequence[Mapping[str, Any]], primary: str) -> bool:
    """One Sentinel's view holds a replica linked to `primary` and not marked down (pure)."""
    return any(r.get("master-link-status") == "ok" and r.get("master-host") == primary
               and not r.get("is_sdown") and not r.get("is_disconnected") for r in replicas)


class Sentinels:
    """The Sentinels at `hosts` (port 26379), asked one by one with a short timeout."""

    def __init__(self, hosts: Sequence[str], *, password: str, master: str = "mymaster") -> None:
        self.hosts = list(hosts)
        self.password = password
        self.master = master

    def _client(self, host: str) -> redis.Redis:
        return redis.Redis(host=host, port=26379, socket_timeout=1, socket_connect_timeout=1,
                           password=self.password, decode_responses=True)

    def primary(self) -> str | None:
        """The service a majority of Sentinels call the primary (`redis` / `redis-replica`)."""
        answers: list[str | None] = []
        for host in self.hosts:
            try:
                with self._client(host) as s:
                    addr = s.sentinel_get_master_addr_by_name(self.master)
            except redis.RedisError:
                addr = None
            answers.append(str(addr[0]) if addr else None)
        return majority(answers)

    def ready(self, primary: str) -> bool:
        """Every Sentinel sees a good replica of `primary`: a failover can promote it."""
        for host in self.hosts:
            try:
                with self._client(host) as s:
                    replicas = s.sentinel_slaves(self.master)
            except redis.RedisError:
                return False
            if not good_replica(replicas, primary):
                return False
        return True
