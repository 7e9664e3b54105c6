"""The application layer of HTTP exchanges: request and response bodies, and the operations they make.

`BodyTap` keeps the start (`APP_CAP`) of one exchange's bodies when they may carry an application
protocol: an Engine.IO polling payload (a ``transport=polling`` GET's response, a POST's request body)
or JSON (JSON-RPC over HTTP).  `HttpApp`, one per `inspector.analysis.Analysis`, decodes them when the
exchange ends into ``Exchange.app`` (response) and ``Exchange.request_app`` (request), and pairs
requests with answers into `Operation` records:

- JSON-RPC over HTTP: each call in the request body (batches too) ends with the response member of its
  id; a call the response does not answer was never answered.
- Socket.IO over polling: one Engine.IO session per ``sid`` (across connections: a client may open a
  new one per request), fed the client's packets from POST bodies and the server's from GET responses;
  an emit with an ack id ends with the other side's ACK, a CONNECT with the server's CONNECT.  Sessions
  end with an Engine.IO ``close`` packet or at `HttpApp.finish` (what is open was never answered);
  at most `MAX_SESSIONS` are kept (the oldest ends first).

Sans-IO and bounded like the rest of `inspector.app`; bad bodies are ``app.error``, never exceptions.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import parse_qsl

from inspector.app import registry
from inspector.app.base import APP_CAP, Operations
from inspector.app.session import body_app, body_decoder
from inspector.records import AppLayer, Exchange, Operation

__all__ = ["BodyTap", "HttpApp", "MAX_SESSIONS", "request_decoder"]

#: Engine.IO polling sessions whose operations are followed at once
MAX_SESSIONS = 1024


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


def request_decoder(method: str, url: str, headers: list[tuple[str, str]]) -> int | str | None:
    """What a request body may carry: the Engine.IO version of a polling POST, "json" for a JSON body,
    None when nothing (the body is not kept)."""
    if method.upper() in ("GET", "HEAD"):
        return None
    eio = registry.polling_eio(url)
    if eio is not None:
        return eio
    return "json" if "json" in _content_type(headers).lower() else None


class BodyTap:
    """The start of one exchange's request and response bodies, as far as the application layer wants
    them (nothing is kept when it wants neither)."""

    __slots__ = ("request_kind", "response_kind", "request", "response", "request_bytes", "response_bytes")

    def __init__(self, ex: Exchange) -> None:
        self.request_kind = request_decoder(ex.method, ex.url, ex.request_headers)
        self.response_kind = body_decoder(ex.method, ex.url, ex.status, ex.content_type)
        self.request = bytearray() if self.request_kind is not None else None
        self.response = bytearray() if self.response_kind is not None else None
        self.request_bytes = 0
        self.response_bytes = 0

    def add_request(self, data: bytes) -> None:
        self.request_bytes += len(data)
        if self.request is not None and len(self.request) < APP_CAP:
            self.request += data[: APP_CAP - len(self.request)]

    def add_response(self, data: bytes) -> None:
        self.response_bytes += len(data)
        if self.response is not None and len(self.response) < APP_CAP:
            self.response += data[: APP_CAP - len(self.response)]


def _request_app(body: bytes, kind: int | str, truncated: bool) -> AppLayer | None:
    """A request body's layer: an Engine.IO polling payload, or JSON-RPC (other JSON: None)."""
    if kind != "json":
        from inspector.app.socketio import decode_polling

        layer = decode_polling(body, int(kind), truncated)
        if truncated and layer.error is None:
            layer.error = "body over the decoder's cap, cut"
        return layer
    return body_app(body, kind, truncated)


def _members(layer: AppLayer | None) -> list[AppLayer]:
    if layer is None:
        return []
    return list(layer.packets) if layer.packets is not None else [layer]


def _sid(url: str) -> str | None:
    query = url.partition("?")[2].partition("#")[0]
    return next((v for k, v in parse_qsl(query, keep_blank_values=True) if k == "sid"), None)


