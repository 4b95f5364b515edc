"""The Lua scripts, loaded once from system/lua and registered per client.

redis-py's Script objects re-load a script on NOSCRIPT, which matters when chaos restarts
Redis or Sentinel fails over to a replica that never saw SCRIPT LOAD.

The retention limits (MAX_EVENTS, DEAD_MAX, DEAD_TTL_S) are written into the script text as
constants rather than passed in ARGV: every script that adds an event or buries a task needs
them, and a changed setting simply gives a script with another SHA.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).with_name("lua")
NAMES = ("submit", "claim", "extend", "finish", "reap", "release", "cancel", "redrive",
         "elect", "deregister", "prune")


@dataclass(frozen=True)
class Limits:
    """Retention limits the scripts enforce (see Settings: max_events, dead_max, dead_ttl_s)."""

    max_events: int = 100
    dead_max: int = 10_000
    dead_ttl_s: int = 180 * 86400

    def lua(self) -> str:
        return (f"local MAX_EVENTS, DEAD_MAX, DEAD_TTL_S = {int(self.max_events)}, {int(self.dead_max)}, "
                f"{int(self.dead_ttl_s)}\n")


@cache
def source(name: str, limits: Limits = Limits()) -> str:
    """The script's text: the limits, then the shared helpers, then the script."""
    lib = (LUA_DIR / "_lib.lua").read_text()
    return limits.lua() + lib + "\n" + (LUA_DIR / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Scripts:
    submit: Script
    claim: Script
    extend: Script
    finish: Script
    reap: Script
    release: Script
    cancel: Script
    redrive: Script
    elect: Script
    deregister: Script
    prune: Script

    @classmethod
    def register(cls, client: redis.Redis, limits: Limits = Limits()) -> Scripts:
        return cls(**{name: client.register_script(source(name, limits)) for name in NAMES})
