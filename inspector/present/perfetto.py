"""Records as a Chrome Trace Event Format file (JSON object form), for ui.perfetto.dev and chrome://tracing.

Layout: one process per connection (``pid``, named by ``process_name`` metadata once its Connection
record says what it carried), with three threads: ``client -> server`` and ``server -> client`` hold an
instant event (``ph: "i"``, thread scope) per WebSocket message, ``events`` holds SSE events, handshakes
and violations.  Async slices (``ph: "b"``/``"e"`` with an ``id`` unique in the file) show the connection,
each HTTP exchange (request to response end) and each SSE stream; a counter (``ph: "C"``) per
connection gives messages per second and direction.  No ``B``/``E`` duration events are written, so no
two can overlap on a track.  Times are Unix epoch microseconds.

Events are written as the records arrive (memory holds one per-second counter table per open
connection); pattern and warning records go to ``otherData`` at the end.  Records without a time are
left out and counted in ``otherData.untimed``.
"""

from __future__ import annotations

from typing import IO, Any, Iterable
from urllib.parse import urlsplit

import msgspec

from inspector import records

__all__ = ["PerfettoWriter", "PREVIEW"]

PREVIEW = 120  # characters of a payload shown in an event's args
_TIDS = {"client": 1, "server": 2, "events": 3}
_THREAD_NAMES = {1: "client -> server", 2: "server -> client", 3: "events"}


def _us(ts: float) -> float:
    return round(ts * 1e6, 3)


def _path(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:PREVIEW]
    return ((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))[:PREVIEW]


class _Track:
    __slots__ = ("pid", "rates")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rates: dict[int, list[int]] = {}  # whole second -> [client, server] messages