class HttpApp:
    """The application layer over every exchange of one analysis (see the module docstring)."""

    def __init__(self) -> None:
        #: (URL without its query, sid) -> the Engine.IO session's decoder
        self._sessions: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._ts_last: float | None = None  # the latest end of an exchange seen: the input's end

    def end(self, ex: Exchange, tap: BodyTap, ts_body: float | None) -> tuple[dict, list[Operation]]:
        """The exchange ended: (field updates ``app`` / ``request_app``, the operations it ended)."""
        updates: dict = {}
        request = response = None
        for ts in (ex.ts_end, ex.ts_response, ex.ts_request):
            if ts is not None:
                if self._ts_last is None or ts > self._ts_last:
                    self._ts_last = ts
                break
        if tap.request:
            request = _request_app(bytes(tap.request), tap.request_kind, tap.request_bytes > len(tap.request))
            if request is not None:
                updates["request_app"] = request
        if tap.response:
            response = body_app(bytes(tap.response), tap.response_kind, tap.response_bytes > len(tap.response))
            if response is not None:
                updates["app"] = response
        if request is None and response is None:
            return updates, []
        if tap.request_kind == "json" or tap.response_kind == "json":
            if response is None and "event-stream" in (ex.content_type or ""):
                return updates, []  # answered in SSE events (MCP's transports): not paired here
            ts_answer = ts_body if ts_body is not None else ex.ts_end
            return updates, _jsonrpc_operations(ex.conn, request, response, ex.ts_request, ts_answer)
        return updates, self._polling(ex, request, response, ts_body)

    def _polling(self, ex: Exchange, request: AppLayer | None, response: AppLayer | None,
                 ts_body: float | None) -> list[Operation]:
        sid = _sid(ex.url)
        if sid is None:
            return []
        key = (ex.url.partition("?")[0], sid)
        decoder = self._sessions.get(key)
        if decoder is None:
            eio = registry.polling_eio(ex.url) or 4
            from inspector.app.socketio import SocketIoDecoder

            decoder = self._sessions[key] = SocketIoDecoder(Operations(ex.conn, "socket.io"), eio)
            out = self._evict(ex.ts_request)
        else:
            self._sessions.move_to_end(key)
            out = []
        decoder.ops.conn = ex.conn  # an operation belongs to the connection of the request that started it
        closed = False
        for direction, layer, ts in (("client", request, ex.ts_request),
                                     ("server", response, ts_body if ts_body is not None else ex.ts_response)):
            for packet in _members(layer):
                if packet.protocol == "socket.io":
                    decoder.packet(direction, packet, ts)
                closed = closed or (packet.protocol == "engine.io" and packet.kind == "close")
        if closed:
            del self._sessions[key]
            decoder.ops.finish(ex.ts_end)
        out += decoder.ops.out
        decoder.ops.out = []
        return out

    def _evict(self, ts: float | None) -> list[Operation]:
        out: list[Operation] = []
        while len(self._sessions) > MAX_SESSIONS:
            _, decoder = self._sessions.popitem(last=False)
            decoder.ops.finish(ts)
            out += decoder.ops.out
        return out

    def finish(self) -> list[Operation]:
        """The input is over: operations still open in polling sessions were never answered (ended at
        the latest exchange end seen)."""
        out: list[Operation] = []
        for decoder in self._sessions.values():
            decoder.ops.finish(self._ts_last)
            out += decoder.ops.out
        self._sessions.clear()
        return out


def _jsonrpc_operations(conn: str, request: AppLayer | None, response: AppLayer | None,
                        ts_start: float | None, ts_answer: float | None) -> list[Operation]:
    """JSON-RPC over HTTP: the calls of the request body and their answers in the response body."""
    ops = Operations(conn, "jsonrpc")
    for member in _members(request):
        if member.protocol == "jsonrpc" and member.kind == "request" and member.id is not None:
            ops.start(member.id, "call", member.name, member.id, "client", ts_start)
    for member in _members(response):
        if member.protocol == "jsonrpc" and member.kind in ("result", "error") and member.id is not None:
            ops.end(member.id, ts_answer, "ok" if member.kind == "result" else "error",
                    error=member.name if member.kind == "error" else None)
    ops.finish(ts_answer)
    return ops.out
