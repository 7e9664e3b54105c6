"""HAR 1.2 files -> `inspector.analysis.Analysis`, read incrementally (ijson, C backend).

Entry point: ``run(path, analysis, options=None)``. ``log.entries`` is streamed one entry at a time with
``ijson.items(f, "log.entries.item")``, so memory follows the largest entry, not the file (bench/bench_har.py).

What real recorders write, and how each piece is used:

- Every entry is one exchange. Chrome DevTools writes the TCP connection each used (``_connectionId``):
  exchanges on one keep-alive connection share a Connection record (``hc<id>``; at most `MAX_OPEN` are
  kept open, the least recently used is ended first). Other recorders write no reliable connection, so
  each entry gets its own (``h<index>``). ``server`` is ``serverIPAddress`` (or the URL's host) plus the
  URL's port; the client is not recorded in a HAR.
- Times: ``startedDateTime`` (ISO 8601, ``Z`` or a local offset as Firefox writes it) plus ``timings``.
  ``ts_request`` = started + blocked + dns + connect (ssl is inside connect, HAR 1.2), ``ts_response`` =
  ts_request + send + wait (``wait`` is the server's hold time: it is what tells long polling apart),
  ``ts_end`` = ts_response + receive. A ``-1`` timing is "not applicable" and counts as 0 before ``wait``;
  a ``-1`` wait or receive makes the time unknown (``null``), except that a stream's end falls back to its
  last message or event (Chromium records ``receive: -1`` for an EventSource closed by the page).
- WebSocket entries (``_resourceType: websocket``, status 101, or ``_webSocketMessages`` present): the
  handshake is validated from the HAR's request/response headers; ``_webSocketMessages``
  ``{type: send|receive, time, opcode, data}`` become whole messages (``WebSocketHandle.message``): HAR has
  no frames, so frame-level fields (fin, rsv, masking key, frame count) stay null. ``time`` is epoch seconds
  in Chrome DevTools and mitmproxy exports, milliseconds in Playwright's recordHar (told apart by size);
  binary ``data`` is base64. Control frames are absent from every recorder we know.
  An HTTP/2 or HTTP/3 WebSocket (RFC 8441/9220: status 200, ``:protocol`` pseudo-header or an ``h2``/``h3``
  httpVersion) is validated as an extended CONNECT, so it is not flagged for lacking a key.
- Event streams: ``_eventSourceMessages`` ``{time, eventName, eventId, data}`` (Chrome DevTools' export;
  Playwright and mitmproxy write none) are turned back into event-stream text, one event per feed at its
  own time, so they go through the same SSE parser as captured bytes (``retry`` and comments are not
  recorded there).
  Otherwise a ``text/event-stream`` body in ``response.content.text`` is fed whole, at the response's end
  time (it is often empty: the stream was still open when the HAR was saved).
- Firefox writes no ``_resourceType`` and no WebSocket messages: its WebSocket entries still give handshakes.

- Playwright's zip HARs (``recordHar`` to a ``.zip``): the ``.har`` member is streamed the same way;
  bodies and a WebSocket's messages (JSON Lines) come from the attached files ``response.content._file``
  names.

Malformed input (bad JSON, a missing required field, a wrong type) raises `InputError` naming the entry
and field, e.g. ``HAR log.entries[3].request.url: missing``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as _dt
import hashlib
import json
import math
import zipfile
from typing import Any, BinaryIO, Iterator
from urllib.parse import urlsplit

import ijson

from inspector.errors import InputError
from inspector.records import Exchange
from inspector.sources.jsondepth import DepthLimited, check_depth
from inspector.http.headers import header as _header

__all__ = ["run", "read_entries", "entry_times", "parse_started"]

#: ``_webSocketMessages`` times above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 1e11
#: times below this are not epoch times at all (1e8 s is 1973): relative or monotonic clocks.
_EPOCH_MIN = 1e8

_ZIP_MAGIC = b"PK\x03\x04"
# what zipfile raises on a damaged or unusual archive: bad structure, names that are not UTF-8 although
# flagged so, a compression method or encryption it does not support
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, NotImplementedError, RuntimeError)

#: a timing above this (ms, about 115 days) is not a measurement: it is taken as unknown, with a warning
MAX_TIMING_MS = 1e10
#: bytes read of one attached file of a zip HAR (a body, or a WebSocket's messages)
MAX_ATTACHMENT = 64 << 20
#: messages whose ``type`` is neither ``send`` nor ``receive`` that are skipped without a warning
_PSEUDO_TYPES = frozenset({"error"})

#: shared (``_connectionId``) connections kept open at once; past it the least recently used is ended
MAX_OPEN = 1024


class _Where:
    """Names a place in the HAR for error messages: ``log.entries[3].request.url``."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, path: str) -> str:
        return f"HAR log.entries[{self.index}].{path}"


