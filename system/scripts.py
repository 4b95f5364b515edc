"""The Lua scripts, loaded once from system/lua and registered per client.

redis-py's Script objects re-load a script on NOSCRIPT, which matters when chaos restarts
Redis or Sentinel fails over to a replica that never saw SCRIPT LOAD.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).with_name("lua")
NAMES = ("submit", "claim", "extend", "finish", "reap", "release", "cancel", "redrive",
         "elect", "deregister", "prune", "reap_lost")


@cache
def source(name: str) -> str:
    """The script's text with the shared helpers prepended."""
    lib = (LUA_DIR / "_lib.lua").read_text()
    return lib + "\n" + (LUA_DIR / f"{name}.lua").read_text()


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
    reap_lost: Script

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls(**{name: client.register_script(source(name)) for name in NAMES})
