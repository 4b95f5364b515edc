"""LostWorkers: which worker instances are gone, from successive CLIENT LIST snapshots (pure)."""

from __future__ import annotations

from system.worker.lost import LostWorkers


def test_seen_then_gone_is_reported_until_done_or_held_too_long() -> None:
    watch = LostWorkers(hold_s=3.0)
    assert watch.update("s1", {"w1#a", "w2#b"}, 0.0) == []  # first look: nothing seen before
    assert watch.update("s1", {"w2#b"}, 1.0) == [("w1", "w1#a")]
    assert watch.update("s1", {"w2#b"}, 2.0) == [("w1", "w1#a")]  # nobody re-queued them yet
    watch.done([("w1", "w1#a")])
    assert watch.update("s1", {"w2#b"}, 2.5) == []
    assert watch.update("s1", set(), 3.0) == [("w2", "w2#b")]
    assert watch.update("s1", set(), 6.1) == []  # held for hold_s, then left to the leases


def test_never_seen_and_reconnected_instances_are_not_lost() -> None:
    watch = LostWorkers(hold_s=3.0)
    watch.update("s1", {"w1#a"}, 0.0)
    assert watch.update("s1", {"w1#a", "w3#c"}, 1.0) == []
    assert watch.update("s1", {"w3#c"}, 2.0) == [("w1", "w1#a")]
    assert watch.update("s1", {"w1#a", "w3#c"}, 2.1) == []  # a blip: it came back


def test_a_restart_with_the_same_id_or_a_new_server_reports_nothing() -> None:
    watch = LostWorkers(hold_s=3.0)
    watch.update("s1", {"w1#a", "w2#b"}, 0.0)
    assert watch.update("s1", {"w1#new", "w2#b"}, 1.0) == []  # w1 restarted: the new one is connected
    assert watch.update("s2", {"w2#b"}, 2.0) == []  # failover: workers reconnect one by one
    assert watch.update("s2", {"w2#b"}, 3.0) == []


def test_every_connection_is_named_also_through_sentinel() -> None:
    """redis-py sends the name on each connect of the pool, so reconnects and failovers keep it."""
    from system.config import Settings
    from system.connection import connect

    plain = connect(Settings(redis_url="redis://127.0.0.1:1/0"), client_name="n1")
    sentinel = connect(Settings(redis_sentinels=(("127.0.0.1", 1),)), client_name="n2")
    assert plain.connection_pool.connection_kwargs["client_name"] == "n1"
    assert sentinel.connection_pool.connection_kwargs["client_name"] == "n2"
    assert "client_name" not in (sentinel.connection_pool.sentinel_manager.sentinel_kwargs or {})
