"""A nesting-depth bound for streamed JSON, checked on the raw bytes before the parser sees them.

ijson's C backend streams, but it keeps the path prefix (``log.x.item.item...``) of every open container,
so deep nesting costs memory quadratic in the depth even under a key nobody reads (30,000 levels: 2 GB),
and Python's ``json`` recurses. `DepthLimited` wraps a binary file and raises `InputError` as soon as the
text nests deeper than `MAX_DEPTH`; `check_depth` does the same for one document in memory.

How: escaped backslashes and quotes are removed, everything but brackets and quotes is deleted (``bytes.translate``), the
parts inside strings are dropped, and the running depth is a C-level ``accumulate`` over the brackets
seen as signed bytes; the string and escape state carries over from one chunk to the next.
"""

from __future__ import annotations

from itertools import accumulate
from typing import BinaryIO

from inspector.errors import InputError

__all__ = ["MAX_DEPTH", "DepthLimited", "check_depth"]

#: deepest nesting accepted (real HAR files nest about 8 levels; Python's json recurses per level)
MAX_DEPTH = 500

_KEEP = b'[]{}"'
_DELETE = bytes(b for b in range(256) if b not in _KEEP)
_SIGNED = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


class _Scanner:
    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        self.depth = 0
        self.in_string = False
        self.skip_first = False  # the chunk before ended with a backslash: this one's first byte is escaped
        self.offset = 0

    def feed(self, chunk: bytes) -> None:
        data = chunk[1:] if self.skip_first and chunk else chunk
        self.skip_first = False
        if b"\\" in data:  # only escaped backslashes and quotes matter; every other byte is deleted below
            data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
            if data.endswith(b"\\"):
                self.skip_first = True
        residue = data.translate(None, _DELETE)
        if self.in_string:
            residue = b'"' + residue
        # Empty strings (nearly all of them once their text is deleted) go first: parity is unchanged.
        residue = residue.replace(b'""', b"")
        if b'"' in residue:
            parts = residue.split(b'"')
            self.in_string = len(parts) % 2 == 0
            outside = b"".join(parts[0::2])
        else:
            self.in_string = False
            outside = residue
        if outside:
            opened = outside.count(b"[") + outside.count(b"{")
            if self.depth + opened > self.limit:  # only then is the exact maximum needed
                steps = memoryview(outside.translate(_SIGNED)).cast("b")
                if max(accumulate(steps, initial=self.depth)) > self.limit:
                    raise InputError(f"{self.what} nests deeper than {self.limit} levels "
                                     f"(within the first {self.offset + len(chunk)} bytes)")
            self.depth += 2 * opened - len(outside)
        self.offset += len(chunk)


class DepthLimited:
    """A read-only binary file whose content may not nest deeper than ``limit`` (InputError)."""

    def __init__(self, f: BinaryIO, what: str = "JSON", limit: int = MAX_DEPTH) -> None:
        self._f = f
        self._scanner = _Scanner(what, limit)

    def read(self, size: int = -1) -> bytes:
        chunk = self._f.read(size)
        self._scanner.feed(chunk)
        return chunk

    def tell(self) -> int:
        return self._f.tell()


def check_depth(data: bytes, what: str = "JSON", limit: int = MAX_DEPTH) -> None:
    """InputError if the JSON text ``data`` nests deeper than ``limit``."""
    _Scanner(what, limit).feed(data)
