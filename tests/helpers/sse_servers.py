"""Test peers for the SSE tests: a real aiohttp event-stream server and a real headless Chromium.

`SseServer` serves, on 127.0.0.1 (ephemeral port), a page at ``/`` whose script opens an ``EventSource``
on ``/stream`` and collects every event it fires, and ``/stream`` itself: the given byte chunks written
and flushed one by one with a pause between them, so that chunk boundaries reach the browser as they
are (split UTF-8 characters, a CR at the end of one chunk and its LF in the next).

`chromium_events` starts Chromium (helpers.tools) headless with a fresh profile, opens the page and reads the
collected events through the DevTools protocol (a websockets client; no npm needed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass

from aiohttp import web
from websockets.sync.client import connect

from helpers.tools import require

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]

# The page: listens for "message" and every type the test names (a browser fires custom types only at
# listeners for that name) and resolves window.result with what it saw: at the first error (the stream
# ended) or, with RECONNECT, once the source is closed (the server answered the reconnection with 204).
PAGE = """<!doctype html><meta charset="utf-8"><title>sse</title><script>
window.result = new Promise((resolve) => {
  const seen = [];
  const es = new EventSource(STREAM_URL);
  for (const type of TYPES) {
    es.addEventListener(type, (e) => seen.push({type: e.type, data: e.data, id: e.lastEventId}));
  }
  es.onerror = () => {
    if (!RECONNECT) es.close();
    if (es.readyState === EventSource.CLOSED) resolve(seen);
  };
});
</script>"""

# Many streams, one after the other (BASE/stream/0, BASE/stream/1, ...; BASE is "" or another server):
# window.result is a list per stream.
PAGE_MANY = """<!doctype html><meta charset="utf-8"><title>sse</title><script>
function collect(url) {
  return new Promise((resolve) => {
    const seen = [];
    const es = new EventSource(url);
    for (const type of TYPES) {
      es.addEventListener(type, (e) => seen.push({type: e.type, data: e.data, id: e.lastEventId}));
    }
    es.onerror = () => { es.close(); resolve(seen); };
  });
}
window.result = (async () => {
  const all = [];
  for (let i = 0; i < COUNT; i++) all.push(await collect(BASE + "/stream/" + i));
  return all;
})();
</script>"""


@dataclass
class Served:
    """One numbered stream: its chunks, status and headers (None: text/event-stream, no-cache)."""

    chunks: list[bytes]
    status: int = 200
    headers: dict[str, str] | None = None


class SseServer:
    """aiohttp app in a thread; ``with SseServer(chunks, types) as server: server.url``.

    ``streams``: more streams (chunk lists or `Served`) at ``/stream/<i>``, for the page ``/many``, which
    reads ``many_count`` of them in turn from ``many_base`` (this server, or another one: cross-origin).

    ``requests`` collects the request headers of every ``/stream`` request; the first gets ``chunks`` (with
    ``status`` and ``headers``), reconnections get ``resume_chunks`` in turn, then 204 No Content, which
    stops EventSource.
    """

    def __init__(
        self,
        chunks: list[bytes],
        types: list[str] = (),
        *,
        pause: float = 0.05,
        reconnect: bool = False,
        headers: dict[str, str] | None = None,
        compress: bool = False,
        status: int = 200,
        stream_url: str = "/stream",
        streams: list[list[bytes] | Served] = (),
        many_base: str = "",
        many_count: int | None = None,
        resume_chunks: list[list[bytes]] = (),
    ) -> None:
        self.chunks = chunks
        self.types = sorted(set(types) | {"message"})
        self.pause = pause
        self.reconnect = reconnect
        self.resume_chunks = list(resume_chunks)  # the streams for the 1st, 2nd, ... reconnection
        self.headers = headers if headers is not None else {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        self.compress = compress
        self.status = status
        self.stream_url = stream_url  # what the page's EventSource opens (another server: cross-origin)
        self.streams = [s if isinstance(s, Served) else Served(list(s)) for s in streams]  # /stream/<i>
        self.stream_requests: dict[int, dict] = {}  # request headers of /stream/<i>
        self.many_base = many_base  # where the page /many reads its streams: "" (here) or another server
        self.many_count = len(self.streams) if many_count is None else many_count
        self.requests: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def _page(self, request: web.Request) -> web.Response:
        body = PAGE.replace("TYPES", json.dumps(self.types)).replace("RECONNECT", json.dumps(self.reconnect))
        body = body.replace("STREAM_URL", json.dumps(self.stream_url))
        return web.Response(text=body, content_type="text/html")

    async def _page_many(self, request: web.Request) -> web.Response:
        body = PAGE_MANY.replace("TYPES", json.dumps(self.types)).replace("COUNT", str(self.many_count))
        body = body.replace("BASE", json.dumps(self.many_base))
        return web.Response(text=body, content_type="text/html")

    async def _numbered(self, request: web.Request) -> web.StreamResponse:
        i = int(request.match_info["i"])
        self.stream_requests[i] = dict(request.headers)
        served = self.streams[i]
        response = web.StreamResponse(status=served.status, headers=served.headers or self.headers)
        # Connection: close, so the page's next EventSource never races a keep-alive connection that the
        # server is closing (Chromium then fails that EventSource before its request reaches the server).
        response.force_close()
        await response.prepare(request)
        return await self._send(response, served.chunks)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        attempt = len(self.requests) - 1
        if attempt > len(self.resume_chunks):  # no more streams for reconnections: tell it to stop
            return web.Response(status=204)
        chunks = self.resume_chunks[attempt - 1] if attempt else self.chunks
        response = web.StreamResponse(status=self.status, headers=self.headers)
        if self.compress:
            response.enable_compression()
        await response.prepare(request)
        return await self._send(response, chunks)

    async def _send(self, response: web.StreamResponse, chunks) -> web.StreamResponse:
        """Write ``chunks`` with ``pause`` between them, then end the body (unless the browser left)."""
        try:
            for chunk in chunks:
                await response.write(chunk)
                await asyncio.sleep(self.pause)
            await response.write_eof()
        except ConnectionResetError:  # the browser refused the stream and closed the connection
            pass
        return response

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/many", self._page_many)
        app.router.add_get("/stream/{i:[0-9]+}", self._numbered)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    def __enter__(self) -> SseServer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _devtools_port(profile: str, proc: subprocess.Popen, deadline: float) -> int:
    path = os.path.join(profile, "DevToolsActivePort")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with status {proc.returncode}")
        try:
            with open(path) as f:
                first = f.readline().strip()
            if first:
                return int(first)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


_COLLECT = "(async () => { while (!window.result) await new Promise(r => setTimeout(r, 20)); return await window.result; })()"


def chromium_events(page_url: str, timeout: float = 60.0) -> list[dict]:
    """Open ``page_url`` in a fresh headless Chromium and return ``window.result`` (the events seen)."""
    profile = tempfile.mkdtemp(prefix="inspector-sse-chromium-")
    proc = subprocess.Popen(
        [require("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", page_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        port = _devtools_port(profile, proc, deadline)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            ident = 0
            while True:
                ident += 1
                ws.send(
                    json.dumps(
                        {
                            "id": ident,
                            "method": "Runtime.evaluate",
                            "params": {"expression": _COLLECT, "awaitPromise": True, "returnByValue": True},
                        }
                    )
                )
                while True:
                    reply = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                    if reply.get("id") == ident:
                        break
                result = reply.get("result", {})
                if "exceptionDetails" not in result and "result" in result and "value" in result["result"]:
                    return result["result"]["value"]
                # the evaluation ran in about:blank or was cut by the navigation: try again
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chromium gave no events: {reply}")
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
