"""The Analysis pipeline, fed with what real peers put on the wire (tests/helpers/servers.py).

Truth: the bytes the aiohttp server wrote (recorded as it wrote them), what the aiohttp clients received
and sent, and the raw TCP bytes a recording proxy relayed; never our own output.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.servers import ProxiedConnection, Recorder, RecordingProxy, polling_app, serve, short_poll, sse_client
from inspector import records
from inspector.analysis import Analysis, Options


def _of(out, kind):
    return [r for r in out if isinstance(r, kind)]


@pytest.fixture(scope="module")
def http_run():
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder, per_connection=3)) as base:
            _, seen = await asyncio.gather(short_poll(base, count=5, interval=0.2), sse_client(base, connections=2))
            return seen

    seen = asyncio.run(scenario())
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True))
    recorder.feed(analysis)
    assert not analysis._conns  # every connection ended: no per-connection state left
    analysis.finish()
    return recorder, out, seen


def test_exchange_bodies_hashed_and_counted(http_run):
    recorder, out, _ = http_run
    exchanges = _of(out, records.Exchange)
    assert len(exchanges) == len(recorder.recorded) == 7
    for ex, rec in zip(sorted(exchanges, key=lambda e: e.ts_request), sorted(recorder.recorded, key=lambda r: r.exchange.ts_request)):
        body = b"".join(c for _, c in rec.chunks)
        assert ex.response_body_bytes == len(body)
        if ex.content_type.startswith("text/event-stream"):
            assert ex.response_sha256 is None  # event streams are parsed, not hashed
        else:
            assert ex.response_sha256 == hashlib.sha256(body).hexdigest()


def test_connections_carry_protocol_and_counts(http_run):
    recorder, out, _ = http_run
    conns = {c.conn: c for c in _of(out, records.Connection)}
    assert set(conns) == {r.exchange.conn for r in recorder.recorded}
    for conn in conns.values():
        mine = [r for r in recorder.recorded if r.exchange.conn == conn.conn]
        assert conn.exchanges == len(mine)
        assert conn.source == "live" and conn.client == mine[0].client
        assert conn.ts_start <= conn.ts_end
        is_sse = any("/events" in r.exchange.url for r in mine)
        assert conn.protocol == ("sse" if is_sse else "http")


def test_sse_events_match_what_the_client_read(http_run):
    _, out, seen = http_run
    events = _of(out, records.SseEvent)
    assert [(e.id, e.data, e.event) for e in events] == [(e["id"], e["data"], "tick") for e in seen]
    streams = _of(out, records.SseStream)
    assert [s.events for s in streams] == [3, 3]
    assert streams[0].resumed is None and streams[1].request_last_event_id == "3" and streams[1].resumed is True
    assert streams[1].retry == 100


def test_patterns_and_no_warnings_at_finish(http_run):
    _, out, _ = http_run
    assert {p.pattern for p in _of(out, records.Pattern)} == {"short-polling", "sse"}
    assert _of(out, records.WarningRecord) == []
    # Pattern records come after every Connection record
    kinds = [type(r) for r in out]
    assert max(i for i, k in enumerate(kinds) if k is records.Connection) < kinds.index(records.Pattern)


# -- WebSocket from raw bytes ----------------------------------------------------------------------------


def _head(data: bytes) -> tuple[str, list[tuple[str, str]], int]:
    end = data.index(b"\r\n\r\n")
    first, *lines = data[:end].decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    return first, headers, end + 4


def _feed_proxied(analysis: Analysis, conn: ProxiedConnection, server: str) -> None:
    """What a pcap source does for one upgraded connection: heads -> exchange -> websocket bytes."""
    client_bytes = b"".join(d for direction, _, d in conn.chunks if direction == "client")
    server_bytes = b"".join(d for direction, _, d in conn.chunks if direction == "server")
    request_line, request_headers, req_len = _head(client_bytes)
    status_line, response_headers, resp_len = _head(server_bytes)
    method, target, version = request_line.split(" ", 2)
    first_ts = {d: next(ts for direction, ts, _ in conn.chunks if direction == d) for d in ("client", "server")}
    cid = f"proxy:{conn.client}"
    analysis.connection(cid, conn.client, server, conn.ts_start)
    handshake = records.Exchange(
        conn=cid, method=method, url=f"http://{server}{target}", status=int(status_line.split(" ")[1]),
        content_type=None, ts_request=first_ts["client"], ts_response=first_ts["server"], ts_end=first_ts["server"],
        request_body_bytes=0, response_body_bytes=0, http_version=version,
        request_headers=request_headers, response_headers=response_headers,
    )
    ws = analysis.websocket(cid, handshake=handshake)
    skip = {"client": req_len, "server": resp_len}
    for direction, ts, data in conn.chunks:
        cut = min(skip[direction], len(data))
        skip[direction] -= cut
        if data[cut:]:
            ws.data(direction, data[cut:], ts)
    analysis.connection_end(cid, conn.ts_end, bytes_client=len(client_bytes), bytes_server=len(server_bytes))


def _websocket_session(compress: int) -> tuple[RecordingProxy, str, list, list]:
    recorder = Recorder()
    texts = ["one", "two" * 50, "héllo \x1b[31m"]

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            upstream = base.split("://", 1)[1]
            async with RecordingProxy(upstream) as proxy:
                received = []
                async with aiohttp.ClientSession() as session:
                    async with session.ws_connect(
                        f"http://{proxy.address}/ws", protocols=("chat",), compress=compress
                    ) as socket:
                        for text in texts:
                            await socket.send_str(text)
                            received.append((await socket.receive()).data)
                        await socket.send_bytes(b"\x00\x01")
                await asyncio.sleep(0.2)
                return proxy, upstream, received

    proxy, upstream, received = asyncio.run(scenario())
    return proxy, upstream, texts, received


@pytest.mark.parametrize("compress", [0, 15])
def test_websocket_bytes_through_the_pipeline(compress):
    proxy, upstream, texts, received = _websocket_session(compress)
    assert received == texts
    (conn,) = proxy.connections
    for frames in (True, False):
        out: list = []
        analysis = Analysis(out.append, source="pcap", options=Options(strict=True, frames=frames))
        _feed_proxied(analysis, conn, upstream)
        analysis.finish()
        (hs,) = _of(out, records.Handshake)
        assert hs.valid and hs.subprotocol == "chat"
        assert any(e.startswith("permessage-deflate") for e in hs.extensions) == bool(compress)
        messages = _of(out, records.Message)
        for direction in ("client", "server"):
            mine = [m for m in messages if m.direction == direction]
            assert [m.text for m in mine if m.opcode_name == "text"] == texts
            assert mine[-1].opcode_name == "close"
            assert all(bool(m.compressed) == bool(compress) for m in mine if m.opcode_name == "text")
        assert [m.opcode_name for m in messages if m.direction == "client"].count("binary") == 1
        frame_records = _of(out, records.Frame)
        if frames:
            assert {f.direction for f in frame_records} == {"client", "server"}
            assert all(f.masked == (f.direction == "client") for f in frame_records)
            assert all(f.violations == [] for f in frame_records)
        else:
            assert frame_records == []
        (c,) = _of(out, records.Connection)
        assert c.protocol == "websocket" and c.detected_by == "handshake" and c.exchanges == 1
        assert c.bytes_client == sum(len(d) for dr, _, d in conn.chunks if dr == "client")
        (ex,) = _of(out, records.Exchange)
        assert ex.status == 101
        (p,) = _of(out, records.Pattern)
        assert p.pattern == "websocket" and p.endpoint == f"GET http://{upstream}/ws"


# -- contract details ------------------------------------------------------------------------------------


def _ws_exchange(conn="w1"):
    return records.Exchange(
        conn=conn, method="GET", url="http://h/ws", status=101, content_type=None, ts_request=1.0,
        ts_response=1.01, ts_end=1.01, request_body_bytes=0, response_body_bytes=0, http_version="HTTP/1.1",
        request_headers=[
            ("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ],
        response_headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ],
    )


def test_handshake_exchange_emitted_once():
    out: list = []
    analysis = Analysis(out.append, source="flows", options=Options(strict=True))
    ex = _ws_exchange()
    analysis.begin_exchange(ex).end()
    analysis.websocket("w1", handshake=ex).message("server", 1, b"hi", 1.5)
    analysis.finish()
    assert len(_of(out, records.Exchange)) == 1
    assert _of(out, records.Handshake)[0].valid
    assert [m.text for m in _of(out, records.Message)] == ["hi"]
    assert _of(out, records.Connection)[0].exchanges == 1
    assert [p.requests for p in _of(out, records.Pattern)] == [1]


def test_forced_websocket_without_handshake():
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    analysis.connection("t1", "10.0.0.1:5000", "10.0.0.2:9000", 5.0)
    ws = analysis.websocket("t1", handshake=None, detected_by="--ws")
    ws.data("server", b"\x81\x02hi", 5.1)
    ws.data("client", b"\x81\x02hi", 5.2)  # unmasked client frame: a violation
    analysis.connection_end("t1", 6.0)
    analysis.finish()
    (c,) = _of(out, records.Connection)
    assert (c.protocol, c.detected_by, c.exchanges) == ("websocket", "--ws", 0)
    client_frame = next(f for f in _of(out, records.Frame) if f.direction == "client")
    assert client_frame.violations == ["client-frame-unmasked"]
    assert _of(out, records.Handshake) == []
    (p,) = _of(out, records.Pattern)
    assert (p.pattern, p.endpoint) == ("websocket", "GET ws://10.0.0.2:9000/")


class _ManySink(list):
    """A sink with `write_many`, as `JsonlWriter` has: records arrive in lists too."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    __call__ = list.append

    def write_many(self, records):
        self.batches += 1
        self.extend(records)


