"""Slow-client attack on a gateway: hold half-sent requests and idle keep-alive connections,
and meanwhile probe /health; optionally compare server designs side by side in one run.

    python3 -m benchmarks.slowclients attack --url http://127.0.0.1:5000 --half 200 --idle 1000
    python3 -m benchmarks.slowclients compare --half 200 --idle 1000 --seconds 10

`attack` works against any gateway (local or compose's). `compare` starts one redis-server and,
one after the other, each server design on it (gunicorn gthread, gunicorn gevent, waitress),
and per design reports probe latencies under attack and single-submit req/s (wrk when
installed, else a small Python client). Every socket is on 127.0.0.1 and closed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HALF_HEADERS = (b"POST /tasks HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                b"Content-Length: 64\r\n")  # no blank line: the headers never end
HALF_BODY = (b"POST /tasks HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
             b"Content-Length: 64\r\n\r\n{\"type\": ")  # headers done, 55 body bytes never come
IDLE = b"GET /queues HTTP/1.1\r\nHost: gateway\r\n\r\n"  # one full request, then silence


@dataclass
class Flood:
    """Holds `half` half-sent requests and `idle` keep-alive connections open. A half-request
    the server drops is sent again at once (a patient slowloris), counted in `reopened`; an idle
    connection the server closes (its keep-alive timeout) is counted in `idle_closed` and not
    re-opened, since re-opening would turn idleness into a request flood, another attack."""

    host: str
    port: int
    half: int
    idle: int
    reopened: int = 0
    idle_closed: int = 0
    idle_answered: int = 0
    refused: int = 0
    _sel: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _answered: set[int] = field(default_factory=set)

    def __enter__(self) -> Flood:
        for i in range(self.half):
            self._open(HALF_HEADERS if i % 2 == 0 else HALF_BODY)
        for _ in range(self.idle):
            self._open(IDLE)
        self._thread = threading.Thread(target=self._keep, name="flood", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()

    def settle(self, timeout: float = 30.0) -> float:
        """Wait until every idle connection got the answer to its one request, so the probes
        meet idle connections, not the burst of their first requests; returns seconds waited."""
        start = time.monotonic()
        while self.idle_answered + self.idle_closed < self.idle and time.monotonic() - start < timeout:
            time.sleep(0.05)
        return time.monotonic() - start

    @property
    def open_count(self) -> int:
        return len(self._sel.get_map())

    def _open(self, payload: bytes) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
            sock.sendall(payload)
            sock.setblocking(False)
            self._sel.register(sock, selectors.EVENT_READ, payload)
        except OSError:
            self.refused += 1

    def _keep(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.2):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    if key.data == IDLE and key.fd not in self._answered:
                        self._answered.add(key.fd)  # the answer to its one request; it stays open
                        self.idle_answered += 1
                    continue
                self._sel.unregister(sock)
                self._answered.discard(key.fd)
                sock.close()
                if key.data == IDLE:
                    self.idle_closed += 1
                elif not self._stop.is_set():
                    self.reopened += 1
                    self._open(key.data)


def probe(host: str, port: int, *, count: int, timeout: float, interval: float = 0.2) -> list[float | None]:
    """GET /health on a fresh connection `count` times; seconds per answer, None when none came
    within `timeout` (any HTTP status is an answer: 503 'no workers' still shows the API is up)."""
    out: list[float | None] = []
    for _ in range(count):
        start = time.monotonic()
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            out.append(time.monotonic() - start)
        except OSError:
            out.append(None)
        finally:
            conn.close()
        time.sleep(interval)
    return out


def probe_summary(latencies: list[float | None], timeout: float) -> dict[str, object]:
    answered = sorted(x for x in latencies if x is not None and x <= timeout)
    return {"probes": len(latencies), "answered_within": len(answered), "timeout_s": timeout,
            "max_ms": round(max(answered) * 1000, 1) if answered else None,
            "median_ms": round(answered[len(answered) // 2] * 1000, 1) if answered else None}


def attack(url: str, *, half: int, idle: int, probes: int, timeout: float) -> dict[str, object]:
    """The whole attack against a running gateway; a JSON-ready summary."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with Flood(host, port, half, idle) as flood:
        held = flood.open_count
        settle_s = flood.settle()
        open_at_probes = flood.open_count
        summary = probe_summary(probe(host, port, count=probes, timeout=timeout), timeout)
        summary.update(half=half, idle=idle, held_at_start=held, settle_s=round(settle_s, 2),
                       open_at_probes=open_at_probes, reopened=flood.reopened,
                       idle_closed=flood.idle_closed, refused=flood.refused)
    return summary


WRK_LUA = """wrk.method = "POST"
wrk.body = '{"type": "noop", "data": "x"}'
wrk.headers["Content-Type"] = "application/json"
"""


def submit_rate(url: str, *, seconds: float, connections: int = 16) -> float:
    """Single-submit POST /tasks per second over keep-alive connections (wrk, 2 threads)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the throughput figure: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA)
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script.name,
                              f"{url}/tasks"], capture_output=True, text=True, timeout=seconds + 30).stdout
    finally:
        Path(script.name).unlink()
    rate = next(line for line in out.splitlines() if line.startswith("Requests/sec:"))
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(rate.split()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.slowclients", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("attack", help="attack a running gateway and probe /health")
    one.add_argument("--url", default="http://127.0.0.1:5000")
    both = sub.add_parser("compare", help="start each server design and measure it, side by side")
    both.add_argument("--seconds", type=float, default=10, help="wrk duration per design")
    both.add_argument("--designs", default="gthread,gevent,waitress")
    for p in (one, both):
        p.add_argument("--half", type=int, default=200, help="half-sent requests held open")
        p.add_argument("--idle", type=int, default=1000, help="idle keep-alive connections held open")
        p.add_argument("--probes", type=int, default=20)
        p.add_argument("--timeout", type=float, default=1.0, help="a probe counts when answered within this")
    args = parser.parse_args(argv)
    if args.command == "attack":
        print(json.dumps(attack(args.url, half=args.half, idle=args.idle, probes=args.probes,
                                timeout=args.timeout), indent=2))
    else:
        from benchmarks.slowclients_compare import compare

        for row in compare(args.designs.split(","), half=args.half, idle=args.idle, probes=args.probes,
                           timeout=args.timeout, seconds=args.seconds):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
