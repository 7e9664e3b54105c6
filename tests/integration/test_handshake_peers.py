"""Handshake validation of what real peers put on the wire: websockets, aiohttp and wsproto on 127.0.0.1 through a
byte-recording relay, and a real headless Chromium (tests/helpers/handshake_peers.py)."""

from __future__ import annotations

import asyncio
import base64
import os

import aiohttp
import pytest
import websockets.asyncio.client
import websockets.asyncio.server
import websockets.utils
import wsproto
import wsproto.events
import wsproto.extensions
import wsproto.utilities
from aiohttp import web
from helpers.handshake_peers import (
    chromium_session,
    head,
    names,
    relay_capture,
    validate_capture,
)
from helpers.servers import serve

from inspector.ws.deflate import DeflateParams


async def websockets_pair(compression):
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with websockets.asyncio.server.serve(
        echo, "127.0.0.1", 0, subprotocols=["chat.v2"], compression=compression
    ) as server:
        port = server.sockets[0].getsockname()[1]

        async def client(relay_port):
            async with websockets.asyncio.client.connect(
                f"ws://127.0.0.1:{relay_port}/room", subprotocols=["chat.v1", "chat.v2"], compression=compression
            ) as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                return ws.response.headers

        return await relay_capture(port, client)


async def aiohttp_pair(compress):
    async def handler(request):
        ws = web.WebSocketResponse(protocols=["graphql-ws"], compress=compress)
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)

    async def client(relay_port):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                f"http://127.0.0.1:{relay_port}/ws", protocols=["graphql-ws"], compress=15 if compress else 0
            ) as ws:
                await ws.send_str("hi")
                assert (await ws.receive()).data == "hi"

    async with serve(app) as base:
        return await relay_capture(int(base.rsplit(":", 1)[1]), client)


async def wsproto_request_to_websockets_server():
    """wsproto's client handshake bytes, sent over a raw socket to a real websockets server."""
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    request = client.send(wsproto.events.Request(
        host="127.0.0.1", target="/x?y=1", subprotocols=["mqtt"],
        extensions=[wsproto.extensions.PerMessageDeflate(client_max_window_bits=12)],
    ))

    async def handler(ws):
        await ws.wait_closed()

    async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0, subprotocols=["mqtt"]) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(request)
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        client.receive_data(response)
        events = list(client.events())
        writer.close()
    assert isinstance(events[0], wsproto.events.AcceptConnection), events  # wsproto accepts it too
    return request, response


@pytest.mark.parametrize("compression", ["deflate", None])
def test_real_websockets_handshake_is_valid(compression):
    sent, received = asyncio.run(websockets_pair(compression))
    record, deflate = validate_capture(sent, received)
    assert record.valid and record.findings == [], record.findings
    assert record.subprotocol == "chat.v2" and record.offered_subprotocols == ["chat.v1", "chat.v2"]
    assert record.accept == record.expected_accept
    if compression:
        assert record.extensions and record.extensions[0].startswith("permessage-deflate")
        # websockets' defaults: client offers client_max_window_bits, server answers with 12 bits
        assert deflate == DeflateParams(server_max_window_bits=12, client_max_window_bits=12)
    else:
        assert record.extensions == [] and deflate is None


@pytest.mark.parametrize("compress", [True, False])
def test_real_aiohttp_handshake_is_valid(compress):
    sent, received = asyncio.run(aiohttp_pair(compress))
    record, deflate = validate_capture(sent, received)
    assert record.valid and record.findings == [], record.findings
    assert record.subprotocol == "graphql-ws"
    assert (deflate is not None) is compress


def test_wsproto_request_against_websockets_server_is_valid():
    sent, received = asyncio.run(wsproto_request_to_websockets_server())
    record, deflate = validate_capture(sent, received)
    assert record.valid and record.findings == [], record.findings
    assert record.subprotocol == "mqtt"
    assert record.offered_extensions == ["permessage-deflate; client_max_window_bits=12; server_max_window_bits=15"]
    assert deflate is not None and deflate.client_max_window_bits <= 12


def test_tampered_real_handshake_is_caught():
    sent, received = asyncio.run(websockets_pair("deflate"))
    key = head(sent).split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    other = base64.b64encode(os.urandom(16))
    record, _ = validate_capture(sent.replace(key, other), received)
    assert names(record) == ["accept-mismatch"]


def test_real_chromium_handshake_is_valid():
    sent, received, seen = chromium_session()
    assert seen.get("protocol") == "chat.v2", seen  # the browser accepted the handshake
    record, deflate = validate_capture(sent, received)
    assert record.valid and record.findings == [], record.findings
    assert record.offered_subprotocols == ["chat.v1", "chat.v2"] and record.subprotocol == "chat.v2"
    # what the browser reports as negotiated is what we found
    assert record.extensions == [seen["extensions"]]
    bits = {p.split("=")[0]: int(p.split("=")[1]) for p in seen["extensions"].split("; ")[1:]}
    assert deflate == DeflateParams(server_max_window_bits=bits["server_max_window_bits"],
                                    client_max_window_bits=bits["client_max_window_bits"])
