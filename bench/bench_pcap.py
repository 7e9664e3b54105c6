"""Benchmark: `inspector analyze --jsonl` against tshark on one large capture from real peers.

    .venv/bin/python bench/bench_pcap.py            # generate bench/out/bench.pcap if missing, then measure
    .venv/bin/python bench/bench_pcap.py --regen    # capture a new one
    .venv/bin/python bench/bench_pcap.py --breakdown  # also CPU seconds per layer (source, decoder, ...)
                                                      # and the C floor: what 5x tshark leaves for Python

The capture (>= 80 MB, >= 400,000 WebSocket frames) is made like the fixtures: websockets servers and
clients on 127.0.0.1, tcpdump on lo.  Four connections: two plain, two with permessage-deflate (context
takeover); each client streams text/JSON/binary messages of 20-600 bytes without waiting, the server
echoes every message, so frames flow both ways.  It lives in bench/out/ (gitignored), never committed.

Measured in one run, each command in its own child process (peak RSS from that child's
``RUSAGE_CHILDREN``):

- ``inspector analyze --jsonl FILE -o /dev/null``
- ``tshark -r FILE -Y websocket -T fields -e websocket.opcode`` (output counted, not stored)

Prints frames/s and MB/s for both (by wall clock and by CPU time: on a shared machine the CPU-time ratio
is the stable one), the ratios, and both peak memories.  The frame count is tshark's (one opcode per
frame); inspector's own count is checked against it in a separate, untimed run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CAPTURE = OUT / "bench.pcap"
MESSAGES_PER_CONN = 52_000
CONNECTIONS = [None, "deflate", None, "deflate"]

_MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE if sys.argv[1] == "count" else subprocess.DEVNULL)
elapsed = time.perf_counter() - t
frames = sum(line.count(b",") + 1 for line in p.stdout.splitlines() if line.strip()) if p.stdout else 0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, p.returncode, frames)
"""


def payloads(rng: random.Random, n: int):
    words = ["price", "update", "user", "status", "ok", "quote", "tick", "value", "delta", "id"]
    for i in range(n):
        kind = rng.random()
        if kind < 0.6:
            yield json.dumps({"seq": i, "type": rng.choice(words), "values": [rng.randint(0, 10**6) for _ in
                              range(rng.randint(2, 60))]})
        elif kind < 0.9:
            yield " ".join(rng.choice(words) for _ in range(rng.randint(4, 100)))
        else:
            yield rng.randbytes(rng.randint(20, 600))


