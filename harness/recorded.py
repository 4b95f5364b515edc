"""A run's recorded files read back for checking, streamed line by line into compact stores:
the submits into a SubmitTable, the task records into a TaskTable; faults, samples and phases
(a few per second at most) as records. Reading a million-task run costs tens of MB, not GB.

Public: RecordedHistory, load_history(path), load_tasks(path).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.history import HistoryError, Record, SubmitRecord, lines, record_from_dict
from harness.submittable import SubmitTable
from harness.tasktable import TaskTable


@dataclass
class RecordedHistory:
    """The history of a run: iterating yields every record (the other kinds first, in file
    order, then the submits in file order), like the list read_history returns."""

    submits: SubmitTable = field(default_factory=SubmitTable)
    others: list[Record] = field(default_factory=list)

    def __iter__(self) -> Iterator[Record]:
        yield from self.others
        yield from self.submits

    def __len__(self) -> int:
        return len(self.others) + len(self.submits)

    def last_t(self) -> float:
        """The latest time of any record (0 when empty)."""
        t_sub = max(self.submits.times()[0], default=0.0)
        return max(t_sub, max((r.t for r in self.others), default=0.0))

    def add(self, record: Record) -> None:
        if isinstance(record, SubmitRecord):
            self.submits.add(record)
        else:
            self.others.append(record)


def load_history(path: Path | str) -> RecordedHistory:
    out = RecordedHistory()
    for number, raw in lines(path):
        if raw.get("kind") == "submit" and out.submits.add_dict(raw):
            continue
        try:
            out.add(record_from_dict(raw))
        except HistoryError as exc:
            raise HistoryError(f"{path}:{number}: {exc}") from None
    return out


def load_tasks(path: Path | str) -> TaskTable:
    table = TaskTable()
    for number, raw in lines(path):
        try:
            table.add_dict(raw)
        except (TypeError, AttributeError) as exc:
            raise HistoryError(f"{path}:{number}: bad task record: {exc}") from None
    return table
