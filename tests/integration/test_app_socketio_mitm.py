"""Socket.IO through a real mitmdump with the addon (live records), then its flow file and its HAR
(mitmproxy's ``hardump``) through ``inspector analyze`` (JSON Lines and the human output): a python-socketio client that starts on
Engine.IO polling and upgrades to a WebSocket, against a python-socketio server, all on 127.0.0.1.  What
the client emitted (written down here) is what the records say, from both sources."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import socketio
from aiohttp import web

from helpers.mitm import Mitmdump
from helpers.servers import serve

EMITS = [("chat", "hello"), ("chat", "again"), ("typing", {"on": True})]


def _app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)

    @sio.on("*")
    async def anything(event, sid, data):
        return f"ack {event}"

    return app


async def _client(url: str) -> list:
    client = socketio.AsyncClient()
    await client.connect(url)  # polling first, then the upgrade
    for _ in range(200):
        if client.transport() == "websocket":
            break
        await asyncio.sleep(0.02)
    assert client.transport() == "websocket"
    acks = [await client.call(event, data) for event, data in EMITS]
    await client.disconnect()
    return acks


def _check(records: list[dict]) -> None:
    ws_client = [r["app"] for r in records if r["type"] == "message" and r["direction"] == "client" and "app" in r]
    events = [(a["name"], a["args"]) for a in ws_client if a["kind"] == "event"]
    assert events == [(event, [data]) for event, data in EMITS]
    ops = [r for r in records if r["type"] == "operation" and r["kind"] == "event"]
    assert [(o["name"], o["outcome"]) for o in ops] == [(event, "ok") for event, _ in EMITS]
    server_acks = [r["app"]["args"] for r in records
                   if r["type"] == "message" and r["direction"] == "server" and r.get("app", {}).get("kind") == "ack"]
    assert server_acks == [[f"ack {event}"] for event, _ in EMITS]
    polls = [r for r in records if r["type"] == "exchange" and "transport=polling" in r["url"] and "app" in r]
    opening = [p for r in polls for p in r["app"]["packets"] if p["kind"] == "open"]
    assert len(opening) == 1 and opening[0]["protocol"] == "engine.io" and opening[0]["id"]


@pytest.mark.timeout(120)
def test_socketio_polling_then_websocket_live_and_from_the_flow_file(tmp_path):
    flows = tmp_path / "sio.flow"
    har = tmp_path / "sio.har"

    async def scenario() -> tuple[list, list[dict]]:
        async with serve(_app()) as base:
            with Mitmdump(tmp_path, mode=f"reverse:{base}", args=["-w", str(flows), "--set", f"hardump={har}"]) as mitm:
                acks = await _client(mitm.url)
                await mitm.await_for(lambda rs: sum(r["type"] == "operation" for r in rs) >= len(EMITS) + 1)
            return acks, mitm.records()

    acks, live = asyncio.run(scenario())
    assert acks == [f"ack {event}" for event, _ in EMITS]
    _check(live)
    env = dict(os.environ, NO_COLOR="1")
    for path in (flows, har):
        run = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--jsonl", str(path)],
                             capture_output=True, text=True, env=env, timeout=60)
        assert run.returncode == 0, run.stderr
        _check([json.loads(line) for line in run.stdout.splitlines()])
    human = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--frames", str(flows)],
                           capture_output=True, text=True, env=dict(env, COLUMNS="200"), timeout=60)
    assert human.returncode == 0, human.stderr
    assert 'socket.io event "chat" ns / ack' in human.stdout
    assert "Application layer" in human.stdout
    assert 'event "chat": 2 (2 ok), latency p50' in human.stdout
