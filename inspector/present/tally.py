"""`Tally`: a sink in front of another that counts what ``analyze --fail-on`` and its stderr summary need."""

from __future__ import annotations

from inspector.records import Frame, Message, WarningRecord

__all__ = ["Tally"]


class Tally:
    """A sink in front of the real one: counts what --fail-on and the stderr summary need."""

    def __init__(self, sink) -> None:
        from inspector.records import Handshake

        self._handshake = Handshake
        self.sink = sink
        self._sink_many = getattr(sink, "write_many", None)
        self.violations = 0
        self.invalid_handshakes = 0
        self.warnings: dict[str, int] = {}
        self.records = 0  # records passed on (a source that fails after some were read is partly read)

    def __call__(self, record) -> None:
        self.write_many((record,))

    def write_many(self, records) -> None:
        """Several records at once (`Analysis` hands over an analyser's output in one call)."""
        for record in records:
            self.records += 1
            kind = type(record)
            if kind is Frame or kind is Message:
                if record.violations:
                    self.violations += 1
            elif kind is self._handshake:
                if not record.valid:
                    self.invalid_handshakes += 1
            elif kind is WarningRecord:
                self.warnings[record.name] = self.warnings.get(record.name, 0) + record.count
        if self._sink_many is not None:
            self._sink_many(records)
        else:
            for record in records:
                self.sink(record)
