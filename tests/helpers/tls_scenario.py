"""A TLS capture scenario with real peers on 127.0.0.1: a `websockets` server (permessage-deflate) and an
aiohttp event-stream server, both behind Python's `ssl` with a self-signed certificate; clients that write
an NSS key log (``SSLContext.keylog_filename``); tcpdump on lo.  `capture` returns what the senders sent
(the truth the decrypted records are checked against)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from pathlib import Path

import websockets
from aiohttp import web

from helpers.tls_peers import Tcpdump, contexts, make_cert

CLIENT_MESSAGES: list[str | bytes] = [
    "hello over TLS",
    json.dumps({"op": "subscribe", "topics": ["a", "b"]}),
    "".join(f"client line {i}: the quick brown fox\n" for i in range(900)),  # spans records and segments
    bytes(range(256)) * 8,
]
SERVER_MESSAGES: list[str | bytes] = [
    "welcome",
    "".join(f"server line {i}: jumps over the lazy dog\n" for i in range(2500)),  # several 16 KiB records
    b"\x00\x01binary\xff" * 50,
    "bye",
]
EVENTS = [
    {"event": "tick", "id": "1", "data": "first"},
    {"event": "message", "id": "2", "data": "line one\nline two"},
    {"event": "update", "id": "3", "data": json.dumps({"price": 42})},
]


def _message(payload: str | bytes) -> dict:
    data = payload.encode() if isinstance(payload, str) else payload
    return {"opcode": "text" if isinstance(payload, str) else "binary",
            "sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


def expected() -> dict:
    """What the senders sent, as ``*.expected.json`` holds it."""
    return {
        "messages": {"client": [_message(m) for m in CLIENT_MESSAGES],
                     "server": [_message(m) for m in SERVER_MESSAGES]},
        "sse_events": EVENTS,
    }


async def _ws_handler(ws) -> None:
    for _ in CLIENT_MESSAGES:
        await ws.recv()
    for message in SERVER_MESSAGES:
        await ws.send(message)
    await ws.close(1000, "done")


def _sse_app() -> web.Application:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for event in EVENTS:
            lines = [f"event: {event['event']}", f"id: {event['id']}"]
            lines += [f"data: {line}" for line in event["data"].split("\n")]
            await response.write(("\n".join(lines) + "\n\n").encode())
            await response.write(b": heartbeat\n\n")
            await asyncio.sleep(0.05)
        return response

    app = web.Application()
    app.router.add_get("/events", stream)
    return app


async def _sse_client(port: int, client_ctx: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
    writer.write(f"GET /events HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: text/event-stream\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    body = await reader.read()
    writer.close()
    return body


async def _run(folder: Path, version: str, cipher: str | None, ws_clients: int) -> None:
    cert, key = make_cert(folder)
    keylog = folder / "keys.log"
    server_ctx, client_ctx = contexts(cert, key, keylog, version, cipher)
    runner = web.AppRunner(_sse_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    sse_port = site._server.sockets[0].getsockname()[1]
    async with websockets.serve(_ws_handler, "127.0.0.1", 0, ssl=server_ctx, compression="deflate") as server:
        ws_port = server.sockets[0].getsockname()[1]
        async with Tcpdump(folder / "capture.pcap", f"tcp port {ws_port} or tcp port {sse_port}"):
            for _ in range(ws_clients):
                async with websockets.connect(f"wss://127.0.0.1:{ws_port}/feed", ssl=client_ctx,
                                              server_hostname="localhost", compression="deflate",
                                              max_size=None) as ws:
                    for message in CLIENT_MESSAGES:
                        await ws.send(message)
                    for message in SERVER_MESSAGES:
                        assert await ws.recv() == message
                    await ws.wait_closed()
            body = await _sse_client(sse_port, client_ctx)
            assert b"line two" in body
    await runner.cleanup()


def capture(folder: Path, version: str = "1.3", cipher: str | None = None, ws_clients: int = 1) -> tuple[Path, Path]:
    """Run the scenario into ``folder``: (capture.pcap, keys.log)."""
    asyncio.run(_run(folder, version, cipher, ws_clients))
    return folder / "capture.pcap", folder / "keys.log"
