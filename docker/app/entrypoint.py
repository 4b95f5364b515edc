"""Container entrypoint: give a scaled worker the name of its compose replica, then run the app.

`docker compose up --scale worker=5` starts containers `<project>-worker-1..5` with one shared
environment, so WORKER_ID cannot be set per replica in the compose file. Docker's embedded DNS
answers a reverse lookup of the container's own address with that container name, so the
worker in `<project>-worker-3` calls itself `worker-3` -- the name the harness targets, the
`worker` field of task records, and the Toxiproxy proxy `redis-worker-3`.
It then routes the Redis link through Toxiproxy (below) and runs `python -m system.<role>`.
Usage: entrypoint.py gateway|worker [args for python -m system.<role>]
"""

from __future__ import annotations

import os
import random
import re
import runpy
import socket
import struct
import sys
import time

ROLES = ("gateway", "worker")
STATE_DIR = "/tmp"  # the healthcheck (a separate process) reads the role and id from here


def replica_name(service: str, *, timeout_s: float = 5.0) -> str | None:
    """`worker-3` for container `<project>-worker-3`; None when not under compose."""
    pattern = re.compile(rf"[-_]{re.escape(service)}[-_](\d+)$")
    deadline = time.monotonic() + timeout_s
    address = socket.gethostbyname(socket.gethostname())
    while True:
        try:
            # /etc/hosts maps our address to the container id, so ask Docker's DNS directly.
            name = reverse_lookup(address).split(".")[0]
            match = pattern.search(name)
            return f"{service}-{match.group(1)}" if match else None
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)


def reverse_lookup(ipv4: str, *, server: str = "127.0.0.11", timeout_s: float = 1.0) -> str:
    """PTR query over UDP to Docker's embedded DNS: 'proj-worker-3.proj_default'."""
    qid = random.randrange(1 << 16)
    labels = list(reversed(ipv4.split("."))) + ["in-addr", "arpa"]
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0" + struct.pack(">HH", 12, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.sendto(query, (server, 53))
        data = sock.recv(4096)
    rid, flags, _qd, answers = struct.unpack(">HHHH", data[:8])
    if rid != qid or flags & 0xF or answers == 0:
        raise ValueError(f"no PTR record for {ipv4}")
    _, pos = _read_name(data, 12)
    pos += 4  # QTYPE, QCLASS
    _, pos = _read_name(data, pos)
    pos += 10  # TYPE, CLASS, TTL, RDLENGTH
    return _read_name(data, pos)[0]


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """A DNS name at pos (with compression pointers) and the offset just after it."""
    labels: list[str] = []
    end = None
    while True:
        length = data[pos]
        if length == 0:
            return ".".join(labels), (end if end is not None else pos + 1)
        if length & 0xC0 == 0xC0:
            end = pos + 2 if end is None else end
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        labels.append(data[pos + 1:pos + 1 + length].decode())
        pos += 1 + length


def main(argv: list[str]) -> None:
    role = argv[0] if argv else "gateway"
    if role not in ROLES:
        sys.exit(f"entrypoint: first argument must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "worker" and not os.environ.get("WORKER_ID"):
        os.environ["WORKER_ID"] = replica_name("worker") or socket.gethostname()
    with open(os.path.join(STATE_DIR, "role"), "w") as f:
        f.write(role)
    with open(os.path.join(STATE_DIR, "worker-id"), "w") as f:
        f.write(os.environ.get("WORKER_ID", ""))
    route_redis_link(role)
    sys.argv = [f"python -m system.{role}", *argv[1:]]
    runpy.run_module(f"system.{role}", run_name="__main__", alter_sys=True)


def route_redis_link(role: str) -> None:
    """With TOXIPROXY_URL, point REDIS_URL at this container's own proxy (system.proxy_link).

    Done here, in the process that then runs the app (runpy, no exec), so the thread that
    re-points the proxy after a failover lives as long as the app. TOXIPROXY_URL is removed
    afterwards, so an app that also calls route_through_toxiproxy does not proxy twice.
    """
    if not os.environ.get("TOXIPROXY_URL"):
        return
    from system.config import Settings
    from system.errors import ConfigError
    from system.proxy_link import route_through_toxiproxy

    try:
        routed = route_through_toxiproxy(Settings.from_env(), role=role)
    except ConfigError as exc:  # exit status 2 like any bad setting (docs/contracts.md)
        print(f"entrypoint: {exc}", file=sys.stderr)
        sys.exit(2)
    os.environ["REDIS_URL"] = routed.redis_url
    os.environ.pop("REDIS_SENTINELS", None)
    os.environ.pop("TOXIPROXY_URL", None)


if __name__ == "__main__":
    main(sys.argv[1:])
