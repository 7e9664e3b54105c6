"""`Analysis`: the one pipeline every source (pcap, HAR, flow files, the live addon) feeds.

A source turns its input into timestamped pieces and calls `Analysis`; `Analysis` runs the analysers
(`inspector.ws.handshake`, `inspector.ws.stream`, `inspector.sse`, `inspector.classify`) and hands every
record to one sink (a `present.jsonl.JsonlWriter`, `present.terminal.HumanRenderer`, a list's ``append``).  Sources never
build Frame, Message, Handshake, SseEvent, SseStream or Pattern records themselves.  docs/internals.md
shows the calls::

    analysis = Analysis(sink, source="pcap", options=Options())
    analysis.connection(conn, client="127.0.0.1:50000", server="127.0.0.1:8080", ts=t0)
    h = analysis.begin_exchange(exchange)      # response head (or the whole exchange)
    h.body(data, ts)                           # decoded response body, any chunking
    h.end(ts_end=..., response_body_bytes=...) # emits Exchange (and SseStream for event streams)
    ws = analysis.websocket(conn, handshake=exchange_or_None, detected_by="handshake")
    ws.data("client", data, ts) / ws.message("server", opcode, payload, ts) / ws.gap(d) / ws.end(ts)
    analysis.warning("pcap-truncated", "capture ends inside a packet record")
    analysis.connection_end(conn, ts, bytes_client=..., bytes_server=...)
    analysis.finish()                          # ends what is open, emits Pattern and warning records

Rules kept here, so that every source behaves the same:

- Response bodies: ``text/event-stream`` bodies, and whatever answered a request that asked for one
  (``Accept: text/event-stream``, as EventSource sends: a 204, an error page, a wrong Content-Type), go
  through `sse.SseStreamAnalysis` (SseEvent records as they dispatch, SseStream with the findings at the
  end); ``Connection.protocol`` is ``sse`` only for 2xx event streams.  Other bodies are hashed
  incrementally (sha256 -> ``Exchange.response_sha256``, the classifier's "body changed" test) and
  counted.  Body bytes are never kept.
- Body timing feeds the classifier: the first chunk's time is when the server delivered data (the hold
  of a poll whose head went out early), several chunks spread over time make a stream.
- A WebSocket handshake exchange is emitted exactly once, whether or not the source also passed it
  through `begin_exchange`; `websocket()` validates it (Handshake record) and feeds the negotiated
  permessage-deflate parameters to `websocket.WebSocketStream`.  A 101 or CONNECT is classified once its
  fate is known (`websocket()` called, or the connection's end), so an RFC 8441 CONNECT answered 200
  counts as a WebSocket.
- Failed upgrade attempts: an exchange whose request asks for a WebSocket (``Upgrade: websocket``, or an
  extended CONNECT with ``:protocol websocket``) that ends without switching (any status but 101, or
  not 2xx to the CONNECT, or no response at all) is validated here, whatever the source: one Handshake
  record (``valid`` false, findings such as ``unexpected-status``, ``version-not-supported``,
  ``no-response``) just before its Exchange record; a 101 or CONNECT that `websocket()` never claims is
  validated at the connection's end.  Such a connection is not a WebSocket, and `websocket()` handed a
  refused handshake (a HAR entry of a WebSocket that got a 403) reports it the same way and returns a
  handle that decodes nothing.  Each attempt gets one Handshake record (keyed by method, URL, request
  time), even if the source passes it both ways.
- ``Connection.protocol`` is decided from what was seen: ``websocket`` > ``sse`` > ``http`` > ``tcp``.
- The application layer (`inspector.app`, docs/app.md): each WebSocket gets an `app.session.AppSession`
  chosen by its handshake's subprotocol and URL (or its first payloads); it fills ``Message.app`` and adds
  `records.Operation` records, and Engine.IO polling and JSON-RPC response bodies and SSE events get
  ``app`` too.  It never changes the fields the layers below set.
- Warnings (ours and the analysers') are aggregated by name with a count and emitted by `finish`;
  ``on_warning(name, message)`` is called once per name as it first occurs (the CLI echoes it to stderr).
- Memory: per-connection state is dropped at `connection_end`; the classifier keeps bounded samples
  (`classify.Thresholds.max_samples`, ``max_total_samples``, ``max_endpoints``; a
  ``classifier-endpoints-capped`` warning says when requests went unclassified).
- Analysers never raise on input errors (those are records).  An exception from one is a bug: with
  ``Options.strict`` it propagates (tests), otherwise the analyser is stopped for that connection and an
  ``internal-error`` warning names the exception, so one bug does not lose a whole capture.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec

from inspector import records
from inspector.app.base import APP_CAP
from inspector.app.registry import choose
from inspector.app.session import AppSession, body_app, body_decoder, sse_event_app
from inspector.classify import Classifier, Thresholds

__all__ = ["Analysis", "Options", "ExchangeHandle", "WebSocketHandle"]

Sink = Callable[[Any], Any]
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Options:
    """Knobs shared by every source (the CLI and the addon map their options onto these)."""

    view_cap: int = 256
    """Characters/bytes of a message payload kept in Message.text / Message.data."""
    max_message: int = 64 << 20
    """Most bytes a WebSocket message may inflate to (permessage-deflate bombs stop there)."""
    frame_payloads: bool = False
    """Fill ``Frame.payload`` (hex, capped by ``view_cap``)."""
    sse_max_line: int = 1 << 20
    """Longest SSE line buffered; longer lines are skipped and counted."""
    sse_max_event: int = 4 << 20
    """Largest SSE event data buffered; larger events are dropped and counted."""
    sse_idle_gap: float = 30.0
    """Silence on an event stream (seconds) reported as a finding."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    """The classifier's thresholds (classify.Thresholds)."""
    frames: bool = True
    """Emit one Frame record per WebSocket frame (Message records are always emitted)."""
    strict: bool = False
    """Let exceptions from analysers propagate (for tests) instead of containing them."""


