"""The state of one message being received (`inspector.ws.messages.MessageAssembler`): counters, hash,
view prefix, UTF-8 state (RFC 6455 8.1), inflation state (RFC 7692)."""

from __future__ import annotations

import codecs
from hashlib import sha256

__all__ = ["MessageState", "valid_prefix"]

_utf8_decoder = codecs.getincrementaldecoder("utf-8")

# Allowed second bytes of a UTF-8 sequence by lead byte (RFC 3629 section 4); others: 80-BF
_SECOND = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


def valid_prefix(pending: bytes) -> bool:
    """Can ``pending`` (the 1-3 bytes an incremental decoder holds back) still start a valid sequence?

    CPython's decoder holds back ``ED A0`` (a surrogate) until the third byte; RFC 6455 8.1 wants the
    failure where the first invalid byte arrives, so the held-back bytes are checked here.
    """
    lead = pending[0]
    if not 0xC2 <= lead <= 0xF4:
        return False
    if len(pending) > 1:
        low, high = _SECOND.get(lead, (0x80, 0xBF))
        if not low <= pending[1] <= high:
            return False
    return all(0x80 <= b <= 0xBF for b in pending[2:])


class MessageState:
    """A message being received: counters, hash, view prefix, UTF-8 state, inflation state."""

    __slots__ = (
        "opcode", "compressed", "inflating", "inflate_error", "frames", "wire_length", "length", "sha",
        "prefix", "limit", "decoder", "utf8_bad", "skip", "ts_first", "ts_last", "violations", "app",
    )

    def __init__(self, opcode: int, compressed: bool, limit: int, ts: float | None) -> None:
        self.opcode = opcode
        self.compressed = compressed
        self.inflating = compressed
        self.inflate_error: str | None = None
        self.frames = 0
        self.wire_length = 0
        self.length = 0
        self.sha = sha256()
        self.prefix = bytearray()
        self.limit = limit
        self.decoder = _utf8_decoder() if opcode in (1, 8) else None
        self.utf8_bad = False
        self.skip = 2 if opcode == 8 else 0  # a close payload's reason starts after the 2-byte code
        self.ts_first = ts
        self.ts_last = ts  # of the last frame completed: the time of a message cut off after it
        self.violations: list[str] = []
        self.app: bytearray | None = None  # payload prefix for the application layer (`payloads`)
