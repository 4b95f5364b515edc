"""Outcome checks over task records, shared by the process-level tests.

The records (with their event histories) are the only evidence: what a test asserts about
delivery it reads from `GET /tasks/<id>`-shaped records, never from worker internals.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from system.broker import Broker

FINAL = ("succeeded", "dead")
ENDS_ATTEMPT = ("lease_expired", "failed", "released")


def wait_final(broker: Broker, ids: Sequence[str], *, timeout: float,
               statuses: Sequence[str] = FINAL) -> list[dict[str, Any]]:
    """Poll until every task is in one of `statuses`; fail naming the ones that are not."""
    deadline = time.monotonic() + timeout
    while True:
        records = broker.get_many(ids, events=True)
        pending = [r for r in records if r["status"] not in statuses]
        if len(records) == len(ids) and not pending:
            return records
        if time.monotonic() > deadline:
            counts = Counter(r["status"] for r in records)
            raise AssertionError(f"after {timeout}s {len(pending)} of {len(ids)} tasks are not "
                                 f"{'/'.join(statuses)} ({dict(counts)}; {len(ids) - len(records)} missing); "
                                 f"first: {pending[:1]}")
        time.sleep(0.1)


def problems(record: dict[str, Any]) -> list[str]:
    """Delivery violations in one record: a second success, or a re-run nothing explains."""
    found = []
    names = [e["event"] for e in record["events"]]
    if names.count("succeeded") > 1:
        found.append("two succeeded events")
    holding, latest = False, None
    for event in record["events"]:
        if event["event"] == "claimed":
            if holding:
                found.append(f"claimed again (token {event['token']}) while an attempt was still live")
            holding, latest = True, event["token"]
        elif event["event"] in ("succeeded", "failed") and event["token"] != latest:
            found.append(f"{event['event']} applied for token {event['token']}, latest claim {latest}")
        if event["event"] in ENDS_ATTEMPT:
            holding = False
    if record["status"] == "succeeded":
        success, = [e for e in record["events"] if e["event"] == "succeeded"]
        if success["token"] != record["token"]:
            found.append(f"success applied for token {success['token']}, latest is {record['token']}")
    return found


def assert_delivered(records: Sequence[dict[str, Any]], *, statuses: Sequence[str] = FINAL) -> None:
    """Every task ended in `statuses` and each history passes problems()."""
    bad = {r["id"]: [f"status {r['status']}"] for r in records if r["status"] not in statuses}
    for record in records:
        if problems(record):
            bad.setdefault(record["id"], []).extend(problems(record))
    assert not bad, f"delivery violations: {bad}"


def events(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in record["events"] if e["event"] == name]
