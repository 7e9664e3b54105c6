"""`inspector decode --file` end to end (process start, reading, decoding, output) against wsproto, one run.

    python bench/bench_decode_cli.py [--frames 50000] [--size 1024] [--repeat 3]

Writes ``--frames`` masked binary frames of ``--size`` bytes to a temporary file and times, as separate
processes of the same interpreter (best wall time of ``--repeat`` interleaved rounds, peak RSS):

* ``inspector decode --file F --jsonl`` (records streamed), ``--json`` (one object, messages spooled)
  and the human output, all with ``--view-cap 16``, output to /dev/null;
* the anchor: a script feeding the same file in 64 KiB pieces to wsproto's FrameProtocol.

Prints MB/s and the ratio to the anchor. Never run as a test: wall-clock figures on a shared machine are
only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from inspector.ws.schema import build_frame  # noqa: E402

INSPECTOR = os.path.join(os.path.dirname(sys.executable), "inspector")

WSPROTO = """
import sys
from wsproto.frame_protocol import FrameProtocol
protocol = FrameProtocol(client=False, extensions=[])
frames = 0
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(65536):
        protocol.receive_bytes(chunk)
        frames += sum(1 for frame in protocol.received_frames() if frame.frame_finished)
print(frames)
"""


def timed(cmd: list[str]) -> float:
    """Wall seconds of one child process, output discarded."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        subprocess.run(cmd, stdout=devnull, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=50000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frames.bin")
        payload = os.urandom(args.size)
        with open(path, "wb") as f:
            for i in range(args.frames):
                f.write(build_frame(2, payload, mask=i.to_bytes(4, "big")))
        megabytes = os.path.getsize(path) / 1e6
        rows = {
            "wsproto FrameProtocol (anchor)": [sys.executable, "-c", WSPROTO, path],
            "inspector decode --jsonl": [INSPECTOR, "decode", "--file", path, "--view-cap", "16", "--jsonl"],
            "inspector decode --json": [INSPECTOR, "decode", "--file", path, "--view-cap", "16", "--json"],
            "inspector decode (human)": [INSPECTOR, "decode", "--file", path, "--view-cap", "16"],
        }
        best = {name: float("inf") for name in rows}
        for _ in range(args.repeat):
            for name, cmd in rows.items():
                best[name] = min(best[name], timed(cmd))
        print(f"{args.frames} frames of {args.size} bytes, {megabytes:.1f} MB, best of {args.repeat}")
        anchor = best["wsproto FrameProtocol (anchor)"]
        for name, seconds in best.items():
            print(f"{name:34s} {seconds:6.2f} s {megabytes / seconds:7.1f} MB/s  x{seconds / anchor:.2f} anchor")
        print("peak RSS (/usr/bin/time %M):")
        for name, cmd in rows.items():
            out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, check=True, text=True).stderr.strip().splitlines()[-1]
            print(f"{name:34s} {out} KiB")


if __name__ == "__main__":
    main()
