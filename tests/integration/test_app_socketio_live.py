"""Socket.IO through the pipeline: a real python-socketio server and client on 127.0.0.1 through the
recording proxy; what the client emitted (written down here) is what ``message.app`` and the operation
records say."""

from __future__ import annotations

import asyncio

import pytest
import socketio
from aiohttp import web

from helpers.proxied import feed_upgraded
from helpers.servers import RecordingProxy, serve
from inspector import records
from inspector.analysis import Analysis, Options


def _server_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)

    @sio.on("chat")
    async def chat(sid, *args):
        return "got", len(args)

    @sio.on("upload")
    async def upload(sid, blob):
        return len(blob)

    @sio.on("fire")
    async def fire(sid, *args):
        return None

    @sio.on("ask", namespace="/admin")
    async def ask(sid, question):
        return {"answer": question.upper()}

    @sio.on("*", namespace="/admin")
    async def anything(event, sid, *args):
        return None

    return app


# what the client emits: (namespace, event, args, with an ack)
EMITS = [
    ("/", "chat", ["hello", {"n": 1, "list": [1, 2]}], True),
    ("/", "fire", ["no ack wanted"], False),
    ("/admin", "ask", ["why"], True),
    ("/", "chat", ["second", 2.5, None], True),
]


async def _session(binary: bytes) -> tuple[RecordingProxy, str, list]:
    async with serve(_server_app()) as base:
        upstream = base.split("://", 1)[1]
        async with RecordingProxy(upstream) as proxy:
            client = socketio.AsyncClient()
            await client.connect(f"http://{proxy.address}", transports=["websocket"], namespaces=["/", "/admin"])
            acks = []
            for nsp, event, args, with_ack in EMITS:
                if with_ack:
                    acks.append(await client.call(event, tuple(args) if len(args) > 1 else args[0], namespace=nsp))
                else:
                    await client.emit(event, tuple(args) if len(args) > 1 else args[0], namespace=nsp)
            acks.append(await client.call("upload", binary))
            await client.disconnect()
            await asyncio.sleep(0.3)
            return proxy, upstream, acks


@pytest.mark.timeout(60)
def test_socketio_events_acks_and_binary_attachments_as_the_client_sent_them():
    binary = bytes(range(256)) * 3
    proxy, upstream, acks = asyncio.run(_session(binary))
    assert acks[-1] == len(binary)  # the server got the attachment whole
    (conn,) = proxy.connections
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    feed_upgraded(analysis, conn, upstream)
    analysis.finish()
    messages = [r for r in out if isinstance(r, records.Message) and r.opcode_name in ("text", "binary")]
    assert all(m.app is not None and m.app.error is None for m in messages)
    client_events = [m.app for m in messages if m.direction == "client" and m.app.kind in ("event", "binary_event")]
    expected = [(nsp, event, args) for nsp, event, args, _ in EMITS] + [("/", "upload", [{"_placeholder": True, "num": 0}])]
    assert [(a.channel, a.name, a.args) for a in client_events] == expected
    with_ack = [a for a in client_events if a.id is not None]
    assert [a.name for a in with_ack] == [e for _, e, _, ack in EMITS if ack] + ["upload"]
    binary_event = client_events[-1]
    assert binary_event.kind == "binary_event" and binary_event.attachments == 1
    attachment = next(m for m in messages if m.direction == "client" and m.opcode_name == "binary")
    assert attachment.app.kind == "attachment" and attachment.app.name == "upload" and attachment.app.attachment == 0
    assert attachment.length == len(binary)
    server_acks = [m.app for m in messages if m.direction == "server" and m.app.kind == "ack"]
    assert [a.args for a in server_acks] == [["got", 2], [{"answer": "WHY"}], ["got", 3], [len(binary)]]
    operations = [r for r in out if isinstance(r, records.Operation)]
    events = [o for o in operations if o.kind == "event"]
    assert [(o.channel, o.name, o.id, o.outcome) for o in events] == [
        (a.channel, a.name, a.id, "ok") for a in with_ack
    ]
    assert all(o.latency_s is not None and o.latency_s >= 0 for o in events)
    connects = [o for o in operations if o.kind == "connect"]
    assert sorted(o.channel for o in connects) == ["/", "/admin"] and {o.outcome for o in connects} == {"ok"}
    opened = next(m.app for m in messages if m.direction == "server")
    assert opened.protocol == "engine.io" and opened.kind == "open" and opened.id
