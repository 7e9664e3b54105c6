"""Analysis at scale: a capture's connections split into shards analysed in parallel, then merged.

`shard` holds the shard function and the merge (docs/scale.md), `jobs` runs shards in local processes
(``analyze --jobs``), `cluster` on a Dask distributed cluster (``analyze --dask``), `parquet` writes
records as Parquet datasets (``analyze --parquet``).
"""

from __future__ import annotations

import shutil

from inspector.scale.shard import Settings, merge, plan

__all__ = ["run_sharded", "Settings"]


def run_sharded(readers: list, tally, *, settings: Settings, thresholds, jobs: int, raw=None,
                dask: str | None = None) -> list[str]:
    """Analyse ``readers`` (`sources.Reader`) in ``jobs`` shards per capture, locally or on the Dask
    scheduler at ``dask``, and merge into ``tally`` (see `shard.merge`); returns the files that failed."""
    tmp = None
    try:
        if dask is not None:
            from inspector.scale.cluster import run_dask

            results = run_dask(dask, readers, settings, jobs)
        else:
            from inspector.scale.jobs import run_local

            results, tmp = run_local(plan(readers, jobs), settings, jobs)
        return merge(results, tally, thresholds, raw)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
