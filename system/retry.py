"""Retry policy: exponential backoff with jitter, as a pure function."""

from __future__ import annotations

import random


def backoff_ms(failures: int, *, base_ms: int, cap_ms: int, rng: random.Random | None = None) -> int:
    """Delay before the next attempt after `failures` failed attempts (1 = first failure).

    "Equal jitter": half the exponential delay is fixed, half random, so retries of many
    tasks that failed together spread out, yet none retries immediately.
    """
    if failures < 1:
        raise ValueError("failures counts failed attempts and starts at 1")
    rng = rng or random
    ceiling = min(cap_ms, base_ms * 2 ** min(failures - 1, 32))
    half = ceiling / 2
    return int(half + rng.uniform(0, half))
