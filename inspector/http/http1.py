"""Passive HTTP/1.x parser over both directions of one reassembled connection (sans-IO).

`Http1Connection` is fed the client's and the server's bytes as a capture delivers them
(``feed("client" | "server", data, ts)``), plus ``gap(direction, nbytes, ts)`` where the capture lost
bytes and ``end(ts)`` at the end of the connection, and returns events:

- `RequestHead` at the end of a request head; `RequestEnd` when its body (if any) is complete.
- `ResponseHead` at the end of a final response head, paired with its request (``.request``; pipelined
  requests are answered in order, RFC 9112 9.3.2).  Interim 1xx responses other than 101 are counted on
  the request (``interim``) and otherwise skipped.
- `ResponseBody` with de-chunked response body bytes, `ResponseEnd` when the response is complete.
- `Upgrade` after a 101 (or a 2xx to CONNECT): the connection no longer carries HTTP.  It holds the
  request and response heads and the bytes of each direction that followed them; the caller hands these
  and everything after them to the next protocol (the WebSocket core).
- `NotHttp` when the connection's first bytes are not an HTTP request line: HTTP is recognised by
  content, on any port.

Message framing follows RFC 9112 6.3: responses to HEAD, 1xx, 204 and 304 have no body; chunked
transfer coding wins over Content-Length; otherwise Content-Length; otherwise a response body runs until
the server closes (close-delimited) and a request has no body.  Chunk extensions and trailers are parsed
and dropped.  A client's bytes after a request that asks for an Upgrade (or CONNECT) are held, not
parsed, until the response says whether the protocol switched.

Gaps (bytes missing from the capture): inside a Content-Length body the count is simply consumed (the
framing survives); anywhere else the direction drops what it holds and resyncs at the next line that
starts like a request line (client) or a status line (server).  The message in progress ends with
``complete=False``.

Bounded: heads over ``max_head`` bytes, chunk-size lines over 4 KiB and held bytes over ``max_hold`` end
HTTP parsing of that direction with an `HttpError` event (the connection then counts as not parseable);
bodies are streamed, never accumulated.

Why not h11: h11 is written for an endpoint, not an observer.  A server-role ``h11.Connection`` returns
``PAUSED`` after a request until its own response has been *sent* (checked with h11 0.14: two pipelined
requests give Request, EndOfMessage, PAUSED), so following pipelined traffic means re-synthesising every
response; a client-role one only knows a response answers HEAD (no body despite Content-Length) if it
sent that request itself; and neither can resync after bytes are missing.
Feeding both roles in lock step cost more code than the framing rules above, so heads and framing are
parsed here, with h11's lenient rules as the model (LF accepted for CRLF, obs-fold rejected).
"""

from __future__ import annotations

import re

from inspector.http.headers import header as _header

__all__ = [
    "Http1Connection",
    "RequestHead",
    "RequestEnd",
    "ResponseHead",
    "ResponseBody",
    "ResponseEnd",
    "Upgrade",
    "NotHttp",
    "HttpError",
    "looks_like_request",
    "looks_like_response",
]

_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}) (\S{1,65535}) HTTP/(1\.[01])\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_METHOD_PREFIX = re.compile(rb"[A-Z]{1,20}(?: |$)")
# Resync points after a gap.  Messages follow each other without a separator (a body rarely ends with a
# newline), so a request line is looked for at a line start with any method token, or anywhere with a
# registered method; a status line anywhere.
_RESYNC_REQUEST = re.compile(
    rb"(?:^|\n)([A-Z]{3,20} \S{1,8192} HTTP/1\.[01]\r?\n)"
    rb"|((?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT) \S{1,8192} HTTP/1\.[01]\r?\n)"
)
_RESYNC_RESPONSE = re.compile(rb"(HTTP/1\.[01] [0-9]{3}[ \r\n])")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def looks_like_request(data: bytes) -> bool | None:
    """Does a stream starting with ``data`` look like HTTP/1 requests?  None: too short to tell."""
    match = _REQUEST_LINE.match(data)
    if match:
        return True
    eol = data.find(b"\n")
    if eol >= 0 or len(data) > 8192:
        return False
    return None if _METHOD_PREFIX.match(data) else False


