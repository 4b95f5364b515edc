"""Small shared pieces of the compact run stores (harness.tasktable, harness.submittable): a
codebook that turns repeated values into small ints, and the packing of ids and idempotency keys
into fixed-size numbers, so a million records cost bytes each instead of Python objects.

Everything here is lossless: a value that cannot be packed is reported as such (None) and the
caller keeps the record whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

_HEX_ID = re.compile(r"[0-9a-f]{32}\Z")
KEY_BITS = 40                    # an idempotency key "<prefix>-<n>": n below 2**40, prefix code above


class Codebook:
    """Value <-> small int. Values are compared by their JSON text, so equal dicts share a code
    and decode to one shared object (read-only by contract: checks never mutate records)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._values: list[Any] = []

    def code(self, value: Any) -> int:
        text = value if isinstance(value, str) else "\0" + json.dumps(value, separators=(",", ":"))
        found = self._codes.get(text)
        if found is None:
            found = self._codes[text] = len(self._values)
            self._values.append(value)
        return found

    def find(self, value: Any) -> int | None:
        """The code of a value already seen, else None (adds nothing)."""
        text = value if isinstance(value, str) else "\0" + json.dumps(value, separators=(",", ":"))
        return self._codes.get(text)

    def value(self, code: int) -> Any:
        return self._values[code]

    def __len__(self) -> int:
        return len(self._values)


def pack_id(task_id: str | None) -> bytes | None:
    """16 bytes of a 32-hex-digit task id (the system's ids); None when it is not one."""
    if task_id is None or not _HEX_ID.match(task_id):
        return None
    return bytes.fromhex(task_id)


def id_prefix(packed: bytes) -> int:
    """The first 8 bytes of a packed id as an int: what the sorted id index holds."""
    return int.from_bytes(packed[:8], "big")


def pack_key(key: str | None, prefixes: Codebook) -> int | None:
    """An idempotency key `<prefix>-<n>` (the load generator's form) as one int
    (prefix code << KEY_BITS | n); 0 for no key; None when the key has another form."""
    if key is None:
        return 0
    head, sep, tail = key.rpartition("-")
    if not sep or not tail.isdigit() or (len(tail) > 1 and tail[0] == "0") or int(tail) >= 1 << KEY_BITS:
        return None
    return ((prefixes.code(head) + 1) << KEY_BITS) | int(tail)


def unpack_key(packed: int, prefixes: Codebook) -> str | None:
    if packed == 0:
        return None
    return f"{prefixes.value((packed >> KEY_BITS) - 1)}-{packed & ((1 << KEY_BITS) - 1)}"
