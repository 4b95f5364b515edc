"""WSGI entry for any server: `gunicorn 'system.gateway.wsgi:app'`."""

from system.gateway.app import create_app

app = create_app()
