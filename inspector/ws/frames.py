"""RFC 6455 frames: the construct schema (parse + build), `build_frame`, and the streaming `FrameDecoder`.

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

`FrameDecoder` is the per-direction streaming decoder. Bytes go in with any chunking; out come
``(header, payload_chunk, first, last)`` events, payload unmasked. A frame whose payload is at most
``buffer_limit`` bytes is delivered whole (one event); a larger one is streamed chunk by chunk as bytes
arrive, so a header claiming 2^63 bytes costs nothing until the bytes exist. The hot path reads the
header by byte indexing (a compiled construct parse costs several microseconds a frame) and unmasks all
whole frames of a chunk with one big-integer XOR against a keystream (pure Python, no C helper);
``engine="construct"`` reads every header with the compiled schema instead, and the tests check both
engines agree on random streams and on every violation. Header-only violations (violations.py) are decided
here; per-direction state (fragmentation, close, UTF-8) lives in `inspector.ws.messages`.
"""

from __future__ import annotations

import msgspec
from construct import Bytes, Computed, If, Int8ub, Int16ub, Int64ub, Rebuild, Struct, Switch, this

from inspector.ws import violations as V
from inspector.errors import InputError

__all__ = [
    "CONTINUATION",
    "TEXT",
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "OPCODE_NAMES",
    "opcode_name",
    "HEADER",
    "FRAME",
    "HEADER_COMPILED",
    "FRAME_COMPILED",
    "apply_mask",
    "build_frame",
    "parse_frame",
    "header_violations",
    "FrameHeader",
    "FrameDecoder",
]

# Opcodes, RFC 6455 section 5.2 / 11.8
CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

OPCODE_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

LENGTH_ENCODINGS = ("7bit", "16bit", "64bit")


def opcode_name(opcode: int) -> str:
    """`continuation`, `text`, `binary`, `close`, `ping`, `pong` or `reserved` (records.md)."""
    return OPCODE_NAMES.get(opcode, "reserved")


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


_from_bytes = int.from_bytes


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


def header_size(b1: int) -> int:
    """Header length in bytes implied by the second header byte (2 + 0/2/8 + 0/4)."""
    len7 = b1 & 0x7F
    return 2 + (2 if len7 == 126 else 8 if len7 == 127 else 0) + (4 if b1 & 0x80 else 0)


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


