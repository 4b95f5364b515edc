"""Browser tests share one way to find Chromium: skip without it, except under CI=true."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cdp import find_chromium  # noqa: E402


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path
