"""The shard function and the merge: one input file, shard k of n -> records; shards -> one output.

A shard reads the whole file (reading is cheap) and analyses only the TCP connections whose 4-tuple
falls in it (`inspector.sources.pcap.shard_of`); every shard numbers all connections in the file's
order, so connection ids are those of ``--jobs 1``.  What needs all connections stays out of the shard:

- the classifier: a shard records its ``add``/``add_websocket`` calls (exchanges are small) and the
  merge replays every shard's calls into one `classify.Classifier`, in the order ``--jobs 1`` makes them;
- warnings: a shard returns each warning with its count and the position of its first occurrence; the
  merge sums the counts and keeps the first occurrence's message and connection, as ``--jobs 1`` does.

Positions.  A pcap shard counts packets (``ShardAnalysis.position``); what a shard reports is keyed by
``(position, connection number, sequence in the shard)``: one packet belongs to one connection, hence to
one shard, and at the end of the capture connections end in number order, so sorting the keys of all
shards gives the order of an unsharded run.  Other sources run as one shard (position 0).

Output order (``analyze --jobs``, ``--dask``): the records of each file's shards, file by file and shard
by shard (within a shard in ``--jobs 1`` order), then the Pattern records, then the warning records.  The
same set of records as ``--jobs 1``; only records of different shards interleave differently.

`run_shard` is a plain function of picklable arguments returning a picklable `ShardResult`: local
processes (`inspector.scale.jobs`) and Dask workers (`inspector.scale.cluster`) both call it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from operator import itemgetter
from typing import IO, Any

import msgspec

from inspector import records
from inspector.analysis import Analysis, Options
from inspector.classify import Classifier, Thresholds
from inspector.errors import InputError

__all__ = ["Settings", "Task", "ShardResult", "ShardAnalysis", "run_shard", "plan", "merge"]

#: source kinds whose files split into shards by connection (others run whole, one file per worker)
SHARDED_KINDS = ("pcap", "pcapng")


@dataclass(frozen=True)
class Settings:
    """The ``analyze`` options a shard needs (picklable)."""

    view_cap: int = 256
    ws: tuple[str, ...] = ()
    conns: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    heuristics: bool = True
    keylog: tuple[str, ...] = ()
    files: int = 1  # how many files the run has (several: ids get a ``<file number>:`` prefix)


@dataclass(frozen=True)
class Task:
    """Shard ``shard`` of ``shards`` of the ``index``-th input file."""

    path: str
    index: int
    shard: int
    shards: int

    def label(self) -> str:
        return f"shard {self.shard + 1}/{self.shards} of {self.path}"


@dataclass
class ShardResult:
    """What a shard hands back: its records (JSON Lines, in a file or as bytes), the classifier calls and
    warnings with their order keys, and the counts ``--fail-on`` needs."""

    task: Task
    kind: str
    records_path: str | None = None
    records: bytes | None = None
    calls: list = field(default_factory=list)  # (key, method, args, kwargs)
    warnings: list = field(default_factory=list)  # (key, dict key, name, message, count, conn)
    violations: int = 0
    invalid_handshakes: int = 0
    error: str | None = None  # an InputError's message (the file could not be read)


def _number(conn: str | None) -> int:
    """The connection number of ``c12`` / ``2:c12`` (0 for none)."""
    if not conn:
        return 0
    digits = conn.rpartition("c")[2]
    return int(digits) if digits.isdigit() else 0


class _Calls:
    """Stands in for the classifier in a shard: records the calls, in order, with their keys."""

    unclassified = 0

    def __init__(self, analysis: "ShardAnalysis") -> None:
        self._analysis = analysis
        self.calls: list = []

    def add(self, exchange: records.Exchange, **facts: Any) -> None:
        self.calls.append((self._analysis.key(exchange.conn), "add", (exchange,), facts))

    def add_websocket(self, url: str, conn: str, **facts: Any) -> None:
        self.calls.append((self._analysis.key(conn), "add_websocket", (url, conn), facts))

    def patterns(self) -> list:
        return []


class ShardAnalysis(Analysis):
    """`Analysis` of one shard: records to the sink, classifier calls and warnings kept for the merge."""

    def __init__(self, sink, *, source: str, options: Options = Options()) -> None:
        super().__init__(sink, source=source, options=options)
        self.classifier = _Calls(self)
        #: packets read so far (advanced by the pcap reader of a sharded run)
        self.position = 0
        self._seq = 0
        self._first: dict[Any, tuple] = {}

    def key(self, conn: str | None) -> tuple:
        self._seq += 1
        return (self.position, _number(conn), self._seq)

    def warning(self, name: str, message: str, conn: str | None = None, *, count: int = 1,
                per_conn: bool = False) -> None:
        dict_key = (name, conn) if per_conn else name
        if dict_key not in self._first:
            self._first[dict_key] = self.key(conn)
        super().warning(name, message, conn, count=count, per_conn=per_conn)

    def finish(self) -> None:
        """Ends what is open; patterns and warnings are the merge's."""
        if self._finished:
            return
        self._finished = True
        for conn in list(self._conns):
            self.connection_end(conn)

    def warnings(self) -> list:
        return [(self._first[k], k, name, message, count, conn)
                for k, (name, message, count, conn) in self._warnings.items()]


