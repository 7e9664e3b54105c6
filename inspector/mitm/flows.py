"""mitmproxy flow files (``mitmdump -w``, ``.flow``/``.mitm``) -> `inspector.analysis.Analysis`.

Entry point: ``run(path, analysis, options=None)``; files are read as a stream with
``mitmproxy.io.FlowReader`` (mitmproxy 11.0 and 12.x; older dumps are migrated by mitmproxy itself).
Detection is by content (``inspector.sources``: a tnetstring, ``<digits>:``), not by extension.

- Connections: one ``c<n>`` per mitmproxy client connection (``client_conn.id``), so several HTTP
  exchanges on a keep-alive connection share one Connection record (emitted at the end of the file,
  with the client connection's start/end times).
- HTTP flows become exchanges with mitmproxy's timestamps: ``ts_request`` = request.timestamp_start,
  ``ts_response`` = response.timestamp_start, ``ts_end`` = response.timestamp_end. Stored bodies are
  fed decoded (``text/event-stream`` ones go through the SSE parser, all at the response's end time:
  mitmproxy stores the body, not when each event arrived). A streamed body (``stream_large_bodies``)
  is not stored, so it is not analysed.
- WebSocket flows (``flow.websocket``): the 101 exchange is validated, ``websocket.messages``
  (from_client, type, content, timestamp) become whole messages, and the close mitmproxy recorded
  (``close_code``/``close_reason``, ``closed_by_client``) becomes a close message of the side that sent it
  (none for 1006, which means no close frame was seen). mitmproxy keeps messages, not frames, so
  frame-level fields stay null.
- Raw TCP after a 101 (the live addon's wire mode, or ``--set websocket=false``): a TCP flow on the same
  ``client_conn.id`` as a 101 flow whose ``websocket`` is None carries the original frame bytes; they are
  fed to the frame decoder (``WebSocketHandle.data``), so frames, masks and violations are real again.
  Other TCP flows give a ``tcp`` Connection record with its byte counts, unless ``--ws PORT|HOST:PORT``
  names their server or (``heuristics``, the default) the client's first bytes are a run of masked
  frames: then their bytes are decoded as WebSocket frames without a handshake.
"""

from __future__ import annotations

from typing import Any

from inspector.app.base import APP_CAP
from inspector.http.encoding import decode_body
from inspector.errors import InputError
from inspector.mitm.bodies import feed_request_body
from inspector.mitm.convert import exchange_from_flow
from inspector.records import Exchange

__all__ = ["run"]


def _addr(address: Any) -> str | None:
    if not address:
        return None
    host, port = address[0], address[1]
    if ":" in str(host):
        host = f"[{host}]"
    return f"{host}:{port}"


def _forced(address: Any, ws_ports: tuple[str, ...]) -> bool:
    """Whether ``--ws PORT|HOST:PORT`` names this server address."""
    if not address or not ws_ports:
        return False
    host, port = str(address[0]), str(address[1])
    return any(spec == port or spec == f"{host}:{port}" for spec in ws_ports)


def _looks_like_websocket(messages: Any) -> bool:
    """Whether a TCP flow's first client bytes are a run of masked WebSocket frames (the pcap heuristic)."""
    from inspector.sources.pcap import looks_like_frames

    client = b""
    for m in messages:
        if m.from_client:
            client += bytes(m.content)
            if len(client) >= 4096:
                break
    return bool(client) and bool(looks_like_frames(client))


def _content(message: Any) -> bytes | None:
    """Decoded body (gzip/deflate undone, capped: a stored bomb is not inflated); the raw bytes where it
    cannot be decoded here; None if not stored."""
    raw = message.raw_content
    if raw is None:
        return None
    decoded = decode_body(raw, message.headers.get("content-encoding"))
    return raw if decoded is None else decoded


