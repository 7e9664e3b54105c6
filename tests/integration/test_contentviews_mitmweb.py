"""The content views in a real mitmweb, fed by real peers on 127.0.0.1."""

from __future__ import annotations

import json

from helpers.mitm import MITMPROXY_12
from helpers.tools import require


def _listening_ports(pid: int) -> set[int]:
    """TCP ports a process listens on (its socket inodes matched against /proc/net/tcp LISTEN entries)."""
    import os

    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def test_mitmweb_shows_decoded_websocket_messages_and_event_streams(tmp_path):
    import asyncio
    import time
    import urllib.request

    from helpers.mitm import HttpServer, Mitmdump, read_sse_with_acks

    class Mitmweb(Mitmdump):
        def command(self):
            cmd = super().command()
            cmd[0] = require("mitmweb")
            cmd += ["--no-web-open-browser", "--web-host", "127.0.0.1", "--web-port", "0"]
            if MITMPROXY_12:
                cmd += ["--set", "web_password=inspector-test"]
            return cmd

    token = "?token=inspector-test" if MITMPROXY_12 else ""

    def api(web: int, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{web}{path}{token}", timeout=20) as resp:
            return json.loads(resp.read())

    async def scenario():
        import aiohttp
        from aiohttp import web as aioweb

        async def ws_handler(request):
            ws = aioweb.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str('{"price":101.5,"sym":"ABC"}')
            await ws.close(code=4001, message=b"bye")
            return ws

        server = HttpServer(sse_events=2)
        server.extra_routes = [("GET", "/ws", ws_handler)]
        async with server:
            mitm = Mitmweb(tmp_path, mode="regular")
            with mitm:
                async with aiohttp.ClientSession() as session:
                    async with session.ws_connect(f"{server.url}/ws", proxy=mitm.url) as ws:
                        async for _ in ws:
                            pass
                    await read_sse_with_acks(session, f"{server.url}/events", f"{server.url}/ack", 2, mitm.url)
                await mitm.await_for(lambda r: any(x["type"] == "sse_stream" for x in r))
                ports = _listening_ports(mitm.proc.pid) - {mitm.port}
                assert len(ports) == 1, ports
                web = ports.pop()
                deadline = time.monotonic() + 20
                while True:
                    flows = api(web, "/flows.json")
                    if any(f.get("websocket") for f in flows) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                ws_flow = next(f for f in flows if f.get("websocket"))
                sse_flow = next(f for f in flows if f["request"]["path"] == "/events")
                ws_view = api(web, f"/flows/{ws_flow['id']}/messages/content/auto.json")
                sse_view = api(web, f"/flows/{sse_flow['id']}/response/content/auto.json")
                return ws_view, sse_view

    ws_view, sse_view = asyncio.run(scenario())

    def text(view) -> str:
        if "text" in view:  # mitmproxy 12
            return view["text"]
        return view["description"] + "\n" + "\n".join("".join(t for _, t in line) for line in view["lines"])

    first = text(ws_view[0])
    assert "WebSocket text server → client" in first and '"sym": "ABC"' in first
    sse = text(sse_view)
    assert "Event stream: 2 events" in sse and "event: tick" in sse and "line two of 1" in sse
