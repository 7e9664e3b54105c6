"""``analyze --dask``: a real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 run the
shards; the records must equal ``--jobs 1`` (the same command without --dask)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from helpers.pcap_fixtures import FIX  # noqa: E402
from helpers.sharded import mixed_capture  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask() -> str:
    found = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if found is None:
        pytest.skip("the dask command is not installed")
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    dask = _dask()
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = dict(os.environ)  # PYTHONPATH included: the workers import inspector from this tree
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler.log", "wb"), env=env)]
    for i in range(2):
        procs.append(subprocess.Popen(
            [dask, "worker", address, "--host", "127.0.0.1", "--no-dashboard", "--nworkers", "1", "--nthreads",
             "1", "--name", f"w{i}"],
            stdout=subprocess.DEVNULL, stderr=open(logs / f"worker{i}.log", "wb"), env=env))
    from distributed import Client

    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def inspector(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", "analyze", *map(str, args)],
                          capture_output=True, timeout=300)


def test_dask_records_equal_one_job(cluster, tmp_path):
    files = [mixed_capture(tmp_path / "mixed.pcap", copies=10), FIX / "sse.pcap", FIX / "ws_deflate.pcap"]
    one = inspector("--jsonl", *files)
    on_dask = inspector("--jsonl", "--dask", cluster, *files)
    assert one.returncode == on_dask.returncode == 0, on_dask.stderr
    assert sorted(on_dask.stdout.splitlines()) == sorted(one.stdout.splitlines())
    assert on_dask.stderr == one.stderr
    with_jobs = inspector("--jsonl", "--dask", cluster, "--jobs", "3", *files)
    assert sorted(with_jobs.stdout.splitlines()) == sorted(one.stdout.splitlines())


def test_dask_both_workers_run_shards(cluster, tmp_path):
    """The shard function is a plain function: submitted directly, the two workers share the shards."""
    from distributed import Client

    from inspector.scale.shard import Settings, Task, run_shard

    capture = mixed_capture(tmp_path / "mixed.pcap", copies=10)
    with Client(cluster, timeout=60) as client:
        tasks = [Task(str(capture), 0, k, 4) for k in range(4)]
        futures = [client.submit(run_shard, task, Settings(), pure=False) for task in tasks]
        results = client.gather(futures)
        ran_on = {w for who in client.who_has(futures).values() for w in who}
    assert len(ran_on) == 2
    assert all(r.error is None and r.records for r in results)


def test_unreachable_scheduler_is_one_line():
    p = inspector("--jsonl", "--dask", f"tcp://127.0.0.1:{_free_port()}", FIX / "sse.pcap")
    assert p.returncode == 2
    assert p.stderr.decode().count("\n") == 1 and b"cannot reach the scheduler" in p.stderr
