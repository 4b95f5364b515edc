"""The submits of a run's history, held compactly (a million in about 50 MB): times in arrays,
type / priority / outcome / error as codes, ids and idempotency keys packed (harness.codebook).
A submit that cannot be packed losslessly is kept whole. Iterating makes the SubmitRecords.

Public: SubmitTable (a Sequence[SubmitRecord] that also groups submits by idempotency key).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from harness.codebook import Codebook, pack_id, pack_key, unpack_key
from harness.decodedrows import DecodedRows
from harness.history import SubmitRecord

NO_ID, PACKED, WHOLE = 0, 1, 2


class SubmitTable(DecodedRows[SubmitRecord]):
    """Append-only submits in history order."""

    row_name = "submit row"

    def __init__(self) -> None:
        self._times = array("d")        # t, t_done
        self._codes = array("I")        # type, priority, outcome, error
        self._keys = array("Q")
        self._ids = bytearray()
        self._flags = array("B")
        self._whole: dict[int, SubmitRecord] = {}
        self._book = Codebook()
        self._prefixes = Codebook()

    @classmethod
    def from_records(cls, records: Iterable[SubmitRecord]) -> SubmitTable:
        table = cls()
        for r in records:
            table.add(r)
        return table

    _FIELDS = frozenset({"kind", "t", "t_done", "key", "type", "priority", "outcome", "id", "error"})

    def add_dict(self, raw: dict) -> bool:
        """Pack a submit straight from its history line when it has the plain shape (float
        times, a packable key and id, nothing else); False when it has not (then make the
        SubmitRecord and `add` it)."""
        t, t_done, task_id = raw.get("t"), raw.get("t_done"), raw.get("id")
        if not isinstance(t, float) or not isinstance(t_done, float) or not raw.keys() <= self._FIELDS:
            return False
        kind, priority, outcome, error = raw.get("type"), raw.get("priority"), raw.get("outcome"), raw.get("error")
        if not (isinstance(kind, str) and isinstance(priority, str) and isinstance(outcome, str)
                and (error is None or isinstance(error, str))):
            return False
        key = pack_key(raw.get("key"), self._prefixes)
        pid = pack_id(task_id)
        if key is None or (task_id is not None and pid is None):
            return False
        self._times.extend((t, t_done))
        book = self._book
        self._codes.extend((book.code(kind), book.code(priority), book.code(outcome), book.code(error)))
        self._keys.append(key)
        self._ids += pid or bytes(16)
        self._flags.append(NO_ID if task_id is None else PACKED)
        return True

    def add(self, s: SubmitRecord) -> None:
        row = len(self._flags)
        key = pack_key(s.key, self._prefixes)
        pid = pack_id(s.id)
        flag = WHOLE if key is None or (s.id is not None and pid is None) else (NO_ID if s.id is None else PACKED)
        self._times.extend((s.t, s.t_done))
        book = self._book
        self._codes.extend((book.code(s.type), book.code(s.priority), book.code(s.outcome), book.code(s.error)))
        self._keys.append(key or 0)
        self._ids += pid or bytes(16)
        self._flags.append(flag)
        if flag == WHOLE or self[row] != s:
            self._flags[row] = WHOLE
            self._whole[row] = s

    def __len__(self) -> int:
        return len(self._flags)

    def _decode(self, row: int) -> SubmitRecord:
        flag = self._flags[row]
        if flag == WHOLE:
            return self._whole[row]
        value = self._book.value
        kind, priority, outcome, error = (value(c) for c in self._codes[row * 4:row * 4 + 4])
        task_id = self._ids[row * 16:row * 16 + 16].hex() if flag == PACKED else None
        return SubmitRecord(self._times[row * 2], self._times[row * 2 + 1],
                            unpack_key(self._keys[row], self._prefixes), kind, priority, outcome, task_id, error)

    def times(self) -> tuple[array, array]:
        """(t, t_done) of every submit, as two arrays (for sums over time windows)."""
        return self._times[0::2], self._times[1::2]

    def groups(self) -> Iterator[list[SubmitRecord]]:
        """One list per logical submit, in order of first appearance: submits with the same
        idempotency key (else the same id, else each alone) are one request and its re-sends."""
        repeated = self._repeated()
        if not repeated:
            yield from ([s] for s in self)
            return
        members: dict[object, list[int]] = {}
        for row in range(len(self)):
            name = self._group_name(row)
            if name in repeated:
                members.setdefault(name, []).append(row)
        for row in range(len(self)):
            name = self._group_name(row)
            if name not in repeated:
                yield [self._decode(row)]
            elif members[name][0] == row:
                yield [self._decode(r) for r in members[name]]

    def _group_name(self, row: int) -> object:
        """The group of a row: its packed key, else its packed id, else the row itself (a
        whole row's key or id is packed the same way when it can be, so names agree)."""
        if self._keys[row]:
            return self._keys[row]
        if self._flags[row] == WHOLE:
            s = self._whole[row]
            if s.key:
                return s.key
            return (pack_id(s.id) or s.id) if s.id else ("#", row)
        if self._flags[row] == PACKED:
            return bytes(self._ids[row * 16:row * 16 + 16])
        return ("#", row)

    def _repeated(self) -> set[object]:
        """Group names used by more than one submit (few: re-sends)."""
        keyed = sorted(k for k in self._keys if k)
        out: set[object] = {keyed[i] for i in range(1, len(keyed)) if keyed[i] == keyed[i - 1]}
        seen: set[object] = set()
        for row in range(len(self)):
            if not self._keys[row]:
                name = self._group_name(row)
                if name in seen:
                    out.add(name)
                seen.add(name)
        return out
