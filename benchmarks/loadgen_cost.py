"""The load generator's own CPU per submit, against a stub server that answers at once.

  python -m benchmarks.loadgen_cost                          # this tree, 3 runs of 20,000 submits
  python -m benchmarks.loadgen_cost --trees /tmp/before,.    # two checkouts, alternating

Against the gateway the generator's CPU per submit mixes its own cost with how its answers
arrive (one per loop turn when the gateway is slow, many when it is fast); a stub that answers
every `POST` at once with a fixed 202 leaves only the generator's cost. Each tree's generator
(`benchmarks.loadgen.run_generator`, flat out, 32 in flight) runs in its own process with that
tree on PYTHONPATH, so checkouts from different commits compare side by side. The stub runs in
another process; both share the machine's cores, so read the CPU per submit, not the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.procs import free_port, run_json, wait_for

BODY = b'{"id":"0123456789abcdef0123456789abcdef","state":"queued"}'
ANSWER = b"HTTP/1.1 202 ACCEPTED\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY), BODY)
CHILD = """
import json, sys
from benchmarks.loadgen import run_generator
r = run_generator(sys.argv[1], rate=None, seconds=1, clients=32, count=int(sys.argv[2]), run_id="cost")
print(json.dumps({"rate": r["rate"], "ok": r["ok"], "cpu_cores": r["cpu_cores"],
                  "cpu_us_per_submit": 1e6 * r["cpu_cores"] / r["rate"]}))  # older trees lack the figure
"""


class Stub(asyncio.Protocol):
    """Answers each request (head plus Content-Length body) with ANSWER."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:].split(b"\r\n")[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(ANSWER)


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", port)
        await server.serve_forever()
    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", default=".", help="comma-separated checkouts to compare (default: this one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=20000, help="submits per run")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the stub process itself
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    missing = [t for t in trees if not (Path(t) / "harness" / "load.py").exists()]
    if missing:
        parser.error(f"--trees {','.join(missing)}: no harness/load.py there; give checkouts of this project")
    port = free_port()
    root = str(Path(__file__).resolve().parents[1])
    stub = subprocess.Popen([sys.executable, "-m", "benchmarks.loadgen_cost", "--serve", str(port)], cwd=root,
                            env={**os.environ, "PYTHONPATH": root})
    try:
        wait_for(lambda: _listening(port), timeout=10, what=f"the stub on port {port}")
        for n in range(args.runs):
            line = f"run {n + 1} (load average {os.getloadavg()[0]:.1f})"
            for tree in trees:
                out = run_json([sys.executable, "-c", CHILD, f"http://127.0.0.1:{port}", str(args.n)],
                               env={**os.environ, "PYTHONPATH": tree}, cwd=tree, timeout=300)
                r = json.loads(out.strip().splitlines()[-1])
                line += (f"; {tree}: {r['cpu_us_per_submit']:.1f} us/submit ({r['rate']:.0f}/s at "
                         f"{r['cpu_cores']:.2f} core, {r['ok']} ok)")
            print(line, flush=True)
    finally:
        stub.kill()
        stub.wait()
    return 0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
