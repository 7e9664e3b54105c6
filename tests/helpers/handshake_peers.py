"""Capture helpers for the handshake and decode tests: real WebSocket peers on 127.0.0.1.

`relay_capture` runs a real client through a byte-recording TCP relay in front of a real server, so the
tests see exactly the bytes both sides put on the wire; `validate_capture` parses the two heads with h11
(an independent HTTP parser) and validates them; `chromium_session` opens a page in a real headless
Chromium (helpers.sse_servers.chromium_events drives it over the DevTools protocol) whose WebSocket talks
to a `websockets` server with permessage-deflate through the relay.
"""

from __future__ import annotations

import asyncio

import h11
import websockets.asyncio.server
from aiohttp import web

from inspector.ws.handshake import validate

def parse_request(raw: bytes):
    """The request head parsed by h11 (independent HTTP parser)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    event = conn.next_event()
    assert isinstance(event, h11.Request), event
    headers = [(n.decode(), v.decode("latin-1")) for n, v in event.headers.raw_items()]
    return event, headers


def parse_response(request: h11.Request, raw: bytes):
    conn = h11.Connection(h11.CLIENT)
    conn.send(request)
    conn.receive_data(raw)
    event = conn.next_event()
    assert isinstance(event, (h11.Response, h11.InformationalResponse)), event
    return event.status_code, [(n.decode(), v.decode("latin-1")) for n, v in event.headers.raw_items()]


async def relay_capture(upstream_port: int, client_coro_factory):
    """Run a real client through a byte-recording TCP relay on 127.0.0.1; return (client bytes, server bytes)."""
    sent = bytearray()
    received = bytearray()

    async def pipe(reader, writer, record):
        try:
            while data := await reader.read(65536):
                record.extend(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(c_reader, c_writer):
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(c_reader, s_writer, sent), pipe(s_reader, c_writer, received))

    relay = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = relay.sockets[0].getsockname()[1]
    try:
        await asyncio.wait_for(client_coro_factory(port), 60)
    finally:
        relay.close()
    return bytes(sent), bytes(received)


def head(data: bytes) -> bytes:
    end = data.index(b"\r\n\r\n") + 4
    return data[:end]


def validate_capture(sent: bytes, received: bytes):
    request, request_headers = parse_request(head(sent))
    status, response_headers = parse_response(request, head(received))
    return validate(
        "c1",
        "ws://127.0.0.1" + request.target.decode(),
        method=request.method.decode(),
        http_version="HTTP/" + request.http_version.decode(),
        request_headers=request_headers,
        status=status,
        response_headers=response_headers,
    )


_PAGE = """<!doctype html><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket(WS_URL, ["chat.v1", "chat.v2"]);
  ws.onerror = () => resolve({error: true});
  ws.onopen = () => ws.send(SEND);
  ws.onmessage = (e) => { resolve({data: e.data, protocol: ws.protocol, extensions: ws.extensions}); ws.close(1000, "done"); };
});
</script>"""


async def _chromium_session(send: str):
    from helpers.sse_servers import chromium_events

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0, subprotocols=["chat.v2"]) as server:
        port = server.sockets[0].getsockname()[1]
        seen = {}

        async def client(relay_port):
            html = _PAGE.replace("WS_URL", repr(f"ws://127.0.0.1:{relay_port}/room")).replace("SEND", repr(send))
            async def index(request):
                return web.Response(text=html, content_type="text/html")

            app = web.Application()
            app.router.add_get("/", index)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            page = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
            try:
                seen.update(await asyncio.to_thread(chromium_events, page))
                await asyncio.sleep(0.3)  # let the closing handshake pass the relay
            finally:
                await runner.cleanup()

        sent, received = await relay_capture(port, client)
    return sent, received, seen


def chromium_session(send: str = "hello from chromium"):
    """``(client bytes, server bytes, what the page saw)`` of one real Chromium WebSocket session: the page
    sends ``send``, the websockets server echoes it, the page closes with 1000 "done"."""
    return asyncio.run(_chromium_session(send))


def names(record):
    return [f.name for f in record.findings + record.notes]
