"""`Fanout`: one sink in front of several (the main output and the exports: ``--perfetto``, ``--har``)."""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["Fanout"]


class Fanout:
    """Hands every record to each sink, in lists to those with a ``write_many`` method."""

    def __init__(self, *sinks: Any) -> None:
        self._calls = [getattr(sink, "write_many", None) or _one_by_one(sink) for sink in sinks]

    def __call__(self, record: Any) -> None:
        self.write_many((record,))

    def write_many(self, records: Iterable[Any]) -> None:
        batch = records if isinstance(records, (list, tuple)) else list(records)
        for call in self._calls:
            call(batch)


def _one_by_one(sink):
    def write_many(records):
        for record in records:
            sink(record)

    return write_many