def _deflate_chunks() -> list[tuple[bytes, float]]:
    """Client bytes of a permessage-deflate WebSocket written by wsproto: a small message, one over
    ``max_message`` = 1000 (an inflate-limit warning among the records), a ping, a fragmented message
    (which context takeover cannot inflate after the limit: a second warning)."""
    from wsproto.extensions import PerMessageDeflate
    from wsproto.frame_protocol import FrameProtocol

    pmd = PerMessageDeflate()
    pmd._enabled = True
    client = FrameProtocol(client=True, extensions=[pmd])
    return [
        (client.send_data("small"), 2.0),
        (client.send_data("x" * 5000), 2.1),
        (client.ping(b"p") + client.send_data("first ", fin=False) + client.send_data("last"), 2.2),
    ]


def _deflate_session(analysis: Analysis, chunks: list[tuple[bytes, float]]) -> None:
    ex = _ws_exchange()
    ex.request_headers.append(("Sec-WebSocket-Extensions", "permessage-deflate"))
    ex.response_headers.append(("Sec-WebSocket-Extensions", "permessage-deflate"))
    ws = analysis.websocket("w1", handshake=ex)
    for data, ts in chunks:
        ws.data("client", data, ts)
    analysis.finish()


@pytest.mark.parametrize("frames", [True, False])
def test_sink_with_write_many_gets_the_same_records(frames):
    """`Analysis` hands an analyser's records to ``write_many`` in one call: same records, same order
    as one call each (warnings still aggregated, Frame records dropped when not wanted)."""
    options = Options(strict=True, frames=frames, max_message=1000)
    chunks = _deflate_chunks()
    single: list = []
    _deflate_session(Analysis(single.append, source="pcap", options=options), chunks)
    many = _ManySink()
    _deflate_session(Analysis(many, source="pcap", options=options), chunks)
    assert many.batches > 0
    assert [records.to_dict(r) for r in many] == [records.to_dict(r) for r in single]
    messages = _of(single, records.Message)
    assert [(m.opcode_name, m.text, m.inflate_error) for m in messages] == [
        ("text", "small", None), ("text", "", "limit"), ("ping", None, None), ("text", "", "context-lost")]
    assert [w.name for w in _of(single, records.WarningRecord)] == ["inflate-limit", "inflate-context-lost"]
    assert bool(_of(single, records.Frame)) is frames


