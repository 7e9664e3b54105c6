"""Engine.IO polling is long polling by the protocol's definition, from a real tcpdump capture: a
python-socketio server with a 1 s ping interval (every hold ends within a second) and the python client
polling over an aiohttp session that opens one new TCP connection per request.  The requests and their
connections are counted by tshark, not by inspector; the emit and its ack are what the client and the
server were told to send (request bodies of the polling POSTs reach the application layer)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import aiohttp
import pytest
import socketio
from aiohttp import web

from helpers.servers import serve
from helpers.tools import require

PING_INTERVAL = 1


def _app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=PING_INTERVAL, ping_timeout=5)
    app = web.Application()
    sio.attach(app)

    @sio.on("hello")
    async def hello(sid, data):
        return {"seen": data}

    return app


async def _client(base: str) -> object:
    """The python client, polling only, one fresh connection per request (``force_close``)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        await client.connect(base, transports=["polling"])
        ack = await client.call("hello", 1)
        # stay for several ping intervals: the server answers held GETs with its pings
        await asyncio.sleep(4 * PING_INTERVAL)
        await client.disconnect()
        await asyncio.sleep(0.3)
        return ack


def _tshark_gets(tshark: str, pcap) -> list[tuple[str, str]]:
    """(tcp stream, request URI) of every Engine.IO polling GET, as tshark dissects them."""
    run = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", 'http.request.method == "GET"', "-T", "fields",
         "-e", "tcp.stream", "-e", "http.request.uri"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return [tuple(line.split("\t")) for line in run.stdout.splitlines() if "transport=polling" in line]


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> tuple[list[tuple[str, str]], list[dict]]:
    """(tshark's polling GETs, inspector's records) of one capture of the scenario."""
    tcpdump, tshark = require("tcpdump"), require("tshark")
    pcap = tmp_path_factory.mktemp("eio") / "eio.pcap"

    async def scenario():
        async with serve(_app()) as base:
            port = int(base.rsplit(":", 1)[1].rstrip("/"))
            proc = subprocess.Popen([tcpdump, "-i", "lo", "-U", "-w", str(pcap), f"tcp port {port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            assert b"listening" in proc.stderr.readline()
            try:
                return await _client(base)
            finally:
                time.sleep(0.5)
                proc.send_signal(signal.SIGINT)
                proc.wait(10)

    assert asyncio.run(scenario()) == {"seen": 1}
    run = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--jsonl", str(pcap)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return _tshark_gets(tshark, pcap), [json.loads(line) for line in run.stdout.splitlines()]


@pytest.mark.timeout(120)
def test_engineio_polling_with_short_holds_over_new_connections_is_long_polling(capture):
    gets, records = capture
    streams = {stream for stream, _ in gets}
    assert len(gets) >= 4 and len(streams) == len(gets)  # one new TCP connection per poll
    sids = {uri.split("sid=", 1)[1].split("&")[0] for _, uri in gets if "sid=" in uri}
    assert len(sids) == 1  # one Engine.IO session across all those connections
    patterns = [r for r in records if r["type"] == "pattern"]
    get = next(p for p in patterns if p["endpoint"].startswith("GET ") and p["transport"] == "polling")
    assert get["framework"] == "socket.io"
    assert get["pattern"] == "long-polling" and get["decided_by"] == "framework"
    assert get["requests"] == len(gets)
    # the loop's rhythm was measured across the connections: one session, not one request per connection
    assert get["interval_s"] is not None and get["repoll_gap_s"] is not None
    post = next(p for p in patterns if p["endpoint"].startswith("POST "))
    assert post["pattern"] == "request-response" and "decided_by" not in post


@pytest.mark.timeout(120)
def test_emits_in_polling_posts_and_their_acks_make_an_operation(capture):
    """The client's ``call("hello", 1)`` went in a POST body, the server's ack in a later GET response."""
    _, records = capture
    exchanges = [r for r in records if r["type"] == "exchange" and "/socket.io/" in r["url"]]
    sent = [p for r in exchanges if r["method"] == "POST" and "request_app" in r for p in r["request_app"]["packets"]]
    hello = [p for p in sent if p["kind"] == "event" and p["name"] == "hello"]
    assert [p["args"] for p in hello] == [[1]] and hello[0]["id"] is not None
    assert any(p["kind"] == "connect" for p in sent)
    acks = [p for r in exchanges if r["method"] == "GET" and "app" in r for p in r["app"]["packets"]
            if p["kind"] == "ack" and p["id"] == hello[0]["id"]]
    assert [a["args"] for a in acks] == [[{"seen": 1}]]
    ops = [r for r in records if r["type"] == "operation" and r["protocol"] == "socket.io"]
    (call,) = [o for o in ops if o["kind"] == "event"]
    assert (call["name"], call["id"], call["outcome"]) == ("hello", hello[0]["id"], "ok")
    assert call["latency_s"] > 0
    assert [o["outcome"] for o in ops if o["kind"] == "connect"] == ["ok"]
