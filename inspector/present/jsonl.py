"""JSON Lines: the one place records become JSON (docs/records.md)."""

from __future__ import annotations

from typing import IO, Iterable

import msgspec

from inspector.records import Record

__all__ = ["JsonlWriter"]


class JsonlWriter:
    """Writes records as JSON Lines to a binary stream; batches to keep per-record overhead small."""

    def __init__(self, stream: IO[bytes], batch: int = 512) -> None:
        self._stream = stream
        self._encoder = msgspec.json.Encoder()
        self._pending: list[Record] = []
        self._batch = batch

    def write(self, record: Record) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            self.flush()

    def write_many(self, records: Iterable[Record]) -> None:
        self._pending.extend(records)
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self._encoder.encode_lines(self._pending))
            self._pending.clear()
        self._stream.flush()

    __call__ = write
