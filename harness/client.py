"""HTTP client of the gateway, with Jepsen's three-valued outcomes.

A submit is `ok` (accepted, with the task id), `fail` (definitely not accepted: a 4xx) or `info`
(unknown: timeout, connection lost, 5xx: the task may or may not exist; the checker decides from
the read-back). One `GatewayClient` per thread (a requests.Session is not thread-safe). It is the one place that
adds the gateway's bearer token (`Authorization: Bearer`) to what the harness and the load
generator send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Outcome:
    outcome: str                 # ok | fail | info
    id: str | None = None
    error: str | None = None


def _error_text(resp: requests.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"HTTP {resp.status_code} {err.get('code', '')}: {err.get('message', '')}".strip()
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}: {resp.text[:200]}"


class GatewayClient:
    def __init__(self, base_url: str, *, timeout: float = 2.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        self.session.close()

    # -- submits ----------------------------------------------------------------------------
    def submit(self, body: Mapping[str, Any], *, key: str | None = None) -> Outcome:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            resp = self.session.post(f"{self.base_url}/tasks", json=dict(body), headers=headers,
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            return Outcome("info", error=f"{exc.__class__.__name__}: {exc}"[:300])
        if resp.status_code in (200, 201, 202):
            try:
                return Outcome("ok", id=str(resp.json()["id"]))
            except (ValueError, KeyError, TypeError):
                return Outcome("info", error=f"HTTP {resp.status_code} without an id")
        return Outcome("fail" if 400 <= resp.status_code < 500 else "info",
                       error=_error_text(resp))

    def submit_batch(self, bodies: Sequence[Mapping[str, Any]],
                     keys: Sequence[str | None]) -> list[Outcome]:
        tasks = [{**b, **({"idempotency_key": k} if k else {})} for b, k in zip(bodies, keys, strict=True)]
        try:
            resp = self.session.post(f"{self.base_url}/tasks/batch", json={"tasks": tasks},
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            return [Outcome("info", error=f"{exc.__class__.__name__}: {exc}"[:300])] * len(tasks)
        if resp.status_code in (200, 202):
            try:
                items = resp.json()["tasks"]
                return [Outcome("ok", id=str(item["id"])) for item in items]
            except (ValueError, KeyError, TypeError):
                return [Outcome("info", error="batch answer without ids")] * len(tasks)
        kind = "fail" if 400 <= resp.status_code < 500 else "info"
        return [Outcome(kind, error=_error_text(resp))] * len(tasks)

    # -- reads ------------------------------------------------------------------------------
    def get_json(self, path: str, *, timeout: float | None = None) -> tuple[int, Any]:
        resp = self.session.get(f"{self.base_url}{path}", timeout=timeout or self.timeout)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, None

    def health(self) -> tuple[int, Any]:
        return self.get_json("/health")

    def task(self, task_id: str) -> dict[str, Any] | None:
        status, body = self.get_json(f"/tasks/{task_id}", timeout=10)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET /tasks/{task_id}: HTTP {status}: {body}")
        return dict(body)

    def all_tasks(self, *, page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every task record with its events, page by page through GET /tasks?events=1&cursor=."""
        cursor: str | None = None
        while True:
            path = f"/tasks?limit={page}&events=1" + (f"&cursor={cursor}" if cursor else "")
            status, body = self._retrying(path)
            yield from body.get("tasks", [])
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def _retrying(self, path: str, attempts: int = 5) -> tuple[int, Any]:
        """Read-back must not give up on one hiccup; reads are safe to repeat."""
        last = ""
        for i in range(attempts):
            try:
                status, body = self.get_json(path, timeout=30)
                if status == 200 and isinstance(body, dict):
                    return status, body
                last = f"HTTP {status}: {body}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.2 * (i + 1))
        raise RuntimeError(f"GET {path} failed {attempts} times; last: {last}")

    def read_back(self, ids: Sequence[str] = (), *, threads: int = 8) -> list[dict[str, Any]]:
        """Every task: ids from paging GET /tasks plus those of the history, each read in full
        with GET /tasks/<id> (list pages may leave out the event history)."""
        listed = {t["id"]: t for t in self.all_tasks()}
        wanted = sorted(set(listed) | set(ids))

        def one(task_id: str) -> dict[str, Any] | None:
            if "events" in listed.get(task_id, {}):
                return listed[task_id]
            client = _local_client(self.base_url, self.token)
            for attempt in range(5):
                try:
                    return client.task(task_id)
                except (requests.RequestException, RuntimeError):
                    time.sleep(0.2 * (attempt + 1))
            raise RuntimeError(f"GET /tasks/{task_id} kept failing during read-back")
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return [r for r in pool.map(one, wanted) if r is not None]


_local = threading.local()


def _local_client(base_url: str, token: str | None) -> GatewayClient:
    """One client per read-back thread."""
    client = getattr(_local, "client", None)
    if client is None or client.base_url != base_url.rstrip("/") or client.token != token:
        client = _local.client = GatewayClient(base_url, timeout=10, token=token)
    return client
