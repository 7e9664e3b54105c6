"""WebSocketStream on the bytes of a real websockets connection on 127.0.0.1."""

from __future__ import annotations

import hashlib

import pytest

from inspector.records import Frame, Message, WarningRecord
from inspector.ws.deflate import DeflateParams
from inspector.ws.stream import WebSocketStream


async def _relay_session(messages: list, compression: str | None) -> tuple[bytes, bytes, list]:
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    wire = {"client": bytearray(), "server": bytearray()}
    echoed: list = []

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def pipe(reader, writer, direction):
        while data := await reader.read(65536):
            wire[direction] += data
            writer.write(data)
            await writer.drain()
        writer.close()

    async with serve(echo, "127.0.0.1", 0, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]

        async def relay(client_reader, client_writer):
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(pipe(client_reader, up_writer, "client"), pipe(up_reader, client_writer, "server"))

        proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
        rport = proxy.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{rport}/", compression=compression) as ws:
            for message in messages:
                await ws.send(message)
                echoed.append(await ws.recv())
            await ws.ping(b"are you there")
        await asyncio.sleep(0.05)
        proxy.close()
        await proxy.wait_closed()
    return bytes(wire["client"]), bytes(wire["server"]), echoed


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


@pytest.mark.parametrize("compression", ["deflate", None])
def test_real_websockets_connection(compression):
    import asyncio

    body = "".join(chr(0x20 + (i * 7) % 0x2000) for i in range(5000))
    messages = ["hello", body, b"\x00\x01binary" * 100, ["frag", "mented ", "message"], "κόσμε" * 30]
    sent = [(m if isinstance(m, (str, bytes)) else "".join(m)) for m in messages]
    client, server, echoed = asyncio.run(_relay_session(messages, compression))
    assert echoed == sent
    _, client_frames = _split_head(client)
    response_head, server_frames = _split_head(server)
    extensions = [line.split(b":", 1)[1].strip().decode() for line in response_head.split(b"\r\n")
                  if line.lower().startswith(b"sec-websocket-extensions:")]
    params = None
    if compression:
        params, errors = DeflateParams.parse(extensions[0])
        assert params is not None and not errors
    else:
        assert not extensions
    stream = WebSocketStream("live", deflate=params)
    out = stream.feed("client", client_frames, 1.0) + stream.feed("server", server_frames, 1.0) + stream.end(2.0)
    assert not [r for r in out if type(r) is WarningRecord]
    assert all(not r.violations for r in out if type(r) is Frame)
    for direction in ("client", "server"):
        msgs = [m for m in out if type(m) is Message and m.direction == direction]
        data = [m for m in msgs if m.opcode_name in ("text", "binary")]
        expected = [s.encode() if isinstance(s, str) else s for s in sent]
        assert [m.sha256 for m in data] == [hashlib.sha256(e).hexdigest() for e in expected]
        assert [m.opcode_name for m in data] == ["text" if isinstance(s, str) else "binary" for s in sent]
        assert msgs[-1].opcode_name == "close" and msgs[-1].close_code == 1000
        if compression:
            assert any(m.compressed for m in data)
    # websockets ends a fragmented message with an empty final continuation frame
    # (compressed: one byte, an empty stored block once 00 00 ff ff is stripped, RFC 7692 7.2.1)
    client_records = [r for r in out if type(r) is Frame and r.direction == "client"]
    final_fragments = [(f.fin, f.payload_len) for f in client_records if f.opcode == 0 and f.fin]
    assert final_fragments == [(True, 1 if compression else 0)]
    assert [m.text for m in out if type(m) is Message and m.direction == "client" and m.opcode_name == "ping"] == [None]
