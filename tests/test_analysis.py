"""The Analysis pipeline, fed with what real peers put on the wire (tests/_servers.py).

Truth: the bytes the aiohttp server wrote (recorded as it wrote them), what the aiohttp clients received
and sent, and the raw TCP bytes a recording proxy relayed; never our own output.
"""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _servers import ProxiedConnection, Recorder, RecordingProxy, polling_app, serve, short_poll, sse_client
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
    assert _of(out, records.Warning) == []
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


def test_warnings_aggregated_by_name():
    out: list = []
    echoed: list = []
    analysis = Analysis(out.append, source="pcap", on_warning=lambda n, m: echoed.append(n))
    for _ in range(3):
        analysis.warning("pcap-truncated", "capture ends inside a packet record")
    analysis.warning("other", "x", conn="c9")
    analysis.finish()
    assert echoed == ["pcap-truncated", "other"]
    got = {w.name: (w.count, w.conn) for w in _of(out, records.Warning)}
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

    monkeypatch.setattr(inspector.sse.SseStreamAnalysis, "feed", broken)
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
    (w,) = _of(out, records.Warning)
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