def _get(obj: dict, key: str, types: type | tuple[type, ...], where: _Where, path: str, required: bool = False):
    value = obj.get(key)
    if value is None:
        if required:
            raise InputError(f"{where(path)}: missing")
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise InputError(f"{where(path)}: expected {_type_name(types)}, got {_json_type(value)}")
    if not isinstance(value, types):
        raise InputError(f"{where(path)}: expected {_type_name(types)}, got {_json_type(value)}")
    return value


def _type_name(types: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    seq = types if isinstance(types, tuple) else (types,)
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in seq))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _number(obj: dict, key: str, where: _Where, path: str) -> float | None:
    value = _get(obj, key, (int, float), where, path)
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where(path)}: not a finite number")
    return value


def read_entries(f: BinaryIO) -> Iterator[dict]:
    """Yield ``log.entries`` items one at a time; bad JSON becomes a one-line `InputError`."""
    count = 0
    try:
        for entry in ijson.items(DepthLimited(f, "HAR"), "log.entries.item", use_float=True):
            yield entry
            count += 1
    except ijson.JSONError as exc:
        after = f" after entry {count - 1}" if count else ""
        raise InputError(f"HAR is not valid JSON{after}: {_json_message(exc)}") from None
    except UnicodeDecodeError as exc:  # yajl passes surrogates, overlong forms, > U+10FFFF on to Python
        after = f" after entry {count - 1}" if count else ""
        raise InputError(f"HAR is not valid JSON{after}: invalid UTF-8 in a string ({exc.reason}, "
                         f"byte {exc.object[exc.start:exc.start + 1].hex()})") from None
    if count == 0:
        _check_empty(f)


def _json_message(exc: Exception) -> str:
    """The first line of a JSON parser's message, as text (yajl's C backend gives bytes)."""
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    text = str(text).strip()
    return text.splitlines()[0] if text else "invalid JSON"