def looks_like_response(data: bytes) -> bool | None:
    """Does a stream starting with ``data`` look like HTTP/1 responses?  None: too short to tell."""
    if len(data) < 13:
        return None if b"HTTP/1."[: len(data)] == data[:7] else False
    return bool(_STATUS_LINE.match(data))


class RequestHead:
    __slots__ = ("method", "target", "version", "headers", "ts", "ts_end", "head_bytes", "body_bytes",
                 "interim", "complete", "body_start")

    def __init__(self, method, target, version, headers, ts, ts_end, head_bytes):
        self.method: str = method
        self.target: str = target
        self.version: str = version
        self.headers: list[tuple[str, str]] = headers
        self.ts: float = ts  # first byte of the request
        self.ts_end: float = ts_end  # end of the head
        self.head_bytes: int = head_bytes
        self.body_bytes = 0
        self.interim = 0  # 1xx responses seen before the final one
        self.complete = True
        self.body_start = b""  # the body's first bytes, as many as `Http1Connection` keeps (de-chunked)

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    def __repr__(self) -> str:
        return f"RequestHead({self.method} {self.target})"


class RequestEnd:
    __slots__ = ("request", "ts")

    def __init__(self, request: RequestHead, ts: float) -> None:
        self.request = request
        self.ts = ts


class ResponseHead:
    __slots__ = ("request", "status", "reason", "version", "headers", "ts", "ts_end", "head_bytes",
                 "body_bytes", "complete")

    def __init__(self, request, status, reason, version, headers, ts, ts_end, head_bytes):
        self.request: RequestHead | None = request  # None: a response to a request the capture lacks
        self.status: int = status
        self.reason: str = reason
        self.version: str = version
        self.headers: list[tuple[str, str]] = headers
        self.ts: float = ts  # first byte of the response
        self.ts_end: float = ts_end
        self.head_bytes: int = head_bytes
        self.body_bytes = 0
        self.complete = True

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    def __repr__(self) -> str:
        return f"ResponseHead({self.status} for {self.request!r})"


class ResponseBody:
    __slots__ = ("response", "data", "ts")

    def __init__(self, response: ResponseHead, data: bytes, ts: float) -> None:
        self.response = response
        self.data = data
        self.ts = ts


class ResponseEnd:
    __slots__ = ("response", "ts")

    def __init__(self, response: ResponseHead, ts: float) -> None:
        self.response = response
        self.ts = ts


class Upgrade:
    __slots__ = ("request", "response", "client_data", "server_data", "ts")

    def __init__(self, request, response, client_data: bytes, server_data: bytes, ts: float) -> None:
        self.request: RequestHead | None = request
        self.response: ResponseHead = response
        self.client_data = client_data  # client bytes that followed the request head
        self.server_data = server_data  # server bytes that followed the 101 head
        self.ts = ts


class NotHttp:
    __slots__ = ("direction", "ts")

    def __init__(self, direction: str, ts: float) -> None:
        self.direction = direction
        self.ts = ts


class HttpError:
    __slots__ = ("direction", "message", "ts")

    def __init__(self, direction: str, message: str, ts: float) -> None:
        self.direction = direction
        self.message = message
        self.ts = ts


def _parse_fields(lines: list[bytes]) -> list[tuple[str, str]] | None:
    headers = []
    for line in lines:
        if not line:
            continue
        colon = line.find(b":")
        if colon <= 0 or line[:1] in b" \t":
            return None
        name = line[:colon]
        if name != name.strip():
            return None
        headers.append((name.decode("latin-1"), line[colon + 1 :].strip().decode("latin-1")))
    return headers


def _split_head(head: bytes) -> list[bytes]:
    return head.replace(b"\r\n", b"\n").split(b"\n")


# Direction states
_HEAD = 0  # waiting for / reading a head
_BODY_LENGTH = 1
_CHUNK_SIZE_LINE = 2
_CHUNK_DATA = 3
_CHUNK_DATA_END = 4
_TRAILERS = 5
_BODY_CLOSE = 6  # close-delimited response body
_HOLD = 7  # client: bytes after an Upgrade/CONNECT request, held until the response
_RESYNC = 8
_DONE = 9  # no more HTTP in this direction (upgrade, error, not HTTP)


