"""`python -m system.worker.probe [--liveness]`: a worker's health for an orchestrator's exec probe.

The worker's health is its heartbeat: `worker:<WORKER_ID>` exists in Redis only while the node
refreshes it (every HEARTBEAT_INTERVAL_MS, expiring after WORKER_TTL_MS). A separate process
cannot know the default id (hostname-pid-random), so WORKER_ID must be set; the Kubernetes
manifests set it to the pod name.
- readiness (default): healthy only when the registration exists; Redis unreachable is not ready.
- liveness (`--liveness`): unhealthy only when Redis answers and the registration is missing,
  i.e. this worker stopped heartbeating while Redis is fine. With Redis unreachable the probe
  cannot tell and passes, so a Redis outage does not restart every worker at once.
Exit status: 0 healthy, 1 not (the reason on stdout), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import sys

from system.broker import Broker
from system.cli_common import load_settings
from system.errors import BrokerUnavailable


def check(broker: Broker, worker_id: str, *, liveness: bool) -> str | None:
    """None when healthy, else why not."""
    try:
        registered = broker.is_registered(worker_id)
    except BrokerUnavailable as exc:
        return None if liveness else f"cannot reach Redis: {exc}"
    return None if registered else f"worker {worker_id!r} is not registered (no heartbeat within WORKER_TTL_MS)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m system.worker.probe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--liveness", action="store_true",
                        help="fail only when Redis answers and the registration is missing")
    args = parser.parse_args(argv)
    settings = load_settings()
    if not settings.worker_id:
        print("error: WORKER_ID is not set: the probe checks the registration of that id "
              "(set it for the worker, e.g. from the pod name)", file=sys.stderr)
        return 2
    broker = Broker(settings)
    try:
        problem = check(broker, settings.worker_id, liveness=args.liveness)
    finally:
        broker.client.close()
    print(problem or "healthy")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
