"""WSGI entry for any server: `gunicorn 'system.gateway.wsgi:app'`.

The server chooses the bind address here, so the loopback-only rule of `python -m system.gateway`
(system.gateway.guard.bind_host) does not apply: set GATEWAY_API_TOKEN when serving beyond loopback.
"""

from system.gateway.app import create_app

app = create_app()
