"""SSE parsing throughput: inspector against sseclient-py and a minimal split loop, one run.

    python bench/bench_sse.py [--events 200000] [--chunk 4096] [--repeat 3]

Builds a stream like an LLM token stream (``event``, ``id`` and a 60-120 byte JSON ``data`` line per event,
a ``:`` heartbeat every 50 events), feeds it in ``--chunk``-byte pieces to each parser and prints events/s
and MB/s (CPU time, best of ``--repeat`` interleaved rounds) and the ratio to sseclient-py. Rows:

* inspector SseStreamAnalysis: the real thing, an `SseEvent` record per event plus the stream statistics;
* inspector SseParser: the WHATWG parser alone;
* sseclient-py ``SSEClient(chunks).events()``: a popular pure-Python client parser (not bounded in memory,
  no BOM or split-CRLF handling); skipped with a note if it is not installed (``pip install sseclient-py``);
* split loop: ``split(b"\\n\\n")`` + ``partition`` per line, LF only, no state across chunks (a practical
  pure-Python floor, not a correct parser).

Never run as a test: wall-clock figures on a shared machine are only comparable within one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from inspector.sse import SseParser, SseStreamAnalysis  # noqa: E402


def make_stream(n: int, seed: int = 9262) -> bytes:
    rnd = random.Random(seed)
    words = ["hello", "world", "the", "stream", "token", "café", "naïve", "€", "delta", "content"]
    out = []
    for i in range(n):
        if i % 50 == 0:
            out.append(b": keep-alive\n\n")
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 12)))
        data = json.dumps({"i": i, "choices": [{"delta": {"content": text}}]}, ensure_ascii=False)
        out.append(f"event: delta\nid: {i}\ndata: {data}\n\n".encode())
    return b"".join(out)


def run_analysis(chunks) -> int:
    analysis = SseStreamAnalysis("c", "http://bench/", response_headers=[("Content-Type", "text/event-stream")])
    n = 0
    for chunk in chunks:
        n += len(analysis.feed(chunk, 1.0))
    analysis.end(2.0)
    return n


def run_parser(chunks) -> int:
    parser = SseParser()
    n = 0
    for chunk in chunks:
        n += len(parser.feed(chunk, 1.0))
    parser.end(2.0)
    return n - parser.comments


def run_sseclient(chunks) -> int:
    import sseclient

    return sum(1 for _ in sseclient.SSEClient(iter(chunks)).events())


def run_split_loop(chunks) -> int:
    n = 0
    rest = b""
    for chunk in chunks:
        blocks = (rest + chunk).split(b"\n\n")
        rest = blocks.pop()
        for block in blocks:
            data = []
            for line in block.split(b"\n"):
                name, _, value = line.partition(b":")
                if name == b"data":
                    data.append(value[1:] if value[:1] == b" " else value)
            if data:
                b"\n".join(data).decode()
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    stream = make_stream(args.events)
    chunks = [stream[i : i + args.chunk] for i in range(0, len(stream), args.chunk)]
    rows = [
        ("inspector SseStreamAnalysis", run_analysis),
        ("inspector SseParser", run_parser),
        ("sseclient-py SSEClient.events", run_sseclient),
        ("split loop (floor, not a parser)", run_split_loop),
    ]
    if importlib.util.find_spec("sseclient") is None:
        print("sseclient-py not installed: its row and the ratio are skipped (pip install sseclient-py)")
        rows = [r for r in rows if r[1] is not run_sseclient]
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, fn in rows:
            t = time.process_time()
            n = fn(chunks)
            dt = time.process_time() - t
            if n != args.events:
                raise SystemExit(f"{name}: {n} events, expected {args.events}")
            best[name] = min(best.get(name, dt), dt)
    anchor = best.get("sseclient-py SSEClient.events")
    print(f"{args.events} events, {len(stream) / 1e6:.1f} MB in {args.chunk}-byte chunks, best of {args.repeat}")
    for name, _ in rows:
        dt = best[name]
        ratio = f"  x{anchor / dt:.2f} vs sseclient-py" if anchor else ""
        print(f"{name:36s} {args.events / dt:>10,.0f} events/s {len(stream) / dt / 1e6:7.1f} MB/s{ratio}")


if __name__ == "__main__":
    main()
