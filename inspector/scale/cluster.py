"""``analyze --dask ADDRESS``: the shards of `inspector.scale.shard` on a Dask distributed cluster.

Each task is one call of the plain function `shard.run_shard` (file, shard k of N) submitted with
``Client.submit``; its `ShardResult` (the records as JSON Lines bytes, the classifier's input, the
warnings) comes back to this process, which merges and classifies exactly as ``--jobs`` does.  The
workers open the file at the path given on the command line (a shared file system); they need inspector
installed (``inspector[dask]``).  A task that fails (or whose workers all die) fails the run with an
InputError naming the shard.  docs/scale.md says how to run it on a real cluster and what it costs.
"""

from __future__ import annotations

from inspector.errors import InputError
from inspector.scale.shard import Settings, ShardResult, plan, run_shard

__all__ = ["run_dask"]

CONNECT_TIMEOUT = 10  # seconds to reach the scheduler


def _client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask needs Dask distributed: pip install 'inspector[dask]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"--dask {address}: cannot reach the scheduler ({exc})") from None


def run_dask(address: str, readers: list, settings: Settings, jobs: int) -> list[ShardResult]:
    """Every shard of ``readers`` (``jobs`` per capture, or one per cluster worker when ``jobs`` is 1) on
    the scheduler at ``address``; the results in task order."""
    client = _client(address)
    try:
        shards = jobs if jobs > 1 else max(1, len(client.scheduler_info()["workers"]))
        tasks = plan(readers, shards)
        futures = [client.submit(run_shard, task, settings, pure=False) for task in tasks]
        results = []
        for task, future in zip(tasks, futures):
            try:
                results.append(future.result())
            except Exception as exc:  # the task's own exception, or distributed's KilledWorker
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise InputError(f"{task.label()} failed on the Dask cluster: {type(exc).__name__}: {first}") from None
        return results
    finally:
        client.close()
