"""Socket.IO from a real tcpdump capture through ``inspector analyze``: a python-socketio server and
clients on 127.0.0.1 (one polling only, one upgrading to a WebSocket); the events each side emitted
(written down here) are what ``exchange.app`` (polling bodies) and ``message.app`` say."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import socketio
from aiohttp import web

from helpers.servers import serve

pytestmark = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")

SERVER_NEWS = [{"headline": "one"}, {"headline": "two", "n": 2}]


def _app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=2)  # short polling holds
    app = web.Application()
    sio.attach(app)

    @sio.on("hello")
    async def hello(sid, data):
        for item in SERVER_NEWS:
            await sio.emit("news", item, to=sid)
        return {"seen": data}

    return app


async def _client(base: str, transports: list[str]) -> list:
    client = socketio.AsyncClient()
    got: list = []
    done = asyncio.Event()

    @client.on("news")
    async def news(data):
        got.append(data)
        if len(got) == len(SERVER_NEWS):
            done.set()

    await client.connect(base, transports=transports)
    ack = await client.call("hello", transports[-1])
    await asyncio.wait_for(done.wait(), 10)
    await client.disconnect()
    return [ack, got]


def _capture(port: int, path) -> subprocess.Popen:
    proc = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", str(path), f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = proc.stderr.readline()  # "listening on lo ..." once the capture runs
    assert b"listening" in line, line
    return proc


@pytest.mark.timeout(120)
def test_socketio_from_a_tcpdump_capture(tmp_path):
    pcap = tmp_path / "sio.pcap"

    async def scenario() -> list:
        async with serve(_app()) as base:
            port = int(base.rsplit(":", 1)[1].rstrip("/"))
            tcpdump = _capture(port, pcap)
            try:
                results = [await _client(base, ["polling"]), await _client(base, ["polling", "websocket"])]
                await asyncio.sleep(0.5)
            finally:
                time.sleep(0.5)
                tcpdump.send_signal(signal.SIGINT)
                tcpdump.wait(10)
            return results

    results = asyncio.run(scenario())
    assert results == [[{"seen": t}, SERVER_NEWS] for t in ("polling", "websocket")]
    run = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--jsonl", str(pcap)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    polled = [p for r in records if r["type"] == "exchange" and "app" in r for p in r["app"]["packets"]]
    assert sum(p["kind"] == "open" for p in polled) == 2  # each client's handshake GET
    news = [m["app"] for m in records if m["type"] == "message" and m["direction"] == "server" and "app" in m]
    news = [a["args"] for a in news if a["kind"] == "event" and a["name"] == "news"]
    polled_news = [p["args"] for p in polled if p["kind"] == "event" and p["name"] == "news"]
    # the polling client got both over polling; the upgrading one over polling or the WebSocket
    assert polled_news[:2] == [[n] for n in SERVER_NEWS]
    assert polled_news[2:] + news == [[n] for n in SERVER_NEWS]
    acks = [m["app"]["args"] for m in records if m["type"] == "message" and m.get("app", {}).get("kind") == "ack"]
    acked = [p["args"] for p in polled if p["kind"] == "ack"]
    assert sorted(map(json.dumps, acks + acked)) == sorted(json.dumps([{"seen": t}]) for t in ("polling", "websocket"))
