"""Records as a HAR 1.2 file that Chrome DevTools imports (Network panel, "Import HAR file").

Each Exchange record is an entry; timings come from its times (``startedDateTime`` is the request time,
``send`` 0, ``wait`` to the response head, ``receive`` to the response end; the phases before the
request are unknown: -1).  WebSocket connections are written as Chrome writes them: the handshake entry
has ``_resourceType: "websocket"`` and ``_webSocketMessages``, one item per message with ``type``
(``send``/``receive``), ``time`` (epoch seconds), ``opcode`` and ``data`` (text, or base64 for other
opcodes).  Event streams get ``_resourceType: "eventsource"``, their body rebuilt from the SseEvent records
as ``content.text`` and one ``_eventSourceMessages`` item per event (``time``, ``eventName``, ``eventId``,
``data``).  Exchanges on one connection share ``connection``/``_connectionId`` (the connection id).

Records keep no bodies and payloads only up to ``--view-cap``: other response bodies are left out
(``content.size`` says how big they were) and a longer message is written as its preview; ``log.comment``
says how many.  A connection's entries are written when its Connection record arrives, so memory holds
the open connections' records only.
"""

from __future__ import annotations

import base64
import datetime as _dt
from typing import IO, Any, Iterable

import msgspec

from inspector import __version__, records

__all__ = ["HarWriter"]

_OPCODES = {"continuation": 0, "text": 1, "binary": 2, "close": 8, "ping": 9, "pong": 10}


def iso(ts: float) -> str:
    """Epoch seconds as HAR's ``startedDateTime`` (UTC, microseconds)."""
    moment = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ms(start: float | None, end: float | None) -> float:
    """Milliseconds from ``start`` to ``end``; -1 when either is unknown (as HAR writes unknown phases)."""
    return max(0.0, end - start) * 1000.0 if start is not None and end is not None else -1


def _size(value: int | None) -> int:
    return value if value is not None else -1  # HAR: -1 is "not known"


def _headers(pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"name": name, "value": value} for name, value in pairs]


def _message_data(m: records.Message) -> str:
    """The payload as Chrome writes it: the text itself, base64 of the bytes otherwise."""
    if m.opcode_name == "text" and m.text is not None:
        return m.text
    if m.data is not None:
        raw = bytes.fromhex(m.data)
    elif m.close_code is not None:
        raw = m.close_code.to_bytes(2, "big") + (m.close_reason or "").encode("utf-8", "surrogatepass")
    elif m.text is not None:
        raw = m.text.encode("utf-8", "surrogatepass")
    else:
        raw = b""
    return base64.b64encode(raw).decode("ascii")


def _event_text(e: records.SseEvent) -> str:
    lines = []
    if e.event != "message":
        lines.append(f"event: {e.event}")
    if e.id:
        lines.append(f"id: {e.id}")
    lines.extend("data: " + part for part in e.data.split("\n"))
    return "\n".join(lines) + "\n\n"


class _Conn:
    __slots__ = ("exchanges", "messages", "events")

    def __init__(self) -> None:
        self.exchanges: list[records.Exchange] = []
        self.messages: list[dict] = []
        self.events: list[records.SseEvent] = []