def test_websocket_data_bug_is_contained_unless_strict(monkeypatch):
    import inspector.ws.stream

    def broken(self, direction, data, ts=None):
        raise ValueError("bad state")

    monkeypatch.setattr(inspector.ws.stream.WebSocketStream, "feed", broken)
    out: list = []
    analysis = Analysis(out.append, source="pcap")
    ws = analysis.websocket("w1", handshake=_ws_exchange())
    ws.data("server", b"\x81\x02hi", 2.0)
    ws.data("server", b"\x81\x02hi", 3.0)  # the stream was stopped: not fed again
    analysis.finish()
    (w,) = _of(out, records.WarningRecord)
    assert w.name == "internal-error" and w.count == 1 and "ValueError: bad state" in w.message
    assert _of(out, records.Connection)[0].ts_end == 3.0  # the bytes' time still counts
    strict = Analysis([].append, source="pcap", options=Options(strict=True))
    with pytest.raises(ValueError, match="bad state"):
        strict.websocket("w1", handshake=_ws_exchange()).data("server", b"\x81\x02hi", 2.0)


def test_warnings_aggregated_by_name():
    out: list = []
    echoed: list = []
    analysis = Analysis(out.append, source="pcap", on_warning=lambda n, m: echoed.append(n))
    for _ in range(3):
        analysis.warning("pcap-truncated", "capture ends inside a packet record")
    analysis.warning("other", "x", conn="c9")
    analysis.finish()
    assert echoed == ["pcap-truncated", "other"]
    got = {w.name: (w.count, w.conn) for w in _of(out, records.WarningRecord)}
    assert got == {"pcap-truncated": (3, None), "other": (1, "c9")}


