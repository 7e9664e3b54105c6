r"""JSON Lines: the one place records become JSON (docs/records.md).

Text that cannot be UTF-8 (a lone surrogate, e.g. a byte of a non-UTF-8 header or path that Python
carried as ``\\udce9``) is replaced by U+FFFD and flagged: the record is written with the replacement,
followed by a ``warning`` record ``jsonl-text-replaced`` (its ``count`` is the characters replaced,
``conn`` the record's connection). Encoding never fails on a string, so one odd byte cannot stop the output. DEL and the C1 controls are
written as ``\u`` escapes, so no raw control character reaches a terminal showing the output.
"""

from __future__ import annotations

import re
from typing import IO, Any, Iterable

import msgspec

from inspector.records import Record, WarningRecord

__all__ = ["JsonlWriter", "encode_lines", "encode_value"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# DEL and C1 controls (raw in UTF-8 JSON, which allows them; some terminals act on them): written as
# \u escapes. They can only occur inside strings (JSON's own syntax is ASCII).
_RAW_CONTROL = re.compile(rb"\x7f|\xc2[\x80-\x9f]")


def _escape_control(match: re.Match) -> bytes:
    raw = match.group()
    return b"\\u%04x" % (raw[-1] if len(raw) == 1 else raw[1])


def _no_raw_control(data: bytes) -> bytes:
    if b"\x7f" in data or b"\xc2" in data:
        return _RAW_CONTROL.sub(_escape_control, data)
    return data


def _clean(value: Any) -> tuple[Any, int]:
    """``value`` (builtins) with every lone surrogate replaced by U+FFFD, and how many were replaced."""
    if isinstance(value, str):
        return _SURROGATE.subn("\ufffd", value)
    if isinstance(value, (list, tuple)):  # to_builtins keeps tuples (header pairs)
        total = 0
        out = []
        for item in value:
            item, n = _clean(item)
            out.append(item)
            total += n
        return out, total
    if isinstance(value, dict):
        total = 0
        cleaned = {}
        for key, item in value.items():
            key, n = _clean(key)
            item, m = _clean(item)
            cleaned[key] = item
            total += n + m
        return cleaned, total
    return value, 0


def _encode_one(encoder: msgspec.json.Encoder, record: Record) -> bytes:
    """One record as a line; a record holding lone surrogates is written cleaned, then flagged."""
    try:
        return encoder.encode(record) + b"\n"
    except UnicodeEncodeError:
        pass
    cleaned, count = _clean(msgspec.to_builtins(record))
    warning = WarningRecord(
        name="jsonl-text-replaced",
        message="text that was not valid UTF-8 (undecodable input bytes) written as U+FFFD in the record before",
        count=count,
        conn=getattr(record, "conn", None) if isinstance(getattr(record, "conn", None), str) else None,
    )
    return encoder.encode(cleaned) + b"\n" + encoder.encode(warning) + b"\n"


def encode_value(encoder: msgspec.json.Encoder, value: Any) -> bytes:
    """``value`` as JSON; lone surrogates become U+FFFD (for documents that have no room for a warning)."""
    try:
        return _no_raw_control(encoder.encode(value))
    except UnicodeEncodeError:
        return _no_raw_control(encoder.encode(_clean(msgspec.to_builtins(value))[0]))


def encode_lines(encoder: msgspec.json.Encoder, records: list[Record]) -> bytes:
    """``records`` as JSON Lines; never raises on a string (see the module docstring)."""
    try:
        return _no_raw_control(encoder.encode_lines(records))
    except UnicodeEncodeError:
        return _no_raw_control(b"".join(_encode_one(encoder, record) for record in records))


class JsonlWriter:
    """Writes records as JSON Lines to a binary stream; batches to keep per-record overhead small.

    A batch leaves the writer before it is written: if the stream fails (a full disk), the error reaches
    the caller once and the next batch starts empty, so a failure never makes pending records pile up.
    """

    def __init__(self, stream: IO[bytes], batch: int = 512) -> None:
        self._stream = stream
        self._encoder = msgspec.json.Encoder()
        self._pending: list[Record] = []
        self._batch = batch

    def write(self, record: Record) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            self.flush()

    def write_many(self, records: Iterable[Record]) -> None:
        self._pending.extend(records)
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self._stream.write(encode_lines(self._encoder, pending))
        self._stream.flush()

    __call__ = write