class _Side:
    __slots__ = ("buf", "state", "remaining", "message", "ts_first")

    def __init__(self) -> None:
        self.buf = b""
        self.state = _HEAD
        self.remaining = 0
        self.message = None
        self.ts_first: float | None = None


class Http1Connection:
    """Both directions of one HTTP/1.x connection, observed passively."""

    def __init__(
        self, max_head: int = 64 * 1024, max_hold: int = 1 << 20, resync: bool = False, keep_request_body: int = 0
    ) -> None:
        """``resync``: the capture joined the connection mid-way; both directions start by looking for
        the next request/status line instead of expecting one at the first byte.  ``keep_request_body``:
        bytes of each request body kept in `RequestHead.body_start` (the application layer decodes them)."""
        self.max_head = max_head
        self.keep_request_body = keep_request_body
        self.max_hold = max_hold
        self.client = _Side()
        self.server = _Side()
        if resync:
            self.client.state = self.server.state = _RESYNC
        self.pending: list[RequestHead] = []  # requests waiting for their response, oldest first
        self.is_http: bool | None = True if resync else None
        self.upgraded = False
        self.requests = 0
        self.responses = 0
        self.orphan_responses = 0  # responses with no request in the capture

    # -- input ----------------------------------------------------------------------------------------

    def feed(self, direction: str, data: bytes, ts: float) -> list:
        out: list = []
        if not data:
            return out
        side = self.client if direction == "client" else self.server
        if side.state == _DONE:
            return out
        if self.is_http is None and direction == "client":
            verdict = looks_like_request(side.buf + data)
            if verdict is False:
                self.is_http = False
                self.client.state = self.server.state = _DONE
                out.append(NotHttp("client", ts))
                return out
            if verdict:
                self.is_http = True
        if side.buf:
            side.buf = side.buf + data
        else:
            side.buf = data
            side.ts_first = ts  # the next message's first byte arrives now
        if direction == "client":
            self._run_client(ts, out)
        else:
            self._run_server(ts, out)
        return out

    def gap(self, direction: str, nbytes: int, ts: float) -> list:
        out: list = []
        side = self.client if direction == "client" else self.server
        if side.state == _DONE:
            return out
        if side.state == _BODY_LENGTH and not side.buf and nbytes <= side.remaining:
            side.remaining -= nbytes
            side.message.complete = False
            self._count_body(side, nbytes)
            if side.remaining == 0:
                self._body_done(direction, side, ts, out)
            return out
        if side.message is not None:
            side.message.complete = False
            if direction == "server" and side.state != _HEAD:
                out.append(ResponseEnd(side.message, ts))
            elif direction == "client" and side.state != _HEAD:
                out.append(RequestEnd(side.message, ts))
        side.message = None
        side.buf = b""
        side.ts_first = None
        side.state = _RESYNC
        return out

    def end(self, ts: float) -> list:
        """The connection is over: end a close-delimited body, report what is left."""
        out: list = []
        server = self.server
        if server.state == _BODY_CLOSE and server.message is not None:
            out.append(ResponseEnd(server.message, ts))
        elif server.message is not None and server.state not in (_HEAD, _DONE, _RESYNC):
            server.message.complete = False
            out.append(ResponseEnd(server.message, ts))
        server.message = None
        client = self.client
        if client.message is not None and client.state not in (_HEAD, _DONE, _RESYNC, _HOLD):
            client.message.complete = False
            out.append(RequestEnd(client.message, ts))
        client.message = None
        client.state = server.state = _DONE
        return out

    # -- client ---------------------------------------------------------------------------------------

    def _run_client(self, ts: float, out: list) -> None:
        side = self.client
        while side.buf:
            state = side.state
            if state == _HEAD:
                if not self._client_head(ts, out):
                    return
            elif state == _RESYNC:
                match = _RESYNC_REQUEST.search(side.buf)
                if not match:
                    side.buf = side.buf[-8300:]
                    return
                side.buf = side.buf[match.start(1) if match.group(1) else match.start(2) :]
                side.state = _HEAD
                side.ts_first = ts
            elif state == _HOLD:
                if len(side.buf) > self.max_hold:
                    self._error("client", "bytes after an Upgrade request exceed the hold limit", ts, out)
                return
            elif state == _DONE:
                side.buf = b""
                return
            elif not self._body("client", side, ts, out):
                return

    def _client_head(self, ts: float, out: list) -> bool:
        side = self.client
        buf = side.buf
        end = _HEAD_END.search(buf)
        if end is None:
            if len(buf) > self.max_head:
                self._error("client", "request head exceeds the size limit", ts, out)
            return False
        # Tolerate blank lines before a request line (RFC 9112 2.2).
        head = buf[: end.start()]
        rest = buf[end.end() :]
        if not head.strip():
            side.buf = rest
            return True
        lines = _split_head(head)
        match = _REQUEST_LINE.match(lines[0] + b"\n")
        headers = _parse_fields(lines[1:]) if match else None
        if headers is None:
            self._error("client", "malformed request head", ts, out)
            return False
        request = RequestHead(
            match.group(1).decode("latin-1"),
            match.group(2).decode("latin-1"),
            match.group(3).decode(),
            headers,
            side.ts_first if side.ts_first is not None else ts,
            ts,
            end.end(),
        )
        self.requests += 1
        self.is_http = True
        side.buf = rest
        side.ts_first = ts if rest else None
        self.pending.append(request)
        out.append(request)
        side.message = request
        te = request.header("transfer-encoding")
        if te is not None and te.lower().rsplit(",", 1)[-1].strip() == "chunked":
            side.state = _CHUNK_SIZE_LINE
        else:
            length = _content_length(request.header("content-length"))
            if length:
                side.state = _BODY_LENGTH
                side.remaining = length
            else:
                self._request_done(request, ts, out)
        return True

    def _request_done(self, request: RequestHead, ts: float, out: list) -> None:
        side = self.client
        out.append(RequestEnd(request, ts))
        side.message = None
        upgrade = request.header("upgrade") is not None and "upgrade" in (request.header("connection") or "").lower()
        side.state = _HOLD if upgrade or request.method == "CONNECT" else _HEAD
        if side.buf:
            side.ts_first = ts

    # -- server ---------------------------------------------------------------------------------------

    def _run_server(self, ts: float, out: list) -> None:
        side = self.server
        while side.buf:
            state = side.state
            if state == _HEAD:
                if not self._server_head(ts, out):
                    return
            elif state == _RESYNC:
                match = _RESYNC_RESPONSE.search(side.buf)
                if not match:
                    side.buf = side.buf[-64:]
                    return
                side.buf = side.buf[match.start(1) :]
                side.state = _HEAD
                side.ts_first = ts
            elif state == _DONE:
                side.buf = b""
                return
            elif not self._body("server", side, ts, out):
                return

    def _server_head(self, ts: float, out: list) -> bool:
        side = self.server
        buf = side.buf
        if len(buf) >= 13 and not buf.startswith(b"HTTP/1."):
            self._error("server", "server bytes are not an HTTP/1 response", ts, out)
            return False
        end = _HEAD_END.search(buf)
        if end is None:
            if len(buf) > self.max_head:
                self._error("server", "response head exceeds the size limit", ts, out)
            return False
        head = buf[: end.start()]
        lines = _split_head(head)
        match = _STATUS_LINE.match(lines[0] + b"\n")
        headers = _parse_fields(lines[1:]) if match else None
        if headers is None:
            self._error("server", "malformed response head", ts, out)
            return False
        status = int(match.group(2))
        side.buf = buf[end.end() :]
        ts_first = side.ts_first if side.ts_first is not None else ts
        side.ts_first = ts if side.buf else None
        if 100 <= status < 200 and status != 101:
            if self.pending:
                self.pending[0].interim += 1
            return True
        request = self.pending.pop(0) if self.pending else None
        if request is None:
            self.orphan_responses += 1
        response = ResponseHead(
            request, status, (match.group(3) or b"").decode("latin-1"), match.group(1).decode(), headers,
            ts_first, ts, end.end(),
        )
        self.responses += 1
        out.append(response)
        method = request.method if request is not None else None
        if status == 101 or (method == "CONNECT" and 200 <= status < 300):
            self._upgrade(request, response, ts, out)
            return False
        if request is not None and self.client.state == _HOLD:
            self.client.state = _HEAD  # the upgrade was refused: the client's held bytes are HTTP again
            if self.client.buf:
                self._run_client(ts, out)
        side.message = response
        te = response.header("transfer-encoding")
        if method == "HEAD" or status in (204, 304):
            self._response_done(response, ts, out)
        elif te is not None and te.lower().rsplit(",", 1)[-1].strip() == "chunked":
            side.state = _CHUNK_SIZE_LINE
        else:
            length = _content_length(response.header("content-length"))
            if length is None:
                side.state = _BODY_CLOSE
            elif length:
                side.state = _BODY_LENGTH
                side.remaining = length
            else:
                self._response_done(response, ts, out)
        return True

    def _response_done(self, response: ResponseHead, ts: float, out: list) -> None:
        out.append(ResponseEnd(response, ts))
        self.server.message = None
        self.server.state = _HEAD

    def _upgrade(self, request, response, ts, out) -> None:
        self.upgraded = True
        client, server = self.client, self.server
        out.append(Upgrade(request, response, client.buf, server.buf, ts))
        client.buf = server.buf = b""
        client.state = server.state = _DONE
        client.message = server.message = None

    # -- bodies ---------------------------------------------------------------------------------------

    def _count_body(self, side: _Side, n: int) -> None:
        side.message.body_bytes += n

    def _emit_body(self, direction: str, side: _Side, data: bytes, ts: float, out: list) -> None:
        message = side.message
        message.body_bytes += len(data)
        if direction == "server":
            out.append(ResponseBody(message, data, ts))
        elif len(message.body_start) < self.keep_request_body:
            message.body_start += data[: self.keep_request_body - len(message.body_start)]

    def _body_done(self, direction: str, side: _Side, ts: float, out: list) -> None:
        if direction == "server":
            self._response_done(side.message, ts, out)
        else:
            self._request_done(side.message, ts, out)

    def _body(self, direction: str, side: _Side, ts: float, out: list) -> bool:
        """Consume body bytes; False when the buffer holds only an incomplete unit (need more input)."""
        state = side.state
        buf = side.buf
        if state == _BODY_LENGTH:
            take = buf[: side.remaining]
            side.buf = buf[len(take) :]
            side.remaining -= len(take)
            self._emit_body(direction, side, take, ts, out)
            if side.remaining == 0:
                self._body_done(direction, side, ts, out)
        elif state == _BODY_CLOSE:
            side.buf = b""
            self._emit_body(direction, side, buf, ts, out)
        elif state == _CHUNK_SIZE_LINE:
            match = _CHUNK_SIZE.match(buf)
            if match is None:
                if b"\n" in buf[:4096] or len(buf) > 4096:
                    self._error(direction, "malformed chunk size line", ts, out)
                return False
            size = int(match.group(1), 16)
            side.buf = buf[match.end() :]
            if size:
                side.state = _CHUNK_DATA
                side.remaining = size
            else:
                side.state = _TRAILERS
        elif state == _CHUNK_DATA:
            take = buf[: side.remaining]
            side.buf = buf[len(take) :]
            side.remaining -= len(take)
            self._emit_body(direction, side, take, ts, out)
            if side.remaining == 0:
                side.state = _CHUNK_DATA_END
        elif state == _CHUNK_DATA_END:
            if buf.startswith(b"\r\n"):
                side.buf = buf[2:]
            elif buf.startswith(b"\n"):
                side.buf = buf[1:]
            elif buf == b"\r":
                return False
            else:
                self._error(direction, "chunk data not followed by CRLF", ts, out)
                return False
            side.state = _CHUNK_SIZE_LINE
        elif state == _TRAILERS:
            eol = buf.find(b"\n")
            if eol < 0:
                if len(buf) > self.max_head:
                    self._error(direction, "trailer section exceeds the size limit", ts, out)
                return False
            line = buf[:eol].rstrip(b"\r")
            side.buf = buf[eol + 1 :]
            if not line:
                self._body_done(direction, side, ts, out)
        return True

    def _error(self, direction: str, message: str, ts: float, out: list) -> None:
        side = self.client if direction == "client" else self.server
        if side.message is not None:
            side.message.complete = False
            if direction == "server":
                out.append(ResponseEnd(side.message, ts))
        side.message = None
        side.buf = b""
        side.state = _DONE
        out.append(HttpError(direction, message, ts))


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.split(",")[0].strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # "²".isdigit() is True
        return None
    return int(value)
