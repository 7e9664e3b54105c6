"""HTTP/2 in captures: `inspector.http.http2` events -> `inspector.analysis.Analysis`, per stream.

The pcap source hands a connection here when its client starts with the HTTP/2 preface (h2c by prior
knowledge, or TLS with ALPN ``h2``), when TLS negotiated ``h2`` (a capture joined mid-way: the decoder
resyncs), or after a ``101`` to ``Upgrade: h2c`` (the upgrading HTTP/1.1 request is stream 1).

Per stream: an `records.Exchange` (``http_version`` "HTTP/2", ``stream_id``, header sizes as on the wire:
the HPACK-compressed header block plus its frame headers) begun at the response head, so several polls
multiplexed on one connection are the separate requests the classifier must see; the response's DATA
frames go to `ExchangeHandle.body` as they arrive, with their own timestamps (so a ``text/event-stream``
response feeds the SSE parser event by event), gzip/deflate Content-Encoding undone with a cap.  An
extended CONNECT with ``:protocol websocket`` answered 2xx (RFC 8441) goes to ``Analysis.websocket`` with
the exchange as its handshake (validated in ``rfc8441`` mode); the stream's DATA in both directions then
carries RFC 6455 frames into that WebSocket.  A connection holds one decoded WebSocket at a time (a
second extended CONNECT ends the first one's decoding).  Decoder problems become warnings.
"""

from __future__ import annotations

from inspector.http import http2
from inspector.http.encoding import BodyDecoder
from inspector.records import Exchange

__all__ = ["H2Streams"]

BODY_DECODE_CAP = 16 << 20


class _Stream:
    __slots__ = (
        "decoder",
        "handle",
        "request",
        "request_body",
        "request_wire",
        "response_seen",
        "ts_request",
        "ws",
    )

    def __init__(self) -> None:
        self.request: list[tuple[str, str]] | None = None
        self.request_wire: int | None = None
        self.ts_request: float | None = None
        self.request_body = 0
        self.handle = None  # ExchangeHandle once the response head came
        self.decoder: BodyDecoder | None = None
        self.ws = None  # WebSocketHandle of an RFC 8441 stream
        self.response_seen = False


