"""What an open dashboard costs the queue: drain throughput with and without one open in Chromium.

    python -m benchmarks.dashboard_cost --rounds 5 --n 5000

One Redis, one gateway (`python -m system.gateway`, where the dashboard's stream is served) and
2 default workers; each round drains N no-ops through the gateway three ways, in rotating order:
`closed` (no dashboard), `stream` (a plain client reading /dashboard/stream: what the gateway and
Redis pay) and `browser` (a headless Chromium showing /dashboard with its stream live, on this
same 2-core machine, so its rendering competes with the workers as it would not on a user's
own computer). Prints each round and the median ratio to `closed`; the target is within 5 %.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import redis

from benchmarks.procs import Launcher
from benchmarks.project import ProjectGateway
from benchmarks.redis_server import RedisServer
from benchmarks.scenarios import Sizes, drain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from cdp import Browser, find_chromium  # noqa: E402


def open_dashboard(url: str) -> Browser:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    browser = Browser(chromium).__enter__()
    browser.open(url, ready="document.body.dataset.frames >= 2", timeout=30)
    return browser


class StreamReader:
    """Reads the dashboard's event stream in a thread, as a browser tab would, without rendering."""

    def __init__(self, url: str) -> None:
        import threading

        import requests
        self.frames = 0
        self._response = requests.get(url, stream=True, timeout=10)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines():
                if line.startswith(b"event: frame"):
                    self.frames += 1
        except Exception:  # noqa: BLE001 - closed by close()
            pass

    def close(self) -> None:
        self._response.close()
        self._thread.join(timeout=5)


MODES = ("closed", "stream", "browser")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (each drains once per mode)")
    parser.add_argument("--n", type=int, default=5000, help="no-op tasks per drain")
    args = parser.parse_args(argv)
    launcher = Launcher(Path(tempfile.mkdtemp(prefix="dashboard-cost-")))
    rows = []
    try:
        with RedisServer(launcher=launcher) as server:
            sut = ProjectGateway(launcher=launcher, redis_url=server.url)
            sut.open()
            r = redis.Redis.from_url(server.url)
            sizes = Sizes(drain_n=args.n)
            base = f"http://127.0.0.1:{sut._port}"
            for round_ in range(args.rounds):
                result = {}
                for mode in MODES[round_ % 3:] + MODES[:round_ % 3]:
                    with ExitStack() as stack:
                        if mode == "browser":
                            browser = open_dashboard(base + "/dashboard")
                            stack.callback(browser.__exit__, None, None, None)
                        elif mode == "stream":
                            stack.callback(StreamReader(base + "/dashboard/stream").close)
                        result[mode] = drain(sut, r, sizes)["drain_per_s"]
                rows.append(result)
                print(f"round {round_ + 1}: " + "  ".join(f"{m} {result[m]:,.0f}/s" for m in MODES), flush=True)
            sut.close()
    finally:
        launcher.stop_all()
    for mode in MODES[1:]:
        ratios = [row[mode] / row["closed"] for row in rows]
        print(f"{mode}/closed: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, "
              f"max {max(ratios):.3f}) over {len(rows)} rounds of {args.n} no-ops")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
