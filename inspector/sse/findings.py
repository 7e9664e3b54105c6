"""Event-stream findings: what would go wrong for a browser's ``EventSource``.

`header_findings` gives the status/header findings alone, e.g. for a response to an ``EventSource``
request (``Accept: text/event-stream``) that is not an event stream at all; `stream_findings` adds what
the parser saw in the body.  Each is a table of small named checks, run in order.

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

The two resume findings come from `inspector.sse.stream` (they compare the request with the stream).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from inspector import records
from inspector.sse.parser import SseParser

__all__ = ["finding", "header_findings", "last_header", "stream_findings"]


def finding(name: str, severity: str, message: str) -> records.Finding:
    return records.Finding(name=name, severity=severity, message=message)


def last_header(headers, name: str) -> str | None:
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


# -- status and headers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    status: int | None
    request_headers: Iterable[tuple[str, str]]
    response_headers: Iterable[tuple[str, str]]
    url: str | None

    def request(self, name: str) -> str | None:
        return last_header(self.request_headers, name)

    def response(self, name: str) -> str | None:
        return last_header(self.response_headers, name)


def _status(head: _Head) -> Iterator[records.Finding]:
    status = head.status
    if status is None or status == 200:
        return
    if status == 204:
        yield finding("sse-status-204", "info", "204 No Content: EventSource stops and does not reconnect")
    elif 300 <= status < 400:
        yield finding("sse-redirect", "info", f"status {status}: EventSource follows the redirect")
    else:
        yield finding(
            "sse-status-not-200",
            "error",
            f"status {status}: EventSource fails the connection (only 200 opens a stream) and does not reconnect",
        )


def _content_type(head: _Head) -> Iterator[records.Finding]:
    ctype = head.response("content-type")
    if ctype is None:
        yield finding("sse-content-type-missing", "error", "no Content-Type: EventSource fails the connection")
        return
    essence = ctype.partition(";")[0].strip().lower()
    if essence != "text/event-stream":
        yield finding(
            "sse-content-type-wrong",
            "error",
            f"Content-Type {essence or '(empty)'!r} is not text/event-stream: EventSource fails the connection",
        )


def _charset(head: _Head) -> Iterator[records.Finding]:
    params = (head.response("content-type") or "").partition(";")[2]
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() != "charset":
            continue
        charset = value.strip().strip('"').lower()
        if charset != "utf-8":  # Chromium compares the label itself: "utf8" fails too
            yield finding(
                "sse-charset-not-utf8",
                "error",
                f"charset={charset}: Chromium-based browsers abort the connection (only utf-8 is "
                "accepted); others ignore it and decode the stream as UTF-8",
            )


def _content_encoding(head: _Head) -> Iterator[records.Finding]:
    encoding = head.response("content-encoding")
    if encoding and encoding.strip().lower() != "identity":
        yield finding(
            "sse-content-encoding",
            "warning",
            f"Content-Encoding {encoding.strip()}: compression buffers events unless the server flushes each one",
        )


def _content_length(head: _Head) -> Iterator[records.Finding]:
    length = head.response("content-length")
    if length is not None:
        yield finding(
            "sse-content-length",
            "warning",
            f"Content-Length {length.strip()}: the stream ends after that many bytes and the client reconnects",
        )


def _cache_control(head: _Head) -> Iterator[records.Finding]:
    cache = head.response("cache-control")
    directives = {d.strip().split("=", 1)[0].lower() for d in (cache or "").split(",")}
    if not directives & {"no-cache", "no-store"}:
        yield finding(
            "sse-cache-control-missing",
            "warning",
            "no Cache-Control: no-cache: caches and proxies may store or buffer the stream",
        )


def _accel_buffering(head: _Head) -> Iterator[records.Finding]:
    accel = head.response("x-accel-buffering")
    if accel is not None and accel.strip().lower() == "yes":
        yield finding("sse-x-accel-buffering", "warning", "X-Accel-Buffering: yes: nginx buffers the stream")


def _cors(head: _Head) -> Iterator[records.Finding]:
    origin = head.request("origin")
    target = _origin(head.url)
    if not (origin and target and origin.strip().lower() not in (target, "null")):
        return
    allow = (head.response("access-control-allow-origin") or "").strip()
    if allow != "*" and allow.lower() != origin.strip().lower():
        yield finding(
            "sse-cors-missing",
            "error",
            f"cross-origin request from {origin.strip()} but Access-Control-Allow-Origin is "
            f"{allow or 'absent'}: the browser blocks the stream",
        )
    elif head.request("cookie") is not None:
        creds = (head.response("access-control-allow-credentials") or "").strip().lower()
        if allow == "*" or creds != "true":
            yield finding(
                "sse-cors-credentials",
                "error",
                "cross-origin request with credentials needs Access-Control-Allow-Origin equal to the origin "
                "and Access-Control-Allow-Credentials: true",
            )


_HEADER_CHECKS: tuple[Callable[[_Head], Iterator[records.Finding]], ...] = (
    _status,
    _content_type,
    _charset,
    _content_encoding,
    _content_length,
    _cache_control,
    _accel_buffering,
    _cors,
)


def header_findings(
    *,
    status: int | None,
    request_headers=(),
    response_headers=(),
    url: str | None = None,
) -> list[records.Finding]:
    """Delivery pitfalls visible in one event-stream exchange's status and headers."""
    head = _Head(status, request_headers, response_headers, url)
    return [found for check in _HEADER_CHECKS for found in check(head)]


