"""The addon's ``inspector_report`` and ``inspector_har`` through a real mitmdump (reverse proxy to an aiohttp
server with a polling endpoint and a WebSocket echo, an aiohttp client): both files are written when
mitmdump exits, the report embeds what the peers sent (a ``<script>`` payload only as escaped data), and
the HAR reads back through ``inspector analyze`` to the same messages and requests."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from helpers.mitm import ADDON, Mitmdump, run_mitmdump
from helpers.servers import serve

SENT = ["hello", '<script>alert("x")</script>', "third"]
POLLS = 3


def _app() -> web.Application:
    async def poll(request: web.Request) -> web.Response:
        return web.json_response({"n": int(request.query.get("n", "0"))})

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for message in sock:
            await sock.send_str("echo " + message.data)
        return sock

    app = web.Application()
    app.router.add_get("/poll", poll)
    app.router.add_get("/ws", ws)
    return app


async def _client(proxy: str) -> list[str]:
    echoed = []
    async with aiohttp.ClientSession() as http:
        for n in range(POLLS):
            async with http.get(f"{proxy}/poll?n={n}") as response:
                assert (await response.json()) == {"n": n}
        async with http.ws_connect(f"{proxy}/ws") as sock:
            for text in SENT:
                await sock.send_str(text)
                echoed.append((await sock.receive()).data)
    return echoed


@pytest.mark.timeout(120)
def test_report_and_har_are_written_at_exit(tmp_path):
    report, har = tmp_path / "live.html", tmp_path / "live.har"

    async def scenario() -> list[str]:
        async with serve(_app()) as base:
            mitm = Mitmdump(tmp_path, mode=f"reverse:{base}",
                            options={"inspector_report": str(report), "inspector_har": str(har)})
            with mitm:
                echoed = await _client(mitm.url)
                await mitm.await_for(lambda rs: sum(r["type"] == "message" for r in rs) >= 2 * len(SENT))
                assert not report.exists()  # written when mitmdump exits
            assert mitm.proc.returncode == 0, mitm.log()
            return echoed

    echoed = asyncio.run(scenario())
    assert echoed == ["echo " + text for text in SENT]

    html = report.read_text(encoding="utf-8")
    assert '<script>alert("x")</script>' not in html  # the payload is data, never markup
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])
    # (direction 0 client / 1 server, preview) of the text messages (the close is a row too)
    texts = [(row[2], row[5]) for row in data["messages"] if row[3] == "text"]
    assert texts == [pair for text in SENT for pair in ((0, text), (1, "echo " + text))]
    assert sum("/poll?n=" in row[5] for row in data["exchanges"]) == POLLS

    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    (ws_entry,) = [e for e in entries if e.get("_resourceType") == "websocket"]
    assert [(m["type"], m["data"]) for m in ws_entry["_webSocketMessages"] if m["opcode"] == 1] == [
        pair for text in SENT for pair in (("send", text), ("receive", "echo " + text))]
    run = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--jsonl", str(har)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    back = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(m["direction"], m["text"]) for m in back if m["type"] == "message" and m["opcode_name"] == "text"] == [
        pair for text in SENT for pair in (("client", text), ("server", "echo " + text))]
    assert sum(r["type"] == "exchange" and "/poll?n=" in r["url"] for r in back) == POLLS


@pytest.mark.parametrize("option", ["inspector_report", "inspector_har"])
def test_a_file_in_a_missing_directory_is_refused(tmp_path, option):
    result = run_mitmdump(["-n", "-s", str(ADDON), "--set", f"{option}=/nonexistent-dir/out"], cwd=tmp_path,
                          timeout=60)
    assert result.returncode != 0
    assert f"{option}: directory '/nonexistent-dir' does not exist" in result.stdout + result.stderr
