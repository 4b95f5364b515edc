"""Start-up shared by the gateway and worker commands: settings from env, logging, exit 2 on bad config."""

from __future__ import annotations

import logging
import sys

from system.config import Settings
from system.errors import ConfigError


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line overrides; exits 2 naming what is wrong."""
    try:
        settings = Settings.from_env()
        changes = {k: v for k, v in overrides.items() if v is not None}
        if changes:
            settings = settings.with_overrides(**changes)
            problems = settings.problems()
            if problems:
                raise ConfigError("; ".join(problems))
        return settings
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
