"""`inspector analyze -` on a growing capture: ``tcpdump -U -i lo -w - port P | inspector analyze --frames -``
between a real aiohttp event-stream server and a real HTTP client.

Causal, no timing bound: the server sends event N+1 only after inspector has printed its timeline line
for event N, so every event line is shown while the stream is still open (the server cannot end it
before the last line was seen).  The truth is what the server sent.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import urllib.request

from aiohttp import web

from helpers.tools import require

EVENTS = 4


class _SseServer:
    """aiohttp on 127.0.0.1 in a thread; ``/events`` sends event i once ``seen[i]`` is set."""

    def __init__(self) -> None:
        self.seen = [threading.Event() for _ in range(EVENTS)]
        self.sent: list[str] = []
        self.ended = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for i in range(EVENTS):
            data = f"event-{i} \u00e9"
            self.sent.append(data)
            await response.write(f"id: {i}\ndata: {data}\n\n".encode())
            await self.loop.run_in_executor(None, self.seen[i].wait, 60)
        await response.write_eof()
        self.ended.set()
        return response

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/events", self._events)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.runner = runner
        ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        for event in self.seen:
            event.set()
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_growing_capture_on_stdin_shows_each_event_while_the_stream_is_open(tmp_path):
    server = _SseServer()
    env = dict(os.environ)
    tcpdump = subprocess.Popen([require("tcpdump"), "-U", "-i", "lo", "-w", "-", f"tcp port {server.port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    inspector = subprocess.Popen([sys.executable, "-m", "inspector", "analyze", "--frames", "-"],
                                 stdin=tcpdump.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 text=True, encoding="utf-8")
    tcpdump.stdout.close()  # inspector holds the pipe now
    guard = threading.Timer(120, tcpdump.terminate)  # a hang becomes a failure (inspector sees the end)
    guard.start()
    try:
        assert b"listening on" in tcpdump.stderr.readline()  # capturing before the client connects
        body: list[bytes] = []
        client = threading.Thread(
            target=lambda: body.append(urllib.request.urlopen(f"http://127.0.0.1:{server.port}/events").read()),
            daemon=True,
        )
        client.start()
        lines: list[str] = []
        for i in range(EVENTS):
            while True:
                line = inspector.stdout.readline()
                assert line, f"inspector ended before event {i}: {lines}"
                lines.append(line)
                if f" sse #{i} " in line:
                    break
            assert not server.ended.is_set()  # shown while the stream was still open
            assert line.rstrip("\n").endswith(f"id={i}: {server.sent[i]}")
            server.seen[i].set()
        client.join(30)
        assert body and body[0].count(b"data: ") == EVENTS
    finally:
        guard.cancel()
        tcpdump.terminate()
        tcpdump.wait(30)
        out, err = inspector.communicate(timeout=60)
        server.close()
    assert inspector.returncode == 0, err
    assert "sse 4 events" in out  # the summary after the input ended
