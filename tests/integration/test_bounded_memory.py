"""Bounded memory against a real redis-server: back-pressure before Redis refuses writes, a
capped and expiring dead-letter queue, capped event lists, list pages of bounded size, and an
echo result that does not store the data twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from system.broker import Broker, Claim, Outcome
from system.errors import Backpressure
from system.gateway import create_app
from system.model import TaskSpec, parse_task
from tests.support.servers import wait_until


def spec(kind: str = "echo", data: Any = "x", **fields: Any) -> TaskSpec:
    return parse_task({"type": kind, "data": data, **fields}, default_max_retries=0, default_timeout=30.0)


def variant(broker: Broker, **overrides: Any) -> Broker:
    """Another Broker on the same Redis with other limits (its scripts carry the new limits)."""
    return Broker(broker.settings.with_overrides(**overrides), client=broker.client)


def kill(broker: Broker, claim: Claim) -> None:
    assert broker.finish("w", [Outcome(claim.id, claim.token, False, "boom")]) == ["dead"]


@pytest.fixture
def memory_limit(broker: Broker) -> Iterator[int]:
    """Give the test Redis a maxmemory just above what it uses now; lifted afterwards."""
    used = int(broker.client.info("memory")["used_memory"])
    broker.client.config_set("maxmemory", used + 2_000_000)
    broker.client.config_set("maxmemory-policy", "noeviction")
    yield used + 2_000_000
    broker.client.config_set("maxmemory", 0)


# --- back-pressure ------------------------------------------------------------------

def test_max_queued_refuses_a_submit_and_stores_nothing(broker: Broker) -> None:
    small = variant(broker, max_queued=3, backpressure_retry_after_s=7)
    small.submit([spec(), spec()])
    keys_before = set(broker.client.keys("*"))
    with pytest.raises(Backpressure) as refused:
        small.submit([spec(), spec()])  # 2 + 2 > 3: the whole batch is refused
    assert refused.value.retry_after_s == 7 and "MAX_QUEUED" in str(refused.value)
    assert set(broker.client.keys("*")) == keys_before
    assert broker.stats()["submitted"] == 2
    small.submit([spec()])  # exactly at the limit is fine
    broker.claim("w", 2)
    small.submit([spec(), spec()])  # claimed tasks are no longer queued


def test_memory_budget_answers_503_with_retry_after_before_redis_refuses(broker: Broker,
                                                                         memory_limit: int) -> None:
    app = create_app(broker.settings.with_overrides(submit_memory_budget=0.5), broker=variant(
        broker, submit_memory_budget=0.5))
    client = app.test_client()
    statuses = []
    big = "x" * 50_000
    for _ in range(80):  # 4 MB of data against a 2 MB headroom: the budget must say stop first
        response = client.post("/tasks", json={"type": "echo", "data": big})
        statuses.append(response.status_code)
        if response.status_code == 503:
            break
    assert statuses[-1] == 503, statuses
    body = response.get_json()
    assert body["error"]["code"] == "backpressure" and "SUBMIT_MEMORY_BUDGET" in body["error"]["message"]
    assert response.headers["Retry-After"] == str(broker.settings.backpressure_retry_after_s)
    stored = broker.stats()["submitted"]
    assert stored == statuses.count(202) and broker.client.zcard(broker.keys.index) == stored
    assert int(broker.client.info("memory")["used_memory"]) < memory_limit  # Redis never refused


# --- dead tasks ---------------------------------------------------------------------

def test_dead_letter_queue_is_capped_dropping_the_oldest_with_its_record(broker: Broker) -> None:
    capped = variant(broker, dead_max=3)
    ids = [task_id for task_id, _ in capped.submit([spec("noop") for _ in range(5)])]
    for claim in capped.claim("w", 5):
        kill(capped, claim)
    dead, total = capped.dead_letters()
    kept = {r["id"] for r in dead}
    assert total == 3 and len(kept) == 3  # (all died in the same ms here: ties go by id)
    for gone in set(ids) - kept:
        assert not broker.client.exists(broker.keys.task(gone), broker.keys.events(gone))
    for task_id in kept:
        assert broker.client.exists(broker.keys.task(task_id), broker.keys.events(task_id)) == 2


def test_dead_tasks_expire_and_a_redriven_task_no_longer_does(broker: Broker) -> None:
    short = variant(broker, dead_ttl_s=1)
    first, second = (task_id for task_id, _ in short.submit([spec("noop"), spec("noop")]))
    for claim in short.claim("w", 2):
        kill(short, claim)
    assert 0 < broker.client.ttl(broker.keys.task(first)) <= 1
    assert 0 < broker.client.ttl(broker.keys.events(first)) <= 1
    short.redrive(second)
    assert broker.client.ttl(broker.keys.task(second)) == -1  # alive again: kept
    assert broker.client.ttl(broker.keys.events(second)) == -1
    wait_until(lambda: not broker.client.exists(broker.keys.task(first)), timeout=5,
               message="the dead task's record to expire")
    claim, = short.claim("w", 1)
    kill(short, claim)  # the next death also clears expired entries from the dead queue
    assert [r["id"] for r in short.dead_letters()[0]] == [second] and short.dead_letters()[1] == 1


# --- events -------------------------------------------------------------------------

def test_events_are_capped_keeping_the_first_and_the_newest(broker: Broker) -> None:
    capped = variant(broker, max_events=6)
    task_id, = (i for i, _ in capped.submit([spec("noop")]))
    for _ in range(10):  # each round: claimed, started (with the failure: worker-robust), failed, dead, redriven
        claim, = capped.claim("w", 1)
        kill(capped, claim)
        capped.redrive(task_id)
    events = broker.get(task_id)["events"]
    assert len(events) == 6
    assert events[0]["event"] == "submitted"
    assert [e["event"] for e in events[-5:]] == ["claimed", "started", "failed", "dead", "redriven"]


# --- list pages ---------------------------------------------------------------------

def test_list_pages_leave_out_large_fields_and_keep_a_byte_budget(broker: Broker) -> None:
    lister = variant(broker, list_field_bytes=100, list_page_bytes=3_000)
    big = "y" * 5000
    ids = [task_id for task_id, _ in lister.submit([spec("echo", big) for _ in range(10)])]
    small_id, = (i for i, _ in lister.submit([spec("echo", "small")]))
    app = create_app(lister.settings, broker=lister)
    client = app.test_client()
    first = client.get("/tasks?limit=100").get_json()
    assert 0 < first["count"] < 11 and first["next_cursor"]
    by_id = {t["id"]: t for t in first["tasks"]}
    if small_id in by_id:
        assert by_id[small_id]["data"] == "small" and "omitted" not in by_id[small_id]
    record = next(t for t in first["tasks"] if t["id"] != small_id)
    assert record["data"] is None and record["omitted"] == ["data"]
    assert len(json.dumps(first)) < 3_000 + 200  # the byte budget, plus the envelope
    seen = [t["id"] for t in first["tasks"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/tasks?limit=100&cursor={cursor}").get_json()
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted([*ids, small_id])  # the cursor resumes where the budget stopped
    assert client.get(f"/tasks/{ids[0]}").get_json()["data"] == big  # in full by id


def test_dead_letter_page_keeps_the_byte_budget(broker: Broker) -> None:
    lister = variant(broker, list_field_bytes=100, list_page_bytes=5_000)
    lister.submit([spec("noop", {"pad": "z" * 50}) for _ in range(100)])
    for claim in lister.claim("w", 100):
        kill(lister, claim)
    page = create_app(lister.settings, broker=lister).test_client().get("/dlq?limit=100").get_json()
    assert page["total"] == 100 and 0 < page["count"] < 100
    assert len(json.dumps(page)) < 5_000 + 200  # the budget, plus the envelope


# --- echo result --------------------------------------------------------------------

def test_an_echo_result_is_stored_once(broker: Broker) -> None:
    data = {"blob": "q" * 4000}
    task_id, = (i for i, _ in broker.submit([spec("echo", data)]))
    claim, = broker.claim("w", 1)
    payload = json.dumps(claim.data, separators=(",", ":"))
    assert broker.finish("w", [Outcome(claim.id, claim.token, True, payload)]) == ["ok"]
    assert not broker.client.hexists(broker.keys.task(task_id), "result")
    assert broker.get(task_id)["result"] == data


def test_gateway_answers_503_json_under_backpressure_over_http(broker: Broker, spawn, ) -> None:
    from tests.support.servers import free_port, wait_for_gateway

    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=1,
          max_queued=1)
    url = wait_for_gateway(f"http://127.0.0.1:{port}")
    assert requests.post(url + "/tasks", json={"type": "noop"}, timeout=5).status_code == 202
    refused = requests.post(url + "/tasks", json={"type": "noop"}, timeout=5)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.json()["error"]["code"] == "backpressure"