def _is_event_stream(ex: records.Exchange) -> bool:
    if ex.status is None or not 200 <= ex.status < 300 or not ex.content_type:
        return False
    return ex.content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def _sse_attempt(ex: records.Exchange) -> bool:
    """An event stream, or what an EventSource asked for (``Accept: text/event-stream``) and got back
    instead (a 204, a redirect, an error page, a wrong Content-Type): its SseStream names the problem."""
    if ex.status is None or ex.status == 101 or ex.method == "CONNECT":
        return False
    if ex.content_type and ex.content_type.split(";", 1)[0].strip().lower() == "text/event-stream":
        return True
    return any(k.lower() == "accept" and "text/event-stream" in v.lower() for k, v in ex.request_headers)


def _exchange_key(ex: records.Exchange) -> tuple:
    return (ex.method, ex.url, ex.ts_request)


def _asks_websocket(ex: records.Exchange) -> bool:
    """The request asks for a WebSocket: an Upgrade header naming websocket (RFC 6455 4.1), or an
    extended CONNECT with ``:protocol: websocket`` (RFC 8441 4)."""
    if ex.method.upper() == "CONNECT":
        return any(k == ":protocol" and v.strip().lower() == "websocket" for k, v in ex.request_headers)
    return any(
        k.lower() == "upgrade" and any(t.strip().lower() == "websocket" for t in v.split(","))
        for k, v in ex.request_headers
    )


def _refused_upgrade(ex: records.Exchange) -> bool:
    """A WebSocket upgrade attempt that did not switch protocols: no response, or a status other than
    101 (other than 2xx to an extended CONNECT)."""
    if not _asks_websocket(ex):
        return False
    if ex.status is None:
        return True
    if ex.method.upper() == "CONNECT":
        return not 200 <= ex.status < 300
    return ex.status != 101


class _Conn:
    """What `Analysis` remembers about one open connection."""

    __slots__ = (
        "conn", "client", "server", "ts_start", "ts_last", "exchanges", "sse", "websocket", "http",
        "open_exchanges", "emitted_handshakes", "ws", "detected_by", "pending_upgrades", "validated",
    )

    def __init__(self, conn: str, client: str | None, server: str | None, ts: float | None) -> None:
        self.conn = conn
        self.client = client
        self.server = server
        self.ts_start = ts
        self.ts_last = ts
        self.exchanges = 0
        self.sse = False
        self.websocket = False
        self.http = False
        self.open_exchanges: dict[int, ExchangeHandle] = {}
        self.emitted_handshakes: set[tuple] = set()
        self.ws: WebSocketHandle | None = None
        self.detected_by: str | None = None
        #: 101s and CONNECTs emitted but not yet classified: `websocket()` may still claim them
        self.pending_upgrades: dict[tuple, tuple[records.Exchange, dict]] = {}
        #: upgrade attempts whose Handshake record was emitted (one per attempt)
        self.validated: set[tuple] = set()

    def seen(self, ts: float | None) -> None:
        if ts is None:
            return
        if self.ts_start is None or ts < self.ts_start:
            self.ts_start = ts
        if self.ts_last is None or ts > self.ts_last:
            self.ts_last = ts


