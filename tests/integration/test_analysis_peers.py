"""The Analysis pipeline fed with what real peers put on the wire (tests/helpers/servers.py), through a
recording proxy, and from a tcpdump capture.

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
from helpers.offline import records_of
from helpers.pipeline import feed_proxied, split_head, websocket_session
from helpers.servers import (
    ProxiedConnection,
    Recorder,
    RecordingProxy,
    polling_app,
    serve,
    short_poll,
    sse_client,
)
from helpers.tools import require

from inspector import records
from inspector.analysis import Analysis, Options


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


def _raw_upgrade(version: str) -> bytes:
    return (
        "GET /v8 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


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
    request_line, request_headers, _ = split_head(client_bytes)
    method, target, version = request_line.split(" ", 2)
    ts = {d: next((t for direction, t, _ in conn.chunks if direction == d), None) for d in ("client", "server")}
    status, response_headers = None, []
    if server_bytes:
        status_line, response_headers, _ = split_head(server_bytes)
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


def _tcpdump():
    import importlib.util

    require("tcpdump")
    path = Path(__file__).resolve().parents[2] / "fixtures" / "pcap" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("_make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Tcpdump


def test_exchange_bodies_hashed_and_counted(http_run):
    recorder, out, _ = http_run
    exchanges = records_of(out, records.Exchange)
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
    conns = {c.conn: c for c in records_of(out, records.Connection)}
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
    events = records_of(out, records.SseEvent)
    assert [(e.id, e.data, e.event) for e in events] == [(e["id"], e["data"], "tick") for e in seen]
    streams = records_of(out, records.SseStream)
    assert [s.events for s in streams] == [3, 3]
    assert streams[0].resumed is None and streams[1].request_last_event_id == "3" and streams[1].resumed is True
    assert streams[1].retry == 100


def test_patterns_and_no_warnings_at_finish(http_run):
    _, out, _ = http_run
    assert {p.pattern for p in records_of(out, records.Pattern)} == {"short-polling", "sse"}
    assert records_of(out, records.WarningRecord) == []
    # Pattern records come after every Connection record
    kinds = [type(r) for r in out]
    assert max(i for i, k in enumerate(kinds) if k is records.Connection) < kinds.index(records.Pattern)


@pytest.mark.parametrize("compress", [0, 15])
def test_websocket_bytes_through_the_pipeline(compress):
    proxy, upstream, texts, received = websocket_session(compress)
    assert received == texts
    (conn,) = proxy.connections
    for frames in (True, False):
        out: list = []
        analysis = Analysis(out.append, source="pcap", options=Options(strict=True, frames=frames))
        feed_proxied(analysis, conn, upstream)
        analysis.finish()
        (hs,) = records_of(out, records.Handshake)
        assert hs.valid and hs.subprotocol == "chat"
        assert any(e.startswith("permessage-deflate") for e in hs.extensions) == bool(compress)
        messages = records_of(out, records.Message)
        for direction in ("client", "server"):
            mine = [m for m in messages if m.direction == direction]
            assert [m.text for m in mine if m.opcode_name == "text"] == texts
            assert mine[-1].opcode_name == "close"
            assert all(bool(m.compressed) == bool(compress) for m in mine if m.opcode_name == "text")
        assert [m.opcode_name for m in messages if m.direction == "client"].count("binary") == 1
        frame_records = records_of(out, records.Frame)
        if frames:
            assert {f.direction for f in frame_records} == {"client", "server"}
            assert all(f.masked == (f.direction == "client") for f in frame_records)
            assert all(f.violations == [] for f in frame_records)
        else:
            assert frame_records == []
        (c,) = records_of(out, records.Connection)
        assert c.protocol == "websocket" and c.detected_by == "handshake" and c.exchanges == 1
        assert c.bytes_client == sum(len(d) for dr, _, d in conn.chunks if dr == "client")
        (ex,) = records_of(out, records.Exchange)
        assert ex.status == 101
        (p,) = records_of(out, records.Pattern)
        assert p.pattern == "websocket" and p.endpoint == f"GET http://{upstream}/ws"


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
    streams = {s.url.rsplit("/", 1)[-1]: {f.name for f in s.findings} for s in records_of(out, records.SseStream)}
    assert "sse-status-not-200" in streams["no-such-stream"] and "sse-content-type-wrong" in streams["no-such-stream"]
    assert "sse-status-204" in streams["empty"]
    assert {c.protocol for c in records_of(out, records.Connection)} == {"http"}
    assert records_of(out, records.SseEvent) == []


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
    handshakes = [records.to_dict(h) for h in records_of(out, records.Handshake)]
    assert len(handshakes) == 3
    _check_refusals(
        {h["url"].rsplit("/", 1)[-1]: h for h in handshakes}, [records.to_dict(c) for c in records_of(out, records.Connection)]
    )
    # each Handshake record comes just before its Exchange record, which is emitted once
    kinds = [type(r) for r in out if type(r) in (records.Handshake, records.Exchange)]
    assert kinds == [records.Handshake, records.Exchange] * 3
    assert {p.pattern for p in records_of(out, records.Pattern)} == {"request-response"}


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