async def generate() -> None:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except Exception:
            pass

    OUT.mkdir(parents=True, exist_ok=True)
    servers = []
    for compression in CONNECTIONS:
        servers.append(await serve(echo, "127.0.0.1", 0, compression=compression, max_queue=None))
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    bpf = " or ".join(f"tcp port {p}" for p in ports)
    proc = await asyncio.create_subprocess_exec(
        "tcpdump", "-i", "lo", "--immediate-mode", "-B", "65536", "-U", "-w", str(CAPTURE), bpf,
        stdout=subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    while b"listening" not in await asyncio.wait_for(proc.stderr.readline(), 10):
        pass
    await asyncio.sleep(0.5)

    async def client(index: int, port: int, compression) -> None:
        rng = random.Random(index)
        async with connect(f"ws://127.0.0.1:{port}/bench/{index}", compression=compression,
                           max_queue=None) as ws:
            async def reader():
                for _ in range(MESSAGES_PER_CONN):
                    await ws.recv()

            task = asyncio.create_task(reader())
            for i, payload in enumerate(payloads(rng, MESSAGES_PER_CONN)):
                await ws.send(payload)
                if i % 64 == 0:
                    await asyncio.sleep(0)
            await task
            await ws.close(1000, "bench done")

    await asyncio.gather(*(client(i, p, c) for i, (p, c) in enumerate(zip(ports, CONNECTIONS))))
    await asyncio.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    await proc.communicate()
    for s in servers:
        s.close()


def measure(command: list[str], count: bool = False) -> tuple[float, float, int, int, int]:
    """(wall seconds, CPU seconds, peak RSS KiB, exit code, frames counted) of one child process."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, "count" if count else "run", *command],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3]), int(out[4])


def cpu(step) -> float:
    """CPU seconds of ``step()`` in this process."""
    start = time.process_time()
    step()
    return time.process_time() - start


def breakdown() -> tuple[float, int]:
    """CPU seconds per layer, in this process: where a frame's time goes.  Returns the C floor (seconds)
    and the number of TCP segments carrying WebSocket bytes."""
    from inspector.analysis import Analysis
    from inspector.ws.decoder import FrameDecoder
    from inspector.ws.handshake import validate
    from inspector.present.jsonl import JsonlWriter
    from inspector.sources import SourceOptions
    from inspector.sources import pcap
    from inspector.ws.stream import WebSocketStream

    chunks: dict[str, list] = {}
    handshakes: dict[str, object] = {}

    class Collect:  # stands in for Analysis: keeps each WebSocket direction's bytes
        def __init__(self, conn=None):
            self.conn = conn

        def data(self, direction, data, ts=None):
            chunks[self.conn].append((direction, data, ts))

        def gap(self, *args):
            pass

        end = body = gap

        def connection(self, *args, **kwargs):
            pass

        connection_end = warning = connection

        def websocket(self, conn, handshake=None, **kwargs):
            chunks[conn] = []
            handshakes[conn] = handshake
            return Collect(conn)

        def begin_exchange(self, exchange):
            return Collect()

    rows = [("read pcap records (struct)", cpu(lambda: sum(1 for _ in pcap.PcapReader(open(CAPTURE, "rb"), "pcap"))))]
    rows.append(("+ link/IP/TCP, reassembly, HTTP (source)", cpu(lambda: pcap.run(str(CAPTURE), Collect(),
                                                                                      SourceOptions()))))
    params = {}
    for conn, ex in handshakes.items():
        _, params[conn] = validate(conn, ex.url, method=ex.method, http_version=ex.http_version,
                                   request_headers=ex.request_headers, status=ex.status,
                                   response_headers=ex.response_headers)

    def decoders():
        for conn, pieces in chunks.items():
            dec = {d: FrameDecoder(d, deflate=params[conn] is not None) for d in ("client", "server")}
            for direction, data, _ in pieces:
                dec[direction].feed(data)

    def streams():
        for conn, pieces in chunks.items():
            stream = WebSocketStream(conn, deflate=params[conn])
            for direction, data, ts in pieces:
                stream.feed(direction, data, ts)

    def pipeline(sink):
        analysis = Analysis(sink, source="pcap")
        for conn, pieces in chunks.items():
            analysis.connection(conn, None, None, None)
            ws = analysis.websocket(conn, handshake=handshakes[conn])
            for direction, data, ts in pieces:
                ws.data(direction, data, ts)
            analysis.connection_end(conn)
        analysis.finish()

    def jsonl():
        writer = JsonlWriter(open(os.devnull, "wb"))
        pipeline(writer)
        writer.flush()

    rows.append(("frame decoder only (decoder.FrameDecoder)", cpu(decoders)))
    rows.append(("+ message layer (websocket.WebSocketStream)", cpu(streams)))
    rows.append(("+ Analysis (null sink)", cpu(lambda: pipeline(lambda record: None))))
    rows.append(("+ JsonlWriter to /dev/null", cpu(jsonl)))
    print(f"CPU seconds per layer ({sum(len(v) for v in chunks.values())} WebSocket byte chunks):")
    for name, seconds in rows:
        print(f"  {name:<48} {seconds:6.2f}")
    records: list = []
    pipeline(records.append)
    floor = c_floor(chunks, params, records)
    floor.insert(0, ("reading the file's records (as above)", rows[0][1]))
    print("C work alone, in bare loops (any Python implementation of these records does at least this):")
    for name, seconds in floor:
        print(f"  {name:<48} {seconds:6.2f}")
    total = sum(seconds for _, seconds in floor)
    print(f"  {'total':<48} {total:6.2f}")
    return total, sum(len(v) for v in chunks.values())


def c_floor(chunks: dict[str, list], params: dict, records: list) -> list[tuple[str, float]]:
    """CPU seconds of the C calls the records require, each in a loop that does nothing else: unmasking
    every client payload (one big-integer XOR, as inspector does), inflating every compressed message (one
    zlib call with the 00 00 ff ff tail), SHA-256 and UTF-8 decoding of every message, and JSON-encoding
    ``records`` (what `analyze --jsonl` writes) in JsonlWriter's batches.  The payloads come from an
    untimed FrameDecoder pass."""
    import hashlib
    import zlib

    import msgspec

    from inspector.ws.decoder import FrameDecoder
    from inspector.ws.header import apply_mask

    masked, messages = [], []  # (masked payload, key); (direction's inflater key or None, opcode, payload)
    for conn, pieces in chunks.items():
        decoders = {d: FrameDecoder(d, deflate=params[conn] is not None) for d in ("client", "server")}
        first: dict[str, int] = {}
        parts: dict[str, list] = {"client": [], "server": []}
        for direction, data, _ in pieces:
            for header, payload, _, last in decoders[direction].feed(data):
                if header.masking_key:
                    masked.append((apply_mask(payload, header.masking_key), header.masking_key))
                first.setdefault(direction, header.b0)
                parts[direction].append(payload)
                if last and header.fin:
                    b0 = first.pop(direction)
                    inflater = (conn, direction) if b0 & 0x40 else None
                    messages.append((inflater, b0 & 0x0F, b"".join(parts[direction])))
                    parts[direction] = []
    wbits = {(conn, d): p.for_sender(d)[1] for conn, p in params.items() if p for d in ("client", "server")}
    tail = b"\x00\x00\xff\xff"

    def unmask():
        from_bytes = int.from_bytes
        for payload, key in masked:
            n = len(payload)
            (from_bytes(payload, "big") ^ from_bytes((key * ((n >> 2) + 1))[:n], "big")).to_bytes(n, "big")

    inflated: list[tuple[int, bytes]] = []

    def inflate():
        streams = {key: zlib.decompressobj(-bits) for key, bits in wbits.items()}
        for inflater, opcode, payload in messages:
            inflated.append((opcode, streams[inflater].decompress(payload + tail) if inflater else payload))

    def sha256():
        new = hashlib.sha256
        for _, payload in inflated:
            new(payload).hexdigest()

    def utf8():
        for opcode, payload in inflated:
            if opcode == 1:
                payload.decode()

    encoder = msgspec.json.Encoder()

    def encode():  # in batches of 512, as JsonlWriter does
        for i in range(0, len(records), 512):
            encoder.encode_lines(records[i : i + 512])

    return [("unmasking client payloads", cpu(unmask)), ("inflating compressed messages", cpu(inflate)),
            ("SHA-256 of every message", cpu(sha256)), ("UTF-8 decoding of text messages", cpu(utf8)),
            (f"JSON-encoding the {len(records)} records (msgspec)", cpu(encode))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regen", action="store_true", help="capture a new bench/out/bench.pcap")
    parser.add_argument("--breakdown", action="store_true", help="also print CPU seconds per layer")
    args = parser.parse_args()
    if args.regen or not CAPTURE.exists():
        print("capturing", CAPTURE, file=sys.stderr)
        asyncio.run(generate())
    floor = breakdown() if args.breakdown else None
    size = CAPTURE.stat().st_size
    inspector = shutil.which("inspector", path=str(Path(sys.executable).parent)) or "inspector"
    ins_cmd = [inspector, "analyze", "--jsonl", str(CAPTURE), "-o", "/dev/null"]
    tshark_cmd = ["tshark", "-r", str(CAPTURE), "-Y", "websocket", "-T", "fields", "-e", "websocket.opcode"]
    ins_t, ins_cpu, ins_rss, ins_rc, _ = measure(ins_cmd)
    tsh_t, tsh_cpu, tsh_rss, tsh_rc, frames = measure(tshark_cmd, count=True)
    check = subprocess.run([inspector, "analyze", "--jsonl", str(CAPTURE)], capture_output=True)
    ins_frames = check.stdout.count(b'{"type":"frame"')
    gaps = sum(json.loads(line).get("gaps", 0) for line in check.stdout.splitlines()
               if line.startswith(b'{"type":"connection"'))
    mb = size / 1e6
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"capture: {CAPTURE.relative_to(ROOT)}  {mb:.1f} MB  frames: tshark {frames}  inspector {ins_frames}"
          f"  reassembly gaps: {gaps}  load average before: {load}")
    print(f"{'command':<44} {'wall s':>7} {'frames/s':>9} {'MB/s':>6} {'CPU s':>7} {'frames/CPU s':>12}"
          f" {'peak RSS MB':>11}")
    for name, wall, cpu, rss in [("inspector analyze --jsonl FILE -o /dev/null", ins_t, ins_cpu, ins_rss),
                                 ("tshark -Y websocket -T fields -e ws.opcode", tsh_t, tsh_cpu, tsh_rss)]:
        print(f"{name:<44} {wall:7.2f} {frames / wall:9.0f} {mb / wall:6.1f} {cpu:7.2f} {frames / cpu:12.0f}"
              f" {rss / 1024:11.0f}")
    print(f"ratio inspector/tshark: {tsh_t / ins_t:.2f}x by wall clock, {tsh_cpu / ins_cpu:.2f}x by CPU time"
          f"   exit codes: {ins_rc} {tsh_rc}")
    if floor:
        seconds, segments = floor
        budget = tsh_cpu / 5
        print(f"5x tshark by CPU time: the whole run in {budget:.2f} s; the C floor ({seconds:.2f} s) leaves"
              f" {budget - seconds:.2f} s, {(budget - seconds) / segments * 1e6:.2f} us per WebSocket TCP segment,"
              f" for all the Python")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