class ExchangeHandle:
    """One HTTP exchange between its response head and its end; from `Analysis.begin_exchange`."""

    def __init__(self, analysis: "Analysis", state: _Conn, exchange: records.Exchange) -> None:
        self._analysis = analysis
        self._state = state
        self.exchange = exchange
        self._hash = None
        self._bytes = 0
        self._first_ts: float | None = None  # first and last body chunks: the classifier's hold and flow
        self._last_ts: float | None = None
        self._chunks = 0
        self._sse = None
        self._done = False
        #: an Engine.IO polling response or a JSON body: its start (capped) for `inspector.app`
        self._app_kind = body_decoder(exchange.method, exchange.url, exchange.status, exchange.content_type)
        self._app_body = bytearray() if self._app_kind is not None else None
        if _sse_attempt(exchange):
            self._sse = analysis._guard(state.conn, lambda: analysis._new_sse(exchange))

    def body(self, data: bytes, ts: float | None = None) -> None:
        """Decoded (de-chunked, decompressed) response body bytes, in any chunking."""
        if self._done or not data:
            return
        self._state.seen(ts)
        self._bytes += len(data)
        if ts is not None:
            if self._first_ts is None:
                self._first_ts = ts
            self._last_ts = ts
            self._chunks += 1
        if self._sse is not None:
            sse = self._sse
            out = self._analysis._guard(self._state.conn, lambda: sse.feed(data, ts))
            if out is None:
                self._sse = None
            else:
                self._analysis._guard(self._state.conn, lambda: [sse_event_app(record) for record in out])
                self._analysis._emit_all(out)
            return
        if self._app_body is not None and len(self._app_body) < APP_CAP:
            self._app_body += data[: APP_CAP - len(self._app_body)]
        if self._hash is None:
            self._hash = hashlib.sha256()
        self._hash.update(data)

    def end(self, **field_updates: Any) -> records.Exchange:
        """Final field values (``ts_end``, ``response_body_bytes``, ...); emits the Exchange record.

        ``response_body_bytes`` defaults to the bytes passed to `body`; ``response_sha256`` to their hash
        (also for a known-empty body).  Ends the event stream (SseStream record) of an SSE response.
        Calling it again does nothing.
        """
        if self._done:
            return self.exchange
        self._done = True
        analysis, state = self._analysis, self._state
        ex = self.exchange
        updates = dict(field_updates)
        body_bytes = updates.get("response_body_bytes", ex.response_body_bytes)
        if body_bytes is None and (self._bytes or self._hash is not None or self._sse is not None):
            updates["response_body_bytes"] = self._bytes
        status = updates.get("status", ex.status)
        if updates.get("response_sha256", ex.response_sha256) is None and status is not None and self._sse is None:
            if self._hash is not None:
                updates["response_sha256"] = self._hash.hexdigest()
            elif body_bytes == 0:
                updates["response_sha256"] = _EMPTY_SHA256
        if self._app_body:
            body, kind, cut = bytes(self._app_body), self._app_kind, self._bytes > len(self._app_body)
            layer = analysis._guard(state.conn, lambda: body_app(body, kind, cut))
            if layer is not None:
                updates["app"] = layer
        if updates:
            ex = msgspec.structs.replace(ex, **updates)
        self.exchange = ex
        state.open_exchanges.pop(id(self), None)
        state.seen(ex.ts_end)
        stream_summary = None
        tail: list = []
        if self._sse is not None:
            sse = self._sse
            ts_end = ex.ts_end if ex.ts_end is not None else state.ts_last
            out = analysis._guard(state.conn, lambda: sse.end(ts_end))
            for record in out or ():
                if isinstance(record, records.SseStream):
                    stream_summary = record
                tail.append(record)
        analysis._emit_exchange(
            state,
            ex,
            sse=stream_summary,
            ts_body=self._first_ts,
            ts_body_last=self._last_ts if self._chunks > 1 else None,  # one chunk: no flow to measure
        )
        analysis._emit_all(tail)
        return ex


