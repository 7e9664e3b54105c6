"""Offline sources: which reader handles a file, decided by its content (never by its extension).

``inspector analyze FILE...`` does, for each file::

    reader = open_source(path)          # raises InputError (one line) if no reader recognises it
    reader.run(analysis, options)       # feeds inspector.analysis.Analysis; options: SourceOptions

`detect(path)` returns the kind (``pcap``, ``pcapng``, ...); gzip-compressed files are looked into
(``open_binary`` decompresses transparently, so every reader gets gzip for free).

Adding a source: write ``inspector/sources/<kind>.py`` with ``run(path, analysis, options)`` and add one
`Detector` to `DETECTORS` below: a name, a test on the first `HEAD_BYTES` bytes of the (decompressed) file,
and the dotted path of the run function (imported only when used).  Detectors are tried in order.
"""

from __future__ import annotations

import gzip
import importlib
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any, Callable

from inspector.errors import InputError

__all__ = ["SourceOptions", "Detector", "DETECTORS", "detect", "open_source", "open_binary", "Reader"]

HEAD_BYTES = 4096

_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class SourceOptions:
    """What the user asked of a source (the CLI's ``analyze`` options); every reader accepts it."""

    #: ``--ws``: ports or ``host:port`` whose TCP connections are decoded as WebSocket without a handshake
    ws: tuple[str, ...] = ()
    #: ``--conn``: only these connection ids
    conns: frozenset[str] = frozenset()
    #: ``--host``: only connections with this IP, ``ip:port``, or HTTP Host (name or name:port)
    hosts: frozenset[str] = frozenset()
    #: called with the number of input bytes consumed since the last call (progress bars)
    progress: Callable[[int], Any] | None = None
    #: offer WebSocket decoding for handshake-less connections that look like client frames
    heuristics: bool = True
    #: prepended to every connection id (``analyze`` with several files: ``1:``, ``2:``...), so that ids
    #: stay unique in one output
    conn_prefix: str = ""
    #: called when the input read so far has been analysed (a pipe: before waiting for more)
    idle: Callable[[], Any] | None = None
    #: ``--keylog``: NSS key log files (SSLKEYLOGFILE) for decrypting TLS in captures
    keylog: tuple[str, ...] = ()
    #: ``(k, n)``: analyse only the connections of shard ``k`` of ``n`` (`inspector.scale`); every shard
    #: reads the whole input, so connection ids are those of an unsharded run
    shard: tuple[int, int] | None = None


@dataclass(frozen=True)
class Detector:
    kind: str
    test: Callable[[bytes], bool]
    run: str  # "module:function", called as function(path, analysis, options)


def _is_pcap(head: bytes) -> bool:
    return head[:4] in _PCAP_MAGICS


def _is_pcapng(head: bytes) -> bool:
    return head[:4] == _PCAPNG_MAGIC


def _is_har(head: bytes) -> bool:
    """A JSON object with a ``log`` key near the start (HAR 1.2); JSON Lines and other JSON do not match."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and b'"log"' in text


def _is_zip(head: bytes) -> bool:
    """A zip archive (local file header): the HAR reader looks inside for a ``.har`` member."""
    return head[:4] == b"PK\x03\x04"


def _is_flows(head: bytes) -> bool:
    """A mitmproxy dump: a tnetstring (``<length>:``) whose first item is itself a tnetstring."""
    return re.match(rb"\d{1,12}:\d{1,12}:", head) is not None


def _is_records(head: bytes) -> bool:
    """inspector's own JSON Lines: a first line that is a record (see `records_jsonl.looks_like_records`)."""
    from inspector.sources.records_jsonl import looks_like_records

    return looks_like_records(head)


DETECTORS: list[Detector] = [
    Detector("records", _is_records, "inspector.sources.records_jsonl:run"),
    Detector("pcap", _is_pcap, "inspector.sources.pcap:run"),
    Detector("pcapng", _is_pcapng, "inspector.sources.pcap:run"),
    Detector("har", _is_har, "inspector.sources.har:run"),
    Detector("har", _is_zip, "inspector.sources.har:run"),  # Playwright's zip HAR (har.har + attachments)
    Detector("flows", _is_flows, "inspector.mitm.flows:run"),
    Detector("records", _is_records, "inspector.sources.records_jsonl:run"),
]


def open_binary(path: str) -> IO[bytes]:
    """The file for reading, gzip-decompressed on the fly if it is gzip; InputError if unreadable."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise InputError(_named(path, f"{exc.strerror or exc}")) from None
    if f.read(2) == _GZIP_MAGIC:
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb")
    f.seek(0)
    return f


def _named(path: str, message: str) -> str:
    """``message`` starting with the file name (once), escaped for the terminal."""
    from inspector.present.escape import escape_terminal

    if not message.startswith((f"{path}: ", f"{escape_terminal(path)}: ")):
        message = f"{path}: {message}"
    return escape_terminal(message)


def _head(path: str) -> tuple[bytes, bool]:
    with open_binary(path) as f:
        try:
            return f.read(HEAD_BYTES), isinstance(f, gzip.GzipFile)
        except (OSError, EOFError, zlib.error) as exc:  # corrupt or truncated gzip
            raise InputError(_named(path, f"not readable as gzip ({exc})")) from None


def detect(path: str) -> str | None:
    """The kind of file at ``path`` (``pcap``, ``pcapng``, ...), or None if no reader knows it."""
    head, _ = _head(path)
    for detector in DETECTORS:
        if detector.test(head):
            return detector.kind
    return None


class Reader:
    """A file and the reader that handles it; ``run(analysis, options)`` feeds the analysis."""

    def __init__(self, path: str, kind: str, run: str, compressed: bool) -> None:
        self.path = path
        self.kind = kind
        self.compressed = compressed
        self._run = run

    def run(self, analysis, options: SourceOptions | None = None) -> None:
        """Feed ``analysis``; every problem with the file is one `InputError` that names it (a gzip
        stream damaged late, a read error), whatever the reader was doing when it met it."""
        module, _, function = self._run.partition(":")
        try:
            getattr(importlib.import_module(module), function)(self.path, analysis, options or SourceOptions())
        except InputError as exc:
            raise InputError(_named(self.path, str(exc))) from None
        except zipfile.BadZipFile as exc:  # a zip HAR's member damaged (CRC, deflate data)
            raise InputError(_named(self.path, f"damaged zip archive ({exc})")) from None
        except (zlib.error, EOFError) as exc:  # gzip damaged after the head, or cut short
            raise InputError(_named(self.path, f"damaged gzip stream ({exc or type(exc).__name__})")) from None
        except OSError as exc:  # gzip.BadGzipFile (a CRC or length error at the end), a read error
            raise InputError(_named(self.path, f"{exc.strerror or exc}")) from None

    def __repr__(self) -> str:
        return f"Reader({self.path!r}, {self.kind!r})"


def open_source(path: str) -> Reader:
    """The reader for ``path``, chosen by content; InputError naming the problem otherwise."""
    from inspector.present.escape import escape_terminal

    head, compressed = _head(path)
    if not head:
        raise InputError(_named(path, "empty file"))
    for detector in DETECTORS:
        if detector.test(head):
            return Reader(path, detector.kind, detector.run, compressed)
    raise InputError(
        f"{escape_terminal(path)}: not a capture or recording inspector can read"
        " (pcap, pcapng, HAR, mitmproxy flows, inspector JSON Lines)"
    )