def header_violations(
    b0: int, b1: int | None, payload_len: int | None, direction: str | None, deflate: bool
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


_ENCODING = {126: "16bit", 127: "64bit"}
_ZEROS = [bytes(i) for i in range(16)]


class FrameDecoder:
    """Streaming RFC 6455 frame decoder for one direction (sans-IO: bytes in, events out).

    ``feed(data)`` returns a list of ``(header, payload, first, last)``: ``payload`` is unmasked;
    ``first``/``last`` mark the first/last piece of the frame's payload (both True for a frame delivered
    whole). ``end()`` returns the event of a frame cut off by the end of input (``truncated``,
    ``complete=False``) or nothing. Memory: at most ``buffer_limit`` payload bytes plus a header are
    held; bigger payloads stream through.
    """

    def __init__(
        self,
        direction: str | None = None,
        *,
        deflate: bool = False,
        buffer_limit: int = 1 << 16,
        engine: str = "fast",
    ) -> None:
        if engine not in ("fast", "construct"):
            raise ValueError(f"engine must be 'fast' or 'construct', not {engine!r}")
        self.direction = direction
        self.deflate = deflate
        self.buffer_limit = buffer_limit
        self._construct = engine == "construct"
        self._buf = bytearray()  # the unparsed beginning of the next frame
        self._need = 2  # bytes _buf must hold before parsing is worth trying
        self._consumed = 0  # stream offset of _buf[0]
        self._cur: FrameHeader | None = None  # frame whose payload is streaming
        self._remaining = 0
        # `whole`: first header bytes it takes (FIN=1 text/binary; RSV1 too when deflate defines it) and
        # the MASK bit this direction must carry (0x80 client, 0 server, None: either)
        self._whole_b0 = frozenset() if self._construct else frozenset(
            (0x81, 0x82, 0xC1, 0xC2) if deflate else (0x81, 0x82))
        self._mask_bit = 0x80 if direction == "client" else 0 if direction == "server" else None

    @property
    def offset(self) -> int:
        """Bytes of this direction's stream consumed so far."""
        return self._consumed + len(self._buf)

    def feed(self, data: bytes) -> list[tuple[FrameHeader, bytes, bool, bool]]:
        out: list = []
        if self._cur is not None:
            data = self._stream(data, out)
            if self._cur is not None or not data:
                return out
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return out
            data = bytes(self._buf)
            self._buf.clear()
        elif not data:
            return out
        self._parse(bytes(data), out)
        return out

    def whole(self, data: bytes) -> tuple[int, bytes | None, bytes, str, int] | None:
        """Fast path for a chunk that is exactly one frame (a capture's usual TCP segment).

        When nothing is buffered and ``data`` is one whole FIN=1 text/binary frame whose header shows no
        violation (RSV1 only when permessage-deflate is negotiated, MASK as the direction requires,
        minimal length, at most 65535 bytes), consumes it and returns ``(b0, masking_key, unmasked
        payload, length_encoding, offset)``; otherwise returns None and consumes nothing (`feed` takes
        it). The construct engine never takes it. tests/test_websocket.py checks it against the general
        path and the construct engine.
        """
        if self._buf or self._cur is not None:
            return None
        n = len(data)
        if n < 2 or data[0] not in self._whole_b0:
            return None
        b1 = data[1]
        mask = b1 & 0x80
        if mask != self._mask_bit and self._mask_bit is not None:
            return None
        len7 = b1 & 0x7F
        if len7 < 126:
            hlen = 2
            encoding = "7bit"
            if n != len7 + 2 + (mask >> 5):
                return None
        elif len7 == 126:
            hlen = 4
            encoding = "16bit"
            plen = data[2] << 8 | data[3] if n >= 4 else 0
            if plen < 126 or n != plen + 4 + (mask >> 5):
                return None
        else:
            return None
        offset = self._consumed
        self._consumed = offset + n
        if mask:
            key = data[hlen : hlen + 4]
            hlen += 4
            plen = n - hlen
            payload = (_from_bytes(data[hlen:], "big") ^ _from_bytes((key * ((plen >> 2) + 1))[:plen], "big")
                       ).to_bytes(plen, "big")
            return data[0], key, payload, encoding, offset
        return data[0], None, data[hlen:], encoding, offset

    def feed_clean(self, data: bytes) -> tuple[list, list]:
        """`feed` for a caller that takes clean frames whole (`MessageAssembler.clean`).

        Returns ``(clean, events)``: ``clean`` the leading run of frames that `whole` would take, as
        ``(b0, masking_key, unmasked payload, payload length, length_encoding, offset)`` tuples, without
        a `FrameHeader` each; ``events`` what `feed` returns for the bytes after them. Their masks go in
        one big-integer XOR as in `feed`. tests/test_websocket.py checks it against the general path.
        """
        if self._cur is not None or self._construct:
            return [], self.feed(data)
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return [], []
            data = bytes(self._buf)
            self._buf = bytearray()
        elif not data:
            return [], []
        n = len(data)
        pos = 0
        base = self._consumed
        accept = self._whole_b0
        mask_bit = self._mask_bit
        found = []
        add_frame = found.append
        keys: list[bytes] = []
        add_key = keys.append
        kpos = 0
        while n - pos >= 2:
            b0 = data[pos]
            if b0 not in accept:
                break
            b1 = data[pos + 1]
            mask = b1 & 0x80
            if mask != mask_bit and mask_bit is not None:
                break
            len7 = b1 & 0x7F
            if len7 < 126:
                plen = len7
                start = pos + 2
                encoding = "7bit"
            elif len7 == 126 and n - pos >= 4:
                plen = data[pos + 2] << 8 | data[pos + 3]
                if plen < 126:
                    break
                start = pos + 4
                encoding = "16bit"
            else:
                break
            if mask:
                start += 4
            end = start + plen
            if end > n:
                break
            if mask:
                key = data[start - 4 : start]
                if plen:
                    gap = start - kpos
                    add_key(_ZEROS[gap] if gap < 16 else bytes(gap))
                    add_key((key * ((plen >> 2) + 1))[:plen])
                    kpos = end
            else:
                key = None
            add_frame((b0, key, start, end, encoding, base + pos))
            pos = end
        clear = data  # no masked frame: the payloads are as they came
        if kpos:
            if kpos < pos:  # unmasked frames after the last masked one (direction unknown)
                add_key(bytes(pos - kpos))
            clear = (_from_bytes(data[:pos], "big") ^ _from_bytes(b"".join(keys), "big")).to_bytes(pos, "big")
        clean = [(b0, key, clear[start:end], end - start, encoding, offset)
                 for b0, key, start, end, encoding, offset in found]
        self._consumed = base + pos
        events: list = []
        if pos < n:
            self._parse(data[pos:] if pos else bytes(data), events)
        else:
            self._need = 2
        return clean, events

    def _stream(self, data: bytes, out: list) -> bytes:
        hdr = self._cur
        take = min(self._remaining, len(data))
        chunk = data[:take]
        if hdr.masking_key is not None:
            chunk = apply_mask(chunk, hdr.masking_key, hdr.received & 3)
        hdr.received += take
        self._remaining -= take
        self._consumed += take
        last = self._remaining == 0
        if last:
            self._cur = None
        out.append((hdr, chunk, False, last))
        return data[take:]

    def _parse(self, data: bytes, out: list) -> None:
        n = len(data)
        pos = 0
        base = self._consumed
        direction = self.direction
        deflate = self.deflate
        construct = self._construct
        want_mask = True if direction == "client" else False if direction == "server" else None
        need = 2
        found = []  # (header, payload start, payload end) of the whole frames
        keys: list[bytes] = []  # keystream pieces covering data[:kpos]
        kpos = 0
        streamed = None
        while True:
            avail = n - pos
            if avail < 2:
                need = 2
                break
            b0 = data[pos]
            b1 = data[pos + 1]
            len7 = b1 & 0x7F
            hlen = 2 if len7 < 126 else 4 if len7 == 126 else 10
            if b1 & 0x80:
                hlen += 4
            if avail < hlen:
                need = hlen
                break
            if construct:
                head = HEADER_COMPILED.parse(data[pos : pos + hlen])
                plen = head.payload_len
                key = head.masking_key
                hdr = FrameHeader(
                    head.fin << 7 | head.rsv1 << 6 | head.rsv2 << 5 | head.rsv3 << 4 | head.opcode,
                    head.masked, key, plen, _ENCODING.get(head.len7, "7bit"), base + pos,
                    header_violations(b0, b1, plen, direction, deflate), True, plen,
                )
            else:
                if len7 < 126:
                    plen = len7
                elif len7 == 126:
                    plen = (data[pos + 2] << 8) | data[pos + 3]
                else:
                    plen = int.from_bytes(data[pos + 2 : pos + 10], "big")
                if b1 & 0x80:
                    key = data[pos + hlen - 4 : pos + hlen]
                    masked = True
                else:
                    key = None
                    masked = False
                if (b0 == 0x81 or b0 == 0x82) and (len7 < 126 or len7 == 126 and plen > 125) and (
                    masked is want_mask or want_mask is None
                ):
                    viol = []  # the common case: a whole, well-formed, small data frame
                else:
                    viol = header_violations(b0, b1, plen, direction, deflate)
                hdr = FrameHeader(
                    b0, masked, key, plen, "7bit" if len7 < 126 else _ENCODING[len7], base + pos, viol, True, plen
                )
            start = pos + hlen
            end = start + plen
            if end <= n:
                found.append((hdr, start, end))
                if key is not None and plen:
                    # keystream for the whole run of frames: zeros up to this payload, then the key
                    gap = start - kpos
                    keys.append(_ZEROS[gap] if gap < 16 else bytes(gap))
                    keys.append((key * ((plen >> 2) + 1))[:plen])
                    kpos = end
                pos = end
                continue
            if plen <= self.buffer_limit:
                need = hlen + plen
                break
            chunk = data[start:]
            if key is not None:
                chunk = apply_mask(chunk, key)
            hdr.received = n - start  # counts up as the payload streams in
            self._cur = hdr
            self._remaining = end - n
            streamed = (hdr, chunk, True, False)
            pos = n
            break
        if found:
            # Unmask every whole frame of this run with one big-integer XOR (RFC 6455 5.3): the
            # per-frame Python work is then two slices, whatever the payload sizes.
            if kpos:
                clear = (_from_bytes(data[:kpos], "big") ^ _from_bytes(b"".join(keys), "big")).to_bytes(kpos, "big")
                for hdr, start, end in found:
                    out.append((hdr, clear[start:end] if end <= kpos else data[start:end], True, True))
            else:
                for hdr, start, end in found:
                    out.append((hdr, data[start:end], True, True))
        if streamed is not None:
            out.append(streamed)
        self._consumed = base + pos
        self._need = need
        if pos < n:
            self._buf = bytearray(data[pos:])

    def end(self) -> list[tuple[FrameHeader, bytes, bool, bool]]:
        """End of input: the frame it cuts off, if any, as a last event (``truncated``); then reset."""
        out: list = []
        if self._cur is not None:
            hdr = self._cur
            hdr.complete = False
            hdr.violations.append(V.TRUNCATED)
            out.append((hdr, b"", False, True))
        elif self._buf:
            out.append(self._truncated(bytes(self._buf)))
        self._consumed = self.offset
        self._buf = bytearray()
        self._need = 2
        self._cur = None
        self._remaining = 0
        return out

    def restart(self, offset: int) -> None:
        """Start afresh at stream offset ``offset`` (a frame boundary found after a gap)."""
        self.end()
        self._consumed = offset

    def _truncated(self, data: bytes) -> tuple[FrameHeader, bytes, bool, bool]:
        """The event for a frame whose beginning ``data`` is all there is (RFC 6455 5.2 fields or None)."""
        b0 = data[0]
        b1 = data[1] if len(data) > 1 else None
        masked = plen = key = encoding = None
        payload = b""
        if b1 is not None:
            masked = bool(b1 & 0x80)
            len7 = b1 & 0x7F
            encoding = _ENCODING.get(len7, "7bit")
            hlen = header_size(b1)
            ext = hlen - 2 - (4 if masked else 0)
            if len(data) >= 2 + ext:
                plen = len7 if ext == 0 else int.from_bytes(data[2 : 2 + ext], "big")
            if masked and len(data) >= hlen:
                key = data[hlen - 4 : hlen]
            if len(data) >= hlen:
                payload = data[hlen:]
                if key is not None:
                    payload = apply_mask(payload, key)
        viol = header_violations(b0, b1, plen, self.direction, self.deflate)
        viol.append(V.TRUNCATED)
        hdr = FrameHeader(
            b0, masked, key, plen, encoding, self._consumed, viol, complete=False, received=len(payload)
        )
        return (hdr, payload, True, True)
