"""Side-by-side benchmark of this task queue against Celery, RQ and Dramatiq on one Redis.

Run `python -m benchmarks.run --help`. The peers live in their own virtualenv
(`bash benchmarks/setup_peers.sh`) and are driven as subprocesses, so nothing here
imports them.
"""
