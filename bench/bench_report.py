"""Report and export generation on a 100,000-message run: time, file size, memory (tracemalloc peak).

    python bench/bench_report.py [--messages 100000] [--connections 8]

The records are made synthetically (a JSON payload of 40-90 characters per message, both directions,
spread over ``--connections`` WebSocket connections, a polling exchange every 50 messages) and handed to
each renderer as `Analysis` would.  Rows: the HTML report (`present.report.ReportBuilder` then ``write``),
the Perfetto trace and the HAR export, then the HTML report again for twice the messages (memory and
size should grow with the records kept, not beyond: the builder samples past ``--max-messages``).

Never run as a test: wall-clock figures on a shared machine are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from inspector.present.har_export import HarWriter  # noqa: E402
from inspector.present.perfetto import PerfettoWriter  # noqa: E402
from inspector.present.report import ReportBuilder  # noqa: E402
from inspector.records import Connection, Exchange, Message  # noqa: E402


def make_records(messages: int, connections: int, seed: int = 14):
    rnd = random.Random(seed)
    t0 = 1_700_000_000.0
    for i in range(messages):
        ts = t0 + i * 0.005
        conn = f"c{i % connections}"
        text = '{"seq": %d, "price": %.2f, "note": "%s"}' % (i, rnd.random() * 100, "x" * rnd.randrange(10, 60))
        yield Message(conn=conn, direction=("client", "server")[i % 3 == 0], ts=ts, opcode_name="text",
                      length=len(text), frames=1, compressed=False, sha256="0" * 64, text=text, index=i)
        if i % 50 == 0:
            yield Exchange(conn="p1", method="GET", url="http://127.0.0.1:8080/poll", status=200,
                           content_type="application/json", ts_request=ts, ts_response=ts + 0.002,
                           ts_end=ts + 0.003, request_body_bytes=0, response_body_bytes=120)
    end = t0 + messages * 0.005
    for c in range(connections):
        yield Connection(conn=f"c{c}", client="127.0.0.1:50000", server="127.0.0.1:8080", ts_start=t0, ts_end=end,
                         source="live", protocol="websocket")
    yield Connection(conn="p1", client="127.0.0.1:50001", server="127.0.0.1:8080", ts_start=t0, ts_end=end,
                     source="live", protocol="http")


def _run(records: list, make_sink, finish, path: str) -> None:
    sink, handle = make_sink(path)
    for i in range(0, len(records), 512):
        sink.write_many(records[i:i + 512])
    finish(sink, handle)


def measure(name: str, records: list, make_sink, finish) -> None:
    """CPU and wall time of one run, then a second run under tracemalloc for the peak (it slows it down)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "out")
        cpu, wall = time.process_time(), time.perf_counter()
        _run(records, make_sink, finish, path)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        size = os.path.getsize(path)
        tracemalloc.start()
        _run(records, make_sink, finish, path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"{name:<36} cpu {cpu:6.2f} s  wall {wall:6.2f} s  {size / 1e6:7.1f} MB  peak {peak / 2**20:7.1f} MiB")


def _report(max_messages: int):
    def make(path):
        return ReportBuilder(max_messages=max_messages), path

    def finish(builder, path):
        with open(path, "w", encoding="utf-8") as out:
            builder.write(out)

    return make, finish


def _stream_writer(cls):
    def make(path):
        f = open(path, "wb")
        return cls(f), f

    def finish(writer, f):
        writer.close()
        f.close()

    return make, finish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-messages", type=int, default=250_000)
    args = parser.parse_args()
    records = list(make_records(args.messages, args.connections))
    print(f"{args.messages} messages, {len(records)} records, {args.connections} connections")
    measure("HTML report", records, *_report(args.max_messages))
    measure("Perfetto trace (--perfetto)", records, *_stream_writer(PerfettoWriter))
    measure("HAR (--har)", records, *_stream_writer(HarWriter))
    double = list(make_records(args.messages * 2, args.connections))
    measure(f"HTML report, {args.messages * 2} messages", double, *_report(args.max_messages))
    measure(f"HTML report, {args.messages * 2}, cap {args.messages}", double, *_report(args.messages))


if __name__ == "__main__":
    main()
