"""The HTTP API gateway (Flask, served by gunicorn)."""

from system.gateway.app import create_app

__all__ = ["create_app"]