def _check_empty(f: BinaryIO) -> None:
    """No entries came out: tell an empty HAR (fine) from one without a ``log.entries`` list (an error)."""
    f.seek(0)
    seen_log = False
    try:
        for prefix, event, _value in ijson.parse(DepthLimited(f, "HAR"), use_float=True):
            if prefix == "" and event == "map_key" and _value == "log":
                seen_log = True
            elif prefix == "log" and event not in ("start_map", "map_key", "end_map"):
                raise InputError("HAR log: expected an object")
            elif prefix == "log.entries":
                if event == "start_array":
                    return
                raise InputError("HAR log.entries: expected a list")
            elif prefix == "" and event not in ("start_map", "map_key", "end_map"):
                raise InputError("HAR: expected a JSON object with a log")
    except ijson.JSONError as exc:
        raise InputError(f"HAR is not valid JSON: {_json_message(exc)}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"HAR is not valid JSON: invalid UTF-8 in a string ({exc.reason})") from None
    raise InputError("HAR has no log.entries" if seen_log else "HAR has no log object")


def parse_started(value: str, where: _Where) -> float:
    """``startedDateTime`` (ISO 8601 with ``Z`` or an offset) -> epoch seconds; no offset means UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where('startedDateTime')}: not an ISO 8601 date-time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


def _headers(obj: dict, where: _Where, path: str) -> list[tuple[str, str]]:
    items = _get(obj, "headers", list, where, path + ".headers")
    if not items:
        return []
    out = []
    for i, item in enumerate(items):
        if type(item) is dict:
            name, value = item.get("name"), item.get("value")
            if type(name) is str and type(value) is str:  # the common case, checked inline
                out.append((name, value))
                continue
        if not isinstance(item, dict):
            raise InputError(f"{where(f'{path}.headers[{i}]')}: expected an object, got {_json_type(item)}")
        name = _get(item, "name", str, where, f"{path}.headers[{i}].name", required=True)
        value = item.get("value", "")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(f"{where(f'{path}.headers[{i}].value')}: expected a string, got {_json_type(value)}")
        out.append((name, str(value)))
    return out


def entry_times(entry: dict, where: _Where) -> tuple[float, float | None, float | None, float | None]:
    """(started, ts_request, ts_response, ts_end) from ``startedDateTime`` and ``timings``."""
    started_text = _get(entry, "startedDateTime", str, where, "startedDateTime", required=True)
    started = parse_started(started_text, where)
    timings = _get(entry, "timings", dict, where, "timings") or {}

    def timing(name: str) -> float | None:
        value = _number(timings, name, where, f"timings.{name}")
        return value if value is not None and 0 <= value <= MAX_TIMING_MS else None

    before = sum((timing(name) or 0.0) for name in ("blocked", "dns", "connect")) / 1000.0
    ts_request = started + before
    wait = timing("wait")
    ts_response = None if wait is None else ts_request + ((timing("send") or 0.0) + wait) / 1000.0
    receive = timing("receive")
    ts_end = None if ts_response is None or receive is None else ts_response + receive / 1000.0
    return started, ts_request, ts_response, ts_end


def _message_time(value: Any, where: _Where, path: str) -> tuple[float | None, bool]:
    """A recorder's message time -> (epoch seconds or None, whether it was relative/unknown)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is not None:
            raise InputError(f"{where(path)}: expected a number, got {_json_type(value)}")
        return None, False
    value = float(value)
    if not math.isfinite(value) or value < 0:
        return None, False
    if value >= _MS_THRESHOLD:
        return value / 1000.0, False
    if value >= _EPOCH_MIN:
        return value, False
    return None, True


def _ws_payload(message: dict, opcode: int, where: _Where, path: str) -> tuple[bytes, bool]:
    """(payload bytes, whether base64 data failed to decode) of one ``_webSocketMessages`` item."""
    data = message.get("data", "")
    if data is None:
        data = ""
    if not isinstance(data, str):
        raise InputError(f"{where(path + '.data')}: expected a string, got {_json_type(data)}")
    if opcode == 1:
        return data.encode("utf-8", "surrogatepass"), False
    try:
        return base64.b64decode(data, validate=True), False
    except (binascii.Error, ValueError):
        return data.encode("utf-8", "surrogatepass"), True


def _event_stream_text(message: dict, where: _Where, path: str) -> bytes:
    """One ``_eventSourceMessages`` item back as the event-stream text that carried it."""
    name = message.get("eventName") or "message"
    event_id = message.get("eventId")
    data = message.get("data")
    for key, value in (("eventName", name), ("eventId", event_id), ("data", data)):
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where(f'{path}.{key}')}: expected a string, got {_json_type(value)}")
    lines = []
    if name != "message":
        lines.append("event: " + name.replace("\r", "").replace("\n", ""))
    if event_id is not None:
        lines.append("id: " + event_id.replace("\r", "").replace("\n", ""))
    lines.extend("data: " + part for part in (data or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8", "surrogatepass")


def _body(content: dict, where: _Where) -> bytes | None:
    text = _get(content, "text", str, where, "response.content.text")
    if text is None:
        return None
    encoding = _get(content, "encoding", str, where, "response.content.encoding")
    if encoding and encoding.lower() == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)  # line-wrapped base64 is fine
        except (binascii.Error, ValueError):
            raise InputError(f"{where('response.content.text')}: encoding is base64 but the text is not") from None
    return text.encode("utf-8", "surrogatepass")


def _server(url: str, entry: dict) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = entry.get("serverIPAddress") if isinstance(entry.get("serverIPAddress"), str) else None
    host = (host or parts.hostname or "").strip("[]")
    if not host:
        return None
    if port is None:
        port = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(parts.scheme)
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


def _is_websocket(entry: dict, status: int | None, url: str) -> bool:
    return (
        entry.get("_resourceType") == "websocket"
        or "_webSocketMessages" in entry
        or status == 101
        or url.startswith(("ws://", "wss://"))
    )


def _size(obj: dict, key: str, where: _Where, path: str) -> int | None:
    value = _number(obj, key, where, path)
    return int(value) if value is not None and value >= 0 else None


class _Reader:
    """Turns entries into Analysis calls; counts what it had to guess (reported as warnings)."""

    def __init__(self, analysis, prefix: str = "", wanted: frozenset[str] = frozenset(), attachments=None) -> None:
        self.analysis = analysis
        self.attachments = attachments  # zipfile.ZipFile of a zip HAR (attached ``_file`` contents)
        self.missing_attachments = 0
        self.prefix = prefix  # SourceOptions.conn_prefix: several files in one output
        self.wanted = wanted  # SourceOptions.conns: only these connection ids
        #: shared connection id -> (_connectionId, last time seen), least recently used first
        self.open: dict[str, tuple[str, float | None]] = {}
        self.open_ids: dict[str, str] = {}  # _connectionId -> connection id, for the open ones
        self.evicted = 0  # shared connections ended early to bound memory
        self.relative_times = 0
        self.bad_base64 = 0
        self.unknown_types = 0
        self.cut_attachments = 0
        self.absurd_timings = 0

    def entry(self, index: int, entry: Any) -> None:
        where = _Where(index)
        if not isinstance(entry, dict):
            raise InputError(f"HAR log.entries[{index}]: expected an object, got {_json_type(entry)}")
        request = _get(entry, "request", dict, where, "request", required=True)
        response = _get(entry, "response", dict, where, "response") or {}
        method = _get(request, "method", str, where, "request.method", required=True)
        url = _get(request, "url", str, where, "request.url", required=True)
        status = _number(response, "status", where, "response.status")
        status = int(status) if status is not None and status > 0 else None  # 0: no response (HAR 1.2)
        started, ts_request, ts_response, ts_end = entry_times(entry, where)
        timings = entry.get("timings")
        if type(timings) is dict:
            self.absurd_timings += sum(type(v) in (int, float) and v > MAX_TIMING_MS for v in timings.values())
        request_headers = _headers(request, where, "request")
        response_headers = _headers(response, where, "response")
        content = _get(response, "content", dict, where, "response.content") or {}
        http_version = _get(request, "httpVersion", str, where, "request.httpVersion") or None
        content_type = _header(response_headers, "content-type") or _get(
            content, "mimeType", str, where, "response.content.mimeType") or None
        if content_type == "x-unknown":
            content_type = None
        websocket = _is_websocket(entry, status, url)
        attached = _get(content, "_file", str, where, "response.content._file")
        body = _body(content, where)
        ws_messages = _get(entry, "_webSocketMessages", list, where, "_webSocketMessages") or []
        if attached is not None and self.attachments is not None:
            # Playwright's zip HARs: bodies, and a WebSocket's messages as JSON Lines, in attached files.
            if websocket and not ws_messages:
                ws_messages = self.attached_messages(attached, where)
            elif body is None and not websocket:
                body = self.attached_body(attached)
        sse_messages = _get(entry, "_eventSourceMessages", list, where, "_eventSourceMessages") or []
        name = "_webSocketMessages" if websocket else "_eventSourceMessages"
        # WebSocket: (direction, opcode, payload, ts); event stream: (index, item, ts). The common case
        # (well-typed values) is checked inline; anything else takes the slow path that names the problem.
        items: list[tuple] = []
        for i, item in enumerate(ws_messages if websocket else sse_messages):
            if type(item) is not dict:
                raise InputError(f"{where(f'{name}[{i}]')}: expected an object, got {_json_type(item)}")
            path = f"{name}[{i}]"
            if websocket:
                kind = item.get("type")
                if kind == "send":
                    direction = "client"
                elif kind == "receive":
                    direction = "server"
                else:
                    kind = _get(item, "type", str, where, path + ".type", required=True)
                    # DevTools also lists "error" pseudo-frames; other types ("" too) say no direction
                    self.unknown_types += kind not in _PSEUDO_TYPES
                    continue
            t = item.get("time")
            if type(t) is float and t >= _EPOCH_MIN:
                ts = t / 1000.0 if t >= _MS_THRESHOLD else t
            else:
                ts, relative = _message_time(t, where, path + ".time")
                self.relative_times += relative
            if not websocket:
                items.append((i, item, ts))
                continue
            opcode = item.get("opcode", 1)
            if type(opcode) is not int:
                opcode = _number(item, "opcode", where, path + ".opcode")
                opcode = int(opcode) if opcode is not None else 1
            data = item.get("data")
            if opcode == 1 and type(data) is str:
                payload = data.encode("utf-8", "surrogatepass")
            else:
                payload, bad = _ws_payload(item, opcode, where, path)
                self.bad_base64 += bad
            items.append((direction, opcode, payload, ts))
        last = max((item[-1] for item in items if item[-1] is not None), default=None)
        if ts_end is None and last is not None and (ts_response is None or last >= ts_response):
            ts_end = last  # an open stream's end: its last message or event

        if websocket and (status is None or status < 300) and _header(request_headers, "sec-websocket-key") is None:
            version = (http_version or "").lower()
            http2 = version.startswith(("h2", "h3", "http/2", "http/3"))
            if status == 200 or _header(request_headers, ":protocol") or http2:
                method = "CONNECT"  # RFC 8441 / RFC 9220 extended CONNECT
                if _header(request_headers, ":protocol") is None:
                    request_headers.append((":protocol", "websocket"))

        conn, shared = self.conn_id(index, entry, websocket)
        if self.wanted and conn not in self.wanted:
            return
        if not shared or conn not in self.open:
            self.analysis.connection(conn, client=None, server=_server(url, entry), ts=started)
        exchange = Exchange(
            conn=conn,
            method=method,
            url=url,
            status=status,
            content_type=content_type,
            ts_request=ts_request,
            ts_response=ts_response,
            ts_end=ts_end,
            request_body_bytes=_request_body_bytes(request, where),
            response_body_bytes=_response_body_bytes(response, content, body, where),
            http_version=http_version,
            reason=_get(response, "statusText", str, where, "response.statusText") or None,
            request_header_bytes=_size(request, "headersSize", where, "request.headersSize"),
            response_header_bytes=_size(response, "headersSize", where, "response.headersSize"),
            response_sha256=hashlib.sha256(body).hexdigest() if body is not None and not websocket else None,
            request_headers=request_headers,
            response_headers=response_headers,
        )
        if websocket:
            # websocket() validates the handshake and emits its Exchange record (once).
            ws = self.analysis.websocket(conn, handshake=exchange, detected_by="handshake")
            message = ws.message
            for direction, opcode, payload, ts in items:
                message(direction, opcode, payload, ts)
            ws.end(ts_end)
        else:
            handle = self.analysis.begin_exchange(exchange)
            post_text = _post_text(request)
            if post_text:
                handle.request_body(post_text.encode("utf-8", "surrogatepass"), ts_request)
            if sse_messages:
                for i, item, ts in items:
                    handle.body(_event_stream_text(item, where, f"_eventSourceMessages[{i}]"), ts)
            elif body:
                handle.body(body, ts_end if ts_end is not None else ts_response)
            handle.end(ts_end=ts_end, response_body_bytes=exchange.response_body_bytes)
        # The connection lasts until its last message or event, even when the exchange's timings end earlier.
        conn_end = max((t for t in (ts_end, last, ts_response, ts_request) if t is not None), default=None)
        if shared:
            self.keep_open(conn, str(entry["_connectionId"]), conn_end)
        else:
            self.analysis.connection_end(conn, conn_end)

    def attached_body(self, name: str) -> bytes | None:
        """An attached body, at most `MAX_ATTACHMENT` bytes of it (a zip inflates without bound)."""
        try:
            with self.attachments.open(name) as member:
                body = member.read(MAX_ATTACHMENT + 1)
        except KeyError:
            self.missing_attachments += 1
            return None
        except _ZIP_ERRORS as exc:
            raise InputError(f"attached file {name}: not readable ({exc})") from None
        if len(body) > MAX_ATTACHMENT:
            self.cut_attachments += 1
            return body[:MAX_ATTACHMENT]
        return body

    def attached_messages(self, name: str, where: _Where) -> list:
        """The ``{type, time, opcode, data}`` lines of an attached WebSocket message file."""
        try:
            member = self.attachments.open(name)
        except KeyError:
            self.missing_attachments += 1
            return []
        except _ZIP_ERRORS as exc:
            raise InputError(f"attached file {name}: not readable ({exc})") from None
        messages = []
        size = 0
        with member:
            for number, line in enumerate(iter(lambda: member.readline(MAX_ATTACHMENT + 1), b""), 1):
                size += len(line)
                if size > MAX_ATTACHMENT:
                    self.cut_attachments += 1
                    break
                if not line.strip():
                    continue
                what = f"{where('response.content._file')}: {name} line {number}"
                check_depth(line, what)
                try:
                    messages.append(json.loads(line))
                except ValueError:
                    raise InputError(f"{what} is not JSON") from None
        return messages

    def conn_id(self, index: int, entry: dict, websocket: bool) -> tuple[str, bool]:
        """(connection id, whether it is shared by several entries).  Chrome DevTools writes the id of the
        TCP connection an exchange used (``_connectionId``): exchanges on one keep-alive connection then
        share a Connection record.  Other recorders do not: one connection per entry (``h<index>``)."""
        key = entry.get("_connectionId")
        if websocket or type(key) not in (str, int) or key in ("", "0", 0):
            return f"{self.prefix}h{index}", False
        key = str(key)
        conn = self.open_ids.get(key)
        if conn is None:
            # Once keep_open has ended a connection early, the same id may come back: from then on new
            # records also carry their first entry's index, which keeps ids unique without remembering
            # every connection ever ended.
            conn = f"{self.prefix}hc{key}" + (f".{index}" if self.evicted else "")
            self.open_ids[key] = conn
        return conn, True

    def keep_open(self, conn: str, key: str, ts: float | None) -> None:
        """A shared connection stays open until the end of the file, but at most `MAX_OPEN` of them:
        the least recently used is ended first, so memory does not grow with the file."""
        previous = self.open.pop(conn, None)
        if previous is not None and previous[1] is not None and (ts is None or previous[1] > ts):
            ts = previous[1]
        self.open[conn] = (key, ts)
        while len(self.open) > MAX_OPEN:
            oldest = next(iter(self.open))
            old_key, old_ts = self.open.pop(oldest)
            del self.open_ids[old_key]
            self.evicted += 1
            self.analysis.connection_end(oldest, old_ts)

    def finish(self) -> None:
        for conn, (_, ts) in self.open.items():
            self.analysis.connection_end(conn, ts)
        self.open.clear()
        self.open_ids.clear()
        if self.relative_times:
            self.analysis.warning(
                "har-message-time-unknown",
                "message times that are not epoch times (a relative clock) are left null",
                count=self.relative_times)
        if self.missing_attachments:
            self.analysis.warning(
                "har-attachment-missing", "a response.content._file named a file the zip does not hold",
                count=self.missing_attachments)
        if self.cut_attachments:
            self.analysis.warning(
                "har-attachment-too-large",
                f"attached files are read up to {MAX_ATTACHMENT >> 20} MiB; the rest is left out",
                count=self.cut_attachments)
        if self.unknown_types:
            self.analysis.warning(
                "har-message-type-unknown",
                "_webSocketMessages items whose type is neither send nor receive are left out",
                count=self.unknown_types)
        if self.absurd_timings:
            self.analysis.warning(
                "har-timing-out-of-range",
                f"timings above {MAX_TIMING_MS:.0e} ms are taken as unknown", count=self.absurd_timings)
        if self.bad_base64:
            self.analysis.warning(
                "har-binary-not-base64",
                "binary WebSocket message data that is not base64 is taken as UTF-8 text",
                count=self.bad_base64)


def _post_text(request: dict) -> str | None:
    """``request.postData.text`` (the request body as the HAR writer kept it) for the application layer;
    None without one (a malformed one is `_request_body_bytes`'s to report)."""
    post = request.get("postData")
    text = post.get("text") if isinstance(post, dict) else None
    return text if isinstance(text, str) else None


def _request_body_bytes(request: dict, where: _Where) -> int | None:
    size = _size(request, "bodySize", where, "request.bodySize")
    if size is not None:
        return size
    post = _get(request, "postData", dict, where, "request.postData")
    if post:
        text = _get(post, "text", str, where, "request.postData.text")
        if text is not None:
            return len(text.encode("utf-8", "surrogatepass"))
    return None


def _response_body_bytes(response: dict, content: dict, body: bytes | None, where: _Where) -> int | None:
    size = _size(content, "size", where, "response.content.size")
    if size is not None and (size > 0 or not body):
        return size
    if body is not None:
        return len(body)
    return _size(response, "bodySize", where, "response.bodySize")


def run(path, analysis, options=None) -> None:
    """Read the HAR at ``path`` entry by entry into ``analysis`` (which the caller finishes).

    ``options`` (`inspector.sources.SourceOptions`): ids are ``conn_prefix`` + ``h<index>`` or ``hc<id>``;
    ``conns`` keeps only those connection ids, ``hosts`` only entries whose URL host (``name`` or
    ``name:port``) or server IP matches; ``progress`` is told how many input bytes were consumed.
    gzip-compressed HARs are read as well.
    """
    from inspector.sources import open_binary

    conns = getattr(options, "conns", None) or frozenset()
    hosts = getattr(options, "hosts", None) or frozenset()
    progress = getattr(options, "progress", None)
    prefix = getattr(options, "conn_prefix", "") or ""
    with open_binary(str(path)) as f:
        if f.read(4) == _ZIP_MAGIC:
            with _open_zip(f, path) as (archive, member):
                reader = _Reader(analysis, prefix, conns, attachments=archive)
                _read(reader, member, hosts, None)
        else:
            f.seek(0)
            reader = _Reader(analysis, prefix, conns)
            _read(reader, f, hosts, progress)
    reader.finish()


def _read(reader: _Reader, f: BinaryIO, hosts: frozenset[str], progress) -> None:
    position = 0
    for index, entry in enumerate(read_entries(f)):
        if not hosts or _host_matches(entry, hosts):
            reader.entry(index, entry)
        if progress is not None:
            now = f.tell()
            progress(now - position)
            position = now


@contextlib.contextmanager
def _open_zip(f: BinaryIO, path) -> Iterator[tuple[zipfile.ZipFile, BinaryIO]]:
    """A zip HAR (Playwright's ``recordHar`` to a ``.zip``): the archive and its ``.har`` member, streamed."""
    try:
        archive = zipfile.ZipFile(f)
        names = [n for n in archive.namelist() if n.endswith(".har")]
        if not names:
            raise InputError(f"{path}: zip archive without a .har file")
        member = archive.open("har.har" if "har.har" in names else names[0])
    except _ZIP_ERRORS as exc:
        raise InputError(f"{path}: not a readable zip archive ({exc})") from None
    with archive, member:
        yield archive, member


def _host_matches(entry: Any, hosts: frozenset[str]) -> bool:
    if not isinstance(entry, dict):
        return True  # let entry() name the problem
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    names = set()
    if isinstance(url, str):
        try:
            parts = urlsplit(url)
            if parts.hostname:
                names.add(parts.hostname)
                names.add(f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname)
        except ValueError:
            pass
    ip = entry.get("serverIPAddress")
    if isinstance(ip, str):
        names.add(ip.strip("[]"))
    return not names.isdisjoint(hosts)
