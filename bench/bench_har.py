"""Benchmark: peak memory of `inspector analyze --jsonl` on a 200 MB HAR, against `json.load` of the same file.

    python bench/bench_har.py            # generate bench/out/bench.har if missing, then measure
    python bench/bench_har.py --regen    # generate it again (--mb N for another size)

The HAR (bench/out/, gitignored) is the real Chrome DevTools export fixtures/har/chromium-devtools.har (a
Chromium session: polling, long polling, an event stream, a WebSocket) repeated with shifted times and
fresh ``_connectionId`` values until it reaches the size, each copy's WebSocket entry carrying 400
messages (text, JSON, base64 binary), so the file holds the entry shapes and sizes a real recorder writes
and thousands of keep-alive connections (more than the reader keeps open at once).

Measured in one run, each command in its own child process (peak RSS of that child, from
``os.wait4``'s rusage):

- ``python -c "import inspector.cli"``: the interpreter and the imports alone (the floor);
- ``inspector analyze --jsonl FILE`` (output to /dev/null): the HAR read incrementally with ijson;
- ``python -c "json.load(open(FILE))"``: the anchor, the whole document in memory.

Prints each peak RSS, the time taken, and the ratios; the point is that the incremental reader's peak does
not grow with the file (it stays near the floor) while json.load's is several times the file size.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
HAR = OUT / "bench.har"
TEMPLATE = ROOT / "fixtures" / "har" / "chromium-devtools.har"
WS_MESSAGES = 400


def _shift(entry: dict, copy: int, seconds: float) -> dict:
    started = dt.datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
    entry["startedDateTime"] = (started + dt.timedelta(seconds=seconds)).isoformat()
    for message in [*entry.get("_webSocketMessages", ()), *entry.get("_eventSourceMessages", ())]:
        message["time"] += seconds
    if entry.get("_connectionId"):
        entry["_connectionId"] = str(copy * 1000 + int(entry["_connectionId"]))
    return entry


def _ws_messages(rng: random.Random, t0: float) -> list[dict]:
    out = []
    for i in range(WS_MESSAGES):
        kind = rng.random()
        if kind < 0.5:
            data, opcode = json.dumps({"seq": i, "price": rng.randint(0, 10**6), "sym": "ABC"}), 1
        elif kind < 0.85:
            data, opcode = " ".join(rng.choice(["tick", "update", "ok", "quote"]) for _ in range(rng.randint(3, 40))), 1
        else:
            data, opcode = base64.b64encode(rng.randbytes(rng.randint(8, 300))).decode(), 2
        out.append({"type": "send" if i % 3 == 0 else "receive", "time": t0 + i * 0.01, "opcode": opcode, "data": data})
    return out


def generate(path: Path, megabytes: int) -> None:
    template = json.loads(TEMPLATE.read_text())
    entries = template["log"]["entries"]
    rng = random.Random(6)
    target = megabytes * 1_000_000
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        head = dict(template["log"], entries=None)
        prefix = json.dumps({"log": head})
        f.write(prefix[: prefix.index('"entries": null')] + '"entries": [\n')
        written, copy, first = len(prefix), 0, True
        while written < target:
            for entry in entries:
                entry = _shift(json.loads(json.dumps(entry)), copy, copy * 10.0)
                if "_webSocketMessages" in entry:
                    t0 = entry["_webSocketMessages"][0]["time"] if entry["_webSocketMessages"] else 0.0
                    entry["_webSocketMessages"] = _ws_messages(rng, t0)
                text = ("" if first else ",\n") + json.dumps(entry)
                first = False
                f.write(text)
                written += len(text)
            copy += 1
        f.write("\n]}}\n")
    tmp.rename(path)


def measure(argv: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, exit status) of one command in its own child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regen", action="store_true", help="generate the HAR again")
    parser.add_argument("--mb", type=int, default=200, help="size of the generated HAR in MB (default 200)")
    args = parser.parse_args()
    if args.regen or not HAR.exists():
        print(f"generating {HAR} ({args.mb} MB) ...", flush=True)
        generate(HAR, args.mb)
    size = HAR.stat().st_size
    py = sys.executable
    runs = [
        ("python + import inspector.cli (floor)", [py, "-c", "import inspector.cli"]),
        ("inspector analyze --jsonl", [py, "-c", "from inspector.cli import main; main()", "analyze", "--jsonl", str(HAR)]),
        ("json.load (anchor)", [py, "-c", "import json, sys; json.load(open(sys.argv[1], 'rb'))", str(HAR)]),
    ]
    print(f"HAR: {HAR} {size / 1e6:.1f} MB")
    results = {}
    for name, argv in runs:
        seconds, rss_kib, status = measure(argv)
        if status != 0:
            sys.exit(f"{name}: exit status {status}")
        results[name] = rss_kib
        print(f"{name:40s} peak RSS {rss_kib / 1024:8.1f} MiB  {seconds:7.2f} s")
    floor, ours, anchor = (results[name] for name, _ in runs)
    print(f"analyze peak / json.load peak: {ours / anchor:.3f}  (json.load peak / file size: "
          f"{anchor * 1024 / size:.2f}; analyze above the import floor: {(ours - floor) / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
