"""The ``--frames`` timeline of `analyze`: one line per exchange, frame, message, SSE event and
connection warning, in time order.

Sources emit records in the order they can (an exchange when its response ends, after the SSE events
of its body; a HAR entry by entry), so `Timeline` keeps the lines not yet printed in a heap ordered by
time and prints the earliest once more than ``window`` lines wait (memory stays bounded on any
capture).  A line that arrives later than an already printed, later line (the window was exceeded) is
printed after a note saying so, never silently out of order.  `flush()` prints everything waiting: at
the end, and after each chunk of a growing capture read from a pipe (lines appear as the traffic
arrives).

Times: ``rel`` (seconds from the first line, the default), ``abs`` (ISO 8601, UTC) or ``delta`` (seconds
from the previous line).  A record without a time prints ``?`` where its time would be, placed after the
lines received before it.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timezone
from itertools import count
from typing import IO, Any

from inspector import records
from inspector.present.lines import LineWriter
from inspector.present.text import direction_label, esc, message_segments

__all__ = ["TIME_MODES", "Timeline", "record_segments"]

TIME_MODES = ("rel", "abs", "delta")
WINDOW = 10_000  # lines held for reordering


def _status_style(status: int | None) -> str:
    if status is None or status >= 400:
        return "red"
    return "green" if status < 300 else "yellow"


def _frame_segments(f: records.Frame) -> list:
    flags = " ".join(flag for flag, on in (("FIN", f.fin), ("RSV1", f.rsv1), ("RSV2", f.rsv2), ("RSV3", f.rsv3)) if on)
    length = "?" if f.payload_len is None else f.payload_len
    segments: list = [f"{direction_label(f.direction)} frame #{f.index} {esc(f.opcode_name)} len {length}"]
    if flags:
        segments.append(f" {flags}")
    if not f.complete:
        segments.append((" INCOMPLETE (input ended inside it)", "yellow"))
    if f.violations:
        segments.append((" ! " + esc(", ".join(f.violations)), "red"))
    if f.masked:
        segments.append((f" mask {f.masking_key}" if f.masking_key else " masked", "dim"))
    return segments


def record_segments(record: Any) -> tuple[float | None, list] | None:
    """(time, line segments) of a record the timeline shows, None for the others (summaries)."""
    kind = type(record)
    if kind is records.Frame:
        return record.ts, _frame_segments(record)
    if kind is records.Message:
        return record.ts, message_segments(record)
    if kind is records.SseEvent:
        return record.ts, [
            f"sse #{record.index} {esc(record.event)}",
            (f" id={esc(record.id)}" if record.id else "", "dim"),
            f": {esc(record.data)}",
        ]
    if kind is records.Exchange:
        status = str(record.status) if record.status is not None else "no response"
        return record.ts_request, [f"{esc(record.method)} ", (status, _status_style(record.status)), f" {esc(record.url)}"]
    return None


class Timeline(LineWriter):
    """Lines ``<time> <conn> <segments>`` on ``stream`` in time order within ``window`` lines."""

    def __init__(
        self, stream: IO[str], *, color: bool | None = None, width: int | None = None, time: str = "rel",
        window: int = WINDOW,
    ) -> None:
        super().__init__(stream, color=color, width=width)
        if time not in TIME_MODES:
            raise ValueError(f"time must be one of {TIME_MODES}, not {time!r}")
        self.time = time
        self.window = max(1, window)
        self._heap: list = []
        self._order = count()
        self._newest: float | None = None  # latest time added
        self._printed: float | None = None  # latest time printed
        self._t0: float | None = None
        self.late = 0  # lines printed out of time order (the window was exceeded)
        self._flushed_early = False  # flush() was called before the end (a growing input)

    def add(self, ts: float | None, conn: str, segments: list) -> None:
        key = ts if ts is not None else (self._newest if self._newest is not None else float("-inf"))
        if ts is not None and (self._newest is None or ts > self._newest):
            self._newest = ts
        heapq.heappush(self._heap, (key, next(self._order), ts, conn, segments))
        if len(self._heap) > self.window:
            self._emit(heapq.heappop(self._heap))

    def flush(self, *, final: bool = True) -> None:
        """Print every waiting line (``final=False``: the input paused, more may come)."""
        if not final and self._heap:
            self._flushed_early = True
        while self._heap:
            self._emit(heapq.heappop(self._heap))
        self.stream.flush()

    def _emit(self, entry) -> None:
        key, _, ts, conn, segments = entry
        if self._printed is not None and key < self._printed:
            self.late += 1
            why = ("a growing input is shown as it arrives" if self._flushed_early
                   else f"more than {self.window} lines, the reorder window, came between them")
            self._line((f"(the next line is earlier than the one above: {why})", "yellow"))
        else:
            self._printed = key
        self._line((f"{self._stamp(ts)} {esc(conn)} ", "dim"), *segments)

    def _stamp(self, ts: float | None) -> str:
        if ts is None:
            return f"{'?':>10}" if self.time != "abs" else f"{'?':>27}"
        if self.time == "abs":
            return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if self._t0 is None:
            self._t0 = ts
        if self.time == "delta":
            previous, self._t0 = self._t0, ts
            return f"{'+' + format(ts - previous, '.6f'):>10}"
        return f"{ts - self._t0:10.6f}"
