"""The RFC 6455 frame header (section 5.2): opcodes, the decoded header, the one plausibility rule, masking.

`plausible_header` is the one definition of "these bytes may start a frame": the decoder's fast paths
(through `clean_table`), the resync scanner (`inspector.ws.resync`) and the capture heuristics
(`looks_like_frames`) all ask it. `header_violations` names what a header shows on its own; a header is
plausible exactly when it shows no violation (tests/unit/test_ws_header.py checks both against the
construct schema in `inspector.ws.schema` on every first two bytes).
"""

from __future__ import annotations

from enum import IntEnum
from functools import cache

import msgspec

from inspector.records import Direction
from inspector.ws import violations as V

__all__ = [
    "Opcode",
    "OPCODE_NAMES",
    "opcode_name",
    "FrameHeader",
    "header_size",
    "mask_bit",
    "plausible_header",
    "first_bytes",
    "clean_table",
    "header_violations",
    "apply_mask",
]


class Opcode(IntEnum):
    """The defined opcodes (RFC 6455 5.2, 11.8); the others are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


#: opcode -> the ``opcode_name`` of the records contract (docs/records.md)
OPCODE_NAMES = {op.value: op.name.lower() for op in Opcode}


def opcode_name(opcode: int) -> str:
    """`continuation`, `text`, `binary`, `close`, `ping`, `pong` or `reserved` (records.md)."""
    return OPCODE_NAMES.get(opcode, "reserved")


class FrameHeader(msgspec.Struct, gc=False):
    """A decoded frame header; fields a truncated header does not hold are None.

    ``b0`` is the first header byte (FIN, RSV1-3, opcode: the properties below read it), kept whole
    because one comparison (``b0 == 0x81``) then recognises the common case.
    """

    b0: int
    masked: bool | None
    masking_key: bytes | None
    payload_len: int | None
    length_encoding: str | None
    offset: int  # of the frame's first byte in its direction's stream
    violations: list[str]
    complete: bool = True
    received: int = 0  # payload bytes seen so far (== payload_len once complete)

    @property
    def fin(self) -> bool:
        return self.b0 >= 0x80

    @property
    def rsv1(self) -> bool:
        return self.b0 & 0x40 != 0

    @property
    def rsv2(self) -> bool:
        return self.b0 & 0x20 != 0

    @property
    def rsv3(self) -> bool:
        return self.b0 & 0x10 != 0

    @property
    def opcode(self) -> int:
        return self.b0 & 0x0F


def header_size(b1: int) -> int:
    """Header length in bytes implied by the second header byte (2 + 0/2/8 + 0/4)."""
    len7 = b1 & 0x7F
    return 2 + (2 if len7 == 126 else 8 if len7 == 127 else 0) + (4 if b1 & 0x80 else 0)


def mask_bit(direction: Direction | None) -> int | None:
    """The MASK bit (as in the second header byte) ``direction`` must send: 0x80 client, 0 server,
    None when the direction is unknown (either)."""
    return 0x80 if direction == "client" else 0 if direction == "server" else None


def plausible_header(
    b0: int, b1: int, payload_len: int | None = None, mask: int | None = None, deflate: bool | None = False
) -> bool:
    """Can a frame start with this header without a header violation (RFC 6455 5.2-5.5, RFC 7692 6.1)?

    ``mask``: the MASK bit the sender must set (`mask_bit`), None: either. ``deflate``: True when
    permessage-deflate was negotiated (RSV1 then only on text/binary), False when not (RSV1 never),
    None when unknown (RSV1 on data frames, never on control frames). The opcode must be defined,
    RSV2/RSV3 clear, a control frame final. ``payload_len``: the length the extended length field
    holds; with it, the encoding must be minimal, the 64-bit MSB clear and a control frame at most 125
    bytes. None: the length is not known yet and only the bits are judged.
    """
    opcode = b0 & 0x0F
    if opcode not in OPCODE_NAMES or b0 & 0x30:
        return False
    if mask is not None and b1 & 0x80 != mask:
        return False
    if b0 & 0x40 and (deflate is False or opcode >= 8 or (deflate and opcode == 0)):
        return False
    if opcode >= 8 and b0 < 0x80:
        return False
    if payload_len is None:
        return True
    len7 = b1 & 0x7F
    if len7 == 126:
        if payload_len < 126:
            return False
    elif len7 == 127:
        if payload_len < 0x10000 or payload_len >> 63:
            return False
    return opcode < 8 or payload_len <= 125


@cache
def first_bytes(deflate: bool | None) -> frozenset[int]:
    """The first header bytes `plausible_header` accepts (with some second byte)."""
    return frozenset(b0 for b0 in range(256) if plausible_header(b0, 0, None, None, deflate))


@cache
def clean_table(direction: Direction | None, deflate: bool) -> bytes:
    """Indexed by ``b0 << 8 | b1``: 1 where a frame with these two bytes is a plausible, final text or
    binary frame with a 7-bit length, 2 where it is one with a 16-bit length (then plausible when that
    length is at least 126), 0 otherwise. The decoder's fast paths take only such frames."""
    mask = mask_bit(direction)
    table = bytearray(65536)
    for b0 in range(256):
        if b0 & 0x8F not in (0x81, 0x82):
            continue
        for b1 in range(256):
            len7 = b1 & 0x7F
            if len7 < 126 and plausible_header(b0, b1, len7, mask, deflate):
                table[b0 << 8 | b1] = 1
            elif len7 == 126 and plausible_header(b0, b1, 126, mask, deflate):
                table[b0 << 8 | b1] = 2
    return bytes(table)


