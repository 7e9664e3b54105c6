"""Real test peers for the classifier, the pipeline and the renderer (reusable by other test modules).

Everything binds 127.0.0.1 on an ephemeral port and runs in the caller's asyncio loop (tests call
``asyncio.run(scenario())``):

- `serve(app)`: an aiohttp app as an async context manager yielding its base URL.
- `Recorder`: an aiohttp middleware that records every request the server handles as a
  `records.Exchange` with real timings (``ts_request``: the handler is entered, i.e. the request head has
  arrived; ``ts_response``: aiohttp's ``on_response_prepare``, just before the response head is written;
  ``ts_end``: the response is finished), the real request and response heads, and the response body
  chunks with the time each was written (also those of streaming handlers, e.g. SockJS's).  `Recorder.feed(analysis)` replays them into an
  `inspector.analysis.Analysis` in start order, one connection per client TCP connection.
- `polling_app(recorder)`: endpoints for each pattern: ``/poll`` (short polling: JSON answered at once,
  changing every ``change_every`` requests), ``/longpoll`` (held ``hold`` seconds, then a new counter), ``/etag`` (the same with an ETag,
  304 Not Modified to a matching If-None-Match),
  ``/events`` (SSE: ``per_connection`` events with ids, resuming after ``Last-Event-ID``, then the server
  ends the stream so the client reconnects), ``/ws`` and ``/ws/{name}`` (WebSocket echo accepting the
  subprotocols in `SUBPROTOCOLS`), ``/stream``
  (chunked ndjson for ``seconds``), ``/empty`` (204).
- clients: `short_poll`, `conditional_poll`, `long_poll`, `sse_client` (reconnects with Last-Event-ID, like EventSource),
  `ws_client`, `stream_client` (aiohttp ClientSession).
- `socketio_app(recorder)` + `socketio_session(...)`: a python-socketio AsyncServer on aiohttp and a real
  AsyncClient, polling-only or polling-then-upgrade.
- `sockjs_app(recorder)` + `sockjs_xhr_client(...)`: a real SockJS server (the ``sockjs`` package) and the
  xhr-polling transport driven as sockjs-client drives it.
- `push_app(payloads)` + `push_client(base, "sse"|"ws")`: the same updates pushed over one SSE stream or
  one WebSocket, to measure what push really costs on the wire.
- `RecordingProxy`: a TCP proxy that records the raw bytes of each direction with timestamps (for
  feeding WebSocket bytes to the pipeline exactly as they crossed the wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from inspector import records


CHUNKS = web.RequestKey("inspector_test_chunks", list)
TS_RESPONSE = web.RequestKey("inspector_test_ts_response", object)


@dataclass
class Recorded:
    """One request as the server saw it."""

    exchange: records.Exchange
    client: str
    chunks: list[tuple[float, bytes]] = field(default_factory=list)


def _request_head_bytes(request: web.Request) -> int:
    line = f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}\r\n"
    return len(line) + sum(len(k) + len(v) + 4 for k, v in request.raw_headers) + 2


def _response_head_bytes(response: web.StreamResponse) -> int:
    line = f"HTTP/1.1 {response.status} {response.reason}\r\n"
    return len(line) + sum(len(k) + len(v) + 4 for k, v in response.headers.items()) + 2


class Recorder:
    """aiohttp middleware recording each handled request (see the module docstring)."""

    def __init__(self) -> None:
        self.recorded: list[Recorded] = []

    def install(self, app: web.Application) -> web.Application:
        app.middlewares.append(self.middleware)
        app.on_response_prepare.append(self._on_prepare)
        return app

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        request[TS_RESPONSE] = time.time()
        body = response.body if isinstance(response, web.Response) else None
        if isinstance(body, (bytes, bytearray)) and body:
            request[CHUNKS].append((request[TS_RESPONSE], bytes(body)))
        elif not isinstance(response, (web.Response, web.WebSocketResponse)):
            write = response.write  # a streaming body: record each chunk as the handler writes it

            async def recording_write(data) -> None:
                request[CHUNKS].append((time.time(), bytes(data)))
                await write(data)

            response.write = recording_write

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        ts_request = time.time()
        request[CHUNKS] = []
        request[TS_RESPONSE] = None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        client = f"{peer[0]}:{peer[1]}" if peer else "unknown"
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # answered as aiohttp would, but through the recorder
            response = web.Response(status=exc.status, reason=exc.reason, body=exc.body, headers=exc.headers)
        if not response.prepared:
            await response.prepare(request)
        await response.write_eof()
        ts_end = time.time()
        chunks = request[CHUNKS]
        upgraded = response.status == 101
        exchange = records.Exchange(
            conn=f"tcp:{client}",
            method=request.method,
            url=str(request.url),
            status=response.status,
            content_type=response.headers.get("Content-Type"),
            ts_request=ts_request,
            ts_response=request[TS_RESPONSE],
            ts_end=ts_end,
            request_body_bytes=request.content_length or 0,
            response_body_bytes=0 if upgraded else sum(len(c) for _, c in chunks),
            http_version=f"HTTP/{request.version.major}.{request.version.minor}",
            reason=response.reason,
            request_header_bytes=_request_head_bytes(request),
            response_header_bytes=_response_head_bytes(response),
            request_headers=list(request.headers.items()),
            response_headers=list(response.headers.items()),
        )
        self.recorded.append(Recorded(exchange, client, [] if upgraded else chunks))
        return response

    def exchanges(self, path_prefix: str = "/") -> list[records.Exchange]:
        return [r.exchange for r in self.recorded if _path(r.exchange.url).startswith(path_prefix)]

    def feed(self, analysis, path_prefix: str = "/") -> None:
        """Replay the recorded requests into an Analysis: connection, exchange, body chunks, end."""
        items = sorted(
            (r for r in self.recorded if _path(r.exchange.url).startswith(path_prefix)),
            key=lambda r: r.exchange.ts_request,
        )
        last: dict[str, float] = {}
        for r in items:
            ex = r.exchange
            if ex.conn not in last:
                analysis.connection(ex.conn, r.client, _hostport(ex.url), ex.ts_request)
            head = records.Exchange(**{**_fields(ex), "ts_end": None, "response_body_bytes": None})
            handle = analysis.begin_exchange(head)
            for ts, data in r.chunks:
                handle.body(data, ts)
            handle.end(ts_end=ex.ts_end, response_body_bytes=ex.response_body_bytes)
            last[ex.conn] = max(last.get(ex.conn, 0.0), ex.ts_end or 0.0)
        for conn, ts in last.items():
            analysis.connection_end(conn, ts)


def _fields(ex: records.Exchange) -> dict:
    return {name: getattr(ex, name) for name in ex.__struct_fields__}


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url


def _hostport(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]




@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1:0; yields ``http://127.0.0.1:PORT``."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


#: What polling_app's WebSocket endpoints accept (``/ws`` and ``/ws/{name}``): a chat protocol and the
#: subprotocols of well-known frameworks.
SUBPROTOCOLS = (
    "chat", "actioncable-v1-json", "graphql-transport-ws", "graphql-ws", "mqtt", "v12.stomp", "wamp.2.json",
    "vite-hmr",
)


# -- the pattern endpoints -----------------------------------------------------------------------------


def polling_app(
    recorder: Recorder, *, change_every: int = 5, hold: float = 1.2, per_connection: int = 3, retry_ms: int = 100
) -> web.Application:
    app = recorder.install(web.Application())
    state = {"poll": 0, "longpoll": 0, "etag": 0}

    async def poll(request: web.Request) -> web.Response:
        state["poll"] += 1
        return web.json_response({"version": (state["poll"] - 1) // change_every, "items": ["a", "b"]})

    async def etag(request: web.Request) -> web.Response:
        state["etag"] += 1
        version = (state["etag"] - 1) // change_every
        tag = f'"v{version}"'
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers={"ETag": tag})
        return web.json_response({"version": version, "items": ["a", "b"]}, headers={"ETag": tag})

    async def longpoll(request: web.Request) -> web.Response:
        await asyncio.sleep(hold)
        state["longpoll"] += 1
        return web.json_response({"event": state["longpoll"]})

    async def events(request: web.Request) -> web.StreamResponse:
        last = int(request.headers.get("Last-Event-ID", "0") or 0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(f"retry: {retry_ms}\n\n".encode())
        for n in range(last + 1, last + 1 + per_connection):
            await asyncio.sleep(0.05)
            await response.write(f"id: {n}\nevent: tick\ndata: {json.dumps({'n': n})}\n\n".encode())
        await response.write(b": bye\n\n")
        return response

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(protocols=SUBPROTOCOLS)
        await socket.prepare(request)
        async for msg in socket:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await socket.send_str(msg.data)
        return socket

    async def stream(request: web.Request) -> web.StreamResponse:
        seconds = float(request.query.get("seconds", "1.0"))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            await response.write(json.dumps({"n": n}).encode() + b"\n")
            n += 1
            await asyncio.sleep(0.1)
        return response

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_get("/poll", poll)
    app.router.add_get("/longpoll", longpoll)
    app.router.add_get("/etag", etag)
    app.router.add_get("/events", events)
    app.router.add_get("/ws", ws)
    app.router.add_get("/ws/{name}", ws)
    app.router.add_get("/stream", stream)
    app.router.add_get("/empty", empty)
    return app


def push_app(payloads: list[bytes]) -> web.Application:
    """The same updates pushed: ``/sse`` writes each payload as one ``data:`` event, ``/ws`` sends each as
    one text message (no compression), then each ends; to measure what push really costs on the wire."""
    app = web.Application()

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for payload in payloads:
            await response.write(b"data: " + payload + b"\n\n")
        return response

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        for payload in payloads:
            await socket.send_str(payload.decode())
        await socket.close()
        return socket

    app.router.add_get("/sse", sse)
    app.router.add_get("/ws", ws)
    return app


async def push_client(base: str, kind: str) -> int:
    """Reads every update from /sse or /ws; returns how many bytes of updates arrived."""
    async with aiohttp.ClientSession() as session:
        if kind == "sse":
            async with session.get(f"{base}/sse", headers={"Accept": "text/event-stream"}) as response:
                return len(await response.read())
        async with session.ws_connect(f"{base}/ws", compress=0) as socket:
            total = 0
            async for msg in socket:
                total += len(msg.data)
            return total


# -- clients -------------------------------------------------------------------------------------------


async def short_poll(base: str, *, count: int = 10, interval: float = 0.2, path: str = "/poll") -> None:
    """Polls every ``interval`` (from one request start to the next), with a cache buster, like a timer."""
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        for i in range(count):
            async with session.get(f"{base}{path}", params={"_": str(int(time.time() * 1000))}) as response:
                await response.read()
            await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))


async def conditional_poll(base: str, *, count: int = 10, interval: float = 0.2) -> list[int]:
    """Polls /etag like a careful client: If-None-Match with the last ETag; returns the statuses."""
    statuses = []
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        tag = None
        for i in range(count):
            headers = {"If-None-Match": tag} if tag else {}
            async with session.get(f"{base}/etag", headers=headers) as response:
                await response.read()
                statuses.append(response.status)
                tag = response.headers.get("ETag", tag)
            await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
    return statuses


async def long_poll(base: str, *, count: int = 3) -> None:
    """Re-polls as soon as each held response arrives, carrying the last seen counter as a cursor."""
    async with aiohttp.ClientSession() as session:
        since = 0
        for _ in range(count):
            async with session.get(f"{base}/longpoll", params={"since": str(since)}) as response:
                since = (await response.json())["event"]


async def sse_client(base: str, *, connections: int = 2) -> list[dict]:
    """Reads /events like EventSource: on end of stream, reconnects with Last-Event-ID."""
    seen: list[dict] = []
    last_id = None
    async with aiohttp.ClientSession() as session:
        for _ in range(connections):
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            async with session.get(f"{base}/events", headers=headers) as response:
                event: dict = {}
                async for raw in response.content:
                    line = raw.decode().rstrip("\r\n")
                    if not line:
                        if "data" in event:
                            seen.append(event)
                        event = {}
                    elif line.startswith("id:"):
                        last_id = event["id"] = line[3:].strip()
                    elif line.startswith("data:"):
                        event["data"] = line[5:].strip()
            await asyncio.sleep(0.1)
    return seen


async def ws_client(base: str, messages: list[str], *, path: str = "/ws", protocol: str = "chat") -> list[str]:
    """Echo round trips over a WebSocket offering ``protocol`` (the server accepts any of SUBPROTOCOLS)."""
    echoed = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{base}{path}", protocols=(protocol,)) as socket:
            for text in messages:
                await socket.send_str(text)
                echoed.append((await socket.receive()).data)
    return echoed


async def stream_client(base: str, seconds: float) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/stream", params={"seconds": str(seconds)}) as response:
            return len(await response.read())


# -- Socket.IO -----------------------------------------------------------------------------------------


def socketio_app(recorder: Recorder, *, ping_interval: float = 1.2):
    """A python-socketio AsyncServer on aiohttp (``/socket.io/``) that echoes ``ping`` events."""
    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=ping_interval, ping_timeout=5)
    app = recorder.install(web.Application())
    sio.attach(app)

    @sio.on("echo")
    async def echo(sid, data):
        await sio.emit("echo", data, to=sid)

    return sio, app


async def socketio_session(base: str, *, transports: list[str], seconds: float, emits: int = 2) -> None:
    """A real socketio.AsyncClient: connect with ``transports``, emit a few events, stay, disconnect."""
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    got = asyncio.Event()

    @client.on("echo")
    async def on_echo(data):
        got.set()

    await client.connect(base, transports=transports, wait_timeout=5)
    for i in range(emits):
        await client.emit("echo", {"i": i})
    await asyncio.wait_for(got.wait(), 5)
    await asyncio.sleep(seconds)
    await client.disconnect()
    await asyncio.sleep(0.2)  # let the server finish the last requests


# -- SockJS --------------------------------------------------------------------------------------------


def sockjs_app(recorder: Recorder, *, heartbeat: float = 1.2, prefix: str = "/echo") -> web.Application:
    """A real SockJS server (the ``sockjs`` package for aiohttp) echoing every message."""
    import sockjs

    app = recorder.install(web.Application())

    async def handler(manager, session, msg):
        if msg.type == sockjs.MsgType.MESSAGE:
            session.send(msg.data)

    sockjs.add_endpoint(app, handler, name="echo", prefix=prefix, heartbeat_delay=heartbeat, cookie_needed=False)
    return app


async def sockjs_xhr_client(base: str, *, prefix: str = "/echo", polls: int = 5, messages: int = 2) -> list[str]:
    """The xhr-polling transport exactly as sockjs-client runs it: GET <prefix>/info?t=, then
    POST <prefix>/<server>/<session>/xhr (open frame "o", then each poll held until data or a heartbeat),
    POST .../xhr_send with a JSON array of messages; polls again as soon as a poll returns."""
    import random
    import string

    server = f"{random.randrange(1000):03d}"
    session_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    url = f"{base}{prefix}/{server}/{session_id}"
    frames: list[str] = []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}{prefix}/info", params={"t": str(int(time.time() * 1000))}) as response:
            await response.json()
        for i in range(polls):
            async with session.post(f"{url}/xhr") as response:
                frames.append((await response.text()).strip())
            if i == 1:
                for n in range(messages):
                    async with session.post(f"{url}/xhr_send", data=json.dumps([f"m{n}"])) as response:
                        assert response.status == 204, response.status
    return frames


# -- raw bytes -----------------------------------------------------------------------------------------


@dataclass
class ProxiedConnection:
    client: str
    ts_start: float
    chunks: list[tuple[str, float, bytes]] = field(default_factory=list)  # (direction, ts, data)
    ts_end: float | None = None


class RecordingProxy:
    """TCP proxy on 127.0.0.1:0 in front of ``upstream`` ("host:port"), recording both directions."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.connections: list[ProxiedConnection] = []
        self._server: asyncio.base_events.Server | None = None
        self.address = ""

    async def __aenter__(self) -> "RecordingProxy":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = f"{host}:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = ProxiedConnection(client=f"{peer[0]}:{peer[1]}", ts_start=time.time())
        self.connections.append(conn)
        host, port = self.upstream.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, direction: str) -> None:
            try:
                while data := await src.read(65536):
                    conn.chunks.append((direction, time.time(), data))
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.write_eof()

        await asyncio.gather(pump(reader, up_writer, "client"), pump(up_reader, writer, "server"))
        conn.ts_end = time.time()
        for w in (writer, up_writer):
            w.close()
