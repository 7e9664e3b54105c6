"""The live mitmproxy addon: every WebSocket, event stream and polling exchange through the proxy, as records.

Load it with ``mitmdump -s addons/inspector.py`` from a checkout, or ``mitmdump -s "$(inspector addon-path)"``
when the package is installed; docs/live.md describes what it does and its options (`inspector.mitm.options`).
Each hook is a few lines handing the flow to a conversion method that feeds `inspector.analysis.Analysis`,
the pipeline every source feeds; the records go to `inspector.mitm.output.RecordOutput`.

- HTTP: each completed exchange (``response``/``error``) becomes an `Exchange`; the classifier sees it;
  refused and unanswered upgrades are validated as handshakes when their exchange ends.
- Message mode (default): ``websocket_message`` feeds each whole message mitmproxy reassembled,
  ``websocket_end`` the close of the side that closed first.
- Wire mode (``inspector_wire``): the ``response`` hook of the 101 sets ``flow.websocket = None``, so
  mitmproxy relays the connection as raw TCP; the TCP flow shares ``client_conn.id`` with its 101 flow and
  each ``tcp_message`` chunk goes unchanged to the frame decoder of its direction.
- SSE: a live ``text/event-stream`` body is streamed through `bodies.sse_stream`, which feeds the parser
  and returns every chunk unchanged.

Containment (`inspector.mitm.contain.contained`): an exception in a conversion method is logged once per
flow, counted, and ends that flow's analysis; the flow goes on untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from mitmproxy import command, ctx, exceptions, http, tcp

from inspector.analysis import Analysis, Options
from inspector.app.base import APP_CAP
from inspector.app.session import body_decoder
from inspector.errors import InputError
from inspector.http.encoding import BodyDecoder
from inspector.mitm import contentviews, options
from inspector.mitm.bodies import StreamState, body_sha256, feed_request_body, is_event_stream, sse_stream
from inspector.mitm.contain import Containment, contained
from inspector.mitm.convert import exchange_from_flow, proxy_close
from inspector.mitm.exports import LiveExports
from inspector.mitm.output import RecordOutput
from inspector.present.fanout import Fanout

__all__ = ["Inspector", "addons"]

logger = logging.getLogger("inspector")


def _trim(messages: list, keep: int) -> bool:
    """Drop all but the last ``keep`` (>= 0) messages of a flow; whether any were dropped."""
    if 0 <= keep < len(messages):
        del messages[: len(messages) - keep]
        return True
    return False


def _as_bytes(message: tcp.TCPMessage) -> None:
    """mitmproxy hands over the bytes that arrived with a 101 as a bytearray, which its flow writer (-w)
    cannot serialize: the same bytes as bytes (what is sent is unchanged)."""
    if type(message.content) is bytearray:
        message.content = bytes(message.content)


_MODE_NOTE = {
    "message": "inspector: message mode: mitmproxy reassembles each WebSocket message and re-frames and re-masks "
               "it, relays pings and pongs without showing them to addons (no ping/pong records), and closes the "
               "connection itself when a peer breaks the protocol; "
               "wire mode (inspector_wire=true, `inspector live --wire`) decodes the frames as sent",
    "wire": "inspector: wire mode: upgraded WebSocket connections are relayed unchanged and their frames decoded "
            "as sent (content views and flow files see raw TCP, not messages)",
}


def _direction(from_client: bool) -> str:
    return "client" if from_client else "server"


class Inspector:
    def __init__(self) -> None:
        self.analysis: Analysis | None = None
        self.output = RecordOutput()
        self.exports = LiveExports()  # inspector_report, inspector_har
        self.containment = Containment(self._forget)
        self._conns: dict[str, str] = {}  # mitmproxy client_conn.id -> record conn id
        self._conn_seq = 0
        self._streams: dict[str, StreamState] = {}  # flow.id -> streamed event stream
        self._ws: dict[str, Any] = {}  # flow.id -> Analysis WebSocket handle (message mode)
        self._wire_pending: dict[str, http.HTTPFlow] = {}  # client_conn.id -> 101 flow handed to raw TCP
        self._wire: dict[str, Any] = {}  # tcp flow.id -> Analysis WebSocket handle
        self._report_task: asyncio.Task | None = None
        self._running = False  # the `running` hook has fired (the event loop is up)
        self._views: list = []
        # Read per message on the hot path: mitmproxy's option access deep-copies the value each time.
        self._ws_keep = 100
        self._max_body = Options.max_message

    # --- hooks ------------------------------------------------------------------------------------------

    def load(self, loader) -> None:
        options.declare(loader)
        self._views = contentviews.register()

    def configure(self, updated: set[str]) -> None:
        problem = options.check(ctx.options, updated)
        if problem is not None:
            raise exceptions.OptionsError(problem)
        self._configure(updated)

    def running(self) -> None:
        self._running = True
        self._start_report_task()
        logger.info(_MODE_NOTE["wire" if ctx.options.inspector_wire else "message"])

    def done(self) -> None:
        self._finish()
        self._reset()

    @command.command("inspector.report")
    def report(self) -> None:
        """Log the pattern summary now, write the current pattern records and the report
        (``inspector_report``)."""
        self._report()

    def client_disconnected(self, client) -> None:
        self._client_gone(client)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.live and flow.response is not None and is_event_stream(flow.response):
            self._stream_sse(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._error(flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._websocket_start(flow)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        self._websocket_message(flow)
        _trim(flow.websocket.messages, self._ws_keep)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._websocket_end(flow)

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        self._tcp_start(flow)

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        _as_bytes(flow.messages[-1])
        self._tcp_message(flow)
        if _trim(flow.messages, self._ws_keep):
            flow.metadata["inspector_trimmed"] = True

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        self._tcp_end(flow)

    tcp_error = tcp_end

    # --- options and lifecycle -----------------------------------------------------------------------

    def _configure(self, updated: set[str]) -> None:
        opts = ctx.options
        try:
            if "inspector_jsonl" in updated:
                self.output.open(opts.inspector_jsonl)
            if updated & {"inspector_report", "inspector_har"}:
                self.exports.configure(opts.inspector_report, opts.inspector_har,
                                       options.parse_thresholds(opts.inspector_thresholds))
        except InputError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        self._ws_keep = opts.inspector_ws_keep
        self._max_body = opts.inspector_max_message
        self.output.set_log_level(opts.inspector_log)
        if "inspector_filter" in updated:
            self.output.set_filter(opts.inspector_filter)
        settings = Options(
            view_cap=opts.inspector_view_cap,
            max_message=opts.inspector_max_message,
            sse_max_line=opts.inspector_sse_max_line,
            sse_max_event=opts.inspector_sse_max_event,
            thresholds=options.parse_thresholds(opts.inspector_thresholds),
        )
        if self.analysis is None:
            self.analysis = Analysis(Fanout(self.output, self.exports), source="live", options=settings,
                                     on_warning=self.output.first_warning)
        else:
            if "inspector_thresholds" in updated:
                logger.warning("inspector_thresholds: the classifier keeps its thresholds until mitmproxy restarts")
            # Streams that start from now on use the new caps.
            self.analysis.options = dataclasses.replace(settings, thresholds=self.analysis.options.thresholds)
        if "inspector_report_interval" in updated and self._running:
            self._start_report_task()

    def _start_report_task(self) -> None:
        """(Re)start the periodic report for the current ``inspector_report_interval`` (0: none)."""
        if self._report_task is not None:
            self._report_task.cancel()
            self._report_task = None
        interval = ctx.options.inspector_report_interval
        if interval > 0:
            self._report_task = asyncio.get_running_loop().create_task(self._report_loop(interval))

    async def _report_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.report()

    @contained(per_flow=False)
    def _report(self) -> None:
        if self.analysis is not None:
            patterns = self.analysis.classifier.patterns()
            for pattern in patterns:
                self.output(pattern)
            self.output.flush()
            self.output.summary(self.containment.errors)
            self.exports.write_report(patterns)

    @contained(per_flow=False)
    def _finish(self) -> None:
        if self._report_task is not None:
            self._report_task.cancel()
        if self.analysis is not None:
            for client_id in list(self._conns):
                self._end_conn(client_id, None)
            self.analysis.finish()
            self.output.summary(self.containment.errors)
        self.exports.close()

    def _reset(self) -> None:
        """After ``done``: a script reload calls load/configure/running on this same instance again, so start
        afresh (connection ids keep counting, so an appended JSONL file keeps them unique)."""
        self.output.close()
        contentviews.unregister(self._views)
        self._views = []
        self.analysis = None
        self._report_task = None
        self._running = False
        for state in (self._conns, self._streams, self._ws, self._wire, self._wire_pending):
            state.clear()
        self.output.reset()
        self.containment.clear()

    def _forget(self, flow_id: str) -> None:
        """Containment's clean-up: a flow whose analysis failed is analysed no further."""
        self._streams.pop(flow_id, None)
        self._ws.pop(flow_id, None)
        self._wire.pop(flow_id, None)

    # --- connections and HTTP ------------------------------------------------------------------------

    def _conn(self, flow) -> str:
        """The record conn id of a flow's client connection; announces the connection on first sight."""
        client = flow.client_conn
        cid = self._conns.get(client.id)
        if cid is None:
            self._conn_seq += 1
            cid = self._conns[client.id] = f"c{self._conn_seq}"
            peer = client.peername
            server = flow.server_conn.address if flow.server_conn is not None else None
            if isinstance(flow, http.HTTPFlow):
                server = (flow.request.host, flow.request.port)
            self.analysis.connection(
                cid,
                client=f"{peer[0]}:{peer[1]}" if peer else None,
                server=f"{server[0]}:{server[1]}" if server else None,
                ts=client.timestamp_start,
            )
        return cid

    def _end_conn(self, client_id: str, ts: float | None) -> None:
        cid = self._conns.pop(client_id, None)
        if cid is not None:
            self._wire_pending.pop(client_id, None)
            self.analysis.connection_end(cid, ts)

    @contained
    def _client_gone(self, client) -> None:
        self._end_conn(client.id, client.timestamp_end or time.time())
        self.output.flush()

    def _exchange(self, flow: http.HTTPFlow, streamed: bool = False):
        sha = None if (flow.response is None or streamed) else body_sha256(flow.response, self._max_body)
        return exchange_from_flow(flow, self._conn(flow), streamed=streamed, response_sha256=sha)

    @contained
    def _stream_sse(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        try:
            decoder = BodyDecoder.for_header(resp.headers.get("content-encoding"), cap=1 << 62)
        except ValueError as exc:
            self.analysis.warning("sse-encoding", f"{flow.request.pretty_url}: {exc}; events not parsed")
            return
        handle = self.analysis.begin_exchange(self._exchange(flow, streamed=True))
        feed_request_body(flow.request, handle, APP_CAP)
        self._streams[flow.id] = StreamState(handle, decoder)
        self.output.flush()
        resp.stream = sse_stream(flow, lambda data, ts: self._sse_chunk(flow, data, ts), ctx.options.inspector_sse_keep)

    @contained
    def _sse_chunk(self, flow: http.HTTPFlow, data: bytes, ts: float) -> None:
        stream = self._streams.get(flow.id)
        if stream is None:
            return
        stream.total += len(data)
        if not stream.parsing:
            return
        try:
            for piece in stream.decoder.pieces(data) if stream.decoder is not None else (data,):
                stream.handle.body(piece, ts)
        except ValueError as exc:  # a corrupt compressed stream: stop parsing, keep relaying
            self.analysis.warning("sse-encoding", f"{flow.request.pretty_url}: {exc}; parsing stopped")
            stream.parsing = False
        self.output.flush()

    @contained
    def _response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        stream = self._streams.pop(flow.id, None)
        if stream is not None:
            stream.handle.end(ts_end=resp.timestamp_end, response_body_bytes=stream.total)
        elif resp.status_code == 101 and resp.headers.get("upgrade", "").lower() == "websocket":
            self._upgraded(flow)
        else:
            self._plain_response(flow)
        self.output.flush()

    def _upgraded(self, flow: http.HTTPFlow) -> None:
        """A 101 to WebSocket: message mode (``websocket_start`` takes over), or wire mode: mitmproxy relays
        the connection as raw TCP and ``tcp_start`` picks it up.  Also for ``--set websocket=false`` and for
        such flows read from a file.  Script addons run before mitmproxy's save addon, so ``-w`` then saves
        the 101 flow as a plain response."""
        if flow.websocket is None or (ctx.options.inspector_wire and flow.live):
            flow.websocket = None
            flow.metadata["inspector"] = "websocket-wire"
            self._wire_pending[flow.client_conn.id] = flow

    def _plain_response(self, flow: http.HTTPFlow) -> None:
        """A response, a refused upgrade (403, 426, ...) or a 101 that is not a WebSocket: Analysis validates
        it; an event stream that was not streamed (replayed flows, or another addon) is parsed whole."""
        resp = flow.response
        handle = self.analysis.begin_exchange(self._exchange(flow))
        feed_request_body(flow.request, handle, APP_CAP)
        app_body = body_decoder(
            flow.request.method, flow.request.pretty_url, resp.status_code, resp.headers.get("content-type")
        )
        if resp.raw_content and (is_event_stream(resp) or app_body is not None):
            self._feed_body(flow, handle, sse=is_event_stream(resp))
        handle.end(ts_end=resp.timestamp_end, response_body_bytes=len(resp.raw_content or b""))

    def _feed_body(self, flow: http.HTTPFlow, handle: Any, sse: bool) -> None:
        """A whole response body into Analysis: an event stream not streamed (replayed flows, or another
        addon), or the start of a body `inspector.app` decodes (a little past its cap, so it sees the cut;
        a corrupt encoding there already shows as the missing response_sha256)."""
        resp = flow.response
        fed = 0
        ts = resp.timestamp_end if sse else None  # no time for app-only bodies: the classifier's figures stay
        try:
            decoder = BodyDecoder.for_header(resp.headers.get("content-encoding"), cap=self._max_body)
            for piece in decoder.pieces(resp.raw_content) if decoder is not None else (resp.raw_content,):
                handle.body(piece, ts)
                fed += len(piece)
                if not sse and fed > APP_CAP:
                    break
        except ValueError as exc:
            if sse:
                self.analysis.warning("sse-encoding", f"{flow.request.pretty_url}: {exc}; events not parsed")

    @contained
    def _error(self, flow: http.HTTPFlow) -> None:
        stream = self._streams.pop(flow.id, None)
        handle = stream.handle if stream is not None else None
        if handle is None and flow.websocket is None:
            # an upgrade without a response (the server could not be reached): Analysis validates it
            handle = self.analysis.begin_exchange(self._exchange(flow))
        if handle is not None:
            handle.end(ts_end=flow.error.timestamp if flow.error else time.time(), response_body_bytes=None)
        if flow.error is not None and flow.websocket is None:  # what the client got came from mitmproxy
            conn = self._conn(flow)
            self.analysis.warning(
                "proxy-error", f"{conn}: mitmproxy ended {flow.request.method} {flow.request.pretty_url} itself: "
                f"{flow.error.msg} (not an answer from the server)", conn=conn, per_conn=True)
        self.output.flush()

    # --- WebSocket: message mode, and wire mode (raw TCP after the 101) --------------------------------

    @contained
    def _websocket_start(self, flow: http.HTTPFlow) -> None:
        exchange = self._exchange(flow)
        self._ws[flow.id] = self.analysis.websocket(exchange.conn, handshake=exchange, detected_by="handshake")
        self.output.flush()

    @contained
    def _websocket_message(self, flow: http.HTTPFlow) -> None:
        ws = self._ws.get(flow.id)
        if ws is not None:
            m = flow.websocket.messages[-1]
            ws.message(_direction(m.from_client), int(m.type), m.content, m.timestamp)
            self.output.flush()

    @contained
    def _websocket_end(self, flow: http.HTTPFlow) -> None:
        ws = self._ws.pop(flow.id, None)
        if ws is None:
            return
        data = flow.websocket
        # mitmproxy reports the close frame of the side that closed first (the other side's reply is
        # mitmproxy's own).  1006 means no close frame at all (the connection dropped); 1005 a close
        # frame without a status code.
        if proxy_close(data.close_code, data.close_reason):  # not a close frame the peer sent
            conn = self._conn(flow)
            self.analysis.warning(
                "proxy-closed",
                f"{conn}: mitmproxy closed the WebSocket itself with {data.close_code} {data.close_reason!r}: "
                f"the {_direction(data.closed_by_client)} broke the protocol (wire mode, inspector_wire or "
                "`inspector live --wire`, shows the violating frame)", conn=conn, per_conn=True,
            )
        elif data.close_code is not None and data.close_code != 1006:
            payload = b""
            if data.close_code != 1005:
                payload = data.close_code.to_bytes(2, "big") + (data.close_reason or "").encode()
            ws.message(_direction(data.closed_by_client), 8, payload, data.timestamp_end)
        ws.end(data.timestamp_end or time.time())
        self.output.flush()

    @contained
    def _tcp_start(self, flow: tcp.TCPFlow) -> None:
        hs_flow = self._wire_pending.pop(flow.client_conn.id, None)
        if hs_flow is None or self.containment.failed(hs_flow.id):
            return
        exchange = self._exchange(hs_flow)
        flow.metadata["inspector"] = "websocket-wire"
        flow.metadata["inspector_handshake_flow"] = hs_flow.id
        flow.metadata["inspector_extensions"] = hs_flow.response.headers.get("sec-websocket-extensions")
        self._wire[flow.id] = self.analysis.websocket(exchange.conn, handshake=exchange, detected_by="handshake")
        self.output.flush()

    @contained
    def _tcp_message(self, flow: tcp.TCPFlow) -> None:
        m = flow.messages[-1]
        ws = self._wire.get(flow.id)
        if ws is not None:
            ws.data(_direction(m.from_client), m.content, m.timestamp)
            self.output.flush()

    @contained
    def _tcp_end(self, flow: tcp.TCPFlow) -> None:
        ws = self._wire.pop(flow.id, None)
        if ws is not None:
            ws.end(flow.server_conn.timestamp_end or time.time())
            self.output.flush()


addons = [Inspector()]