def test_finish_ends_what_is_open():
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True))
    analysis.connection("c1", "a:1", "b:2", 10.0)
    ex = records.Exchange(
        conn="c1", method="GET", url="http://b:2/events", status=200, content_type="text/event-stream",
        ts_request=10.0, ts_response=10.1, ts_end=None, request_body_bytes=0, response_body_bytes=None,
    )
    h = analysis.begin_exchange(ex)
    h.body(b"data: a\n\ndata: unterminated", 11.0)
    analysis.finish()
    analysis.finish()  # idempotent
    (emitted,) = _of(out, records.Exchange)
    assert emitted.ts_end == 11.0 and emitted.response_body_bytes == len(b"data: a\n\ndata: unterminated")
    assert [e.data for e in _of(out, records.SseEvent)] == ["a"]
    assert len(_of(out, records.SseStream)) == 1 and len(_of(out, records.Connection)) == 1
    assert _of(out, records.Connection)[0].protocol == "sse"


def test_empty_body_is_hashed_and_unknown_body_is_not():
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    base = dict(conn="c", method="GET", url="http://h/x", status=204, content_type=None, ts_request=1.0,
                ts_response=1.1, ts_end=1.1, request_body_bytes=0)
    analysis.begin_exchange(records.Exchange(**base, response_body_bytes=0)).end()
    analysis.begin_exchange(records.Exchange(**{**base, "status": 200}, response_body_bytes=None)).end()
    analysis.finish()
    empty, unknown = _of(out, records.Exchange)
    assert empty.response_sha256 == hashlib.sha256(b"").hexdigest()
    assert unknown.response_sha256 is None and unknown.response_body_bytes is None


