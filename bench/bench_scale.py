"""Benchmark helpers for `analyze --jobs` / `--dask` (used by bench_pcap.py; also runnable alone).

    python bench/bench_pcap.py --jobs 2             # --jobs 1 and --jobs 2 against tshark
    python bench/bench_pcap.py --jobs 2 --scaling   # and the same at 1x, 2x and 4x the capture
    python bench/bench_pcap.py --jobs 2 --dask      # and Dask on two local workers against --jobs 2

Each command runs in a child process; wall clock, CPU seconds of the whole process tree (the workers are
waited for, so ``RUSAGE_CHILDREN`` includes them) and the peak of the RSS summed over the process tree,
sampled from /proc every 20 ms (a peak shorter than that can be missed; pages shared after ``fork`` are
counted in every process, so the sum is an upper bound).  The load average before and after says how
busy the machine was.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return pids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_tree(command: list[str], count: bool = False) -> tuple[float, float, int, int, int]:
    """(wall s, CPU s of the tree, peak summed RSS KiB, exit code, frames counted: the output's comma
    separated fields when ``count``) of ``command``.  Run from a fresh child so RUSAGE_CHILDREN is its."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import bench_scale;"
        "print(*bench_scale._measure_here(sys.argv[3:], sys.argv[2] == 'count'))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "bench"), "count" if count else "run", *command],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3]), int(out[4])


def _measure_here(command: list[str], count: bool):
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out if count else subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, sum(_rss_kb(p) for p in _tree(proc.pid)))
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        frames = 0
        if count:
            out.seek(0)
            frames = sum(line.count(b",") + 1 for line in out if line.strip())
    return elapsed, usage.ru_utime + usage.ru_stime, max(peak, usage.ru_maxrss), proc.returncode, frames


def load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def quiet(before: str, after: str) -> str:
    """Whether the machine was quiet: the 1-minute load average under half the cores, before and after."""
    limit = (os.cpu_count() or 1) / 2
    ok = float(before) < limit and float(after) < limit
    return f"load average {before} before, {after} after: {'quiet' if ok else 'NOT quiet'} ({os.cpu_count()} cores)"


def scaled_capture(source: Path, factor: int) -> Path:
    """``source`` (classic little-endian pcap, Ethernet/IPv4/TCP) repeated ``factor`` times one after the
    other in time, each copy on other ports (new connections): a capture ``factor`` times as long."""
    target = source.with_name(f"{source.stem}-x{factor}.pcap")
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    data = source.read_bytes()
    first = struct.unpack_from("<I", data, 24)[0]
    last = first
    pos = 24
    while pos + 16 <= len(data):
        last = struct.unpack_from("<I", data, pos)[0]
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    span = last - first + 1
    with open(target, "wb") as f:
        f.write(data[:24])
        for copy in range(factor):
            pos = 24
            while pos + 16 <= len(data):
                sec, frac, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
                record = bytearray(data[pos + 16 : pos + 16 + caplen])
                tcp = 14 + (record[14] & 0x0F) * 4
                if copy and len(record) >= tcp + 4:
                    sport, dport = struct.unpack_from("!HH", record, tcp)
                    struct.pack_into("!HH", record, tcp, (sport + 7 * copy) % 65536, (dport + 7 * copy) % 65536)
                f.write(struct.pack("<IIII", sec + span * copy, frac, caplen, wirelen))
                f.write(record)
                pos += 16 + caplen
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalDask:
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes on 127.0.0.1."""

    def __enter__(self) -> str:
        dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        quiet_out = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--no-dashboard"], **quiet_out)]
        for _ in range(2):
            self.procs.append(subprocess.Popen([dask, "worker", self.address, "--host", "127.0.0.1",
                                                "--no-dashboard", "--nworkers", "1", "--nthreads", "1"], **quiet_out))
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        return self.address

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def _row(name: str, result, frames: int, mb: float) -> None:
    wall, cpu, rss, rc, _ = result
    print(f"{name:<40} {wall:7.2f} {frames / wall:9.0f} {mb / wall:6.1f} {cpu:7.2f} {rss / 1024:13.0f}   exit {rc}")


def report(capture: Path, jobs: int, scaling: bool = False, dask: bool = False) -> None:
    """Print the --jobs table (and the scaling and Dask runs) for ``capture``."""
    inspector = shutil.which("inspector", path=str(Path(sys.executable).parent)) or "inspector"

    def analyze(path: Path, *extra: str) -> list[str]:
        return [inspector, "analyze", "--jsonl", *extra, str(path), "-o", os.devnull]

    before = load()
    tshark = measure_tree(["tshark", "-r", str(capture), "-Y", "websocket", "-T", "fields", "-e",
                           "websocket.opcode"], count=True)
    frames, mb = tshark[4], capture.stat().st_size / 1e6
    one = measure_tree(analyze(capture))
    many = measure_tree(analyze(capture, "--jobs", str(jobs)))
    print(f"capture: {capture.name}  {mb:.1f} MB  {frames} WebSocket frames (tshark)")
    print(f"{'command':<40} {'wall s':>7} {'frames/s':>9} {'MB/s':>6} {'CPU s':>7} {'peak RSS MB':>13}")
    _row("tshark -Y websocket -T fields", tshark, frames, mb)
    _row("inspector analyze --jsonl", one, frames, mb)
    _row(f"inspector analyze --jsonl --jobs {jobs}", many, frames, mb)
    print(f"ratio to tshark by wall clock: --jobs 1 {tshark[0] / one[0]:.2f}x, --jobs {jobs} {tshark[0] / many[0]:.2f}x;"
          f" by CPU: {tshark[1] / one[1]:.2f}x, {tshark[1] / many[1]:.2f}x")
    if scaling:
        print(f"scaling (--jobs {jobs}): size, wall s, CPU s, peak RSS MB, wall per 1x")
        base = None
        for factor in (1, 2, 4):
            path = capture if factor == 1 else scaled_capture(capture, factor)
            wall, cpu, rss, rc, _ = measure_tree(analyze(path, "--jobs", str(jobs)))
            base = base or wall
            print(f"  {factor}x {path.stat().st_size / 1e6:7.1f} MB {wall:7.2f} {cpu:7.2f} {rss / 1024:7.0f}"
                  f"   {wall / factor / base:.2f}   exit {rc}")
    if dask:
        with LocalDask() as address:
            on_dask = measure_tree(analyze(capture, "--dask", address, "--jobs", str(jobs)))
        _row("inspector --dask (2 local workers)", on_dask, frames, mb)
        print(f"Dask overhead against --jobs {jobs}: {on_dask[0] - many[0]:+.2f} s wall"
              f" ({on_dask[0] / many[0]:.2f}x); the client's CPU {on_dask[1]:.2f} s (workers not included),"
              f" peak RSS of the client's tree {on_dask[2] / 1024:.0f} MB")
    print(quiet(before, load()))