class HarWriter:
    """A sink: writes HAR entries per finished connection to a binary stream; `close` ends the file."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._encode = msgspec.json.Encoder().encode
        self._conns: dict[str, _Conn] = {}
        self._first = True
        self._previews = 0
        self._untimed = 0
        creator = self._encode({"name": "inspector", "version": __version__})
        self._stream.write(b'{"log":{"version":"1.2","creator":' + creator + b',"pages":[],"entries":[\n')

    def _conn(self, conn: str) -> _Conn:
        state = self._conns.get(conn)
        if state is None:
            state = self._conns[conn] = _Conn()
        return state

    def __call__(self, record: Any) -> None:
        kind = type(record)
        if kind is records.Message:
            self._message(record)
        elif kind is records.Exchange:
            self._conn(record.conn).exchanges.append(record)
        elif kind is records.SseEvent:
            self._conn(record.conn).events.append(record)
        elif kind is records.Connection:
            self._write(record, self._conns.pop(record.conn, None) or _Conn())

    def write_many(self, batch: Iterable[Any]) -> None:
        for record in batch:
            self(record)

    def _message(self, m: records.Message) -> None:
        if m.ts is None:
            self._untimed += 1
        if m.truncated:
            self._previews += 1
        self._conn(m.conn).messages.append({
            "type": "send" if m.direction == "client" else "receive",
            "time": m.ts,
            "opcode": _OPCODES.get(m.opcode_name, 1),
            "data": _message_data(m),
        })

    # -- entries -----------------------------------------------------------------------------------------

    def _write(self, c: records.Connection, state: _Conn) -> None:
        exchanges = state.exchanges
        ws_index = next((i for i, ex in enumerate(exchanges) if ex.status == 101 or ex.method == "CONNECT"), None)
        if state.messages and ws_index is None:
            # frames decoded without a handshake (--ws, the heuristic): an entry of their own
            exchanges = exchanges + [records.Exchange(
                conn=c.conn, method="GET", url=f"ws://{c.server or 'unknown'}/", status=101, content_type=None,
                ts_request=c.ts_start, ts_response=c.ts_start, ts_end=c.ts_end, request_body_bytes=0,
                response_body_bytes=0)]
            ws_index = len(exchanges) - 1
        events = _assign_events(exchanges, state.events)
        for i, ex in enumerate(exchanges):
            entry = self._entry(ex, c)
            if i == ws_index:
                entry["_resourceType"] = "websocket"
                entry["_webSocketMessages"] = state.messages
            elif events.get(i) or _is_event_stream(ex):
                self._event_stream(entry, events.get(i, []))
            elif c.protocol != "websocket":
                entry["connection"] = entry["_connectionId"] = c.conn
            self._stream.write((b"" if self._first else b",\n") + self._encode(entry))
            self._first = False

    def _entry(self, ex: records.Exchange, c: records.Connection) -> dict:
        started = next((t for t in (ex.ts_request, ex.ts_response, c.ts_start) if t is not None), None)
        if started is None:
            self._untimed += 1
            started = 0.0
        wait = _ms(ex.ts_request, ex.ts_response)
        receive = _ms(ex.ts_response, ex.ts_end)
        version = ex.http_version or "HTTP/1.1"
        return {
            "startedDateTime": iso(started),
            "time": max(wait, 0) + max(receive, 0),
            "request": {
                "method": ex.method, "url": ex.url, "httpVersion": version, "cookies": [],
                "headers": _headers(ex.request_headers), "queryString": [],
                "headersSize": _size(ex.request_header_bytes), "bodySize": _size(ex.request_body_bytes),
            },
            "response": {
                "status": ex.status or 0, "statusText": ex.reason or "", "httpVersion": version, "cookies": [],
                "headers": _headers(ex.response_headers),
                "content": {"size": _size(ex.response_body_bytes), "mimeType": ex.content_type or "x-unknown"},
                "redirectURL": "",
                "headersSize": _size(ex.response_header_bytes), "bodySize": _size(ex.response_body_bytes),
            },
            "cache": {},
            "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait,
                        "receive": receive},
            "serverIPAddress": _ip(c.server),
        }

    def _event_stream(self, entry: dict, events: list[records.SseEvent]) -> None:
        entry["_resourceType"] = "eventsource"
        entry["response"]["content"]["text"] = "".join(_event_text(e) for e in events)
        entry["_eventSourceMessages"] = [
            {"time": e.ts, "eventName": e.event, "eventId": e.id, "data": e.data} for e in events]

    def close(self) -> None:
        for conn in list(self._conns):  # connections without a Connection record (an unfinished run)
            self._write(records.Connection(conn=conn, client=None, server=None, ts_start=None, ts_end=None,
                                           source="unknown"), self._conns.pop(conn))
        notes = []
        if self._previews:
            notes.append(f"{self._previews} WebSocket message payloads are previews (inspector --view-cap)")
        if self._untimed:
            notes.append(f"{self._untimed} items without a time")
        tail = b'\n]' + (b',"comment":' + self._encode("; ".join(notes)) if notes else b"") + b"}}\n"
        self._stream.write(tail)
        self._stream.flush()


def _ip(server: str | None) -> str:
    """``host:port`` or ``[v6]:port`` -> the host (HAR's ``serverIPAddress`` has no port)."""
    if not server:
        return ""
    if server.startswith("["):
        return server[1:].split("]", 1)[0]
    return server.rsplit(":", 1)[0] if server.count(":") == 1 else server


def _is_event_stream(ex: records.Exchange) -> bool:
    return (ex.content_type or "").split(";", 1)[0].strip().lower() == "text/event-stream"


def _assign_events(exchanges: list[records.Exchange], events: list[records.SseEvent]) -> dict[int, list]:
    """Each SSE event to the exchange that carried it: same URL, the last one requested before it."""
    out: dict[int, list] = {}
    for e in events:
        best = None
        for i, ex in enumerate(exchanges):
            if e.url is not None and ex.url != e.url:
                continue
            if best is None or e.ts is None or ex.ts_request is None or ex.ts_request <= e.ts:
                best = i
        if best is not None:
            out.setdefault(best, []).append(e)
    return out
