"""``analyze --jobs N``: the shards of `inspector.scale.shard` in local worker processes.

One process per shard (at most ``jobs`` at once), started with ``fork`` where the platform has it (the
parent has imported the analysers already), ``spawn`` elsewhere.  A worker writes its records to a JSON
Lines file in a temporary directory and its `ShardResult` (pickled) next to it; no packet data crosses
processes.  A worker that dies (killed, out of memory) or fails fails the whole run with an InputError
naming its shard, after stopping the others; Ctrl-C in the parent stops every worker (they ignore
SIGINT themselves, so the parent decides).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import tempfile
from multiprocessing.connection import wait

from inspector.errors import InputError
from inspector.scale.shard import Settings, ShardResult, Task, run_shard

__all__ = ["cores", "run_local"]


def cores() -> int:
    """The cores this process may use (``--jobs auto``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _child(task: Task, settings: Settings, records: str, result: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome: ShardResult | str = run_shard(task, settings, out=records)
    except Exception as exc:  # a bug: the parent names the shard and fails the run
        outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    with open(result + ".part", "wb") as f:
        pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(result + ".part", result)


def _died(task: Task, exitcode: int | None) -> InputError:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit status {exitcode}"
    return InputError(f"the worker for {task.label()} died ({how}); no output was written")


def run_local(tasks: list[Task], settings: Settings, jobs: int, workdir: str | None = None) -> tuple[list, str]:
    """Run ``tasks`` in at most ``jobs`` processes; (results, the temporary directory holding their record
    files: the caller removes it).  Raises InputError naming the shard if a worker dies or fails."""
    ctx = _context()
    tmp = tempfile.mkdtemp(prefix="inspector-jobs-", dir=workdir)
    pending = list(enumerate(tasks))
    running: dict = {}  # sentinel -> (process, task, result path)
    results: list[ShardResult] = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i, task = pending.pop(0)
                paths = os.path.join(tmp, f"{i}.jsonl"), os.path.join(tmp, f"{i}.result")
                process = ctx.Process(target=_child, args=(task, settings, *paths), daemon=True)
                process.start()
                running[process.sentinel] = (process, task, paths[1])
            for sentinel in wait(list(running)):
                process, task, result = running.pop(sentinel)
                process.join()
                results.append(_collect(process, task, result))
    except BaseException:
        for process, _, _ in running.values():
            process.terminate()
        for process, _, _ in running.values():
            process.join()
        raise
    return results, tmp


def _collect(process, task: Task, result: str) -> ShardResult:
    if process.exitcode != 0 or not os.path.exists(result):
        raise _died(task, process.exitcode)
    with open(result, "rb") as f:
        outcome = pickle.load(f)
    if isinstance(outcome, str):
        raise InputError(f"{task.label()} failed: {outcome}")
    return outcome
