"""HTTP Content-Encoding undone incrementally, with a bound on the output (RFC 9110 section 8.4.1).

The classifier hashes decoded response bodies ("did it change?") and the SSE parser needs the event-stream
text, so every source that sees compressed bodies (pcap, the live addon, flow files) decodes them here.
gzip (and x-gzip) and deflate are decoded; ``deflate`` is zlib-wrapped as RFC 9110 8.4.1.2 says, with raw
deflate as a fallback because some servers send that.  Output comes in pieces of at most `PIECE` bytes
and stops at ``cap`` bytes, so a compression bomb never sits in memory whole.  Other codings (br, zstd)
are not decoded: `BodyDecoder.for_header` raises ValueError naming them, and callers decide (pass the
bytes through, or warn).  Sans-IO: bytes in, bytes out.
"""

from __future__ import annotations

import zlib
from typing import Iterator

__all__ = ["BodyDecoder", "PIECE", "DEFAULT_CAP", "decode_body"]

PIECE = 64 << 10
DEFAULT_CAP = 16 << 20


class BodyDecoder:
    """One response body's Content-Encoding, undone piece by piece.

    `pieces` raises ValueError for a corrupt stream or when the decoded size passes ``cap``; after that
    the decoder stays failed (`failed` is True) and yields nothing more.
    """

    __slots__ = ("encoding", "_z", "_left", "_raw_fallback", "_held", "failed")

    def __init__(self, encoding: str, cap: int = DEFAULT_CAP) -> None:
        self.encoding = encoding
        self._left = cap
        self.failed = False
        self._raw_fallback = encoding == "deflate"
        self._held = b""  # deflate: input before the first output, replayed if it turns out to be raw
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise ValueError(f"cannot decode Content-Encoding {encoding!r} incrementally")

    @classmethod
    def for_header(cls, value: str | None, cap: int = DEFAULT_CAP) -> "BodyDecoder | None":
        """The decoder for a Content-Encoding header value; None for none/identity; ValueError for codings
        not decoded here (br, zstd, several codings stacked)."""
        encoding = (value or "").strip().lower()
        if encoding in ("", "identity"):
            return None
        return cls(encoding, cap)

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """Decoded bytes of ``data`` (the next part of the body), in pieces of at most `PIECE`."""
        if self.failed:
            return
        buf = data
        while buf:
            try:
                piece = self._z.decompress(buf, PIECE)
            except zlib.error:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    buf, self._held = self._held + buf, b""
                    continue
                self.failed = True
                raise ValueError(f"corrupt {self.encoding} body") from None
            if self._raw_fallback:
                if piece or len(self._held) > PIECE:
                    self._raw_fallback, self._held = False, b""
                else:
                    self._held += buf[: len(buf) - len(self._z.unconsumed_tail)]
            buf = self._z.unconsumed_tail
            if piece:
                yield self._count(piece)
            if not buf:  # drain what zlib holds back without new input (max_length may have stopped it)
                while piece := self._z.decompress(b"", PIECE):
                    yield self._count(piece)

    def _count(self, piece: bytes) -> bytes:
        self._left -= len(piece)
        if self._left < 0:
            self.failed = True
            raise ValueError(f"decoded {self.encoding} body is larger than the cap")
        return piece


def decode_body(raw: bytes, content_encoding: str | None, cap: int = DEFAULT_CAP) -> bytes | None:
    """A whole stored body decoded (``raw`` itself without a coding); None if it cannot be decoded here
    (unknown coding, corrupt, or over ``cap`` once decoded)."""
    try:
        decoder = BodyDecoder.for_header(content_encoding, cap)
        if decoder is None:
            return raw
        return b"".join(decoder.pieces(raw))
    except ValueError:
        return None
