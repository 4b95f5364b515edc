"""`python -m system.worker.probe`: the Kubernetes exec probe on a worker's heartbeat, on a real Redis."""

from __future__ import annotations

import pytest

from system.broker import Broker
from system.worker import probe
from tests.support.servers import free_port


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str],
         *args: str) -> tuple[int, str]:
    for name in ("REDIS_SENTINELS", "WORKER_ID", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = probe.main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_registered_worker_is_ready_and_live(broker: Broker, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    broker.heartbeat("pod-a", {"started": 1})
    env = {"REDIS_URL": broker.settings.redis_url, "WORKER_ID": "pod-a"}
    assert _run(monkeypatch, capsys, env) == (0, "healthy\n")
    assert _run(monkeypatch, capsys, env, "--liveness") == (0, "healthy\n")


def test_worker_without_heartbeat_fails_both_probes(broker: Broker, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broker.heartbeat("pod-a", {"started": 1})
    env = {"REDIS_URL": broker.settings.redis_url, "WORKER_ID": "pod-b"}
    for args in ((), ("--liveness",)):
        code, out = _run(monkeypatch, capsys, env, *args)
        assert code == 1 and "'pod-b' is not registered" in out


def test_unreachable_redis_is_not_ready_but_still_live(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "WORKER_ID": "pod-a",
           "REDIS_SOCKET_TIMEOUT": "0.5"}
    code, out = _run(monkeypatch, capsys, env)
    assert code == 1 and "cannot reach Redis" in out
    assert _run(monkeypatch, capsys, env, "--liveness") == (0, "healthy\n")


def test_missing_worker_id_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(monkeypatch, capsys, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert code == 2 and "WORKER_ID is not set" in out
