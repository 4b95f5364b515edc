"""A real Jaeger v2 (the `jaeger` binary of scripts/install.sh) as a local process on free ports.

OTLP/HTTP in, in-memory storage, the query API on its own port; stopped by stop().
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import free_port, wait_until

CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def jaeger_binary() -> str | None:
    return os.environ.get("JAEGER_BIN") or shutil.which("jaeger")


class JaegerServer:
    """`jaeger --config <file>`; `otlp_endpoint` for OTEL_EXPORTER_OTLP_ENDPOINT, `query_url` for its API/UI."""

    def __init__(self, binary: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="tq-jaeger-")
        ports = {"otlp": free_port(), "query": free_port(), "query_grpc": free_port()}
        config = Path(self.dir.name) / "jaeger.yaml"
        config.write_text(CONFIG.format(**ports))
        self.log = Path(self.dir.name) / "jaeger.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([binary, "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.otlp_endpoint = f"http://127.0.0.1:{ports['otlp']}"
        self.query_url = f"http://127.0.0.1:{ports['query']}"
        try:
            wait_until(lambda: requests.get(f"{self.query_url}/api/services", timeout=1).ok, timeout=60,
                       message=f"jaeger's query API at {self.query_url}")
        except AssertionError:
            self.stop()
            raise

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as Jaeger's v1 HTTP API returns it, None while it does not know it."""
        reply = requests.get(f"{self.query_url}/api/traces/{trace_id}", timeout=5)
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        data = reply.json().get("data") or []
        return data[0] if data else None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()