def test_analyser_bug_is_contained_unless_strict(monkeypatch):
    import inspector.sse

    def broken(self, data, ts=None):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(inspector.sse.parser.SseStreamAnalysis, "feed", broken)
    ex = records.Exchange(
        conn="c1", method="GET", url="http://h/e", status=200, content_type="text/event-stream",
        ts_request=1.0, ts_response=1.0, ts_end=None, request_body_bytes=0, response_body_bytes=None,
    )
    out: list = []
    analysis = Analysis(out.append, source="live")
    h = analysis.begin_exchange(ex)
    h.body(b"data: x\n\n", 2.0)
    h.body(b"data: y\n\n", 3.0)
    h.end(ts_end=3.0)
    analysis.finish()
    (w,) = _of(out, records.WarningRecord)
    assert w.name == "internal-error" and w.count == 1 and "RuntimeError: boom" in w.message
    assert "\n" not in w.message
    assert len(_of(out, records.Exchange)) == 1
    strict = Analysis([].append, source="live", options=Options(strict=True))
    with pytest.raises(RuntimeError):
        strict.begin_exchange(ex).body(b"data: x\n\n", 2.0)


def test_extended_connect_websocket_is_classified_as_websocket():
    """RFC 8441: a 200 to an extended CONNECT opens the WebSocket (HAR and HTTP/2 sources)."""
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    ex = records.Exchange(
        conn="h1", method="CONNECT", url="wss://h/chat", status=200, content_type=None, ts_request=1.0,
        ts_response=1.1, ts_end=None, request_body_bytes=0, response_body_bytes=0, http_version="HTTP/2.0",
        request_headers=[(":protocol", "websocket"), ("sec-websocket-version", "13")],
    )
    analysis.begin_exchange(ex).end()  # a source may pass it through begin_exchange first
    analysis.websocket("h1", handshake=ex).message("client", 1, b"x", 1.2)
    analysis.begin_exchange(records.Exchange(**{**{f: getattr(ex, f) for f in ex.__struct_fields__}, "conn": "h2"})).end()
    analysis.finish()
    (hs,) = _of(out, records.Handshake)
    assert hs.mode == "rfc8441"
    assert len(_of(out, records.Exchange)) == 2
    # h1's CONNECT opened a WebSocket; h2's (never upgraded) is a plain request, reported apart
    got = sorted((p.endpoint, p.pattern, p.requests) for p in _of(out, records.Pattern))
    assert got == [("CONNECT wss://h/chat", "request-response", 1), ("CONNECT wss://h/chat", "websocket", 1)]


