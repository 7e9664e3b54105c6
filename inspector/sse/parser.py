"""Server-Sent Events: the WHATWG event-stream parser and per-stream analysis (sans-IO).

`SseParser` implements HTML Living Standard section 9.2.6 "Interpreting an event stream" exactly as a
browser's ``EventSource`` does, incrementally over chunks of any size:

- The stream is UTF-8; one leading byte order mark (EF BB BF, even split across chunks) is dropped and
  invalid bytes become U+FFFD (the WHATWG "UTF-8 decode" with maximal-subpart replacement).  Lines are
  split on bytes and each value is decoded on its own, like Chromium's parser: CR, LF and ':' are ASCII,
  so this gives the same text as decoding the whole stream first, and a character split across chunks
  is never decoded half-way.
- A line ends in CRLF, LF or CR.  A CR at the end of one chunk and an LF at the start of the next are one
  line end; the line is complete at the CR (a browser dispatches there too).
- A line starting with ':' is a comment (counted: heartbeats).  Otherwise the field name is everything
  before the first ':' (the whole line if there is none, with an empty value) and one leading space of
  the value is removed.  Field names are case-sensitive; unknown ones are ignored.
- ``data`` appends the value and a LF to the data buffer; ``event`` sets the event type buffer; ``id``
  sets the last event ID buffer unless the value contains U+0000 (then the field is ignored); ``retry``
  sets the reconnection time when the value is ASCII digits only (and fits in 64 bits, as in Chromium),
  otherwise it is ignored.
- A blank line dispatches: first the source's last event ID becomes the last event ID buffer (even if no
  event follows; the buffer is not reset, an ``id`` with an empty value resets it to ""), then, if the data
  buffer is empty, the data and type buffers are cleared and nothing is dispatched; otherwise the trailing
  LF is removed and an event of type "message" (or the type buffer if not empty) is dispatched.
- At the end of the stream any pending data, including an unterminated last line, is discarded.

One known browser deviation, found by tests/test_sse.py: Chromium (156) does not see a line break that
directly follows the BOM; it becomes the first character of the next line, whose field is then ignored
(a stream starting BOM, LF, ``id: 1`` sets no id in Chromium; after BOM CR LF it comes out the same).
The parser follows the spec and reports the case (``bom_line_break``, finding ``sse-bom-line-break``).
Another, invisible to pages: an empty ``retry`` value resets Chromium's reconnection time to its 3 s
default, where the spec ignores it (so does the parser; it counts as ``sse-retry-invalid``).

Items out of `SseParser.feed` / `SseParser.end`: `ParsedEvent` (``ts`` = the time of the chunk holding
the blank line that dispatched it, ``id`` = the last event ID after it, ``retry`` = the reconnection time
in effect, ms, or None), `Comment`, `Oversize` (a line longer than ``max_line`` bytes, or an event whose
data grows beyond ``max_event`` bytes: the parser keeps scanning for the line end without buffering and
drops it, so memory stays bounded on endless streams; an event that lost a ``data`` or ``event`` line
this way is dropped whole; an oversize ``id`` line leaves the last event ID as it was, where a browser
would take it), `Unterminated` (from `end` only: what was discarded at the end of the stream).

`SseStreamAnalysis` wraps one parser for one text/event-stream response (``inspector.analysis`` creates
it) and turns its items into `records.SseEvent` records and, from `SseStreamAnalysis.end`, a `WarningRecord`
record when something was dropped over the caps, then the `records.SseStream` summary (always last).
`header_findings` gives the status/header findings alone, e.g. for a response to an ``EventSource``
request (``Accept: text/event-stream``) that is not an event stream at all.

Stream findings (``SseStream.findings``, names are stable; tests/test_sse.py checks the error ones on
status, Content-Type, charset and CORS against what a real EventSource in Chromium does):

| name | severity | when |
| --- | --- | --- |
| ``sse-status-not-200`` | error | status other than 200, 204 or a redirect: EventSource fails the connection and does not reconnect |
| ``sse-status-204`` | info | 204 No Content: the conventional way to tell EventSource to stop reconnecting |
| ``sse-redirect`` | info | 3xx: EventSource follows the redirect; the stream is on the next request |
| ``sse-content-type-missing`` | error | no Content-Type: EventSource fails the connection |
| ``sse-content-type-wrong`` | error | MIME type is not text/event-stream (e.g. text/plain): EventSource fails the connection |
| ``sse-charset-not-utf8`` | error | a charset parameter other than utf-8 (even "utf8"): Chromium aborts the connection; the spec decodes UTF-8 regardless |
| ``sse-content-encoding`` | warning | Content-Encoding (gzip, br, ...): compressors buffer, events arrive late unless flushed per event |
| ``sse-content-length`` | warning | Content-Length: the stream ends after that many bytes, the client reconnects (polling in disguise) |
| ``sse-cache-control-missing`` | warning | no Cache-Control no-cache / no-store: caches and proxies may store or buffer the stream |
| ``sse-x-accel-buffering`` | warning | X-Accel-Buffering: yes: nginx buffers the stream (whether nginx buffers when the header is absent cannot be seen) |
| ``sse-cors-missing`` | error | cross-origin request (Origin differs from the URL's origin) without Access-Control-Allow-Origin allowing it |
| ``sse-cors-credentials`` | error | cross-origin request with cookies (withCredentials) but ACAO "*" or no Access-Control-Allow-Credentials: true |
| ``sse-bom-line-break`` | warning | the stream starts with a BOM, a blank line (LF or lone CR) and a field line: Chromium ignores that field (spec-following parsers do not) |
| ``sse-invalid-utf8`` | warning | bytes that are not UTF-8: browsers show U+FFFD |
| ``sse-id-null`` | warning | an ``id`` field containing U+0000: ignored by browsers |
| ``sse-retry-invalid`` | warning | a ``retry`` field that is not ASCII digits (or too large): ignored by browsers |
| ``sse-unknown-field`` | info | field names a browser ignores (e.g. ``Data``, ``evnt``) |
| ``sse-no-events`` | warning | the body had bytes but neither an event a browser would dispatch nor a comment (e.g. JSON lines, ``message:`` fields) |
| ``sse-unterminated-event`` | warning | the stream ended inside an event with data (no blank line after it): browsers discard it |
| ``sse-oversize`` | warning | lines or events over inspector's caps were not analysed (also a `WarningRecord` record) |
| ``sse-idle-gap`` | info | nothing (not even a comment) arrived for ``idle_gap`` seconds: proxies often cut idle connections; send ``:`` heartbeats |
| ``sse-resume-not-honoured`` | warning | the client sent Last-Event-ID but the first id does not follow it (numeric ids): the server replayed or restarted |
| ``sse-resume-gap`` | info | numeric ids resume beyond Last-Event-ID + 1: events in between were not delivered (fine if the server filters) |

Resumption (``SseStream.request_last_event_id`` / ``resumed``): the request's Last-Event-ID header is
what the client had seen before reconnecting, and the stream's last event ID starts from it, as in
Chromium (checked by tests/test_sse.py; the spec's per-stream buffer would start empty), so events
without an ``id`` field show it as ``e.lastEventId`` does.  ``resumed`` is None when the request had no
Last-Event-ID or the stream set no non-empty id; otherwise it compares the first non-empty ``id`` the
stream sent with it:
when both are decimal integers, ``resumed`` is True iff the first id is greater (exactly +1 is a clean
resume, more is ``sse-resume-gap``); for other ids it is True iff the first id differs (a heuristic: a
server that restarts its own non-numeric sequence cannot be told apart).  Correlating streams into
reconnect chains is left to ``inspector.analysis``.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from inspector import records

__all__ = [
    "ParsedEvent",
    "Comment",
    "Oversize",
    "Unterminated",
    "SseParser",
    "SseStreamAnalysis",
    "header_findings",
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_EVENT",
]

DEFAULT_MAX_LINE = 1 << 20
DEFAULT_MAX_EVENT = 4 << 20

_BOM = b"\xef\xbb\xbf"
_MAX_RETRY = (1 << 64) - 1  # Chromium parses retry as uint64 and ignores what does not fit
_MAX_FIELD_NAMES = 32  # distinct unknown field names remembered
_MAX_TYPES = 256  # distinct event types counted one by one; the rest are summed under _OTHER_TYPE
_OTHER_TYPE = "(other types)"
_USED_FIELDS = (b"data", b"event", b"id", b"retry")
_PREFIX = 128  # bytes of an oversize line kept to name its field


class ParsedEvent(msgspec.Struct, frozen=True):
    """A dispatched event, as ``EventSource`` fires it."""

    event: str  # type, "message" by default
    data: str
    id: str  # the source's last event ID after this event
    retry: int | None  # reconnection time in effect (ms), None if the stream never set one
    ts: float | None  # when the dispatching blank line arrived


class Comment(msgspec.Struct, frozen=True):
    """A line starting with ':' (text after the colon); servers send them as heartbeats."""

    text: str
    ts: float | None


class Oversize(msgspec.Struct, frozen=True):
    """A line or an event over the caps, dropped without being buffered."""

    kind: str  # "line" | "event"
    size: int  # bytes: the line without its end, or the event's data (as far as it was counted)
    #: line: its field name, ":" for a comment, None when its first 128 bytes hold no ':' (a name nobody
    #: knows); event: the field that made it drop ("data" over max_event, or an oversize data/event line)
    field: str | None
    ts: float | None


class Unterminated(msgspec.Struct, frozen=True):
    """What `SseParser.end` discarded: fields after the last blank line and/or an unterminated line."""

    has_data: bool  # a browser would have dispatched it, had a blank line followed
    data_bytes: int
    partial_line_bytes: int
    ts: float | None


def _decode(value: bytes) -> tuple[str, bool]:
    try:
        return value.decode("utf-8"), False
    except UnicodeDecodeError:
        return value.decode("utf-8", "replace"), True


class SseParser:
    """Incremental WHATWG event-stream parser; see the module docstring for the rules.

    Memory is bounded by ``max_line`` (bytes of one line) and ``max_event`` (bytes of one event's data).
    Counters (read them any time): ``events``, ``comments``, ``oversize_lines``, ``oversize_events``,
    ``invalid_utf8``, ``id_null``, ``retry_invalid``, ``unknown_fields`` (Counter of up to 32 names),
    ``bytes``.  ``last_event_id`` is the source's last event ID string, ``retry`` the reconnection time.
    """

    def __init__(
        self, *, max_line: int = DEFAULT_MAX_LINE, max_event: int = DEFAULT_MAX_EVENT, last_event_id: str = ""
    ) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self.events = 0
        self.comments = 0
        self.oversize_lines = 0
        self.oversize_events = 0
        self.invalid_utf8 = 0
        self.id_null = 0
        self.retry_invalid = 0
        self.unknown_fields: Counter[str] = Counter()
        self.bytes = 0
        self.first_id: str | None = None  # the first non-empty id the stream itself set
        self._head: bytes | None = b""  # bytes seen while deciding on a BOM; None once decided
        self._after_bom = False  # a BOM was just dropped: what follows? (`_bom_quirk`)
        self._bom_cr = False
        self._bom_watch = 0  # lines until the one Chromium misreads
        #: the stream starts with a BOM and a line break (Chromium misreads it, see the module docstring)
        self.bom_line_break = False
        self._after_cr = False  # the last line ended in CR: an LF starting the next chunk belongs to it
        self._buf = bytearray()  # the unterminated line so far (at most max_line bytes)
        self._skip: int | None = None  # bytes of an oversize line being skipped
        self._skip_prefix = bytearray()  # its first _PREFIX bytes, for its field name
        # event being built
        self._data: list[bytes] = []
        self._data_size = 0  # bytes in the data buffer, LFs included
        self._type = b""
        self._id_buf = last_event_id
        self._fields = 0  # field lines since the last blank line
        self._dropped: int | None = None  # data bytes of an event over max_event (or that lost a line)
        self._drop_field = "data"
        self._ended = False

    def feed(self, data: bytes, ts: float | None = None) -> list[ParsedEvent | Comment | Oversize]:
        out: list[ParsedEvent | Comment | Oversize] = []
        if not data or self._ended:
            return out
        if type(data) is not bytes:
            data = bytes(data)
        self.bytes += len(data)
        if self._head is not None:
            head = self._head + data
            if len(head) < 3 and _BOM.startswith(head):
                self._head = head
                return out
            self._head = None
            self._after_bom = head.startswith(_BOM)
            data = head[3:] if self._after_bom else head
            if not data:
                return out
        if self._after_bom:
            self._after_bom = self._bom_quirk(data)
        if self._after_cr:
            self._after_cr = False
            if data[0] == 0x0A:
                data = data[1:]
                if not data:
                    return out
        # bytes.splitlines splits on CRLF, LF and CR only; the first piece continues a buffered line and
        # the last one is unterminated unless the chunk ends in a line end
        lines = data.splitlines()
        last = data[-1]
        tail = lines.pop() if last != 0x0A and last != 0x0D else None
        self._after_cr = last == 0x0D
        if lines and (self._skip is not None or self._buf):
            first = lines[0]
            lines = lines[1:]
            if self._skip is not None:
                self._end_skip(first, ts, out)
            elif len(self._buf) + len(first) > self.max_line:
                self._start_skip(first)
                self._end_skip(b"", ts, out)
            else:
                self._buf += first
                first = bytes(self._buf)
                self._buf.clear()
                self._line(first, ts, out)
        max_line = self.max_line
        line_ = self._line
        for line in lines:
            if len(line) > max_line:
                self._start_skip(line)
                self._end_skip(b"", ts, out)
            else:
                line_(line, ts, out)
        if tail is not None:
            self._partial(tail)
        return out

    def end(self, ts: float | None = None) -> list[Unterminated]:
        """The stream ended: pending fields and an unterminated line are discarded (and reported)."""
        if self._ended:
            return []
        self._ended = True
        partial = len(self._buf) + (self._skip or 0) + len(self._head or b"")
        has_data = bool(self._data) or self._dropped is not None
        if self._skip is not None:
            has_data = has_data or self._skip_name() == "data"
        elif self._buf:
            has_data = has_data or _is_data(bytes(self._buf))
        self._buf.clear()
        self._skip = None
        if not (self._fields or partial):
            return []
        item = Unterminated(has_data, self._data_size if self._dropped is None else self._dropped, partial, ts)
        self._reset_event()
        return [item]

    # -- internals

    def _bom_quirk(self, data: bytes) -> bool:
        """Look at the bytes after the BOM; True while one more byte is needed to decide.

        BOM LF and BOM CR (no LF) make Chromium prefix the second line with that byte; it matters if that
        line is a field a browser uses (`_line` looks).  BOM CR LF is harmless: Chromium ignores a line
        holding CR where the spec has a blank line, and neither does anything at the start.
        """
        if self._bom_cr:  # that CR was parsed already (a blank line): the next line is the one
            if data[0] != 0x0A:
                self._bom_watch = 1
        elif data[0] == 0x0D:
            if len(data) == 1:
                self._bom_cr = True
                return True
            if data[1] != 0x0A:
                self._bom_watch = 2
        elif data[0] == 0x0A:
            self._bom_watch = 2
        return False

    def _partial(self, piece: bytes) -> None:
        if self._skip is not None:
            self._skip_more(piece)
        elif len(self._buf) + len(piece) > self.max_line:
            self._start_skip(piece)
        else:
            self._buf += piece

    def _start_skip(self, piece: bytes) -> None:
        self._skip = len(self._buf)
        self._skip_prefix = self._buf[:_PREFIX]
        self._buf.clear()
        self._skip_more(piece)

    def _skip_more(self, piece: bytes) -> None:
        if len(self._skip_prefix) < _PREFIX:
            self._skip_prefix += piece[: _PREFIX - len(self._skip_prefix)]
        self._skip += len(piece)

    def _skip_name(self) -> str | None:
        """The field name of the line being skipped, from its first bytes (see `Oversize.field`)."""
        prefix = bytes(self._skip_prefix)
        if prefix.startswith(b":"):
            return ":"
        colon = prefix.find(b":")
        if colon >= 0:
            return _decode(prefix[:colon])[0]
        if self._skip <= len(prefix):  # the whole line is its name (a field with an empty value)
            return _decode(prefix)[0]
        return None

    def _end_skip(self, piece: bytes, ts: float | None, out: list) -> None:
        self._skip_more(piece)
        size, field = self._skip, self._skip_name()
        self._skip = None
        self._skip_prefix = bytearray()
        self.oversize_lines += 1
        out.append(Oversize("line", size, field, ts))
        if field == ":":
            self.comments += 1
            return
        self._fields += 1
        if field == "data" or field == "event":
            # a browser would have used the line: the event cannot be shown as it would see it
            self._drop(size + 1, field)

    def _drop(self, size: int, why: str) -> None:
        """Drop the event being built: ``size`` more bytes counted, ``why`` the field that caused it."""
        if self._dropped is None:
            self._dropped = self._data_size
            self._drop_field = why
        self._dropped += size
        self._data.clear()
        self._data_size = 0

    def _line(self, line: bytes, ts: float | None, out: list) -> None:
        name, colon, value = line.partition(b":")
        if self._bom_watch:
            self._bom_watch -= 1
            self.bom_line_break = not self._bom_watch and name in _USED_FIELDS
        if not name:
            if colon:
                self.comments += 1
                text, bad = _decode(value)
                self.invalid_utf8 += bad
                out.append(Comment(text, ts))
            else:
                self._dispatch(ts, out)
            return
        self._fields += 1
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            if self._dropped is not None:
                self._dropped += len(value) + 1
                return
            size = self._data_size + len(value) + 1
            if size > self.max_event:
                self._drop(len(value) + 1, "data")
            else:
                self._data.append(value)
                self._data_size = size
        elif name == b"event":
            self._type = value
        elif name == b"id":
            if b"\x00" in value:
                self.id_null += 1
            else:
                self._id_buf, bad = _decode(value)
                self.invalid_utf8 += bad
                if self.first_id is None and self._id_buf:
                    self.first_id = self._id_buf
        elif name == b"retry":
            if value.isdigit() and len(value) <= 20 and int(value) <= _MAX_RETRY:
                self.retry = int(value)
            else:
                self.retry_invalid += 1
        else:
            key = _decode(name[:64])[0]
            if key in self.unknown_fields or len(self.unknown_fields) < _MAX_FIELD_NAMES:
                self.unknown_fields[key] += 1

    def _dispatch(self, ts: float | None, out: list) -> None:
        self.last_event_id = self._id_buf
        if self._dropped is not None:
            self.oversize_events += 1
            out.append(Oversize("event", self._dropped, self._drop_field, ts))
        elif self._data:
            data, bad = _decode(b"\n".join(self._data))
            event, bad_type = _decode(self._type) if self._type else ("message", False)
            self.invalid_utf8 += bad + bad_type
            self.events += 1
            out.append(ParsedEvent(event, data, self.last_event_id, self.retry, ts))
        self._reset_event()

    def _reset_event(self) -> None:
        self._data.clear()
        self._data_size = 0
        self._type = b""
        self._fields = 0
        self._dropped = None


def _is_data(line: bytes) -> bool:
    return line == b"data" or line.startswith(b"data:")


def _decimal(text: str) -> bool:
    """ASCII digits only, short enough for int() (Python refuses over 4300 digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 40


def _header(headers, name: str) -> str | None:
    """The last value of a header (case-insensitive name), None if absent."""
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def _origin(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1].lower()
    scheme = scheme.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def _finding(name: str, severity: str, message: str) -> records.Finding:
    return records.Finding(name=name, severity=severity, message=message)


def header_findings(
    *,
    status: int | None,
    request_headers=(),
    response_headers=(),
    url: str | None = None,
) -> list[records.Finding]:
    """Delivery pitfalls visible in one event-stream exchange's status and headers."""
    found: list[records.Finding] = []
    if status is not None:
        if status == 204:
            found.append(_finding("sse-status-204", "info", "204 No Content: EventSource stops and does not reconnect"))
        elif 300 <= status < 400:
            found.append(_finding("sse-redirect", "info", f"status {status}: EventSource follows the redirect"))
        elif status != 200:
            found.append(
                _finding(
                    "sse-status-not-200",
                    "error",
                    f"status {status}: EventSource fails the connection (only 200 opens a stream) "
                    "and does not reconnect",
                )
            )
    ctype = _header(response_headers, "content-type")
    if ctype is None:
        found.append(_finding("sse-content-type-missing", "error", "no Content-Type: EventSource fails the connection"))
    else:
        essence, _, params = ctype.partition(";")
        essence = essence.strip().lower()
        if essence != "text/event-stream":
            found.append(
                _finding(
                    "sse-content-type-wrong",
                    "error",
                    f"Content-Type {essence or '(empty)'!r} is not text/event-stream: EventSource fails the connection",
                )
            )
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip('"').lower()
                if charset != "utf-8":  # Chromium compares the label itself: "utf8" fails too
                    found.append(
                        _finding(
                            "sse-charset-not-utf8",
                            "error",
                            f"charset={charset}: Chromium-based browsers abort the connection (only utf-8 is "
                            "accepted); others ignore it and decode the stream as UTF-8",
                        )
                    )
    encoding = _header(response_headers, "content-encoding")
    if encoding and encoding.strip().lower() != "identity":
        found.append(
            _finding(
                "sse-content-encoding",
                "warning",
                f"Content-Encoding {encoding.strip()}: compression buffers events unless the server flushes each one",
            )
        )
    length = _header(response_headers, "content-length")
    if length is not None:
        found.append(
            _finding(
                "sse-content-length",
                "warning",
                f"Content-Length {length.strip()}: the stream ends after that many bytes and the client reconnects",
            )
        )
    cache = _header(response_headers, "cache-control")
    directives = {d.strip().split("=", 1)[0].lower() for d in (cache or "").split(",")}
    if not directives & {"no-cache", "no-store"}:
        found.append(
            _finding(
                "sse-cache-control-missing",
                "warning",
                "no Cache-Control: no-cache: caches and proxies may store or buffer the stream",
            )
        )
    accel = _header(response_headers, "x-accel-buffering")
    if accel is not None and accel.strip().lower() == "yes":
        found.append(_finding("sse-x-accel-buffering", "warning", "X-Accel-Buffering: yes: nginx buffers the stream"))
    origin = _header(request_headers, "origin")
    target = _origin(url)
    if origin and target and origin.strip().lower() not in (target, "null"):
        allow = (_header(response_headers, "access-control-allow-origin") or "").strip()
        if allow != "*" and allow.lower() != origin.strip().lower():
            found.append(
                _finding(
                    "sse-cors-missing",
                    "error",
                    f"cross-origin request from {origin.strip()} but Access-Control-Allow-Origin is "
                    f"{allow or 'absent'}: the browser blocks the stream",
                )
            )
        elif _header(request_headers, "cookie") is not None:
            creds = (_header(response_headers, "access-control-allow-credentials") or "").strip().lower()
            if allow == "*" or creds != "true":
                found.append(
                    _finding(
                        "sse-cors-credentials",
                        "error",
                        "cross-origin request with credentials needs Access-Control-Allow-Origin equal to the origin "
                        "and Access-Control-Allow-Credentials: true",
                    )
                )
    return found


class SseStreamAnalysis:
    """One text/event-stream response: bytes in, `records.SseEvent` out, `records.SseStream` at the end.

    ``request_headers`` / ``response_headers`` are lists of (name, value); ``status`` the response status;
    ``ts_start`` the response head's time (rate and first gap count from it).  ``idle_gap`` is the silence
    (seconds, nothing received) that earns ``sse-idle-gap``.
    """

    def __init__(
        self,
        conn: str,
        url: str | None,
        *,
        request_headers=(),
        response_headers=(),
        status: int | None = None,
        ts_start: float | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        max_event: int = DEFAULT_MAX_EVENT,
        idle_gap: float = 30.0,
    ) -> None:
        self.conn = conn
        self.url = url
        self.findings = header_findings(
            status=status, request_headers=request_headers, response_headers=response_headers, url=url
        )
        last_id = _header(request_headers, "last-event-id")
        self.request_last_event_id = last_id.strip() if last_id is not None else None
        # a browser's reconnected stream starts from the last event ID it had (Chromium does; the spec's
        # per-stream buffer would start empty): events without an id show it
        self.parser = SseParser(
            max_line=max_line, max_event=max_event, last_event_id=self.request_last_event_id or ""
        )
        self.ts_start = ts_start
        self.idle_gap = idle_gap
        self._by_type: Counter[str] = Counter()
        self._index = 0
        self._first_ts: float | None = None  # first event
        self._last_ts: float | None = None  # last event
        self._gap_sum = 0.0
        self._gap_max: float | None = None
        self._gaps = 0
        self._activity: float | None = ts_start  # last time bytes arrived
        self._idle_max = 0.0
        self._last_feed: float | None = None
        self._unterminated = 0
        self._ended = False

    def feed(self, data: bytes, ts: float | None = None) -> list[records.SseEvent]:
        if self._ended or not data:
            return []
        if ts is not None:
            if self._activity is not None:
                self._idle_max = max(self._idle_max, ts - self._activity)
            self._activity = ts
            self._last_feed = ts
            if self.ts_start is None:
                self.ts_start = ts
        out: list[records.SseEvent] = []
        for item in self.parser.feed(data, ts):
            if type(item) is ParsedEvent:
                out.append(self._event(item))
        return out

    def end(self, ts: float | None = None) -> list[records.SseEvent | records.SseStream | records.WarningRecord]:
        if self._ended:
            return []
        self._ended = True
        if ts is not None and self._activity is not None:
            self._idle_max = max(self._idle_max, ts - self._activity)
        for item in self.parser.end(ts):
            if item.has_data:
                self._unterminated += 1
        ts_end = ts if ts is not None else self._last_feed
        return [*self._warnings(), self._summary(ts_end)]

    # -- internals

    def _event(self, item: ParsedEvent) -> records.SseEvent:
        if item.event in self._by_type or len(self._by_type) < _MAX_TYPES:
            self._by_type[item.event] += 1
        else:
            self._by_type[_OTHER_TYPE] += 1
        if item.ts is not None:
            if self._last_ts is not None:
                gap = item.ts - self._last_ts
                self._gap_sum += gap
                self._gaps += 1
                self._gap_max = gap if self._gap_max is None else max(self._gap_max, gap)
            else:
                self._first_ts = item.ts
            self._last_ts = item.ts
        record = records.SseEvent(
            conn=self.conn,
            ts=item.ts,
            event=item.event,
            data=item.data,
            id=item.id,
            retry=item.retry,
            url=self.url,
            index=self._index,
        )
        self._index += 1
        return record

    def _warnings(self) -> list[records.WarningRecord]:
        p = self.parser
        dropped = p.oversize_lines + p.oversize_events
        if not dropped:
            return []
        return [
            records.WarningRecord(
                name="sse-oversize",
                message=f"{p.oversize_lines} line(s) over {p.max_line} bytes and {p.oversize_events} event(s) "
                f"over {p.max_event} bytes were dropped",
                count=dropped,
                conn=self.conn,
            )
        ]

    def _resume(self) -> tuple[bool | None, list[records.Finding]]:
        sent, first = self.request_last_event_id, self.parser.first_id
        if not sent or first is None:
            return None, []
        if _decimal(sent) and _decimal(first):
            a, b = int(sent), int(first)
            if b <= a:
                return False, [
                    _finding(
                        "sse-resume-not-honoured",
                        "warning",
                        f"client sent Last-Event-ID {sent} but the first id is {first}: "
                        "events were replayed or restarted",
                    )
                ]
            if b > a + 1:
                return True, [
                    _finding(
                        "sse-resume-gap",
                        "info",
                        f"client sent Last-Event-ID {sent}, the first id is {first}: ids in between were not delivered",
                    )
                ]
            return True, []
        return first != sent, []

    def _stream_findings(self) -> list[records.Finding]:
        p = self.parser
        found = list(self.findings)
        if p.bom_line_break:
            found.append(
                _finding(
                    "sse-bom-line-break",
                    "warning",
                    "the stream starts with a BOM and a line break: Chromium takes the line break into the next "
                    "line and ignores that line's field",
                )
            )
        if p.invalid_utf8:
            found.append(
                _finding("sse-invalid-utf8", "warning", f"{p.invalid_utf8} value(s) with bytes that are not UTF-8")
            )
        if p.id_null:
            found.append(_finding("sse-id-null", "warning", f"{p.id_null} id field(s) containing U+0000 ignored"))
        if p.retry_invalid:
            found.append(
                _finding("sse-retry-invalid", "warning", f"{p.retry_invalid} retry field(s) not ASCII digits ignored")
            )
        if p.unknown_fields:
            names = ", ".join(repr(n) for n, _ in p.unknown_fields.most_common(5))
            found.append(_finding("sse-unknown-field", "info", f"fields a browser ignores: {names}"))
        if p.bytes and not p.events and not p.comments and not (p.oversize_lines or p.oversize_events):
            found.append(
                _finding(
                    "sse-no-events",
                    "warning",
                    f"{p.bytes} bytes but no event a browser would dispatch: events need 'data:' lines "
                    "and a blank line after them",
                )
            )
        if self._unterminated:
            found.append(
                _finding(
                    "sse-unterminated-event",
                    "warning",
                    "the stream ended inside an event (no blank line after its data): browsers discard it",
                )
            )
        if p.oversize_lines or p.oversize_events:
            found.append(
                _finding(
                    "sse-oversize",
                    "warning",
                    f"{p.oversize_lines + p.oversize_events} line(s)/event(s) over the caps were not analysed",
                )
            )
        if self._idle_max >= self.idle_gap:
            found.append(
                _finding(
                    "sse-idle-gap",
                    "info",
                    f"nothing arrived for {self._idle_max:.1f} s: intermediaries often close idle connections; "
                    "send ':' comment heartbeats",
                )
            )
        return found

    def _summary(self, ts_end: float | None) -> records.SseStream:
        p = self.parser
        rate = None
        if self.ts_start is not None and ts_end is not None and ts_end > self.ts_start:
            rate = p.events / (ts_end - self.ts_start)
        resumed, resume_findings = self._resume()
        first = None
        if self._first_ts is not None and self.ts_start is not None:
            first = self._first_ts - self.ts_start
        return records.SseStream(
            conn=self.conn,
            url=self.url,
            events=p.events,
            events_by_type=dict(self._by_type),
            comments=p.comments,
            ts_start=self.ts_start,
            ts_end=ts_end,
            rate_per_s=rate,
            gap_mean_s=self._gap_sum / self._gaps if self._gaps else None,
            gap_max_s=self._gap_max,
            retry=p.retry,
            last_event_id=p.last_event_id,
            request_last_event_id=self.request_last_event_id,
            resumed=resumed,
            dropped=p.oversize_lines + p.oversize_events + self._unterminated,
            findings=self._stream_findings() + resume_findings,
            bytes=p.bytes,
            first_event_s=first,
            idle_max_s=self._idle_max if self._activity is not None else None,
        )