class WebSocketHandle:
    """One WebSocket connection (both directions); from `Analysis.websocket`."""

    def __init__(self, analysis: "Analysis", state: _Conn, stream: Any, app: AppSession | None = None) -> None:
        self._analysis = analysis
        self._state = state
        self._stream = stream
        self._done = stream is None
        self._app = app  # the application layer: fills Message.app, adds Operation records

    def _run(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Call ``method`` of the stream and emit its records; a bug is contained (`Analysis._failed`)
        and stops this WebSocket.  No closure: `data` runs once per TCP segment of a capture."""
        if self._done:
            return
        try:
            out = getattr(self._stream, method)(*args, **kwargs)
        except Exception as exc:
            self._analysis._failed(self._state.conn, exc)
            self._done = True
            return
        if self._app is not None:
            out = self._app_records(out, args[0] if method == "end" else None, method == "end")
        self._analysis._emit_all(out)

    def _app_records(self, out: list, ts: float | None, end: bool) -> list:
        """The application layer over a batch of records (a bug there stops only the application layer)."""
        app = self._app
        try:
            result = app.records(out)
            if end:
                result += app.finish(ts)
        except Exception as exc:
            self._analysis._failed(self._state.conn, exc)
            result, app = out, None
        if app is None or not app.wants_payloads:  # nothing recognised in the first payloads: stop keeping them
            self._stream.keep_payloads(None)
            self._app = None
        return result

    def data(self, direction: str, data: bytes, ts: float | None = None) -> None:
        """Raw bytes of one direction (``client`` or ``server``), any chunking."""
        self._state.seen(ts)
        self._run("feed", direction, data, ts)

    def message(
        self, direction: str, opcode: int, payload: bytes, ts: float | None = None, compressed: bool | None = None
    ) -> None:
        """One whole message (HAR, mitmproxy's message layer): opcode and unmasked payload."""
        self._state.seen(ts)
        self._run("feed_message", direction, opcode, payload, ts, compressed=compressed)

    def gap(self, direction: str, ts: float | None = None) -> None:
        """Bytes of ``direction`` are missing here (capture loss): what was cut off is reported and that
        direction resyncs at the next convincing frame boundary (see `websocket.Resync`)."""
        self._run("gap", direction, ts)

    def end(self, ts: float | None = None) -> None:
        """End of the WebSocket (truncated frames at the end of input are reported).  Idempotent."""
        self._state.seen(ts)
        self._run("end", ts)
        self._done = True


class Analysis:
    """The pipeline: see the module docstring.  ``sink`` receives every record (in lists through
    its ``write_many`` method if it has one)."""

    def __init__(
        self,
        sink: Sink,
        *,
        source: str,
        options: Options = Options(),
        on_warning: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.sink = sink
        #: a sink may take a list at once (`JsonlWriter.write_many`)
        self._sink_many: Callable[[list], Any] | None = getattr(sink, "write_many", None)
        self.source = source
        self.options = options
        self.on_warning = on_warning
        self.classifier = Classifier(options.thresholds)
        self._conns: dict[str, _Conn] = {}
        self._warnings: dict[Any, list] = {}  # name or (name, conn) -> [name, message, count, conn]
        self._finished = False

    # -- records out -----------------------------------------------------------------------------------

    def _emit(self, record: Any) -> None:
        if type(record) is records.WarningRecord:
            self.warning(record.name, record.message, record.conn, count=record.count)
        elif type(record) is records.Frame and not self.options.frames:
            return
        else:
            self.sink(record)

    def _emit_all(self, out: list | None) -> None:
        """Emit an analyser's records (a list: it is read twice): in one `write_many` call when the sink
        has one and no warning is among them (a WebSocket capture hands over two records per frame)."""
        if not out:
            return
        many = self._sink_many
        if many is None or records.WarningRecord in map(type, out):
            for record in out:
                self._emit(record)
        elif self.options.frames:
            many(out)
        else:
            many([record for record in out if type(record) is not records.Frame])

    def _guard(self, conn: str, call: Callable[[], Any]) -> Any:
        """Run an analyser call; contain a bug (see the module docstring).  None when it failed."""
        try:
            return call()
        except Exception as exc:  # an analyser bug must not lose the rest of the input
            self._failed(conn, exc)
            return None

    def _failed(self, conn: str, exc: Exception) -> None:
        """An analyser raised ``exc``: re-raise it with ``Options.strict``, else an internal-error warning."""
        if self.options.strict:
            raise exc
        message = str(exc).splitlines()[0] if str(exc) else ""
        self.warning(
            "internal-error",
            f"{type(exc).__name__}: {message[:200]} (analysis of this stream stopped; a bug, please report)",
            conn,
        )

    def _state(self, conn: str, ts: float | None = None) -> _Conn:
        state = self._conns.get(conn)
        if state is None:
            state = self._conns[conn] = _Conn(conn, None, None, ts)
        return state

    def _new_sse(self, ex: records.Exchange) -> Any:
        from inspector.sse.stream import SseStreamAnalysis

        o = self.options
        return SseStreamAnalysis(
            ex.conn,
            ex.url,
            request_headers=ex.request_headers,
            response_headers=ex.response_headers,
            status=ex.status,
            ts_start=ex.ts_response,
            max_line=o.sse_max_line,
            max_event=o.sse_max_event,
            idle_gap=o.sse_idle_gap,
        )

    def _emit_exchange(
        self,
        state: _Conn,
        ex: records.Exchange,
        *,
        sse: records.SseStream | None = None,
        websocket: bool = False,
        ts_body: float | None = None,
        ts_body_last: float | None = None,
    ) -> None:
        key = _exchange_key(ex)
        facts = dict(client=state.client, sse=sse, ts_body=ts_body, ts_body_last=ts_body_last)
        refused = not websocket and _refused_upgrade(ex)
        if refused:
            self._validate(state, ex)
        elif ex.status == 101 or ex.method == "CONNECT" or websocket or state.websocket:
            if key in state.emitted_handshakes:
                if websocket and key in state.pending_upgrades:
                    pending, pending_facts = state.pending_upgrades.pop(key)
                    self.classifier.add(pending, websocket=True, **pending_facts)
                return
            state.emitted_handshakes.add(key)
            if not websocket:  # a WebSocket's opening handshake? `websocket()` or the connection's end tells
                state.pending_upgrades[key] = (ex, facts)
        state.exchanges += 1
        state.http = True
        if _is_event_stream(ex):
            state.sse = True
        self.sink(ex)
        if key not in state.pending_upgrades:
            self.classifier.add(ex, websocket=websocket, **facts)

    def _validate(self, state: _Conn, ex: records.Exchange, *, only_invalid: bool = False) -> tuple | None:
        """Validate an upgrade attempt: (Handshake, negotiated DeflateParams), None if the validator failed.
        The Handshake record is emitted once per attempt; ``only_invalid``: only if it has errors."""
        key = _exchange_key(ex)
        first = key not in state.validated
        state.validated.add(key)
        from inspector.ws.handshake import validate

        result = self._guard(
            state.conn,
            lambda: validate(
                state.conn,
                ex.url,
                method=ex.method,
                http_version=ex.http_version,
                request_headers=ex.request_headers,
                status=ex.status,
                response_headers=ex.response_headers,
            ),
        )
        if first and result is not None and not (only_invalid and result[0].valid):
            self.sink(result[0])
        return result

    # -- the calls sources make ------------------------------------------------------------------------

    def connection(self, conn: str, client: str | None, server: str | None, ts: float | None) -> None:
        """A connection opens (its id must be unique in the output)."""
        state = self._conns.get(conn)
        if state is None:
            self._conns[conn] = _Conn(conn, client, server, ts)
            return
        state.client = state.client or client
        state.server = state.server or server
        state.seen(ts)

    def begin_exchange(self, ex: records.Exchange) -> ExchangeHandle:
        """An exchange at its response head (or whole); returns the handle for its body and end."""
        state = self._state(ex.conn, ex.ts_request)
        state.seen(ex.ts_request)
        state.seen(ex.ts_response)
        handle = ExchangeHandle(self, state, ex)
        state.open_exchanges[id(handle)] = handle
        return handle

    def websocket(
        self,
        conn: str,
        *,
        handshake: records.Exchange | None,
        detected_by: str = "handshake",
        deflate: Any = None,
    ) -> WebSocketHandle:
        """The connection carries a WebSocket from here on.

        ``handshake`` (the upgrade exchange, if known) is validated (Handshake record) and emitted unless
        already emitted; its negotiated permessage-deflate parameters apply unless ``deflate`` (a
        `deflate.DeflateParams`) forces others.  ``detected_by`` ends up in ``Connection.detected_by``.
        """
        state = self._state(conn, handshake.ts_request if handshake else None)
        if handshake is not None and handshake.status is not None and not (
            200 <= handshake.status < 300 if handshake.method.upper() == "CONNECT" else handshake.status == 101
        ):
            # refused (a HAR entry of a WebSocket answered 403): reported as a failed attempt, nothing to decode
            state.seen(handshake.ts_request)
            if _exchange_key(handshake) not in state.validated:
                self._validate(state, handshake)
                self._emit_exchange(state, handshake)
            return WebSocketHandle(self, state, None)
        state.websocket = True
        state.detected_by = detected_by
        negotiated = result = None
        if handshake is not None:
            state.seen(handshake.ts_request)
            result = self._validate(state, handshake)
            if result is not None:
                negotiated = result[1]
            self._emit_exchange(state, handshake, websocket=True)
        else:
            url = f"ws://{state.server}/" if state.server else f"ws://{conn}/"
            self.classifier.add_websocket(url, conn, ts=state.ts_last, client=state.client)
        from inspector.ws.stream import WebSocketStream

        o = self.options
        app = AppSession(conn, choose(
            handshake.url if handshake is not None else None, result[0].subprotocol if handshake and result else None
        ))
        params = deflate if deflate is not None else negotiated
        stream = self._guard(
            conn,
            lambda: WebSocketStream(
                conn, deflate=params, view_cap=o.view_cap, max_message=o.max_message, frame_payloads=o.frame_payloads
            ),
        )
        if stream is not None:
            stream.keep_payloads(app.payloads, app.cap)
        handle = WebSocketHandle(self, state, stream, app)
        if state.ws is not None:
            state.ws.end(state.ts_last)
        state.ws = handle
        return handle

    def warning(self, name: str, message: str, conn: str | None = None, *, count: int = 1,
                per_conn: bool = False) -> None:
        """A problem in the input, aggregated by ``name`` (first message and connection kept), or with
        ``per_conn`` by ``name`` and ``conn`` (one record per connection)."""
        key = (name, conn) if per_conn else name
        entry = self._warnings.get(key)
        if entry is None:
            self._warnings[key] = [name, message, count, conn]
            if self.on_warning is not None:
                self.on_warning(name, message)
        else:
            entry[2] += count

    def connection_end(self, conn: str, ts: float | None = None, **counters: Any) -> None:
        """The connection is over: ends what is open on it and emits its Connection record.

        ``counters`` are Connection fields (``bytes_client``, ``bytes_server``, ``gaps``, ``detected_by``,
        ``protocol`` to override the decision).  Unknown connection ids get a record too (the source saw
        nothing but the end).
        """
        state = self._conns.pop(conn, None)
        if state is None:
            state = _Conn(conn, None, None, ts)
        state.seen(ts)
        end_ts = ts if ts is not None else state.ts_last
        for handle in list(state.open_exchanges.values()):
            if handle.exchange.ts_end is None:
                handle.end(ts_end=end_ts)
            else:
                handle.end()
        if state.ws is not None:
            state.ws.end(end_ts)
        for ex, facts in state.pending_upgrades.values():
            if _asks_websocket(ex):  # a switch no one decoded: reported if the handshake itself is wrong
                self._validate(state, ex, only_invalid=True)
            self.classifier.add(ex, **facts)
        state.pending_upgrades.clear()
        if state.websocket:
            protocol = "websocket"
        elif state.sse:
            protocol = "sse"
        elif state.http:
            protocol = "http"
        else:
            protocol = "tcp"
        fields: dict[str, Any] = dict(
            conn=conn,
            client=state.client,
            server=state.server,
            ts_start=state.ts_start,
            ts_end=end_ts,
            source=self.source,
            protocol=protocol,
            detected_by=state.detected_by,
            exchanges=state.exchanges,
        )
        fields.update(counters)
        self.sink(records.Connection(**fields))

    def finish(self) -> None:
        """Ends every open connection, then emits Pattern records and the aggregated warning records."""
        if self._finished:
            return
        self._finished = True
        for conn in list(self._conns):
            self.connection_end(conn)
        for pattern in self._guard("", self.classifier.patterns) or ():
            self.sink(pattern)
        if self.classifier.unclassified:
            self.warning(
                "classifier-endpoints-capped",
                f"more than {self.options.thresholds.max_endpoints} endpoints: requests to further endpoints"
                " were not classified",
                count=self.classifier.unclassified,
            )
        for name, message, count, conn in self._warnings.values():
            self.sink(records.WarningRecord(name=name, message=message, count=count, conn=conn))
