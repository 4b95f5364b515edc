"""`python -m system.gateway`: serve the API with gunicorn (gevent by default, see server.py);
`--dev` for Flask's server."""

from __future__ import annotations

import argparse
import logging
import sys

from gunicorn.app.base import BaseApplication

from system.cli_common import load_settings, setup_logging
from system.config import Settings
from system.errors import ConfigError
from system.gateway.guard import bind_host, start_message
from system.gateway.server import gunicorn_options

log = logging.getLogger("system.gateway")


class GatewayServer(BaseApplication):
    """gunicorn configured from Settings; the app is built in each worker process (no preload),
    so every process has its own Redis connection pool."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = gunicorn_options(worker_class=s.gateway_worker_class, workers=s.gateway_workers,
                                   threads=s.gateway_threads, connections=s.gateway_connections,
                                   keepalive_s=s.gateway_keepalive_s, bind=f"{bind_host(s)}:{s.gateway_port}")
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        # imported here, in the worker after gevent patched it, so redis-py never sees unpatched sockets
        from system.gateway.app import create_app

        return create_app(self.settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m system.gateway", description=__doc__)
    parser.add_argument("--dev", action="store_true", help="Flask's debug server (not for load)")
    parser.add_argument("--port", type=int, help="override GATEWAY_PORT")
    args = parser.parse_args(argv)
    setup_logging()
    settings = load_settings(gateway_port=args.port)
    try:
        log.log(logging.INFO if settings.gateway_api_token else logging.WARNING, start_message(settings))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.dev:
        from system.gateway.app import create_app

        # load_dotenv=False: the .env beside docker-compose.yml holds compose defaults, not settings
        create_app(settings).run(host=bind_host(settings), port=settings.gateway_port, threaded=True,
                                 load_dotenv=False)
    else:
        GatewayServer(settings).run()


if __name__ == "__main__":
    main()
