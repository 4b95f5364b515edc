"""A Redis-backed distributed task queue: Flask gateway, pull-based workers, at-least-once delivery."""

__version__ = "0.1.0"
