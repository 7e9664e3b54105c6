"""``--fail-on``: which records make `analyze` exit 1, and the explanation it writes to stderr.

Conditions (repeatable on the command line):

- ``violations`` (any frame or message violation) or ``violations:NAME`` (that one);
- ``invalid-handshake``; ``handshake-notes`` (warnings and remarks on valid handshakes);
- ``sse-findings`` or ``sse-findings:NAME`` (findings on event streams);
- ``warnings`` (capture or input damage: gaps, truncated files, ...) or ``warnings:NAME``;
- ``wasteful-polling`` (an endpoint whose polling verdict is "worth replacing").

`FailOn` is a record sink: each record that meets a condition is counted under its name, and the first
`EXAMPLES` are kept as one-line descriptions (connection, time, what).  `report()` is the stderr text.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from inspector import records
from inspector.classify import Thresholds, verdict
from inspector.errors import InputError
from inspector.present.text import direction_label, esc

__all__ = ["CONDITIONS", "FailOn"]

CONDITIONS = ("violations", "invalid-handshake", "handshake-notes", "sse-findings", "warnings", "wasteful-polling")
_NAMED = ("violations", "sse-findings", "warnings")
EXAMPLES = 5


def _when(ts: float | None) -> str:
    if ts is None:
        return "time ?"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")


class FailOn:
    """Counts the records meeting the conditions (see the module docstring)."""

    def __init__(self, conditions, thresholds: Thresholds | None = None) -> None:
        self.wanted: dict[str, set[str] | None] = {}  # condition -> names (None: all)
        for item in conditions:
            kind, _, name = item.partition(":")
            if kind not in CONDITIONS or (name and kind not in _NAMED):
                raise InputError(f"--fail-on {item!r}: expected one of {', '.join(CONDITIONS)}"
                                 f" ({', '.join(k + ':NAME' for k in _NAMED)} for one name)")
            if name:
                if self.wanted.get(kind, set()) is not None:
                    self.wanted.setdefault(kind, set()).add(name)
            else:
                self.wanted[kind] = None
        self.thresholds = thresholds or Thresholds()
        self.counts: Counter = Counter()
        self.examples: list[str] = []
        self._framed: set[str] = set()  # open connections with Frame records (their messages repeat them)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def _hit(self, condition: str, names, where: str) -> None:
        wanted = self.wanted.get(condition, False)
        if wanted is False:
            return
        chosen = [n for n in names if wanted is None or n in wanted]
        if not chosen:
            return
        for name in chosen:
            self.counts[f"{condition}: {name}"] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{where}: {', '.join(esc(n) for n in chosen)}")

    def __call__(self, record) -> None:
        kind = type(record)
        if kind is records.Frame:
            self._framed.add(record.conn)
        elif kind is records.Connection:
            self._framed.discard(record.conn)
        if kind is records.Frame or (kind is records.Message and record.conn not in self._framed):
            if record.violations:
                what = "frame" if kind is records.Frame else "message"
                where = f"{esc(record.conn)} {_when(record.ts)} {direction_label(record.direction)} {what} #{record.index}"
                self._hit("violations", record.violations, where)
        elif kind is records.Handshake:
            where = f"{esc(record.conn)} handshake {esc(record.url)}"
            if not record.valid:
                self._hit("invalid-handshake", [f.name for f in record.findings], where)
            if record.notes:
                self._hit("handshake-notes", [f.name for f in record.notes], where)
        elif kind is records.SseStream:
            if record.findings:
                where = f"{esc(record.conn)} {_when(record.ts_start)} event stream {esc(record.url or '?')}"
                self._hit("sse-findings", [f.name for f in record.findings], where)
        elif kind is records.WarningRecord:
            self._hit("warnings", [record.name], f"{esc(record.conn or 'input')} warning x{record.count}")
        elif kind is records.Pattern:
            answer = verdict(record, self.thresholds)
            if answer and answer.startswith("worth replacing"):
                self._hit("wasteful-polling", [record.pattern], f"{esc(record.endpoint)}: {esc(answer)}")

    def write_many(self, batch) -> None:
        for record in batch:
            self(record)

    def report(self) -> str:
        """What failed, for stderr: ``inspector: --fail-on: violations: masked-server-frame x2, ...``, then
        the first records that failed, one a line (connection, time, what, names)."""
        counts = ", ".join(f"{esc(name)} x{n}" for name, n in self.counts.most_common())
        lines = [f"inspector: --fail-on: {counts}"]
        lines += [f"  {example}" for example in self.examples]
        return "\n".join(lines)
