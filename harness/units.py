"""Durations in scenario files: "10s", "500ms", "2m", "1h" -> float seconds.

Public: parse_duration(value) -> float, format_duration(seconds) -> str, DurationError.
A bare number is not accepted: a unit must be written so that "10" cannot mean ms to one
reader and seconds to another. Whitespace inside ("10 s") is an error with a hint.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what would be valid."""


def parse_duration(value: object) -> float:
    """Seconds from a duration string; raises DurationError with a hint."""
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise DurationError(f"{value!r} has no unit; write e.g. \"{value}s\" or \"{value}ms\"")
        raise DurationError(f"expected a duration like \"10s\", \"500ms\" or \"2m\", got {value!r}")
    text = value.strip()
    match = _PATTERN.fullmatch(text)
    if match is None:
        squeezed = re.sub(r"\s+", "", text)
        if squeezed != text and _PATTERN.fullmatch(squeezed):
            raise DurationError(f"{value!r} has a space; write {squeezed!r}")
        if re.fullmatch(r"\d+(?:\.\d+)?", squeezed):
            raise DurationError(f"{value!r} has no unit; write e.g. \"{squeezed}s\" or \"{squeezed}ms\"")
        lower = squeezed.lower()
        for long, short in (("msec", "ms"), ("millis", "ms"), ("sec", "s"), ("min", "m")):
            if lower.endswith(long) or lower.endswith(long + "s") or lower.endswith(long + "onds"):
                number = re.match(r"\d+(?:\.\d+)?", lower)
                if number:
                    raise DurationError(f"{value!r}: write {number.group(0) + short!r}")
        raise DurationError(f"expected a duration like \"10s\", \"500ms\", \"2m\" or \"1h\", got {value!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise DurationError(f"{value!r} is too large")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact string parse_duration reads back ("1.5s", "250ms", "2m")."""
    if seconds != 0 and seconds < 1:
        ms = round(seconds * 1000, 3)
        return f"{ms:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{round(seconds, 3):g}s"