# -- what the parser saw --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Body:
    parser: SseParser
    unterminated: int  # events with data the stream ended inside
    idle_max: float  # longest silence, seconds
    idle_gap: float  # the silence that earns sse-idle-gap


def _bom_line_break(body: _Body) -> Iterator[records.Finding]:
    if body.parser.bom_line_break:
        yield finding(
            "sse-bom-line-break",
            "warning",
            "the stream starts with a BOM and a line break: Chromium takes the line break into the next "
            "line and ignores that line's field",
        )


def _invalid_utf8(body: _Body) -> Iterator[records.Finding]:
    if body.parser.invalid_utf8:
        yield finding("sse-invalid-utf8", "warning", f"{body.parser.invalid_utf8} value(s) with bytes that are not UTF-8")


def _id_null(body: _Body) -> Iterator[records.Finding]:
    if body.parser.id_null:
        yield finding("sse-id-null", "warning", f"{body.parser.id_null} id field(s) containing U+0000 ignored")


def _retry_invalid(body: _Body) -> Iterator[records.Finding]:
    if body.parser.retry_invalid:
        yield finding(
            "sse-retry-invalid", "warning", f"{body.parser.retry_invalid} retry field(s) not ASCII digits ignored"
        )


def _unknown_field(body: _Body) -> Iterator[records.Finding]:
    if body.parser.unknown_fields:
        names = ", ".join(repr(n) for n, _ in body.parser.unknown_fields.most_common(5))
        yield finding("sse-unknown-field", "info", f"fields a browser ignores: {names}")


def _no_events(body: _Body) -> Iterator[records.Finding]:
    p = body.parser
    if p.bytes and not p.events and not p.comments and not (p.oversize_lines or p.oversize_events):
        yield finding(
            "sse-no-events",
            "warning",
            f"{p.bytes} bytes but no event a browser would dispatch: events need 'data:' lines "
            "and a blank line after them",
        )


def _unterminated(body: _Body) -> Iterator[records.Finding]:
    if body.unterminated:
        yield finding(
            "sse-unterminated-event",
            "warning",
            "the stream ended inside an event (no blank line after its data): browsers discard it",
        )


def _oversize(body: _Body) -> Iterator[records.Finding]:
    p = body.parser
    if p.oversize_lines or p.oversize_events:
        yield finding(
            "sse-oversize",
            "warning",
            f"{p.oversize_lines + p.oversize_events} line(s)/event(s) over the caps were not analysed",
        )


def _idle_gap(body: _Body) -> Iterator[records.Finding]:
    if body.idle_max >= body.idle_gap:
        yield finding(
            "sse-idle-gap",
            "info",
            f"nothing arrived for {body.idle_max:.1f} s: intermediaries often close idle connections; "
            "send ':' comment heartbeats",
        )


_BODY_CHECKS: tuple[Callable[[_Body], Iterator[records.Finding]], ...] = (
    _bom_line_break,
    _invalid_utf8,
    _id_null,
    _retry_invalid,
    _unknown_field,
    _no_events,
    _unterminated,
    _oversize,
    _idle_gap,
)


def stream_findings(
    parser: SseParser, *, unterminated: int, idle_max: float, idle_gap: float
) -> list[records.Finding]:
    """Findings from what the parser saw in one stream's body (after `header_findings`)."""
    body = _Body(parser, unterminated, idle_max, idle_gap)
    return [found for check in _BODY_CHECKS for found in check(body)]
