"""A slow-client flood (slowloris): N connections that each send half an HTTP request and hold it.

Bounded by design: at most loader.MAX_CONNECTIONS sockets, only to the gateway address the
backend gives (127.0.0.1 or the container network), one background thread that adds a header
line to each open socket every `trickle_s` (so a server with a per-read idle timeout still
sees a live client), and every socket closed by `close`, which the fault's end and the heal
phase call.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

HALF_REQUEST = (b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 4096\r\n")          # no blank line: the headers never end


class SlowFlood:
    def __init__(self, url: str, *, connections: int, trickle_s: float = 2.0,
                 connect_timeout: float = 1.0) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.connections = connections
        self.trickle_s = trickle_s
        self.connect_timeout = connect_timeout
        self.sockets: list[socket.socket] = []
        self.errors: list[str] = []
        self.dropped = 0                   # sockets the server closed on us during the window
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def open(self) -> int:
        """Open the connections, send each half a request; returns how many are held."""
        for _ in range(self.connections):
            try:
                s = socket.create_connection(self.address, timeout=self.connect_timeout)
                s.sendall(HALF_REQUEST)
            except OSError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self.sockets.append(s)
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self._thread.start()
        return len(self.sockets)

    def _trickle(self) -> None:
        n = 0
        while not self._stop.wait(self.trickle_s):
            n += 1
            with self._lock:
                alive = []
                for s in self.sockets:
                    try:
                        s.sendall(b"X-Slow-%d: 1\r\n" % n)
                        alive.append(s)
                    except OSError:
                        self.dropped += 1
                        s.close()
                self.sockets = alive

    def close(self) -> dict[str, int]:
        """Close every socket; returns how many were still held and how many the server dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            held = len(self.sockets)
            for s in self.sockets:
                s.close()
            self.sockets = []
        return {"held_at_end": held, "dropped_by_server": self.dropped}
