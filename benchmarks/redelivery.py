"""How soon after each fault were the target's tasks re-queued? Read from a harness run's files.

  python -m benchmarks.redelivery reports/kill-vs-pause/<timestamp>

For every fault on a worker, the tasks whose attempt on that worker ended without an ack
(`lease_expired` events of that worker after the fault started, before its next fault) and,
for each, the delay from the fault's start to the re-queue and to the task's success; and how
the re-queue came about: "worker lost" (its connections closed: within a reaper tick) or the
lease expiring. The report's fault table counts the same redeliveries; this adds the delays.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

LOST = "worker lost"


def faults(run: Path) -> list[dict[str, Any]]:
    with open(run / "history.jsonl") as f:
        records = [json.loads(line) for line in f if '"kind":"fault"' in line]
    return [r for r in records if r.get("phase") == "start" and str(r.get("target", "")).startswith("worker")]


def redeliveries(run: Path) -> list[dict[str, Any]]:
    """One row per worker fault: delays (s) of the re-queues it caused."""
    offset = json.loads((run / "meta.json").read_text())["start_wall"]
    starts = faults(run)
    ends = [s["t"] + offset for s in starts[1:]] + [float("inf")]
    rows = [{"fault": s["fault"], "target": s["target"], "at_s": round(s["t"], 2), "requeue_s": [],
             "done_s": [], "how": set()} for s in starts]
    with open(run / "tasks.jsonl") as f:
        for line in f:
            task = json.loads(line)
            for event in task.get("events", ()):
                if event.get("event") != "lease_expired":
                    continue
                for row, start, end in zip(rows, starts, ends, strict=True):
                    t0 = start["t"] + offset
                    if event.get("worker") == start["target"] and t0 <= event["t"] < end:
                        row["requeue_s"].append(event["t"] - t0)
                        if task.get("finished_at"):
                            row["done_s"].append(task["finished_at"] - t0)
                        row["how"].add("worker lost" if LOST in event.get("detail", "") else "lease expired")
    return rows


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / "tasks.jsonl").exists():
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        print("give one run directory (with history.jsonl, tasks.jsonl and meta.json)", file=sys.stderr)
        return 2
    print("| fault | at | tasks re-queued | re-queued after (min / median / max s) | "
          "done after (min / median / max s) | how |")
    print("|---|---|---|---|---|---|")
    for row in redeliveries(Path(args[0])):
        print(f"| {row['fault']} {row['target']} | {row['at_s']} s | {len(row['requeue_s'])} | "
              f"{summary(row['requeue_s'])} | {summary(row['done_s'])} | {', '.join(sorted(row['how'])) or '-'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