def run_shard(task: Task, settings: Settings, out: str | None = None) -> ShardResult:
    """Analyse one shard of one file; records to the file ``out`` (JSON Lines) or, without it, returned
    as bytes in the result.  Input problems end up in ``ShardResult.error`` (never raised)."""
    from inspector.present.jsonl import JsonlWriter
    from inspector.present.tally import Tally
    from inspector.sources import SourceOptions, open_source

    stream: IO[bytes] = open(out, "wb") if out is not None else io.BytesIO()
    kind = "pcap"
    result = ShardResult(task, kind)
    try:
        writer = JsonlWriter(stream)
        tally = Tally(writer)
        analysis = ShardAnalysis(tally, source="pcap", options=Options(view_cap=settings.view_cap))
        try:
            reader = open_source(task.path)
            result.kind = reader.kind
            analysis.source = reader.kind if reader.kind != "pcapng" else "pcap"
            options = SourceOptions(
                ws=settings.ws, conns=settings.conns, hosts=settings.hosts, heuristics=settings.heuristics,
                conn_prefix=f"{task.index + 1}:" if settings.files > 1 else "", keylog=settings.keylog,
                shard=(task.shard, task.shards) if task.shards > 1 else None,
            )
            reader.run(analysis, options)
        except InputError as exc:
            result.error = str(exc)
        analysis.finish()
        writer.flush()
        result.calls = analysis.classifier.calls
        result.warnings = analysis.warnings()
        result.violations, result.invalid_handshakes = tally.violations, tally.invalid_handshakes
        if out is None:
            result.records = stream.getvalue()
        else:
            result.records_path = out
    finally:
        stream.close()
    return result


def plan(readers: list, shards: int) -> list[Task]:
    """The tasks for ``readers`` (`sources.Reader`): ``shards`` per capture, one per other file."""
    tasks = []
    for index, reader in enumerate(readers):
        n = shards if reader.kind in SHARDED_KINDS else 1
        tasks.extend(Task(reader.path, index, k, n) for k in range(n))
    return tasks


def _copy_records(result: ShardResult, sink, raw: IO[bytes] | None) -> None:
    """A shard's records to ``raw`` (bytes as they are) or, decoded, to ``sink``."""
    if raw is not None:
        if result.records is not None:
            raw.write(result.records)
        elif result.records_path is not None:
            with open(result.records_path, "rb") as f:
                while block := f.read(1 << 20):
                    raw.write(block)
        return
    decoder = msgspec.json.Decoder(records.Record)
    many = getattr(sink, "write_many", None)
    lines = io.BytesIO(result.records) if result.records is not None else open(result.records_path, "rb")
    with lines:
        batch = []
        for line in lines:
            batch.append(decoder.decode(line))
            if len(batch) >= 512:
                many(batch) if many else [sink(r) for r in batch]
                batch = []
        if batch:
            many(batch) if many else [sink(r) for r in batch]


def merge(results: list[ShardResult], tally, thresholds: Thresholds, raw: IO[bytes] | None = None) -> list[str]:
    """Every shard's records, then the classifier's Pattern records and the merged warnings, into
    ``tally`` (a `present.tally.Tally`; with ``raw``, the shards' JSON Lines go there byte for byte and
    the tally only counts).  Returns the files that could not be read (their error echoed once)."""
    import click

    results = sorted(results, key=lambda r: (r.task.index, r.task.shard))
    failed: list[str] = []
    for result in results:
        if result.error is not None and result.task.path not in failed:
            click.echo(f"inspector: {result.error}", err=True)
            failed.append(result.task.path)
        _copy_records(result, tally.sink, raw)
        tally.violations += result.violations
        tally.invalid_handshakes += result.invalid_handshakes
    classifier = Classifier(thresholds)
    first = itemgetter(0)  # ties keep the shard order (a stable sort); records are never compared
    calls = sorted((((r.task.index, *key), method, args, kwargs)
                    for r in results for key, method, args, kwargs in r.calls), key=first)
    for _, method, args, kwargs in calls:
        getattr(classifier, method)(*args, **kwargs)
    out: list = list(classifier.patterns())
    merged: dict[Any, list] = {}
    for _, dict_key, name, message, count, conn in sorted(
        (((r.task.index, *w[0]), *w[1:]) for r in results for w in r.warnings), key=first
    ):
        entry = merged.get(dict_key)
        if entry is None:
            merged[dict_key] = [name, message, count, conn]
        else:
            entry[2] += count
    if classifier.unclassified:
        entry = merged.setdefault("classifier-endpoints-capped", [
            "classifier-endpoints-capped",
            f"more than {thresholds.max_endpoints} endpoints: requests to further endpoints were not classified",
            0, None])
        entry[2] += classifier.unclassified
    out.extend(records.WarningRecord(name=n, message=m, count=c, conn=conn) for n, m, c, conn in merged.values())
    if raw is not None:
        raw.write(msgspec.json.Encoder().encode_lines(out))
        counter = type(tally)(lambda record: None)
        counter.write_many(out)
        tally.warnings.update(counter.warnings)
    else:
        tally.write_many(out)
    return failed