def header_violations(
    b0: int, b1: int | None, payload_len: int | None, direction: Direction | None, deflate: bool
) -> list[str]:
    """The violations a frame header shows on its own (RFC 6455 5.1-5.5, RFC 7692 6.1).

    ``b1``/``payload_len`` are None when a truncated header does not hold them; ``direction`` is
    ``"client"``, ``"server"`` or None (masking not checked); ``deflate``: permessage-deflate negotiated
    (then RSV1 is defined, but only on the first frame of a data message).
    """
    found = []
    opcode = b0 & 0x0F
    if b0 & 0x40:
        if not deflate:
            found.append(V.RSV_WITHOUT_EXTENSION)
        elif opcode == 0 or opcode >= 8:
            found.append(V.RSV1_ON_CONTROL_OR_CONTINUATION)
    if b0 & 0x30 and V.RSV_WITHOUT_EXTENSION not in found:
        found.append(V.RSV_WITHOUT_EXTENSION)
    if opcode not in OPCODE_NAMES:
        found.append(V.RESERVED_OPCODE)
    if opcode >= 8:
        if payload_len is not None and payload_len > 125:
            found.append(V.CONTROL_FRAME_TOO_LONG)
        if not b0 & 0x80:
            found.append(V.FRAGMENTED_CONTROL_FRAME)
    if b1 is None:
        return found
    len7 = b1 & 0x7F
    if payload_len is not None:
        if len7 == 126 and payload_len < 126:
            found.append(V.NON_MINIMAL_LENGTH)
        elif len7 == 127:
            if payload_len < 0x10000:
                found.append(V.NON_MINIMAL_LENGTH)
            if payload_len >> 63:
                found.append(V.LENGTH_MSB_SET)
    if direction == "client" and not b1 & 0x80:
        found.append(V.CLIENT_FRAME_UNMASKED)
    elif direction == "server" and b1 & 0x80:
        found.append(V.SERVER_FRAME_MASKED)
    return found


_from_bytes = int.from_bytes


def apply_mask(data: bytes, key: bytes, phase: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (RFC 6455 5.3); masking and unmasking are the same.

    ``phase`` is the index of ``data[0]`` in the payload modulo 4, for payloads arriving in pieces.
    One big-integer XOR: pure Python, linear, and much faster than a per-byte loop.
    """
    n = len(data)
    if not n:
        return b""
    if phase:
        key = key[phase:] + key[:phase]
    return (_from_bytes(data, "big") ^ _from_bytes((key * ((n >> 2) + 1))[:n], "big")).to_bytes(n, "big")
