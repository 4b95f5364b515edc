"""The drain phase sees a task stuck `reserved` or `running` without a lease (real Redis and
gateway): the queues and the leases are empty, yet the task is not done."""

from __future__ import annotations

import time

from harness.client import GatewayClient
from harness.runner import running_ids
from system.broker import Broker, Start
from system.keys import Keys
from system.model import parse_task


def test_running_without_a_lease_is_visible_to_the_drain(broker: Broker, gateway_url: str) -> None:
    spec = parse_task({"type": "echo", "data": "x"}, default_max_retries=3, default_timeout=30.0)
    [(task_id, _)] = broker.submit([spec])
    client = GatewayClient(gateway_url, timeout=5)
    try:
        assert running_ids(client) == []
        [claim] = broker.claim("w", 1)
        assert claim.id == task_id and running_ids(client) == [task_id]
        broker.client.zrem(Keys().leases, task_id)   # a lease lost without a re-queue
        assert broker.client.zcard(Keys().leases) == 0
        assert running_ids(client) == [task_id]    # idle by the samples, but not drained (reserved)
        broker.finish_and_peek("w", [], [Start(claim.id, claim.token, time.monotonic())])
        assert broker.get(task_id)["status"] == "running" and running_ids(client) == [task_id]
    finally:
        client.close()
