"""Real peers through a recording proxy, fed to Analysis: the proxied bytes of an HTTP head split as the
pipeline wants them, a proxied connection fed in order, a real WebSocket session through the proxy."""

from __future__ import annotations

import asyncio

import aiohttp

from helpers.servers import (
    ProxiedConnection,
    Recorder,
    RecordingProxy,
    polling_app,
    serve,
)
from inspector import records
from inspector.analysis import Analysis


def split_head(data: bytes) -> tuple[str, list[tuple[str, str]], int]:
    end = data.index(b"\r\n\r\n")
    first, *lines = data[:end].decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    return first, headers, end + 4


def feed_proxied(analysis: Analysis, conn: ProxiedConnection, server: str) -> None:
    """What a pcap source does for one upgraded connection: heads -> exchange -> websocket bytes."""
    client_bytes = b"".join(d for direction, _, d in conn.chunks if direction == "client")
    server_bytes = b"".join(d for direction, _, d in conn.chunks if direction == "server")
    request_line, request_headers, req_len = split_head(client_bytes)
    status_line, response_headers, resp_len = split_head(server_bytes)
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


def websocket_session(compress: int) -> tuple[RecordingProxy, str, list, list]:
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
