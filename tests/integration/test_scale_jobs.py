"""`inspector analyze --jobs` as a user runs it: real worker processes on captures of real peers
(fixtures/pcap and interleaved copies of them).  Truth: the same command with ``--jobs 1``; for the
failures, what the operating system reports about the processes."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.pcap_fixtures import FIX
from helpers.sharded import mixed_capture


def inspector(*args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", "analyze", *map(str, args)],
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return mixed_capture(tmp_path_factory.mktemp("jobs") / "mixed.pcap", copies=20)


@pytest.mark.parametrize("jobs", ["2", "3", "auto"])
def test_jobs_same_records_as_one_job(mixed, jobs):
    one = inspector("--jsonl", mixed, FIX / "sse.pcap")
    many = inspector("--jsonl", "--jobs", jobs, mixed, FIX / "sse.pcap")
    assert one.returncode == many.returncode == 0, many.stderr
    assert sorted(many.stdout.splitlines()) == sorted(one.stdout.splitlines())
    assert many.stderr == one.stderr


def test_jobs_gzip_capture_and_file_output(mixed, tmp_path):
    packed = tmp_path / "mixed.pcap.gz"
    packed.write_bytes(gzip.compress(mixed.read_bytes(), 1))
    out = tmp_path / "out.jsonl"
    p = inspector("--jsonl", "--jobs", "2", "-o", out, packed)
    assert p.returncode == 0, p.stderr
    assert sorted(out.read_bytes().splitlines()) == sorted(inspector("--jsonl", mixed).stdout.splitlines())


def test_jobs_human_summary_and_fail_on(mixed):
    one = inspector(FIX / "ws_plain.pcap", mixed)
    many = inspector("--jobs", "2", FIX / "ws_plain.pcap", mixed)
    assert many.returncode == one.returncode == 0
    assert b"websocket" in many.stdout and b"long-polling" in many.stdout
    lossy = [FIX / "ws_deflate_lossy.pcap"]
    one = inspector("--jsonl", "--fail-on", "violations", *lossy)
    many = inspector("--jsonl", "--fail-on", "violations", "--jobs", "2", *lossy)
    assert many.returncode == one.returncode


@pytest.mark.parametrize("value", ["0", "many"])
def test_bad_jobs_value_is_one_line(value):
    p = inspector("--jobs", value, FIX / "sse.pcap")
    assert p.returncode == 2
    assert p.stderr.decode().count("\n") == 1 and p.stderr.startswith(b"inspector: --jobs")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def _start_and_wait_for_workers(capture: Path, jobs: int) -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen([sys.executable, "-m", "inspector", "analyze", "--jsonl", "--jobs", str(jobs),
                             str(capture), "-o", os.devnull], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(children := _children(proc.pid)) < jobs:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
        time.sleep(0.02)
    return proc, children


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Big enough that the workers are still running when the test acts on them."""
    return mixed_capture(tmp_path_factory.mktemp("jobs") / "big.pcap", copies=600)


def test_a_killed_worker_fails_the_run_naming_its_shard(big):
    proc, children = _start_and_wait_for_workers(big, 2)
    os.kill(children[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)  # never a hang
    assert proc.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("inspector: the worker for shard ") and f"of {big}" in lines[0]
    assert "killed by SIGKILL" in lines[0]
    time.sleep(0.2)
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in children)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_ctrl_c_stops_every_worker(big):
    proc, children = _start_and_wait_for_workers(big, 2)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.decode().strip() == "inspector: aborted"
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)
