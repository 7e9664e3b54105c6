"""inspector's own JSON Lines (``inspector analyze --jsonl``) read back as records.

The records are decoded (msgspec, into the `inspector.records` types) and handed straight to the
analysis' sink: nothing is analysed again, so ``inspector analyze records.jsonl`` re-renders a run and
``inspector report records.jsonl`` draws it.  Warning records go through `Analysis.warning`, so they are
aggregated with the reader's own and emitted once by `Analysis.finish`.

The file is read line by line (memory does not grow with it).  A line that is not a record (not JSON,
an unknown ``type``, a field of the wrong type) is skipped and counted in one ``records-bad-line``
warning that names the first such line.
"""

from __future__ import annotations

import re

import msgspec

from inspector import records

__all__ = ["run", "read_stream", "TAGS", "looks_like_records"]

TAGS = frozenset(
    cls.__struct_config__.tag for cls in records.Record.__args__  # type: ignore[attr-defined]
)
_FIRST = re.compile(rb'\s*\{\s*"type"\s*:\s*"([a-z_]{1,32})"')
_BATCH = 512


def looks_like_records(head: bytes) -> bool:
    """The first line is a JSON object whose first key is ``type``, naming a record type (msgspec always
    writes the tag first)."""
    match = _FIRST.match(head.lstrip(b"\xef\xbb\xbf"))
    return match is not None and match.group(1).decode() in TAGS


def _with_prefix(record, prefix: str):
    conn = getattr(record, "conn", None)
    if not prefix or conn is None:
        return record
    return msgspec.structs.replace(record, conn=prefix + conn)


def run(path, analysis, options=None) -> None:
    """Hand every record of the JSON Lines file at ``path`` to ``analysis.sink``.

    ``options`` (`inspector.sources.SourceOptions`): ``conn_prefix`` is prepended to connection ids,
    ``conns`` keeps only records of those connections (and those of none: patterns, warnings).
    ``hosts`` keeps the records of connections whose Connection record names that client or server;
    those come last in a file, so with ``hosts`` the records of a connection are held until it ends.
    """
    from inspector.sources import open_binary

    with open_binary(str(path)) as f:
        read_stream(f, analysis, options)


def read_stream(f, analysis, options=None) -> None:
    """`run` on the binary stream ``f`` (stdin: ``inspector analyze -``), read line by line."""
    prefix = getattr(options, "conn_prefix", "") or ""
    wanted = getattr(options, "conns", None) or frozenset()
    hosts = getattr(options, "hosts", None) or frozenset()
    progress = getattr(options, "progress", None)
    decoder = msgspec.json.Decoder(records.Record)
    batch: list = []
    bad = 0
    first_bad = ""
    held: dict[str, list] = {}
    for number, line in enumerate(f, 1):
        if progress is not None:
            progress(len(line))
        if not line.strip():
            continue
        try:
            record = decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            bad += 1
            first_bad = first_bad or f"line {number}: {str(exc).splitlines()[0][:120]}"
            continue
        if type(record) is records.WarningRecord:
            analysis.warning(record.name, record.message, record.conn, count=record.count)
            continue
        conn = getattr(record, "conn", None)
        if conn is not None and wanted and prefix + conn not in wanted:
            continue
        record = _with_prefix(record, prefix)
        if hosts and conn is not None:
            _hold(held, record, hosts, batch)
        else:
            batch.append(record)
        if len(batch) >= _BATCH:
            _flush(analysis, batch)
    _flush(analysis, batch)
    if bad:
        analysis.warning("records-bad-line", f"lines that are not inspector records were skipped ({first_bad})",
                         count=bad)


def _hold(held: dict[str, list], record, hosts: frozenset[str], batch: list) -> None:
    """With ``--host``: keep a connection's records until its Connection record says where it went."""
    pending = held.setdefault(record.conn, [])
    pending.append(record)
    if type(record) is not records.Connection:
        return
    del held[record.conn]
    names = set()
    for address in (record.client, record.server):
        if address:
            names.add(address.lower())
            names.add(address.rsplit(":", 1)[0].strip("[]").lower())
    if not names.isdisjoint(hosts):
        batch.extend(pending)


def _flush(analysis, batch: list) -> None:
    if not batch:
        return
    many = getattr(analysis.sink, "write_many", None)
    if many is not None:
        many(list(batch))
    else:
        for record in batch:
            analysis.sink(record)
    batch.clear()
