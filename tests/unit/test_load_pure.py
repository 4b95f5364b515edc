"""The load generator's pure parts: outcomes of an answer, headers, the lag histogram."""

from __future__ import annotations

import json

import pytest

from harness.load import LoadCounters, outcome_of, request_headers


def test_outcomes_are_three_valued_like_the_sync_client() -> None:
    assert outcome_of(202, b'{"id": "abc"}')[0].id == "abc"
    assert outcome_of(202, b"{}")[0].outcome == "info"  # accepted, but which task?
    bad = outcome_of(400, json.dumps({"error": {"code": "bad_request", "message": "no type"}}).encode())[0]
    assert (bad.outcome, bad.error) == ("fail", "HTTP 400 bad_request: no type")
    assert outcome_of(503, b"busy")[0].outcome == "info"
    batch = outcome_of(202, json.dumps({"tasks": [{"id": "a"}, {"id": "b"}]}).encode(), batch=2)
    assert [o.id for o in batch] == ["a", "b"]
    assert [o.outcome for o in outcome_of(500, b"", batch=3)] == ["info"] * 3


def test_headers_are_built_in_one_place() -> None:
    assert request_headers("k-1") == {"Content-Type": "application/json", "Idempotency-Key": "k-1"}
    assert request_headers(None, "t")["Authorization"] == "Bearer t"


def test_lag_histogram_quantiles() -> None:
    c = LoadCounters()
    assert c.lag_p99 == 0.0
    for _ in range(98):
        c.lag(0.0004)
    c.lag(0.003)
    c.lag(2.5)
    assert c.lag_quantile(0.5) == pytest.approx(0.0005)
    assert c.lag_p99 == pytest.approx(0.0031)
    assert c.lag_quantile(1.0) == c.lag_max == 2.5
    assert sum(c.lag_counts) == 100
    c.lag(1e6)  # far beyond the last bucket: counted there, max kept exactly
    assert c.lag_max == 1e6 and sum(c.lag_counts) == 101
