"""RFC 6455 frames on the wire: the construct schema (parse + build), `build_frame`, `parse_frame`.

The wire format (RFC 6455 section 5.2) is declared once, in `HEADER` / `FRAME`::

     0                   1                   2                   3
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+
    | Masking-key (continued)       |          Payload Data         |
    +-------------------------------- - - - - - - - - - - - - - - - +

The two header bytes are plain ``Int8ub`` fields (``b0``, ``b1``) rebuilt from the flags when building and
split into flags by ``Computed`` ``this``-expressions when parsing; the length is a ``Switch`` on ``len7``.
No BitStruct, lambda or custom Adapter: `FRAME.compile()` emits pure Python with no interpreted fallback
(tests/test_frames.py checks the generated source). The payload field holds the bytes as they are on
the wire (masked when MASK=1); `apply_mask` (RFC 6455 5.3) is applied around the schema.

`build_frame` builds with the compiled schema, including deliberately non-minimal length encodings.
"""

from __future__ import annotations

from construct import (
    Bytes,
    Computed,
    If,
    Int8ub,
    Int16ub,
    Int64ub,
    Rebuild,
    Struct,
    Switch,
    this,
)

from inspector.errors import InputError
from inspector.ws.header import apply_mask, header_size

__all__ = ["LENGTH_ENCODINGS", "HEADER", "FRAME", "HEADER_COMPILED", "FRAME_COMPILED", "build_frame", "parse_frame"]

LENGTH_ENCODINGS = ("7bit", "16bit", "64bit")

#: The frame header, RFC 6455 5.2: parses and builds (build needs fin, rsv1-3, opcode, masked, len7,
#: payload_len and masking_key; `build_frame` fills them).
HEADER = Struct(
    "b0" / Rebuild(Int8ub, this.fin * 0x80 | this.rsv1 * 0x40 | this.rsv2 * 0x20 | this.rsv3 * 0x10 | this.opcode),
    "b1" / Rebuild(Int8ub, this.masked * 0x80 | this.len7),
    "fin" / Computed(this.b0 & 0x80 != 0),
    "rsv1" / Computed(this.b0 & 0x40 != 0),
    "rsv2" / Computed(this.b0 & 0x20 != 0),
    "rsv3" / Computed(this.b0 & 0x10 != 0),
    "opcode" / Computed(this.b0 & 0x0F),
    "masked" / Computed(this.b1 & 0x80 != 0),
    "len7" / Computed(this.b1 & 0x7F),
    # 7-bit length, or 126 + 16-bit, or 127 + 64-bit (network byte order)
    "payload_len" / Switch(this.len7, {126: Int16ub, 127: Int64ub}, Computed(this.len7)),
    "masking_key" / If(this.masked, Bytes(4)),
)

#: A whole frame: the header then ``payload_len`` bytes of (possibly masked) payload.
FRAME = Struct(*HEADER.subcons, "payload" / Bytes(this.payload_len))

HEADER_COMPILED = HEADER.compile()
FRAME_COMPILED = FRAME.compile()


def _len7_for(length: int, encoding: str | None) -> int:
    if encoding is None:
        encoding = "7bit" if length < 126 else "16bit" if length < 0x10000 else "64bit"
    if encoding == "7bit":
        if length > 125:
            raise InputError(f"a {length}-byte payload does not fit a 7-bit length")
        return length
    if encoding == "16bit":
        if length > 0xFFFF:
            raise InputError(f"a {length}-byte payload does not fit a 16-bit length")
        return 126
    if encoding == "64bit":
        return 127
    raise InputError(f"unknown length encoding {encoding!r} (7bit, 16bit or 64bit)")


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length_encoding: str | None = None,
) -> bytes:
    """One frame on the wire, built with the compiled construct schema (RFC 6455 5.2).

    ``mask`` is the 4-byte masking key (MASK=1, payload masked per 5.3) or None (MASK=0).
    ``length_encoding`` forces ``"7bit"``, ``"16bit"`` or ``"64bit"``; None picks the minimal one, so a
    forced wider encoding crafts a ``non-minimal-length`` frame. Impossible requests raise InputError.
    """
    if not 0 <= opcode <= 15:
        raise InputError(f"opcode {opcode} is not 0-15")
    if mask is not None and len(mask) != 4:
        raise InputError(f"a masking key is 4 bytes, not {len(mask)}")
    payload = bytes(payload)
    len7 = _len7_for(len(payload), length_encoding)
    return FRAME_COMPILED.build(
        {
            "fin": bool(fin),
            "rsv1": bool(rsv1),
            "rsv2": bool(rsv2),
            "rsv3": bool(rsv3),
            "opcode": opcode,
            "masked": mask is not None,
            "len7": len7,
            "payload_len": len(payload),
            "masking_key": mask,
            "payload": apply_mask(payload, mask) if mask is not None else payload,
        }
    )


def parse_frame(data: bytes) -> tuple[dict, int]:
    """Parse the first complete frame of ``data`` with the compiled schema.

    Returns the schema's fields (``payload`` unmasked, ``masked_payload`` as on the wire) and the frame's
    size in bytes. Raises InputError when ``data`` does not hold a whole frame.
    """
    if len(data) < 2:
        raise InputError(f"a frame needs at least 2 bytes, got {len(data)}")
    hlen = header_size(data[1])
    if len(data) < hlen:
        raise InputError(f"frame header needs {hlen} bytes, got {len(data)}")
    head = HEADER_COMPILED.parse(data[:hlen])
    if len(data) - hlen < head.payload_len:
        raise InputError(f"frame declares {head.payload_len} payload bytes, {len(data) - hlen} present")
    parsed = FRAME_COMPILED.parse(data)
    fields = {k: v for k, v in parsed.items() if not k.startswith("_")}
    fields["masked_payload"] = parsed.payload
    if parsed.masking_key is not None:
        fields["payload"] = apply_mask(parsed.payload, parsed.masking_key)
    return fields, hlen + head.payload_len