class _Reader:
    def __init__(
        self,
        analysis: Any,
        wanted: frozenset[str] = frozenset(),
        ws_ports: tuple[str, ...] = (),
        prefix: str = "",
        heuristics: bool = True,
    ) -> None:
        self.analysis = analysis
        self.heuristics = heuristics  # decode handshake-less TCP flows whose client bytes look like frames
        self.prefix = prefix  # SourceOptions.conn_prefix: several files in one output
        self.ws_ports = ws_ports  # --ws: TCP flows to these ports / host:port are WebSocket without a 101
        self.wanted = wanted  # --conn: only these conn ids
        self.ids: dict[str, str] = {}  # client_conn.id -> conn id, numbered in order of appearance
        self.conns: dict[str, list] = {}  # client_conn.id -> [conn, ts_end] of announced connections
        self.upgrades: dict[str, Exchange] = {}  # client_conn.id -> 101 exchange waiting for its TCP flow
        self.early_tcp: dict[str, Any] = {}  # client_conn.id -> TCP flow read before its 101 flow
        self.skipped: dict[str, int] = {}
        self.tcp_bytes: dict[str, tuple[int, int]] = {}  # conn -> (client, server) payload bytes

    def conn(self, flow: Any, server: str | None) -> str:
        client = flow.client_conn
        entry = self.conns.get(client.id)
        if entry is None:
            conn = self.ids[client.id]
            entry = self.conns[client.id] = [conn, client.timestamp_end]
            self.analysis.connection(conn, client=_addr(client.peername), server=server, ts=client.timestamp_start)
        if client.timestamp_end is not None:
            entry[1] = client.timestamp_end
        return entry[0]

    def flow(self, flow: Any) -> None:
        conn = self.ids.setdefault(flow.client_conn.id, f"{self.prefix}c{len(self.ids) + 1}")
        if self.wanted and conn not in self.wanted:
            return
        kind = type(flow).__name__
        if kind == "HTTPFlow":
            self.http(flow)
        elif kind == "TCPFlow":
            hs = self.upgrades.pop(flow.client_conn.id, None)
            if hs is None:
                self.early_tcp[flow.client_conn.id] = flow
            else:
                self.tcp(flow, hs)
        else:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1

    def exchange(self, flow: Any) -> tuple[Exchange, bytes | None]:
        req, resp = flow.request, flow.response
        conn = self.conn(flow, _addr((req.host, req.port)))
        return exchange_from_flow(flow, conn), _content(resp) if resp is not None else None

    def http(self, flow: Any) -> None:
        exchange, body = self.exchange(flow)
        resp = flow.response
        upgraded = resp is not None and (resp.status_code == 101 or flow.websocket is not None)
        if flow.websocket is not None:
            ws = self.analysis.websocket(exchange.conn, handshake=exchange, detected_by="handshake")
            data = flow.websocket
            for m in data.messages:
                ws.message("client" if m.from_client else "server", int(m.type), m.content, m.timestamp)
            if data.close_code is not None and data.close_code != 1006:  # 1006: no close frame at all
                payload = b""
                code = data.close_code
                if type(code) is not int or not 0 <= code <= 0xFFFF:  # a damaged file: no close frame can say it
                    self.analysis.warning("flow-close-code-invalid",
                                          f"a recorded close code outside 0-65535 ({str(code)[:20]}) is left out",
                                          exchange.conn)
                else:
                    if code != 1005:  # 1005: a close frame without a status code
                        reason = str(data.close_reason or "").encode("utf-8", "replace")
                        payload = code.to_bytes(2, "big") + reason
                    ws.message("client" if data.closed_by_client else "server", 8, payload, data.timestamp_end)
            ws.end(data.timestamp_end)
        elif upgraded:
            early = self.early_tcp.pop(flow.client_conn.id, None)
            if early is not None:
                self.tcp(early, exchange)
            else:
                self.upgrades[flow.client_conn.id] = exchange
        else:
            handle = self.analysis.begin_exchange(exchange)
            feed_request_body(flow.request, handle, APP_CAP)
            if body:
                handle.body(body, exchange.ts_end)
            handle.end()

    def tcp(self, flow: Any, handshake: Exchange | None) -> None:
        conn = self.conn(flow, _addr(flow.server_conn.address))
        sent = {True: 0, False: 0}
        detected_by = "handshake"
        if handshake is None:
            if _forced(flow.server_conn.address, self.ws_ports):
                detected_by = "--ws"
            elif self.heuristics and _looks_like_websocket(flow.messages):
                detected_by = "heuristic"
            else:
                detected_by = None
        if detected_by is not None:
            ws = self.analysis.websocket(conn, handshake=handshake, detected_by=detected_by)
            for m in flow.messages:
                sent[m.from_client] += len(m.content)
                ws.data("client" if m.from_client else "server", bytes(m.content), m.timestamp)
            ws.end(flow.server_conn.timestamp_end or flow.client_conn.timestamp_end)
        else:
            for m in flow.messages:
                sent[m.from_client] += len(m.content)
        self.tcp_bytes[conn] = (sent[True], sent[False])

    def finish(self) -> None:
        for client_id, exchange in list(self.upgrades.items()):
            # A 101 whose raw TCP flow is not in the file: the handshake alone.
            self.analysis.websocket(exchange.conn, handshake=exchange, detected_by="handshake").end(exchange.ts_end)
        for flow in list(self.early_tcp.values()):
            self.tcp(flow, None)
        for conn, ts_end in self.conns.values():
            counters = {}
            if conn in self.tcp_bytes:
                counters = {"bytes_client": self.tcp_bytes[conn][0], "bytes_server": self.tcp_bytes[conn][1]}
            self.analysis.connection_end(conn, ts_end, **counters)
        for kind, count in self.skipped.items():
            self.analysis.warning("flows-unsupported", f"{kind} flows are not analysed", count=count)


