"""The load's client behaviours the mutation campaign needs: re-sends with the same idempotency
key and cancels of accepted tasks. Planned as pure values from the seed; strictly validated."""

from __future__ import annotations

import pytest

from harness.dump import dump_scenario
from harness.loader import ScenarioError, parse_scenario
from harness.loadshape import plan_submits
from harness.schedule import build_schedule


def _plan(**load):
    sc = parse_scenario({"name": "s", "load": {"rate": 10, "duration": "20s", **load}})
    return sc, plan_submits(sc, build_schedule(sc, seed=3), seed=3)


def test_resend_and_cancel_mark_about_their_fraction_and_are_seeded() -> None:
    sc, plan = _plan(resend=0.3, cancel=0.5)
    assert (sc.load.resend, sc.load.cancel) == (0.3, 0.5)
    resent, cancelled = sum(p.resend for p in plan), sum(p.cancel for p in plan)
    assert 40 <= resent <= 80 and 70 <= cancelled <= 130  # of 200 submits
    assert plan == _plan(resend=0.3, cancel=0.5)[1]
    assert dump_scenario(sc)["load"]["resend"] == 0.3


def test_without_them_the_plan_is_unchanged() -> None:
    _, plain = _plan()
    _, marked = _plan(resend=0.5)
    assert not any(p.resend or p.cancel for p in plain)
    assert [(p.t, p.type, p.priority) for p in plain] == [(p.t, p.type, p.priority) for p in marked]


@pytest.mark.parametrize("key", ["resend", "cancel"])
def test_a_fraction_out_of_range_is_an_error_naming_the_place(key: str) -> None:
    with pytest.raises(ScenarioError, match=f"load.{key}"):
        _plan(**{key: 1.5})
