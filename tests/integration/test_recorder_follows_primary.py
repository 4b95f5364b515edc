"""The sampler follows a primary that changed while the old one still answers (MISCONF, a stall):
before, it moved only after an error, so it kept reading a frozen ex-primary and the run's last
samples showed every worker gone (a false `no_wedged_workers` in a Docker redis-misconf run)."""

from __future__ import annotations

import redis

from harness.recorder import Recorder
from system.keys import Keys
from tests.support.servers import RedisServer, wait_until


def test_sampler_moves_to_the_new_primary_although_the_old_one_still_answers() -> None:
    old, new = RedisServer(), RedisServer()
    try:
        keys = Keys()
        with redis.Redis.from_url(new.url) as r:
            r.rpush(keys.queue("high"), "t1", "t2", "t3")
        current = {"url": old.url}
        recorder = Recorder(redis_url=lambda: current["url"], keys=keys, record=lambda s: None,
                            clock=lambda: 0.0, recheck_s=0.2)
        first = recorder.sample()
        assert first is not None and first.queues["high"] == 0
        current["url"] = new.url  # Sentinel names another primary; the old one stays up
        wait_until(lambda: (s := recorder.sample()) is not None and s.queues["high"] == 3,
                   timeout=5, message="the sampler to read the new primary")
        assert recorder.errors == 0
        recorder.stop()
    finally:
        old.stop()
        new.stop()
