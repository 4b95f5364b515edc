"""The Flask application factory and the JSON error contract.

Every error leaves as {"error": {"code", "message"}}; nothing a client sends can crash it.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from system.broker import Broker
from system.config import Settings
from system.errors import TaskQueueError
from system.gateway.dashboard import dashboard
from system.gateway.guard import Guard, Unauthorized
from system.gateway.routes import api
from system.tracing import gateway_tracing

log = logging.getLogger("system.gateway")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, **extra: object):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def create_app(settings: Settings | None = None, *, broker: Broker | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("system.gateway")
    # One byte of slack: werkzeug silently truncates a chunked body at the limit, so routes read
    # up to limit + 1 and answer 413 themselves when they got more than the limit.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["broker"] = broker or Broker(settings)
    app.extensions["settings"] = settings
    guard = app.extensions["guard"] = Guard.from_settings(settings)
    app.extensions["tracing"] = gateway_tracing(settings)  # None when off
    app.register_blueprint(api)
    app.register_blueprint(dashboard)

    @app.before_request
    def _guard() -> None:
        guard.check_host(request.host, request.path)
        g.access = guard.check(request.method, request.path, request.headers.get("Authorization"))

    @app.errorhandler(TaskQueueError)
    def _domain_error(exc: TaskQueueError):
        extra = getattr(exc, "details", None)
        response, status = error_response(exc.status, exc.code, str(exc), **({"details": extra} if extra else {}))
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:  # Redis trouble (503/507) or back-pressure: retryable, say when
            response.headers["Retry-After"] = str(retry_after)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="taskqueue"'
        return response, status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        allowed = sorted(getattr(exc, "valid_methods", None) or ())
        if status == 413:
            message = f"request body is larger than the limit of {settings.max_payload_bytes} bytes " \
                      "(MAX_PAYLOAD_BYTES)"
        elif status == 404:
            message = f"no route {request.method} {request.path}; GET / lists the endpoints"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}"
        response, status = error_response(status, HTTP_CODES.get(status, "http_error"), message)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")

    return app
