"""GraphQL over WebSocket through the pipeline: a real strawberry-graphql server (aiohttp integration,
both subprotocols) and a client driven with ``websockets`` through the recording proxy; the operations
the client started (written down here) are what ``message.app`` and the operation records say."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncGenerator

import pytest
import strawberry
import websockets
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView

from helpers.proxied import feed_upgraded
from helpers.servers import RecordingProxy, serve
from inspector import records
from inspector.analysis import Analysis, Options


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str) -> str:
        return f"hello {name}"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, to: int) -> AsyncGenerator[int, None]:
        for i in range(to):
            yield i

    @strawberry.subscription
    async def forever(self) -> AsyncGenerator[int, None]:
        i = 0
        while True:
            yield i
            i += 1
            await asyncio.sleep(0.01)


def _app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/graphql", GraphQLView(schema=strawberry.Schema(Query, subscription=Subscription)))
    return app


async def _transport_ws(url: str) -> list[dict]:
    """graphql-transport-ws: what the client sent, in order."""
    sent: list[dict] = []
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        async def send(message: dict) -> None:
            sent.append(message)
            await ws.send(json.dumps(message))

        await send({"type": "connection_init"})
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await send({"id": "a", "type": "subscribe",
                    "payload": {"query": "subscription Counter { count(to: 3) }"}})
        while json.loads(await ws.recv())["type"] != "complete":
            pass
        await send({"id": "b", "type": "subscribe", "payload": {"query": "query Greet { hello(name: \"x\") }"}})
        while json.loads(await ws.recv())["type"] != "complete":
            pass
        await send({"id": "c", "type": "subscribe", "payload": {"query": "subscription Endless { forever }"}})
        assert json.loads(await ws.recv())["type"] == "next"
        await send({"id": "c", "type": "complete"})  # the client stops it
        await send({"id": "d", "type": "subscribe", "payload": {"query": "query Broken { nope }"}})
        while json.loads(await ws.recv()).get("id") != "d":
            pass
        await send({"type": "ping"})
        while json.loads(await ws.recv())["type"] != "pong":
            pass
    return sent


async def _legacy_ws(url: str) -> list[dict]:
    """graphql-ws (subscriptions-transport-ws)."""
    sent: list[dict] = []
    async with websockets.connect(url, subprotocols=["graphql-ws"]) as ws:
        async def send(message: dict) -> None:
            sent.append(message)
            await ws.send(json.dumps(message))

        await send({"type": "connection_init"})
        while json.loads(await ws.recv())["type"] != "connection_ack":
            pass
        await send({"id": "1", "type": "start", "payload": {"query": "subscription { count(to: 2) }"}})
        while json.loads(await ws.recv())["type"] != "complete":
            pass
        await send({"id": "2", "type": "start",
                    "payload": {"query": "subscription Endless { forever }", "operationName": "Endless"}})
        while json.loads(await ws.recv())["type"] != "data":
            pass
        await send({"id": "2", "type": "stop"})
        await send({"type": "connection_terminate"})
        await asyncio.sleep(0.1)
    return sent


async def _session(client) -> tuple[RecordingProxy, str, list[dict]]:
    async with serve(_app()) as base:
        upstream = base.split("://", 1)[1]
        async with RecordingProxy(upstream) as proxy:
            sent = await client(f"ws://{proxy.address}/graphql")
            await asyncio.sleep(0.3)
            return proxy, upstream, sent


def _analyse(client) -> tuple[list, list[dict]]:
    proxy, upstream, sent = asyncio.run(_session(client))
    (conn,) = proxy.connections
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    feed_upgraded(analysis, conn, upstream)
    analysis.finish()
    return out, sent


@pytest.mark.timeout(60)
def test_graphql_transport_ws_operations_as_the_client_started_them():
    out, sent = _analyse(_transport_ws)
    messages = [r for r in out if type(r) is records.Message and r.opcode_name == "text"]
    client = [m.app for m in messages if m.direction == "client"]
    assert all(a.protocol == "graphql-transport-ws" and a.error is None for a in client)
    assert [(a.kind, a.id) for a in client] == [(m["type"], m.get("id")) for m in sent]
    subscribes = [a for a in client if a.kind == "subscribe"]
    assert [(a.channel, a.name) for a in subscribes] == [
        ("subscription", "Counter"), ("query", "Greet"), ("subscription", "Endless"), ("query", "Broken")]
    server_kinds = {m.app.kind for m in messages if m.direction == "server"}
    assert {"connection_ack", "next", "complete", "error", "pong"} <= server_kinds
    ops = {o.id: o for o in out if type(o) is records.Operation}
    assert (ops["a"].name, ops["a"].kind, ops["a"].outcome, ops["a"].messages) == ("Counter", "subscription", "ok", 3)
    assert (ops["b"].name, ops["b"].outcome, ops["b"].messages) == ("Greet", "ok", 1)
    assert (ops["c"].name, ops["c"].outcome) == ("Endless", "cancelled") and ops["c"].messages >= 1
    assert (ops["d"].name, ops["d"].outcome) == ("Broken", "error") and "nope" in ops["d"].error
    assert all(o.latency_s >= 0 for o in ops.values())


@pytest.mark.timeout(60)
def test_legacy_graphql_ws_operations_as_the_client_started_them():
    out, sent = _analyse(_legacy_ws)
    messages = [r for r in out if type(r) is records.Message and r.opcode_name == "text"]
    client = [m.app for m in messages if m.direction == "client"]
    assert [(a.protocol, a.kind, a.id) for a in client] == [("graphql-ws", m["type"], m.get("id")) for m in sent]
    assert [(a.channel, a.name) for a in client if a.kind == "start"] == [("subscription", None),
                                                                          ("subscription", "Endless")]
    ops = {o.id: o for o in out if type(o) is records.Operation}
    assert (ops["1"].kind, ops["1"].outcome, ops["1"].messages) == ("subscription", "ok", 2)
    assert (ops["2"].name, ops["2"].outcome) == ("Endless", "cancelled")
