"""Readers for one node of a YAML document: each checks a value, records a precise problem
(path in the document + what would be valid) and returns None instead of raising, so the
loader can collect every error of a file in one pass. Internal to the loader."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from harness.units import DurationError, parse_duration


class Problems:
    """Collected errors of one file, each `FILE: path: message`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def add(self, path: str, message: str) -> None:
        where = f"{path}: " if path else ""
        self.errors.append(f"{self.source}: {where}{message}")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            type(None): "empty"}.get(type(value), f"{type(value).__name__} {value!r}")


def mapping(p: Problems, node: Any, path: str, allowed: Sequence[str],
            required: Sequence[str] = (), what: str = "") -> dict | None:
    """A mapping with only `allowed` keys and all `required` ones (reports each problem)."""
    if not isinstance(node, dict):
        p.add(path, f"expected a mapping{what}, got {describe(node)}")
        return None
    for key in node:
        if key not in allowed:
            p.add(join(path, str(key)), f"unknown key{suggest(key, allowed)}; allowed here: {', '.join(allowed)}")
    for key in required:
        if key not in node:
            p.add(join(path, key), f"missing; required here{what}")
    return node


def choice(p: Problems, value: Any, path: str, choices: Sequence[str]) -> str | None:
    if not isinstance(value, str) or value not in choices:
        p.add(path, f"{value!r} is not valid{suggest(value, choices) if isinstance(value, str) else ''}; "
                    f"use one of: {', '.join(choices)}")
        return None
    return value


def integer(p: Problems, value: Any, path: str, *, low: int | None = None, high: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        p.add(path, f"expected a whole number, got {describe(value)}")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        p.add(path, f"{value} is out of range; use {_range(low, high)}")
        return None
    return value


def number(p: Problems, value: Any, path: str, *, low: float | None = None, high: float | None = None,
           exclusive_low: bool = False) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        p.add(path, f"expected a number, got {describe(value)}")
        return None
    if (low is not None and (value < low or (exclusive_low and value == low))) or \
            (high is not None and value > high):
        bound = f"a number above {low:g}" if exclusive_low and high is None else _range(low, high)
        p.add(path, f"{value} is out of range; use {bound}")
        return None
    return float(value)


def duration(p: Problems, value: Any, path: str, *, positive: bool = False) -> float | None:
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        p.add(path, str(exc))
        return None
    if positive and seconds <= 0:
        p.add(path, f"must be longer than 0, got {value!r}")
        return None
    return seconds


def boolean(p: Problems, value: Any, path: str) -> bool | None:
    if not isinstance(value, bool):
        p.add(path, f"expected true or false, got {describe(value)}")
        return None
    return value


def text(p: Problems, value: Any, path: str) -> str | None:
    if not isinstance(value, str):
        p.add(path, f"expected a string, got {describe(value)}")
        return None
    return value


def sequence(p: Problems, value: Any, path: str) -> list | None:
    if not isinstance(value, list):
        p.add(path, f"expected a list (lines starting with '- '), got {describe(value)}")
        return None
    return value


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a value from {low:g} to {high:g}"
    if low is not None:
        return f"{low:g} or more"
    return f"{high:g} or less"