def _host_matches(flow: Any, hosts: frozenset[str]) -> bool:
    names = set()
    for address in (flow.client_conn.peername, flow.server_conn.address, flow.server_conn.peername):
        if address:
            names.add(str(address[0]))
            names.add(f"{address[0]}:{address[1]}")
    request = getattr(flow, "request", None)
    if request is not None:
        names.update((request.host, f"{request.host}:{request.port}", request.pretty_host))
    return not names.isdisjoint(hosts)


#: what mitmproxy's reader raises on a damaged file: tnetstring and flow-state decoding (its compat
#: migrations index and call into whatever the file holds), numbers too big, nesting too deep
_DAMAGED = (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError, RecursionError)


def _stream(flows, read_error: type[Exception]):
    """The flows of mitmproxy's reader; a damaged file ends it with a one-line `InputError`."""
    count = 0
    while True:
        try:
            flow = next(flows)
        except StopIteration:
            return
        except read_error as exc:
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "unreadable"
            raise InputError(f"mitmproxy flow file: {message} (after {count} flows)") from None
        except _DAMAGED as exc:
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise InputError(f"mitmproxy flow file is damaged after {count} flows: {message}") from None
        count += 1
        yield flow


def run(path, analysis, options=None) -> None:
    """Read the mitmproxy flow file at ``path`` into ``analysis`` (which the caller finishes).

    ``options`` (`inspector.sources.SourceOptions`): ``hosts`` keeps only flows whose client, server or
    HTTP host matches; ``conns`` only those connection ids (``c<n>`` after ``conn_prefix``, numbered over
    the kept flows);
    ``ws`` decodes TCP flows to those ports (or host:port) as WebSocket without a handshake, and so does
    ``heuristics`` for TCP flows whose client bytes look like masked frames;
    ``progress`` is told how many input bytes were consumed.  gzip-compressed dumps are read as well.
    """
    from mitmproxy import exceptions, io

    from inspector.sources import open_binary

    conns = getattr(options, "conns", None) or frozenset()
    hosts = getattr(options, "hosts", None) or frozenset()
    progress = getattr(options, "progress", None)
    ws_ports = tuple(getattr(options, "ws", None) or ())
    heuristics = getattr(options, "heuristics", True)
    reader = _Reader(analysis, conns, ws_ports, getattr(options, "conn_prefix", "") or "", heuristics)
    count = 0
    position = 0
    with open_binary(str(path)) as f:
        for flow in _stream(io.FlowReader(f).stream(), exceptions.FlowReadException):
            count += 1
            if not hosts or _host_matches(flow, hosts):
                reader.flow(flow)
            if progress is not None:
                now = f.tell()
                progress(now - position)
                position = now
    reader.finish()
