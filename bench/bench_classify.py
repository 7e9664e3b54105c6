"""The HTTP side of the pipeline: `Analysis` (body hashing, classifier) and the human renderer, one run.

    python bench/bench_classify.py [--exchanges 100000] [--endpoints 50] [--repeat 3]

Generates ``--exchanges`` polling exchanges (JSON bodies of ~200 bytes, cache busters, ``--endpoints``
endpoints over 20 client addresses) and times, best of ``--repeat`` interleaved rounds:

* ``analysis``: `Analysis` fed the way a source feeds it (connection, begin_exchange, body, end,
  connection_end) with a discarding sink, then ``finish()`` (the classifier's patterns);
* ``analysis+render``: the same into `HumanRenderer` writing to /dev/null;
* the anchor: `JsonlWriter` writing the same Exchange records to /dev/null (the cheapest thing
  any run does with them).

Prints exchanges/s and the ratio to the anchor. Never run as a test: wall-clock figures on a shared
machine are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from inspector import records  # noqa: E402
from inspector.present.jsonl import JsonlWriter  # noqa: E402
from inspector.analysis import Analysis, Options  # noqa: E402
from inspector.present.terminal import HumanRenderer  # noqa: E402

HEADERS = [("Host", "api.example"), ("User-Agent", "bench/1.0"), ("Accept", "application/json")]
RESPONSE_HEADERS = [("Content-Type", "application/json"), ("Content-Length", "200")]


def make(n: int, endpoints: int) -> list[tuple[records.Exchange, bytes, str]]:
    out = []
    for i in range(n):
        e = i % endpoints
        t = 1_700_000_000.0 + i * 0.01
        body = (b'{"version": %d, "pad": "' % (i // 10)) + b"x" * 170 + b'"}'
        ex = records.Exchange(
            conn=f"c{i % 2000}", method="GET", url=f"http://api.example/poll/{e}?_={int(t * 1000)}", status=200,
            content_type="application/json", ts_request=t, ts_response=t + 0.002, ts_end=None,
            request_body_bytes=0, response_body_bytes=None, request_headers=HEADERS, response_headers=RESPONSE_HEADERS,
        )
        out.append((ex, body, f"10.0.{(i % 20)}.1:{40000 + i % 2000}"))
    return out


def run_analysis(items, sink) -> None:
    analysis = Analysis(sink, source="pcap", options=Options())
    seen = set()
    for ex, body, client in items:
        if ex.conn not in seen:
            seen.add(ex.conn)
            analysis.connection(ex.conn, client, "api.example:80", ex.ts_request)
        h = analysis.begin_exchange(ex)
        h.body(body, ex.ts_response)
        h.end(ts_end=ex.ts_response + 0.0001)
    analysis.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items = make(args.exchanges, args.endpoints)
    best: dict[str, float] = {}
    with open(os.devnull, "w") as text_null, open(os.devnull, "wb") as bin_null:
        def anchor() -> None:
            writer = JsonlWriter(bin_null)
            for ex, _, _ in items:
                writer(ex)
            writer.flush()

        def analysis() -> None:
            run_analysis(items, lambda record: None)

        def rendered() -> None:
            renderer = HumanRenderer(text_null)
            run_analysis(items, renderer)
            renderer.close()

        for _ in range(args.repeat):
            for name, fn in (("jsonl (anchor)", anchor), ("analysis", analysis), ("analysis+render", rendered)):
                start = time.perf_counter()
                fn()
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    base = best["jsonl (anchor)"]
    print(f"{args.exchanges} exchanges, {args.endpoints} endpoints, best of {args.repeat}")
    for name, seconds in best.items():
        print(f"  {name:16} {seconds:7.3f} s  {args.exchanges / seconds:10.0f} exchanges/s  x{seconds / base:.1f} anchor")


if __name__ == "__main__":
    main()
