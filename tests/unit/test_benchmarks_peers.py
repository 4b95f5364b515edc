"""The peers' worker commands carry the settings the report states (no peer is imported)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.peer_systems import PEERS
from benchmarks.procs import Launcher


def _argv(name: str, profile: str) -> list[str]:
    sut = PEERS[name](launcher=Launcher(Path("/nonexistent")), redis_url="redis://127.0.0.1:1/0")
    argv, env, _ = sut.worker_command(1, profile=profile)
    assert env["BENCH_REDIS_URL"] == "redis://127.0.0.1:1/0" and env["BENCH_PROFILE"] == profile
    return argv


def test_celery_runs_prefork_with_one_child() -> None:
    argv = _argv("celery", "default")
    assert argv[argv.index("--pool") + 1] == "prefork" and argv[argv.index("--concurrency") + 1] == "1"


def test_rq_short_profile_shortens_the_worker_ttl_and_maintenance() -> None:
    assert "--worker-ttl" not in _argv("rq", "default")
    short = _argv("rq", "short")
    assert short[short.index("--worker-ttl") + 1] == "20"
    assert short[short.index("--maintenance-interval") + 1] == "5"
    assert _argv("rq", "priority")[-3:] == ["high", "default", "low"]


def test_dramatiq_variants_differ_only_in_threads() -> None:
    eight, one = _argv("dramatiq-8t", "default"), _argv("dramatiq-1t", "default")
    assert eight[eight.index("--threads") + 1] == "8" and one[one.index("--threads") + 1] == "1"
    assert PEERS["dramatiq-1t"](launcher=Launcher(Path("/x")), redis_url="r").scenarios == ("drain", "latency")
