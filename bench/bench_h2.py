"""Benchmark: a TLS 1.3 HTTP/2 capture (hypercorn, ALPN h2) of SSE and polling, `inspector analyze --keylog`
against tshark with the same key log.

    python bench/bench_h2.py              # generate bench/out/bench_h2.pcap (+ .keys.log) if missing
    python bench/bench_h2.py --mb 50      # capture size to aim for (MB), with --regen to make a new one

The capture is made with real peers on 127.0.0.1: hypercorn serving an ASGI app over TLS 1.3 with h2 (an
event stream of JSON events and a polling endpoint), httpx with ``http2=True`` writing its key log, tcpdump
on lo.  It lives in bench/out/ (gitignored), never committed.

Measured, each command in its own child process (peak RSS from ``RUSAGE_CHILDREN``):

- ``inspector analyze --jsonl --keylog KEYS FILE -o /dev/null``
- ``tshark -r FILE -o tls.keylog_file:KEYS -Y 'websocket || http2' -T fields -e http2.streamid``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CAPTURE = OUT / "bench_h2.pcap"
KEYS = OUT / "bench_h2.keys.log"

_MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
elapsed = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, p.returncode)
"""


def _app(events: int):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["path"] == "/events":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            for n in range(events):
                data = json.dumps({"seq": n, "values": list(range(n % 50, n % 50 + 40))})
                await send({"type": "http.response.body", "body": f"id: {n}\ndata: {data}\n\n".encode(),
                            "more_body": True})
                if n % 200 == 0:
                    await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok": true, "pad": "' + b"x" * 2000 + b'"}'})
    return app


async def _capture(mb: int) -> None:
    import httpx
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.tls_peers import Tcpdump, make_cert

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cert, key = make_cert(OUT)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(cert), str(key)
    config.loglevel = "warning"
    ctx = ssl.create_default_context(cafile=str(cert))
    KEYS.unlink(missing_ok=True)
    ctx.keylog_filename = str(KEYS)
    ctx.set_alpn_protocols(["h2"])
    events_per_stream = 20_000  # about 3 MB of event stream each
    streams = max(1, mb * 1_000_000 // 3_400_000)
    shutdown = asyncio.Event()
    server = asyncio.create_task(serve(_app(events_per_stream), config, shutdown_trigger=shutdown.wait))
    await asyncio.sleep(0.5)
    async with Tcpdump(CAPTURE, f"tcp port {port}"):
        async with httpx.AsyncClient(http2=True, verify=ctx, timeout=120) as client:
            base = f"https://localhost:{port}"

            async def events():
                async with client.stream("GET", base + "/events") as r:
                    async for _ in r.aiter_bytes():
                        pass

            async def polls():
                for n in range(100):
                    await client.get(f"{base}/poll?n={n}")

            for _ in range(streams):
                await asyncio.gather(events(), polls())
    shutdown.set()
    await server


def measure(args: list[str]) -> tuple[float, float, int, int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, check=True)
    elapsed, cpu, rss, rc = out.stdout.split()
    return float(elapsed), float(cpu), int(rss), int(rc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--regen", action="store_true")
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if options.regen or not CAPTURE.exists():
        asyncio.run(_capture(options.mb))
    size = CAPTURE.stat().st_size / 1e6
    ours = measure([sys.executable, "-m", "inspector", "analyze", "--jsonl", "--keylog", str(KEYS), str(CAPTURE),
                    "-o", "/dev/null"])
    theirs = measure(["tshark", "-r", str(CAPTURE), "-o", f"tls.keylog_file:{KEYS}", "-Y", "websocket || http2",
                      "-T", "fields", "-e", "http2.streamid"])
    print(f"capture: {size:.1f} MB (TLS 1.3, HTTP/2: SSE and polling)")
    for name, (elapsed, cpu, rss, rc) in (("inspector", ours), ("tshark", theirs)):
        print(f"{name:10} {elapsed:7.2f} s  cpu {cpu:7.2f} s  peak RSS {rss / 1024:7.1f} MB  exit {rc}")
    print(f"speed ratio (tshark time / inspector time): {theirs[0] / ours[0]:.2f}x; "
          f"memory ratio (inspector / tshark): {ours[2] / theirs[2]:.2f}")


if __name__ == "__main__":
    main()