class PerfettoWriter:
    """A sink: writes the trace to a binary stream as records arrive; `close` ends the JSON document."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._encode = msgspec.json.Encoder().encode
        self._tracks: dict[str, _Track] = {}
        self._next_id = 0
        self._first = True
        self._untimed = 0
        self._patterns: list[Any] = []
        self._warnings: list[Any] = []
        self._handshakes: dict[str, list[records.Handshake]] = {}
        self._stream.write(b'{"traceEvents":[\n')

    # -- writing ----------------------------------------------------------------------------------------

    def _event(self, event: dict) -> None:
        self._stream.write((b"" if self._first else b",\n") + self._encode(event))
        self._first = False

    def _track(self, conn: str) -> _Track:
        track = self._tracks.get(conn)
        if track is None:
            track = self._tracks[conn] = _Track(len(self._tracks) + 1)
            for tid, name in _THREAD_NAMES.items():
                self._event({"ph": "M", "name": "thread_name", "pid": track.pid, "tid": tid, "args": {"name": name}})
            self._event({"ph": "M", "name": "process_sort_index", "pid": track.pid, "tid": 0,
                         "args": {"sort_index": track.pid}})
        return track

    def _slice(self, conn: str, cat: str, name: str, start: float | None, end: float | None, args: dict) -> None:
        if start is None:
            self._untimed += 1
            return
        track = self._track(conn)
        self._next_id += 1
        ident = f"0x{self._next_id:x}"
        end = start if end is None or end < start else end
        self._event({"ph": "b", "cat": cat, "name": name, "id": ident, "pid": track.pid, "tid": 3,
                     "ts": _us(start), "args": args})
        self._event({"ph": "e", "cat": cat, "name": name, "id": ident, "pid": track.pid, "tid": 3, "ts": _us(end)})

    def _instant(self, conn: str, tid: int, cat: str, name: str, ts: float | None, args: dict) -> None:
        if ts is None:
            self._untimed += 1
            return
        self._event({"ph": "i", "s": "t", "cat": cat, "name": name, "pid": self._track(conn).pid, "tid": tid,
                     "ts": _us(ts), "args": args})

    # -- records ----------------------------------------------------------------------------------------

    def __call__(self, record: Any) -> None:
        kind = type(record)
        if kind is records.Message:
            self._message(record)
        elif kind is records.Exchange:
            self._exchange(record)
        elif kind is records.SseEvent:
            self._instant(record.conn, 3, "sse", f"sse {record.event}"[:PREVIEW], record.ts,
                          {"id": record.id, "data": record.data[:PREVIEW], "index": record.index})
        elif kind is records.SseStream:
            self._slice(record.conn, "sse", "event stream", record.ts_start, record.ts_end,
                        {"url": record.url, "events": record.events, "findings": [f.name for f in record.findings]})
        elif kind is records.Handshake:
            self._track(record.conn)
            self._handshakes.setdefault(record.conn, []).append(record)
        elif kind is records.Frame:
            if record.violations:
                self._instant(record.conn, _TIDS.get(record.direction, 3), "violation",
                              "violation: " + ", ".join(record.violations), record.ts, {"frame": record.index})
        elif kind is records.Connection:
            self._connection(record)
        elif kind is records.Pattern:
            self._patterns.append(records.to_dict(record))
        elif kind is records.WarningRecord:
            self._warnings.append(records.to_dict(record))

    def write_many(self, batch: Iterable[Any]) -> None:
        for record in batch:
            self(record)

    def _message(self, m: records.Message) -> None:
        tid = _TIDS.get(m.direction, 3)
        args: dict[str, Any] = {"length": m.length, "index": m.index}
        if m.text is not None:
            args["text"] = m.text[:PREVIEW]
        elif m.data is not None:
            args["hex"] = m.data[: PREVIEW * 2]
        if m.close_code is not None:
            args["close_code"] = m.close_code
            args["close_reason"] = m.close_reason
        if m.violations:
            args["violations"] = m.violations
        if not m.complete:
            args["complete"] = False
        self._instant(m.conn, tid, "violation" if m.violations else "websocket", f"{m.opcode_name}", m.ts, args)
        if m.ts is not None:
            counts = self._track(m.conn).rates.setdefault(int(m.ts), [0, 0])
            counts[tid == 2] += 1

    def _exchange(self, ex: records.Exchange) -> None:
        self._slice(ex.conn, "http", f"{ex.method} {_path(ex.url)}", ex.ts_request, ex.ts_end or ex.ts_response,
                    {"url": ex.url, "status": ex.status, "content_type": ex.content_type,
                     "response_body_bytes": ex.response_body_bytes})
        for h in self._handshakes.pop(ex.conn, ()):  # a Handshake record comes just before its exchange
            self._handshake(h, ex.ts_response or ex.ts_request)

    def _handshake(self, h: records.Handshake, ts: float | None) -> None:
        self._instant(h.conn, 3, "handshake" if h.valid else "violation",
                      "handshake" + ("" if h.valid else " (invalid)"), ts,
                      {"url": h.url, "valid": h.valid, "status": h.status, "findings": [f.name for f in h.findings],
                       "subprotocol": h.subprotocol, "extensions": h.extensions})

    def _connection(self, c: records.Connection) -> None:
        track = self._track(c.conn)
        name = f"{c.conn} {c.protocol} {c.server or ''}".strip()
        self._event({"ph": "M", "name": "process_name", "pid": track.pid, "tid": 0, "args": {"name": name}})
        self._slice(c.conn, "connection", f"{c.protocol} connection", c.ts_start, c.ts_end,
                    {"client": c.client, "server": c.server, "exchanges": c.exchanges, "gaps": c.gaps,
                     "bytes_client": c.bytes_client, "bytes_server": c.bytes_server})
        for h in self._handshakes.pop(c.conn, ()):  # no exchange followed it
            self._handshake(h, c.ts_start)
        self._counters(track)

    def _counters(self, track: _Track) -> None:
        if not track.rates:
            return
        seconds = sorted(track.rates)
        for second in seconds:
            client, server = track.rates[second]
            self._event({"ph": "C", "name": "messages/s", "pid": track.pid, "tid": 0, "ts": _us(second),
                         "args": {"client": client, "server": server}})
            if second + 1 not in track.rates:  # back to zero after a burst
                self._event({"ph": "C", "name": "messages/s", "pid": track.pid, "tid": 0, "ts": _us(second + 1),
                             "args": {"client": 0, "server": 0}})
        track.rates = {}

    def close(self) -> None:
        self._untimed += sum(map(len, self._handshakes.values()))  # never placed: no exchange, no connection
        self._handshakes.clear()
        for track in self._tracks.values():
            self._counters(track)
        other = {"generator": "inspector", "untimed": self._untimed, "patterns": self._patterns,
                 "warnings": self._warnings}
        self._stream.write(b'\n],"displayTimeUnit":"ms","otherData":' + self._encode(other) + b"}\n")
        self._stream.flush()
