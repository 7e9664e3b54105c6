"""``inspector analyze -``: the input on stdin, its kind detected by content on the first bytes (never
by seeking: a pipe cannot).

A pcap or pcapng stream and inspector's own JSON Lines are analysed as they arrive (``tcpdump -U -w - |
inspector analyze -`` shows the traffic while it happens).  Other kinds (HAR, mitmproxy flows, gzip)
need the whole input: it is copied to a temporary file first and read from there.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from typing import IO

from inspector.errors import InputError
from inspector.sources import DETECTORS, HEAD_BYTES, SourceOptions, _is_pcap, _is_pcapng, _is_records

__all__ = ["StdinReader", "open_stdin"]

LABEL = "<stdin>"


class _Replay(io.RawIOBase):
    """``head`` (bytes already read for detection), then the rest of ``f`` as it arrives."""

    def __init__(self, head: bytes, f: IO[bytes]) -> None:
        self._head = head
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n], self._head = self._head[:n], self._head[n:]
            return n
        read1 = getattr(self._f, "read1", self._f.read)
        data = read1(len(b))
        b[: len(data)] = data
        return len(data)


def _read_until(f: IO[bytes], head: bytes, size: int) -> bytes:
    read1 = getattr(f, "read1", f.read)
    while len(head) < size:
        more = read1(size - len(head))
        if not more:
            break
        head += more
    return head


class StdinReader:
    """`Reader`'s interface over stdin: ``kind``, ``path`` (``<stdin>``), ``run(analysis, options)``."""

    path = LABEL
    compressed = False

    def __init__(self, f: IO[bytes], head: bytes, kind: str) -> None:
        self.kind = kind
        self._stream = io.BufferedReader(_Replay(head, f))

    def run(self, analysis, options: SourceOptions | None = None) -> None:
        if self.kind == "records":
            from inspector.sources import records_jsonl

            records_jsonl.read_stream(self._stream, analysis, options)
        elif self.kind in ("pcap", "pcapng"):
            from inspector.sources import pcap

            pcap.read_stream(self._stream, self.kind, LABEL, analysis, options)
        else:
            self._spooled(analysis, options)

    def _spooled(self, analysis, options: SourceOptions | None) -> None:
        fd, path = tempfile.mkstemp(prefix="inspector-stdin-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(self._stream, out)
            from inspector.sources import open_source

            reader = open_source(path)
            try:
                reader.run(analysis, options)
            except InputError as exc:
                raise InputError(str(exc).replace(path, LABEL)) from None
        finally:
            os.unlink(path)


def open_stdin(f: IO[bytes]) -> StdinReader:
    """The reader for the stream ``f`` (stdin's binary buffer); InputError if empty or unknown."""
    head = _read_until(f, b"", 4)
    if _is_pcap(head) or _is_pcapng(head):
        return StdinReader(f, head, "pcapng" if _is_pcapng(head) else "pcap")
    head = _read_until(f, head, 64)
    if _is_records(head):
        return StdinReader(f, head, "records")
    head = _read_until(f, head, HEAD_BYTES)
    if not head:
        raise InputError(f"{LABEL}: empty input")
    if head[:2] == b"\x1f\x8b":
        return StdinReader(f, head, "gzip")
    for detector in DETECTORS:
        if detector.test(head):
            return StdinReader(f, head, detector.kind)
    raise InputError(f"{LABEL}: not a capture or recording inspector can read (pcap, pcapng, HAR, mitmproxy flows, "
                     "inspector JSON Lines)")