class H2Streams:
    """One HTTP/2 connection of a capture: feed it the plaintext events of both directions."""

    def __init__(self, analysis, conn: str, server: str, scheme: str, note, midway: bool = False) -> None:
        self.analysis = analysis
        self.conn = conn
        self.server = server
        self.scheme = scheme
        self.note = note  # note(name): counted warnings of the pcap source
        self.decoder = http2.H2Connection(midway=midway)
        self.streams: dict[int, _Stream] = {}

    def upgraded(self, request, ts: float | None) -> None:
        """``Upgrade: h2c`` answered 101: the HTTP/1.1 request is stream 1's (RFC 7540 3.2)."""
        stream = self.streams.setdefault(1, _Stream())
        headers = [(":method", request.method), (":path", request.target),
                   (":authority", request.header("host") or self.server)]
        stream.request = headers + [(k, v) for k, v in request.headers]
        stream.request_wire = request.head_bytes
        stream.ts_request = request.ts
        stream.request_body = request.body_bytes or 0
        self.decoder.sides["client"].last_stream = 1
        self.decoder.open[1] = 1  # the client's side of stream 1 is over

    def data(self, direction: str, data: bytes, ts: float | None) -> None:
        for event in self.decoder.feed(direction, data, ts):
            self._event(event)

    def gap(self, direction: str) -> None:
        self.decoder.gap(direction)
        self.note("http2-gap")
        for stream in self.streams.values():
            if stream.ws is not None:
                stream.ws.gap(direction)

    def end(self, ts: float | None) -> None:
        """The connection is over: streams still open end here; requests without a response are reported."""
        for sid in list(self.streams):
            self._finish(sid, ts)

    # -- events -----------------------------------------------------------------------------------------

    def _event(self, event) -> None:
        kind = type(event)
        if kind is http2.Data:
            self._data(event)
        elif kind is http2.Headers:
            self._headers(event)
        elif kind is http2.Reset:
            self._finish(event.stream_id, event.ts)
        elif kind is http2.Problem:
            self.analysis.warning(event.name, event.message, self.conn)

    def _headers(self, event: http2.Headers) -> None:
        sid = event.stream_id
        if event.promised is not None:  # a pushed response: its request is the promise
            stream = self.streams.setdefault(event.promised, _Stream())
            stream.request, stream.request_wire, stream.ts_request = event.headers, event.wire_bytes, event.ts
            return
        stream = self.streams.get(sid)
        if event.direction == "client":
            if stream is None:
                stream = self.streams[sid] = _Stream()
                stream.request, stream.request_wire, stream.ts_request = event.headers, event.wire_bytes, event.ts
            # else: request trailers
            return
        if stream is None:  # a response to a request from before the capture
            stream = self.streams[sid] = _Stream()
        if stream.response_seen or stream.handle is not None:  # response trailers
            if event.end_stream:
                self._finish(sid, event.ts)
            return
        status = _status(event.headers)
        if status is not None and 100 <= status < 200:
            return  # informational (103 Early Hints, 100 Continue): the final response follows
        stream.response_seen = True
        exchange = self._exchange(sid, stream, event, status)
        if exchange.method == "CONNECT" and any(k == ":protocol" for k, _ in stream.request or ()):
            if status is not None and 200 <= status < 300:
                stream.ws = self.analysis.websocket(self.conn, handshake=exchange, detected_by="handshake")
                return
        stream.handle = self.analysis.begin_exchange(exchange)
        try:
            stream.decoder = BodyDecoder.for_header(_header(event.headers, "content-encoding"), BODY_DECODE_CAP)
        except ValueError:
            stream.decoder = None
        if event.end_stream:
            self._finish(sid, event.ts)

    def _data(self, event: http2.Data) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None:
            if event.direction == "client":
                return
            stream = self.streams[event.stream_id] = _Stream()
        if stream.ws is not None:
            stream.ws.data(event.direction, event.data, event.ts)
            if event.end_stream and event.direction == "server":
                self._finish(event.stream_id, event.ts)
            return
        if event.direction == "client":
            stream.request_body += len(event.data)
            return
        handle = stream.handle
        if handle is None:  # DATA of a stream whose response head is not in the capture
            handle = stream.handle = self.analysis.begin_exchange(self._exchange(event.stream_id, stream, None, None))
        if event.data:
            decoder = stream.decoder
            if decoder is None:
                handle.body(event.data, event.ts)
            elif not decoder.failed:
                try:
                    for piece in decoder.pieces(event.data):
                        handle.body(piece, event.ts)
                except ValueError:
                    self.note("http-content-encoding")
        if event.end_stream:
            self._finish(event.stream_id, event.ts)

    def _finish(self, sid: int, ts: float | None) -> None:
        stream = self.streams.pop(sid, None)
        if stream is None:
            return
        if stream.ws is not None:
            stream.ws.end(ts)
        elif stream.handle is not None:
            stream.handle.end(ts_end=ts, request_body_bytes=stream.request_body)
        elif stream.request is not None or stream.request_wire is not None:
            self.analysis.begin_exchange(self._exchange(sid, stream, None, None)).end()

    def _exchange(self, sid: int, stream: _Stream, response: http2.Headers | None, status: int | None) -> Exchange:
        request = stream.request or []
        method = _header(request, ":method") or ("GET" if stream.request is None else "?")
        authority = _header(request, ":authority") or _header(request, "host") or self.server
        path = _header(request, ":path") or "/"
        scheme = _header(request, ":scheme") or self.scheme
        url = f"{scheme}://{authority}{path}" if path.startswith("/") else f"{scheme}://{authority}/{path}"
        if stream.request is None:
            self.note("http2-headers-not-decoded" if stream.request_wire is not None else "http-response-without-request")
        resp_headers = response.headers if response is not None else None
        if response is not None and resp_headers is None:
            self.note("http2-headers-not-decoded")
        return Exchange(
            conn=self.conn,
            method=method,
            url=url,
            status=status,
            content_type=_header(resp_headers or [], "content-type"),
            ts_request=stream.ts_request,
            ts_response=response.ts if response is not None else None,
            ts_end=None,
            request_body_bytes=stream.request_body,
            response_body_bytes=None,
            http_version="HTTP/2",
            request_header_bytes=stream.request_wire,
            response_header_bytes=response.wire_bytes if response is not None else None,
            request_headers=list(request),
            response_headers=list(resp_headers or []),
            stream_id=sid,
        )


def _header(headers, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def _status(headers) -> int | None:
    value = _header(headers, ":status")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
