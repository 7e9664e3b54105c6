"""Memory of `inspector analyze` on captures built to exhaust connection state (docs/reliability.md).

    python bench/bench_hostile.py [--out DIR]

- ``syn.pcap``: 500,000 connections that send a SYN and nothing else;
- ``ooo.pcap``: 1,000 connections that each hold 1 MiB out of order (the first segment never comes).

Prints the peak RSS of each ``inspector analyze --jsonl`` run (``os.wait4``'s rusage) and its warnings.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


def _packet(src: int, sport: int, dst: int, dport: int, seq: int, flags: int, payload: bytes = b"") -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp + payload
    return struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame


def syn_only(path: Path, count: int = 500_000) -> None:
    with open(path, "wb") as f:
        f.write(_HEADER)
        for n in range(count):
            f.write(_packet(0x0A000000 + (n >> 14), 1024 + (n & 0x3FFF), 0x0A640001, 80, n * 7919, 0x02))


def out_of_order(path: Path, conns: int = 1000, per_conn: int = 1 << 20) -> None:
    chunk = b"x" * 1400
    segments = per_conn // len(chunk)
    with open(path, "wb") as f:
        f.write(_HEADER)
        for c in range(conns):
            f.write(_packet(0x0A000001, 20000 + c, 0x0A640001, 80, 1000, 0x02))
        for s in range(segments):  # round robin: every connection holds its buffer at the same time
            for c in range(conns):
                f.write(_packet(0x0A000001, 20000 + c, 0x0A640001, 80, 1001 + 1400 * (s + 1), 0x18, chunk))


def measure(path: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "inspector", "analyze", "--jsonl", "-o", os.devnull, str(path)],
                            stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss / 1024, stderr.strip().splitlines()[-1] if stderr.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in (("syn.pcap", syn_only), ("ooo.pcap", out_of_order)):
        path = args.out / name
        if not path.exists():
            build(path)
        peak, last = measure(path)
        print(f"{name}: {path.stat().st_size / 1e6:.0f} MB, peak RSS {peak:.0f} MB; {last}")


if __name__ == "__main__":
    main()
