"""`python -m system.worker`: run one worker node until SIGTERM/SIGINT (graceful) or SIGKILL."""

from __future__ import annotations

import argparse
import signal

from system.cli_common import load_settings, setup_logging
from system.worker.node import WorkerNode


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m system.worker", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when no work is left")
    parser.add_argument("--concurrency", type=int, help="override WORKER_CONCURRENCY")
    parser.add_argument("--id", dest="worker_id", help="override WORKER_ID")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    settings = load_settings(worker_concurrency=args.concurrency, worker_id=args.worker_id)
    node = WorkerNode(settings, burst=args.burst)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: node.stop())
    node.run()


if __name__ == "__main__":
    main()
