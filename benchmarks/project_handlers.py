"""The benchmark's task bodies as task types of this project, and processes that serve them.

`python -m benchmarks.project_handlers worker [args]` runs the project's real worker and
`... gateway [args]` its real gunicorn gateway, each with three extra task types registered
first (bench_noop, bench_timed, bench_crash), so this system counts completion exactly as the
peers do (benchmarks.peers.body). gunicorn forks its workers from this process, so they
inherit the registration.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.peers import body


def register() -> None:
    from system.handlers import REGISTRY, TaskType

    def accept(data: Any) -> None:
        return None

    REGISTRY.update({t.name: t for t in (
        TaskType("bench_noop", lambda data, ctx: body.noop(), accept, "benchmark: INCR a counter"),
        TaskType("bench_timed", lambda d, ctx: body.timed(d["label"], d["submit_ts"], d["ms"]),
                 accept, "benchmark: sleep, record submit/start/finish times"),
        TaskType("bench_crash", lambda d, ctx: body.crash(d["tid"], d["ms"]), accept,
                 "benchmark: long task that says which worker runs it"),
    )})


def main(argv: list[str]) -> None:
    register()
    if argv[:1] == ["worker"]:
        from system.worker.__main__ import main as run
    elif argv[:1] == ["gateway"]:
        from system.gateway.__main__ import main as run
    else:
        raise SystemExit("usage: python -m benchmarks.project_handlers worker|gateway [options]")
    run(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
