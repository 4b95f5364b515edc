"""The OpenAPI document equals the Flask routes, and a schemathesis fuzz run against a real
gateway (with a token), a worker and Redis finds no server error and no answer outside it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from system.config import Settings
from system.gateway.app import create_app
from system.gateway.openapi import openapi_document
from tests.support.servers import Process, free_port, wait_for_gateway, wait_until

TOKEN = "fuzz-token-0123456789abcdef"
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "ignored_auth")  # ignored_auth: an operation that needs the token refuses a request without it
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask adds these to every route


def documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in openapi_document()["paths"].items()
            for method in item if method != "parameters"}


def routed(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        out |= {(method, path) for method in rule.methods or () if method not in IGNORED_METHODS}
    return out


def test_every_route_is_documented_and_every_documented_operation_exists(settings: Settings) -> None:
    assert routed(settings) == documented()


def test_the_index_lists_exactly_the_documented_operations(settings: Settings) -> None:
    listed = create_app(settings).test_client().get("/").get_json()["endpoints"]
    def shape(path: str) -> str:
        return re.sub(r"<\w+>|\{\w+\}", "{}", path)
    assert {(m, shape(p)) for m, p in (e.split(" ", 1) for e in listed)} == \
        {(m, shape(p)) for m, p in documented()}


def test_the_gateway_serves_the_document_without_a_token(
        spawn: Callable[..., Process]) -> None:
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_workers=1, gateway_api_token=TOKEN)
    url = wait_for_gateway(f"http://127.0.0.1:{port}", token=TOKEN)
    served = requests.get(url + "/openapi.json", timeout=5)
    assert served.status_code == 200 and served.json() == openapi_document()
    assert served.json()["components"]["schemas"]["TaskRequest"]["properties"]["type"]["enum"]


def test_fuzzing_finds_no_server_error_and_no_answer_outside_the_document(
        spawn: Callable[..., Process], tmp_path: Path) -> None:
    """Bounded (30 examples per operation and phase, fixed seed) so it stays well under 2 minutes."""
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_workers=1, gateway_api_token=TOKEN)
    spawn("system.worker", name="worker", worker_concurrency=2)
    url = wait_for_gateway(f"http://127.0.0.1:{port}", token=TOKEN)
    wait_until(lambda: requests.get(url + "/health", timeout=2).status_code == 200, timeout=20,
               message="a live worker (GET /health 200)")
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks", CHECKS,
         "--header", f"Authorization: Bearer {TOKEN}", "--max-examples", "30", "--seed", "1",
         "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    elapsed = time.monotonic() - started
    tail = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated and int(generated.group(1)) >= 200, tail
    print(f"schemathesis: {generated.group(0)} in {elapsed:.1f} s")
