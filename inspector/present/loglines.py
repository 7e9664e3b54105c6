"""The live addon's log lines: records in, (level, line) out, in the wording of `inspector.present.text`.

``summary`` gives a line per handshake, close, violation (at most `VIOLATION_LINES` per connection; the
records have them all), warning, event stream and pattern; ``all`` also one per WebSocket message and SSE
event.  Untrusted text is escaped and cut (`text.esc`).
"""

from __future__ import annotations

import logging
from typing import Any

from inspector import records as rec
from inspector.present.text import (
    direction_label,
    esc,
    message_segments,
    plural,
    record_counts,
    seconds,
)

__all__ = ["VIOLATION_LINES", "LogLines", "summary_line", "warning_line"]

VIOLATION_LINES = 10  # violation lines logged per connection
PAYLOAD_CHARS = 60  # characters of a payload in a log line
URL_CHARS = 200

INFO, WARNING = logging.INFO, logging.WARNING


class LogLines:
    def __init__(self, everything: bool = False) -> None:
        self.everything = everything
        self._violation_lines: dict[str, int] = {}

    def clear(self) -> None:
        self._violation_lines.clear()

    def __call__(self, r: Any) -> list[tuple[int, str]]:
        """The log lines of one record (often none)."""
        kind = type(r)
        if kind is rec.Message:
            return self._message(r)
        if kind is rec.Frame:
            if not r.violations:
                return []
            if not self._violation_budget(r.conn):
                return self._budget_note(r.conn)
            return [(WARNING, f"ws {r.conn} {self._frame(r)}")]
        if kind is rec.Handshake:
            return [self._handshake(r)]
        if kind is rec.SseEvent:
            if not self.everything:
                return []
            event = f"sse {r.conn} event #{r.index} {esc(r.event, PAYLOAD_CHARS)}"
            return [(INFO, event + (f" id={esc(r.id, PAYLOAD_CHARS)}" if r.id else "") + f": {esc(r.data, PAYLOAD_CHARS)}")]
        if kind is rec.Pattern:
            return [(INFO, self._pattern(r))]
        if kind is rec.WarningRecord:
            return [warning_line(r.name, r.message, r.count)]
        if kind is rec.Connection:
            self._violation_lines.pop(r.conn, None)
        elif kind is rec.SseStream:
            line = f"sse stream {r.conn} {esc(r.url or '', URL_CHARS)}: {plural(r.events, 'event')}, {plural(r.comments, 'comment')}"
            if r.findings:
                return [(WARNING, f"{line}; {', '.join(f.name for f in r.findings)}")]
            return [(INFO, line)]
        return []

    def _message(self, m: rec.Message) -> list[tuple[int, str]]:
        if not (self.everything or m.opcode_name == "close"):
            if not m.violations:
                return []
            if not self._violation_budget(m.conn):
                return self._budget_note(m.conn)
        line = "".join(text for text, _ in message_segments(m, PAYLOAD_CHARS))
        return [(WARNING if m.violations else INFO, f"ws {m.conn} {line}")]

    @staticmethod
    def _frame(f: rec.Frame) -> str:
        return f"{direction_label(f.direction)} frame #{f.index} {esc(f.opcode_name)} ! {', '.join(f.violations)}"

    def _violation_budget(self, conn: str) -> bool:
        """Whether another violation line may be logged for ``conn``."""
        n = self._violation_lines.get(conn, 0)
        self._violation_lines[conn] = n + 1
        return n < VIOLATION_LINES

    def _budget_note(self, conn: str) -> list[tuple[int, str]]:
        """The one line saying that ``conn``'s further violations are in the records only."""
        if self._violation_lines.get(conn) == VIOLATION_LINES + 1:
            return [(WARNING, f"ws {conn}: more violations, not logged (see the records)")]
        return []

    @staticmethod
    def _handshake(r: rec.Handshake) -> tuple[int, str]:
        head = f"ws handshake {r.conn} {esc(r.url, URL_CHARS)}"
        if not r.valid:
            return WARNING, f"{head}: INVALID {r.status}: {', '.join(f.name for f in r.findings)}"
        proto = f" subprotocol {esc(r.subprotocol, PAYLOAD_CHARS)}" if r.subprotocol else ""
        ext = f" extensions {esc(', '.join(r.extensions), 120)}" if r.extensions else ""
        return INFO, f"{head}: valid {r.status}{proto}{ext}"

    @staticmethod
    def _pattern(r: rec.Pattern) -> str:
        figures = [plural(r.requests, "request")]
        if r.interval_s is not None:
            figures.append(f"every {seconds(r.interval_s)}")
        if r.hold_s is not None:
            figures.append(f"hold {seconds(r.hold_s)}")
        fw = f" ({esc(r.framework)})" if r.framework else ""
        return f"pattern {esc(r.endpoint, URL_CHARS)}: {r.pattern}{fw}, {', '.join(figures)}"


def warning_line(name: str, message: str, count: int = 1) -> tuple[int, str]:
    times = f" x{count}" if count > 1 else ""
    return WARNING, f"warning {esc(name)}{times}: {esc(message, URL_CHARS)}"


def summary_line(counts: dict[str, int], internal_errors: int = 0) -> str:
    """The exit summary: records by type in plain words, and the flows left unanalysed."""
    line = "inspector summary: " + (record_counts(counts) or "no records")
    if internal_errors:
        line += f"; {plural(internal_errors, 'flow')} left unanalysed after an inspector error"
    return line
