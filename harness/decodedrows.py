"""The Sequence face of a packed store: rows are decoded into records only when asked for.

TaskTable and SubmitTable keep a million rows as arrays; checks and figures read them as a plain
sequence of records, which this one base gives both (indexing, slices, iteration).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

R = TypeVar("R")


class DecodedRows(Sequence[R]):
    """A sequence whose item `row` is `self._decode(row)`; subclasses give `_decode` and `__len__`."""

    row_name = "row"  # for the IndexError message

    def _decode(self, row: int) -> R:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            return [self._decode(r) for r in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.row_name} out of range")
        return self._decode(index)

    def __iter__(self) -> Iterator[R]:
        return map(self._decode, range(len(self)))

    def __bool__(self) -> bool:
        return len(self) > 0
