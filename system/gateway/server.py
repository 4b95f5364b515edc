"""gunicorn workers for the gateway: gevent (default) or gthread, both answering gunicorn's own
errors (bad request line, 414, 431, ...) as the app's JSON `{"error": {...}}` instead of HTML.

Why gevent: a gthread worker hands a connection to a thread as soon as it is readable and the
thread then blocks until the whole request arrived, so 16 half-sent requests take all 2x8
threads and /health stops answering (docs/hardening.md has the measurements). A gevent worker
reads each request in its own greenlet, bounded by the keep-alive timeout, so idle and slow
connections cost a greenlet each and never a thread.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

#: gunicorn's reason phrases -> the error codes the app uses for the same status.
ERROR_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
               431: "header_too_large", 500: "internal", 501: "not_implemented"}
HINTS = {414: "the request line is longer than the server accepts; send data in a JSON body",
         431: "a request header (or their number) is larger than the server accepts",
         400: "the request is not valid HTTP/1.1"}


def json_error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP response carrying {"error": {"code", "message"}}, closing the connection."""
    hint = HINTS.get(status)
    text = f"{message} ({hint})" if message and hint else (message or hint or reason)
    body = json.dumps({"error": {"code": ERROR_CODES.get(status, "http_error"), "message": text}})
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n")
    return head.encode("latin-1") + body.encode()


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for gunicorn.util.write_error (same signature), which writes an HTML page."""
    util.write_nonblock(sock, json_error_bytes(status_int, reason, mesg))


class _JsonErrors:
    """Mixin: gunicorn's Worker.handle_error builds status and message, then calls
    util.write_error; replacing that one function in the worker process changes only the body."""

    def init_process(self) -> None:
        util.write_error = write_json_error
        super().init_process()  # type: ignore[misc]


class JsonThreadWorker(_JsonErrors, ThreadWorker):
    """gthread with JSON errors (GATEWAY_WORKER_CLASS=gthread)."""


def gevent_worker() -> type:
    """The gevent worker class, imported only when chosen (gevent patches the process)."""
    from gunicorn.workers.base_async import AsyncWorker
    from gunicorn.workers.ggevent import GeventWorker

    class JsonGeventWorker(_JsonErrors, GeventWorker):
        """gevent with JSON errors (GATEWAY_WORKER_CLASS=gevent)."""

        def handle(self, listener: Any, client: Any, addr: Any) -> None:
            # gunicorn's GeventWorker.handle makes the socket blocking without a timeout, so a
            # client that stalls inside its body (or stops reading the answer) would hold its
            # greenlet and a connection slot forever; with a timeout every read and write waits
            # at most GATEWAY_KEEPALIVE_S.
            client.settimeout(self.cfg.keepalive)
            AsyncWorker.handle(self, listener, client, addr)

    return JsonGeventWorker


WORKER_CLASSES = {"gevent": "system.gateway.server.JsonGeventWorker",
                  "gthread": "system.gateway.server.JsonThreadWorker"}


def __getattr__(name: str) -> Any:
    # gunicorn loads the worker class by dotted name; build the gevent one on first access.
    if name == "JsonGeventWorker":
        return gevent_worker()
    raise AttributeError(name)


def gunicorn_options(*, worker_class: str, workers: int, threads: int, connections: int,
                     keepalive_s: int, bind: str) -> dict[str, Any]:
    """gunicorn settings for the gateway; pure, so tests and the benchmark read the same values."""
    return {"bind": bind, "workers": workers, "threads": threads, "worker_class": WORKER_CLASSES[worker_class],
            "worker_connections": connections, "timeout": 30, "graceful_timeout": 10, "keepalive": keepalive_s,
            "accesslog": None, "errorlog": "-", "loglevel": "info"}
