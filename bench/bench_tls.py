"""Benchmark: TLS 1.3 WebSocket capture, `inspector analyze --keylog` against tshark with the same key log.

    .venv/bin/python bench/bench_tls.py           # generate bench/out/bench_tls.pcap (+ .keys.log) if missing
    .venv/bin/python bench/bench_tls.py --regen   # capture a new one

The capture is made with real peers on 127.0.0.1 (a `websockets` server behind Python's `ssl`, TLS 1.3,
the client writing its key log; tcpdump on lo): two connections, one plain and one with
permessage-deflate, each client streaming JSON/text/binary messages of 20-600 bytes that the server echoes.
It lives in bench/out/ (gitignored), never committed.

Measured, each command in its own child process (peak RSS from ``RUSAGE_CHILDREN``):

- ``inspector analyze --jsonl --keylog KEYS FILE -o /dev/null``
- ``tshark -r FILE -o tls.keylog_file:KEYS -Y websocket -T fields -e websocket.opcode``

then, in this process, the share of inspector's CPU time spent decrypting (record layer, AEAD) against the
analysis that follows it (HTTP/1.x, WebSocket frames and messages, classifier).  Both frame counts are
printed: tshark 4.0 decodes only part of such a capture (it nests WebSocket frames inside
``data-text-lines`` when a TLS record holds many of them), so its frames/s are not comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CAPTURE = OUT / "bench_tls.pcap"
KEYS = OUT / "bench_tls.keys.log"
MESSAGES_PER_CONN = 20_000

_MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE if sys.argv[1] == "count" else subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
elapsed = time.perf_counter() - t
frames = sum(line.count(b",") + 1 for line in p.stdout.splitlines() if line.strip()) if p.stdout else 0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, p.returncode, frames)
"""


def payloads(rng: random.Random, n: int):
    for i in range(n):
        kind = rng.random()
        if kind < 0.6:
            yield json.dumps({"seq": i, "values": [rng.randint(0, 10**6) for _ in range(rng.randint(1, 40))]})
        elif kind < 0.85:
            yield "".join(rng.choice("abcdefghij ") for _ in range(rng.randint(20, 600)))
        else:
            yield rng.randbytes(rng.randint(20, 600))


async def _generate() -> None:
    import websockets

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.tls_peers import Tcpdump, contexts, make_cert

    OUT.mkdir(parents=True, exist_ok=True)
    KEYS.unlink(missing_ok=True)
    cert, key = make_cert(OUT)
    server_ctx, client_ctx = contexts(cert, key, KEYS)

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(echo, "127.0.0.1", 0, ssl=server_ctx, compression="deflate",
                                max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with Tcpdump(CAPTURE, f"tcp port {port}"):
            for index, compression in enumerate((None, "deflate")):
                rng = random.Random(index)
                async with websockets.connect(f"wss://127.0.0.1:{port}/", ssl=client_ctx, server_hostname="localhost",
                                              compression=compression, max_size=None) as ws:
                    async def reader() -> None:
                        for _ in range(MESSAGES_PER_CONN):
                            await ws.recv()

                    task = asyncio.create_task(reader())
                    for message in payloads(rng, MESSAGES_PER_CONN):
                        await ws.send(message)
                    await task


def measure(mode: str, cmd: list[str]) -> tuple[float, float, int, int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, mode, *cmd], capture_output=True, text=True, check=True)
    elapsed, cpu, rss, rc, frames = out.stdout.split()
    if int(rc):
        raise SystemExit(f"{cmd[0]} failed ({rc})")
    return float(elapsed), float(cpu), int(rss), int(frames)


def decryption_share() -> tuple[float, float, int]:
    """(CPU seconds in decryption, CPU seconds in total, frame records) of one in-process run."""
    from inspector.analysis import Analysis
    from inspector.records import Frame
    from inspector.sources import SourceOptions, pcap

    spent = [0.0]
    original = pcap.decrypt

    def timed(session, direction, events):
        t = time.process_time()
        try:
            return original(session, direction, events)
        finally:
            spent[0] += time.process_time() - t

    pcap.decrypt = timed
    try:
        start = time.process_time()
        frames = [0]

        def sink(record) -> None:
            if type(record) is Frame:
                frames[0] += 1

        analysis = Analysis(sink, source="pcap")
        pcap.run(str(CAPTURE), analysis, SourceOptions(keylog=(str(KEYS),)))
        analysis.finish()
        total = time.process_time() - start
    finally:
        pcap.decrypt = original
    return spent[0], total, frames[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regen", action="store_true")
    args = parser.parse_args()
    if args.regen or not CAPTURE.exists() or not KEYS.exists():
        asyncio.run(_generate())
    size = CAPTURE.stat().st_size / 1e6
    ours = measure("quiet", [sys.executable, "-m", "inspector", "analyze", "--jsonl", "--keylog", str(KEYS),
                             str(CAPTURE), "-o", "/dev/null"])
    theirs = measure("count", ["tshark", "-r", str(CAPTURE), "-o", f"tls.keylog_file:{KEYS}", "-Y", "websocket",
                               "-T", "fields", "-e", "websocket.opcode"])
    decrypt, total, frames = decryption_share()
    print(f"capture {CAPTURE.name}: {size:.1f} MB, {frames} WebSocket frames decoded by inspector, "
          f"{theirs[3]} by tshark")
    for name, (elapsed, cpu, rss, _) in (("inspector", ours), ("tshark", theirs)):
        print(f"{name:9} wall {elapsed:6.2f} s  cpu {cpu:6.2f} s  {size / cpu:6.1f} MB/s (cpu)  "
              f"peak RSS {rss / 1024:6.1f} MiB")
    print(f"speed ratio (cpu): inspector {theirs[1] / ours[1]:.2f}x tshark; "
          f"memory ratio: {ours[2] / theirs[2]:.2f} of tshark's")
    print(f"decryption {decrypt:.2f} s of {total:.2f} s CPU in-process ({100 * decrypt / total:.0f}%); "
          f"analysis after it {total - decrypt:.2f} s")


if __name__ == "__main__":
    main()
