"""inspector's own JSON Lines read back (the addon's ``inspector_jsonl`` file or ``analyze --jsonl``): each
line is decoded as a record and handed to the analysis' sink as it is, so the human renderer, the
filters and ``--fail-on`` work on a recording as on the traffic it came from.

Records are not re-analysed (the patterns are already among them).  A line that is not a record (cut
off, edited, another program's JSON) is skipped and counted in one ``jsonl-bad-line`` warning; a line
over `MAX_LINE` bytes is skipped the same way, without holding it in memory.
"""

from __future__ import annotations

import msgspec

from inspector.records import Record
from inspector.sources import SourceOptions, open_binary

__all__ = ["run", "read_stream"]

MAX_LINE = 16 << 20


def _skip_rest_of_line(f) -> None:
    while True:
        chunk = f.readline(MAX_LINE)
        if not chunk or chunk.endswith(b"\n"):
            return


def read_stream(f, analysis, options: SourceOptions | None = None) -> None:
    """Records from the binary stream ``f`` into ``analysis.sink`` (see the module docstring)."""
    options = options or SourceOptions()
    decoder = msgspec.json.Decoder(Record)
    sink = analysis.sink
    prefix = options.conn_prefix
    bad = 0
    while True:
        line = f.readline(MAX_LINE)
        if not line:
            break
        if not line.endswith(b"\n") and len(line) >= MAX_LINE:
            _skip_rest_of_line(f)
            bad += 1
            continue
        if not line.strip():
            continue
        try:
            record = decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            bad += 1
            continue
        if prefix and getattr(record, "conn", None) is not None:
            record = msgspec.structs.replace(record, conn=prefix + record.conn)
        sink(record)
    if bad:
        analysis.warning("jsonl-bad-line", "lines that are not inspector records were skipped", count=bad)


def run(path: str, analysis, options: SourceOptions | None = None) -> None:
    """Read the JSON Lines file at ``path`` (gzip-compressed too) into ``analysis``."""
    with open_binary(path) as f:
        read_stream(f, analysis, options)
