"""``analyze --parquet DIR``: one Parquet dataset per record type, for DuckDB, Spark, pandas (docs/scale.md).

Layout (Hive partitioning by input file)::

    DIR/<record type>/source_file=<file name>/part-0.parquet     e.g. DIR/message/source_file=a.pcap/...

Records of no single file (Pattern records, warning records without a connection, which ``analyze``
aggregates over all its inputs) go to ``source_file=_all_``.  The schema of each dataset is fixed: it is
derived from the record's msgspec type in `inspector.records` (every field, in order, whether or not
this run saw a value): integers int64, floats float64, text string, booleans bool, lists of text
list<string>; other nested values (lists, dicts, Finding, AppLayer, TlsInfo) are their JSON text
(``json_extract`` in DuckDB).  A field added to a record adds a column.  Rows are written in row groups of `ROWS` per file, so memory stays bounded.
Needs pyarrow (``pip install inspector[parquet]``).
"""

from __future__ import annotations

import os
import typing
from urllib.parse import quote

import msgspec

from inspector import records
from inspector.errors import InputError

__all__ = ["ParquetSink", "schema_of", "ROWS"]

ROWS = 16384
ALL_FILES = "_all_"


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InputError("--parquet needs pyarrow: pip install 'inspector[parquet]'") from None
    return pyarrow


def _arrow_type(pa, info) -> tuple:
    """(arrow type, JSON-encoded?) of a msgspec type info."""
    if isinstance(info, msgspec.inspect.UnionType):
        types = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(types) == 1:
            return _arrow_type(pa, types[0])
        if all(isinstance(t, (msgspec.inspect.IntType, msgspec.inspect.FloatType)) for t in types):
            return pa.float64(), False
        return pa.string(), True
    simple = {msgspec.inspect.IntType: pa.int64(), msgspec.inspect.FloatType: pa.float64(),
              msgspec.inspect.StrType: pa.string(), msgspec.inspect.BoolType: pa.bool_()}
    for kind, arrow in simple.items():
        if isinstance(info, kind):
            return arrow, False
    if isinstance(info, msgspec.inspect.ListType) and isinstance(info.item_type, msgspec.inspect.StrType):
        return pa.list_(pa.string()), False
    return pa.string(), True


def schema_of(record_type) -> tuple:
    """(pyarrow schema, names of the JSON-encoded columns) of a record type."""
    pa = _pyarrow()
    info = msgspec.inspect.type_info(record_type)
    fields, encoded = [], set()
    for field in info.fields:
        arrow, as_json = _arrow_type(pa, field.type)
        fields.append(pa.field(field.encode_name, arrow, nullable=True))
        if as_json:
            encoded.add(field.encode_name)
    return pa.schema(fields), encoded


def _tags() -> dict:
    """record class -> its ``type`` tag (the dataset's directory name)."""
    return {cls: msgspec.inspect.type_info(cls).tag for cls in typing.get_args(records.Record)}


class ParquetSink:
    """A sink writing records under ``directory``; ``files`` are the run's inputs (in order), whose
    connection id prefixes (``2:c5``) say which file a record came from.  Call `close` at the end."""

    def __init__(self, directory: str, files: list[str]) -> None:
        self._pa = _pyarrow()
        self.directory = directory
        names = [os.path.basename(f) for f in files]
        if len(set(names)) < len(names):  # same name in different folders: numbered
            names = [f"{i + 1}-{name}" for i, name in enumerate(names)]
        self._names = names
        self._tags = _tags()
        self._schemas: dict = {}
        self._rows: dict[tuple, list] = {}
        self._writers: dict[tuple, object] = {}
        self._json = msgspec.json.Encoder()
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--parquet {directory}: {exc.strerror or exc}") from None

    def _file(self, record) -> str:
        conn = getattr(record, "conn", None)
        if conn is None:
            return ALL_FILES
        if len(self._names) == 1:
            return self._names[0]
        prefix, sep, _ = conn.partition(":")
        return self._names[int(prefix) - 1] if sep and prefix.isdigit() else ALL_FILES

    def __call__(self, record) -> None:
        self.write_many((record,))

    def write_many(self, batch) -> None:
        for record in batch:
            key = (self._tags[type(record)], self._file(record))
            rows = self._rows.get(key)
            if rows is None:
                rows = self._rows[key] = []
            rows.append(record)
            if len(rows) >= ROWS:
                self._flush(key)

    def _flush(self, key: tuple) -> None:
        rows = self._rows.pop(key, None)
        if not rows:
            return
        tag, file = key
        if tag not in self._schemas:
            self._schemas[tag] = schema_of(type(rows[0]))
        schema, encoded = self._schemas[tag]
        plain = msgspec.to_builtins(rows)
        columns = []
        for field in schema:
            values = [row.get(field.name) for row in plain]
            if field.name in encoded:
                values = [None if v is None else self._json.encode(v).decode() for v in values]
            columns.append(self._pa.array(values, type=field.type))
        table = self._pa.Table.from_arrays(columns, schema=schema)
        writer = self._writers.get(key)
        if writer is None:
            folder = os.path.join(self.directory, tag, f"source_file={quote(file, safe='')}")
            os.makedirs(folder, exist_ok=True)
            writer = self._writers[key] = self._pa.parquet.ParquetWriter(os.path.join(folder, "part-0.parquet"),
                                                                         schema)
        writer.write_table(table)

    def close(self) -> None:
        """Writes what is buffered; every record type gets a dataset (an empty one if no record came)."""
        for key in list(self._rows):
            self._flush(key)
        seen = {tag for tag, _ in self._writers}
        for cls, tag in self._tags.items():
            if tag not in seen:
                schema, _ = self._schemas.setdefault(tag, schema_of(cls))
                folder = os.path.join(self.directory, tag, f"source_file={ALL_FILES}")
                os.makedirs(folder, exist_ok=True)
                self._pa.parquet.write_table(schema.empty_table(), os.path.join(folder, "part-0.parquet"))
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
