"""The live dashboard: a static page (no CDN) and a server-sent event stream of the queue's state.

Why one feed per gateway process: every open dashboard reads the same frame, refreshed from Redis
at most once a second, so ten open tabs cost what one does. A stream ends after
DASHBOARD_STREAM_MAX_S and the page reconnects, so a gateway thread is never held forever, and a
process serves at most DASHBOARD_MAX_STREAMS at once (503 beyond) so dashboards cannot take the
threads the API needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, stream_with_context

from system.broker import Broker
from system.errors import Busy, TaskQueueError
from system.gateway.livestats import Snapshot, Window

dashboard = Blueprint("dashboard", __name__)

STATIC = {"dashboard.html": "text/html; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8",
          "dashboard.css": "text/css; charset=utf-8", "chaos.js": "text/javascript; charset=utf-8"}
# The page may call a `harness up` session's control server (chaos.js): on this machine only.
CSP = ("default-src 'self'; img-src 'self' data:; "
       "connect-src 'self' http://127.0.0.1:* http://localhost:*")
FRAME_INTERVAL_S = 1.0
STREAM_MAX_S = 300.0
MAX_STREAMS = 4


class LiveFeed:
    """The latest dashboard frame of this process, refreshed from Redis when it is older than
    FRAME_INTERVAL_S; keeps the chart window shared by every stream."""

    def __init__(self, broker: Broker, *, clock: Callable[[], float] = time.time) -> None:
        self.broker = broker
        self.clock = clock
        self.window = Window()
        self._lock = threading.Lock()
        self._frame: dict[str, Any] | None = None
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)

    def frame(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            if self._frame is None or now - self._frame["t"] >= FRAME_INTERVAL_S * 0.9:
                self._frame = self._read(now)
            return self._frame

    def history(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.window.series()

    def _read(self, now: float) -> dict[str, Any]:
        b = self.broker
        try:
            workers, leader = b.workers()
            queues = b.queue_depths()
            stats = b.stats()
            buckets, _ = b.latency_histogram()
        except TaskQueueError as exc:
            return {"t": now, "ok": False, "error": str(exc)}
        self.window.add(Snapshot(now, stats, buckets, gauges=queues))
        return {"t": now, "ok": True, "workers": workers, "leader": leader, "queues": queues,
                "stats": stats, "point": self.window.point()}


def _feed() -> LiveFeed:
    app = current_app
    feed = app.extensions.get("dashboard_feed")
    if feed is None:
        with _FEED_LOCK:
            feed = app.extensions.setdefault("dashboard_feed", LiveFeed(app.extensions["broker"]))
    return feed


_FEED_LOCK = threading.Lock()


def sse(event: str, data: Any) -> str:
    """One server-sent event (the data is one JSON line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _frames(feed: LiveFeed, *, max_s: float) -> Iterator[str]:
    started = time.monotonic()
    yield "retry: 1000\n\n"
    yield sse("history", feed.history())
    while time.monotonic() - started < max_s:
        yield sse("frame", feed.frame())
        time.sleep(FRAME_INTERVAL_S)
    yield sse("bye", {"reason": "stream time limit; reconnect"})


class _Stream:
    """The response body of one stream; gives its slot back on close(), which the server calls
    when the client goes away or the stream ends, even if no frame was ever sent (a generator's
    `finally` would not run then)."""

    def __init__(self, feed: LiveFeed, frames: Iterator[str]) -> None:
        self._feed, self._frames, self._closed = feed, frames, False

    def __iter__(self) -> Iterator[str]:
        return self._frames

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._frames.close()  # type: ignore[attr-defined]
            self._feed.streams.release()


@dashboard.get("/dashboard")
def page() -> Response:
    return _static("dashboard.html")


@dashboard.get("/dashboard/<name>")
def asset(name: str) -> Response:
    if name not in STATIC:
        from werkzeug.exceptions import NotFound
        raise NotFound()
    return _static(name)


def _static(name: str) -> Response:
    body = resources.files("system.gateway").joinpath("static", name).read_bytes()
    response = Response(body, mimetype=STATIC[name])
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CSP
    return response


@dashboard.get("/dashboard/stream")
def stream() -> Response:
    feed = _feed()
    if not feed.streams.acquire(blocking=False):
        raise Busy(f"this gateway process already serves {MAX_STREAMS} dashboard streams; "
                          "close a dashboard tab or retry later")
    max_s = float(current_app.config.get("DASHBOARD_STREAM_MAX_S", STREAM_MAX_S))
    body = _Stream(feed, stream_with_context(_frames(feed, max_s=max_s)))
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a buffering proxy in front must pass events on
    return response