def test_failed_eventsource_attempt_reports_why():
    """What an EventSource got instead of a stream (real aiohttp 404 page) gets an SseStream with findings."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{base}/no-such-stream", headers={"Accept": "text/event-stream"}) as r:
                    await r.read()
                async with session.get(f"{base}/empty", headers={"Accept": "text/event-stream"}) as r:
                    await r.read()

    asyncio.run(scenario())
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True))
    recorder.feed(analysis)
    analysis.finish()
    streams = {s.url.rsplit("/", 1)[-1]: {f.name for f in s.findings} for s in _of(out, records.SseStream)}
    assert "sse-status-not-200" in streams["no-such-stream"] and "sse-content-type-wrong" in streams["no-such-stream"]
    assert "sse-status-204" in streams["empty"]
    assert {c.protocol for c in _of(out, records.Connection)} == {"http"}
    assert _of(out, records.SseEvent) == []


# -- any order of calls, any bytes ------------------------------------------------------------------------

_CTYPES = [None, "text/event-stream", "application/json", "application/x-ndjson", "text/event-stream; charset=latin1"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_call_sequence_keeps_the_contract(data):
    """Sources may call in any order and feed any bytes: never an exception (strict: analyser bugs
    surface), one Connection record per connection, each exchange emitted once, state dropped at the end."""
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True, view_cap=16))
    conns = ["a", "b", "c"]
    handles: list = []
    sockets: dict = {}
    t = 0.0
    for _ in range(data.draw(st.integers(0, 25))):
        t += data.draw(st.floats(0, 2))
        conn = data.draw(st.sampled_from(conns))
        op = data.draw(st.sampled_from(["connection", "exchange", "body", "end", "ws", "ws_hs", "ws_data", "ws_msg", "gap", "close", "warn"]))
        if op == "connection":
            analysis.connection(conn, "10.0.0.1:1", "10.0.0.2:80", t)
        elif op == "exchange":
            status = data.draw(st.sampled_from([None, 101, 200, 204, 304, 404]))
            ex = records.Exchange(
                conn=conn, method=data.draw(st.sampled_from(["GET", "POST", "CONNECT"])),
                url=f"http://h/{data.draw(st.sampled_from(['p', 'q', 'socket.io/']))}?_={t}", status=status,
                content_type=data.draw(st.sampled_from(_CTYPES)), ts_request=t, ts_response=t if status else None,
                ts_end=None, request_body_bytes=0, response_body_bytes=None,
                request_headers=[("Accept", "text/event-stream")] if data.draw(st.booleans()) else [],
            )
            handles.append(analysis.begin_exchange(ex))
        elif op == "body" and handles:
            data.draw(st.sampled_from(handles)).body(data.draw(st.binary(max_size=40) | st.just(b"data: x\n\n")), t)
        elif op == "end" and handles:
            data.draw(st.sampled_from(handles)).end(ts_end=t)
        elif op == "ws":
            sockets[conn] = analysis.websocket(conn, handshake=None, detected_by="--ws")
        elif op == "ws_hs":  # a 101, maybe also passed through begin_exchange first
            hs = _ws_exchange(conn)
            if data.draw(st.booleans()):
                handles.append(analysis.begin_exchange(hs))
                if data.draw(st.booleans()):
                    handles[-1].end()
            sockets[conn] = analysis.websocket(conn, handshake=hs)
        elif op == "ws_data" and conn in sockets:
            sockets[conn].data(data.draw(st.sampled_from(["client", "server"])), data.draw(st.binary(max_size=40)), t)
        elif op == "ws_msg" and conn in sockets:
            sockets[conn].message("server", data.draw(st.sampled_from([1, 2, 8, 9])), data.draw(st.binary(max_size=20)), t)
        elif op == "gap" and conn in sockets:
            sockets[conn].gap("client")
        elif op == "close":
            analysis.connection_end(conn, t)
            sockets.pop(conn, None)
        elif op == "warn":
            analysis.warning("w", "m", conn)
    analysis.finish()
    assert not analysis._conns
    exchanges = [r for r in out if isinstance(r, records.Exchange)]
    handshakes = sum(isinstance(r, records.Handshake) for r in out)
    assert len(exchanges) <= len(handles) + handshakes  # each exchange is emitted at most once
    assert all(h._done for h in handles)  # finish() ended every one
    since_end: dict[str, int] = {}
    for record in out:
        records.to_dict(record)  # every record encodes
        if isinstance(record, records.Exchange):
            since_end[record.conn] = since_end.get(record.conn, 0) + 1
        elif isinstance(record, records.Connection):
            assert record.exchanges == since_end.pop(record.conn, 0)
            assert record.ts_start is None or record.ts_end is None or record.ts_start <= record.ts_end
    assert since_end == {}  # no exchange emitted outside a connection's lifetime


# -- failed upgrade attempts (every source) ----------------------------------------------------------------


async def _refusing_ws_server():
    """A real `websockets` server that refuses: /private with 403 (an Origin check), /v8 with 426 and the
    version it speaks (RFC 6455 4.4), as `process_request` lets an application do."""
    from http import HTTPStatus

    from websockets.asyncio.server import serve as ws_serve

    def process_request(connection, request):
        if request.path == "/private":
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if request.path == "/v8":
            response = connection.respond(HTTPStatus.UPGRADE_REQUIRED, "speak version 13\n")
            response.headers["Sec-WebSocket-Version"] = "13"
            return response
        return None

    async def handler(ws):
        await ws.close()

    return await ws_serve(handler, "127.0.0.1", 0, process_request=process_request)


async def _silent_server():
    """Reads the request head, then closes without answering."""

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _raw_upgrade(version: str) -> bytes:
    return (
        "GET /v8 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


async def _upgrade_attempts(ws_port: int, silent_port: int, via: dict[int, str] | None = None) -> dict[str, object]:
    """Three refused attempts: the websockets client to /private (403), a raw version-8 request to /v8
    (426), the websockets client to a server that never answers.  ``via`` maps a port to a proxy address.
    Returns what each client saw (the truth)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidMessage, InvalidStatus

    def addr(port):
        return (via or {}).get(port, f"127.0.0.1:{port}")

    seen: dict[str, object] = {}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{addr(ws_port)}/private", open_timeout=10):
            pass
    seen["private"] = refused.value.response.status_code
    host, port = addr(ws_port).rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(_raw_upgrade("8"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    await reader.read()  # the server closes after its refusal (Connection: close)
    writer.close()
    seen["v8"] = head
    with pytest.raises(InvalidMessage):
        async with connect(f"ws://{addr(silent_port)}/gone", open_timeout=10):
            pass
    seen["gone"] = None
    return seen


def _feed_http(analysis: Analysis, conn: ProxiedConnection, server: str) -> None:
    """What a source with whole exchanges does for one recorded HTTP/1.1 connection: one exchange (no
    response when the server sent nothing), then the connection's end."""
    client_bytes = b"".join(d for direction, _, d in conn.chunks if direction == "client")
    server_bytes = b"".join(d for direction, _, d in conn.chunks if direction == "server")
    request_line, request_headers, _ = _head(client_bytes)
    method, target, version = request_line.split(" ", 2)
    ts = {d: next((t for direction, t, _ in conn.chunks if direction == d), None) for d in ("client", "server")}
    status, response_headers = None, []
    if server_bytes:
        status_line, response_headers, _ = _head(server_bytes)
        status = int(status_line.split(" ")[1])
    cid = f"proxy:{conn.client}"
    analysis.connection(cid, conn.client, server, conn.ts_start)
    exchange = records.Exchange(
        conn=cid, method=method, url=f"http://{server}{target}", status=status, content_type=None,
        ts_request=ts["client"], ts_response=ts["server"], ts_end=conn.ts_end if status else None,
        request_body_bytes=0, response_body_bytes=None, http_version=version,
        request_headers=request_headers, response_headers=response_headers,
    )
    analysis.begin_exchange(exchange).end()
    if status is not None:  # a source that hands the refused handshake to websocket() too: still one record
        assert analysis.websocket(cid, handshake=exchange)._done
    analysis.connection_end(cid, conn.ts_end)


def _check_refusals(handshakes: dict[str, dict], connections: list[dict]) -> None:
    """One invalid Handshake per attempt, named by what the peers did."""
    assert set(handshakes) == {"private", "v8", "gone"}
    assert {k: (h["valid"], h["status"]) for k, h in handshakes.items()} == {
        "private": (False, 403), "v8": (False, 426), "gone": (False, None),
    }
    names = {k: {f["name"] for f in h["findings"]} for k, h in handshakes.items()}
    assert names["private"] == {"unexpected-status"}
    assert "403 Forbidden" in handshakes["private"]["findings"][0]["message"]
    # 426 naming the version the server speaks, and the one the client asked for (RFC 6455 4.4)
    assert names["v8"] == {"version-not-supported", "request-version-unsupported"}
    v8 = next(f["message"] for f in handshakes["v8"]["findings"] if f["name"] == "version-not-supported")
    assert "Sec-WebSocket-Version 13" in v8 and "asked for 8" in v8
    assert names["gone"] == {"no-response"}
    assert len(connections) == 3 and {c["protocol"] for c in connections} == {"http"}


def test_refused_upgrades_are_handshake_records_through_the_pipeline():
    async def scenario():
        ws_server, silent = await _refusing_ws_server(), await _silent_server()
        ws_port = ws_server.sockets[0].getsockname()[1]
        silent_port = silent.sockets[0].getsockname()[1]
        try:
            async with RecordingProxy(f"127.0.0.1:{ws_port}") as ws_proxy, RecordingProxy(
                f"127.0.0.1:{silent_port}"
            ) as silent_proxy:
                seen = await _upgrade_attempts(
                    ws_port, silent_port, via={ws_port: ws_proxy.address, silent_port: silent_proxy.address}
                )
                await asyncio.sleep(0.1)
                return seen, ws_proxy, silent_proxy, ws_port, silent_port
        finally:
            ws_server.close()
            silent.close()

    seen, ws_proxy, silent_proxy, ws_port, silent_port = asyncio.run(scenario())
    assert seen["private"] == 403 and seen["v8"].startswith(b"HTTP/1.1 426")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in seen["v8"]
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    for proxy, port in ((ws_proxy, ws_port), (silent_proxy, silent_port)):
        for conn in proxy.connections:
            _feed_http(analysis, conn, f"127.0.0.1:{port}")
    analysis.finish()
    handshakes = [records.to_dict(h) for h in _of(out, records.Handshake)]
    assert len(handshakes) == 3
    _check_refusals(
        {h["url"].rsplit("/", 1)[-1]: h for h in handshakes}, [records.to_dict(c) for c in _of(out, records.Connection)]
    )
    # each Handshake record comes just before its Exchange record, which is emitted once
    kinds = [type(r) for r in out if type(r) in (records.Handshake, records.Exchange)]
    assert kinds == [records.Handshake, records.Exchange] * 3
    assert {p.pattern for p in _of(out, records.Pattern)} == {"request-response"}


def _tcpdump():
    import importlib.util
    import shutil

    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed")
    path = Path(__file__).resolve().parents[1] / "fixtures" / "pcap" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("_make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Tcpdump


def test_refused_upgrades_in_a_capture(tmp_path):
    """The same attempts captured with tcpdump on lo (as fixtures/pcap/make_fixtures.py captures), then
    `inspector analyze --jsonl` as a user runs it."""
    Tcpdump = _tcpdump()
    pcap = tmp_path / "refused.pcap"

    async def scenario():
        ws_server, silent = await _refusing_ws_server(), await _silent_server()
        ws_port = ws_server.sockets[0].getsockname()[1]
        silent_port = silent.sockets[0].getsockname()[1]
        try:
            async with Tcpdump(pcap, f"tcp port {ws_port} or tcp port {silent_port}"):
                return await _upgrade_attempts(ws_port, silent_port)
        finally:
            ws_server.close()
            silent.close()

    try:
        seen = asyncio.run(scenario())
    except (RuntimeError, PermissionError) as exc:
        pytest.skip(f"tcpdump cannot capture here: {exc}")
    assert seen["private"] == 403 and seen["v8"].startswith(b"HTTP/1.1 426")
    p = subprocess.run(
        [sys.executable, "-m", "inspector", "analyze", "--jsonl", str(pcap)],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    recs = [json.loads(line) for line in p.stdout.splitlines() if line]
    handshakes = [r for r in recs if r["type"] == "handshake"]
    assert len(handshakes) == 3
    _check_refusals(
        {h["url"].rsplit("/", 1)[-1]: h for h in handshakes}, [r for r in recs if r["type"] == "connection"]
    )
