"""`FrameDecoder`: the per-direction streaming RFC 6455 frame decoder (sans-IO: bytes in, events out).

Bytes go in with any chunking; out come `FrameEvent`s, payload unmasked. A frame whose payload is at most
``buffer_limit`` bytes is delivered whole (one event); a larger one is streamed chunk by chunk as bytes
arrive, so a header claiming 2^63 bytes costs nothing until the bytes exist. The hot path reads the
header by byte indexing (a compiled construct parse costs several microseconds a frame) and unmasks all
whole frames of a chunk with one big-integer XOR against a keystream (pure Python, no C helper);
``engine="construct"`` reads every header with the compiled schema (`inspector.ws.schema`) instead, and
the tests check both engines agree on random streams and on every violation. Header-only violations
(`inspector.ws.header.header_violations`) are decided here; per-direction state (fragmentation, close,
UTF-8) lives in `inspector.ws.messages`.
"""

from __future__ import annotations

import msgspec

from inspector.records import Direction
from inspector.ws import violations as V
from inspector.ws.header import FrameHeader, apply_mask, clean_table, header_size, header_violations
from inspector.ws.schema import HEADER_COMPILED

__all__ = ["FrameEvent", "FrameDecoder"]


class FrameEvent(msgspec.Struct, gc=False):
    """A piece of one frame's payload, unmasked, as `FrameDecoder` hands it out.

    From the general path ``header`` is the frame's `FrameHeader` (violations, completeness, streaming
    state) and ``first``/``last`` mark the first/last piece of its payload (both True for a frame
    delivered whole). A *clean* frame (`FrameDecoder.whole`, `FrameDecoder.feed_clean`: whole, final
    text/binary, no header violation) has ``header=None`` and carries its header fields itself:
    ``b0`` (FIN, RSV1, opcode), ``masking_key``, ``payload_len`` (on the wire), ``length_encoding``
    and ``offset`` (of its first byte in the direction's stream).
    """

    payload: bytes
    header: FrameHeader | None = None
    first: bool = True
    last: bool = True
    b0: int = 0
    masking_key: bytes | None = None
    payload_len: int = 0
    length_encoding: str = "7bit"
    offset: int = 0


_ENCODING = {126: "16bit", 127: "64bit"}
_ZEROS = [bytes(i) for i in range(16)]
_from_bytes = int.from_bytes


class FrameDecoder:
    """Streaming RFC 6455 frame decoder for one direction (sans-IO: bytes in, events out).

    ``feed(data)`` returns a list of `FrameEvent` (general path: with a ``header``). ``end()``
    returns the event of a frame cut off by the end of input (``truncated``, ``complete=False``) or
    nothing. Memory: at most ``buffer_limit`` payload bytes plus a header are
    held; bigger payloads stream through.
    """

    def __init__(
        self,
        direction: Direction | None = None,
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
        # the first two header bytes the fast paths take (`clean_table`; none for the construct engine)
        self._clean = bytes(65536) if self._construct else clean_table(direction, deflate)

    @property
    def offset(self) -> int:
        """Bytes of this direction's stream consumed so far."""
        return self._consumed + len(self._buf)

    def feed(self, data: bytes) -> list[FrameEvent]:
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

    def whole(self, data: bytes) -> FrameEvent | None:
        """Fast path for a chunk that is exactly one frame (a capture's usual TCP segment).

        When nothing is buffered and ``data`` is one whole final text/binary frame whose header is
        plausible (`clean_table`: no violation) and at most 65535 bytes long, consumes it and returns
        its clean `FrameEvent`; otherwise returns None and consumes nothing (`feed` takes it). The
        construct engine never takes it. tests/test_websocket.py checks it against the general path and
        the construct engine.
        """
        if self._buf or self._cur is not None:
            return None
        n = len(data)
        if n < 2:
            return None
        b1 = data[1]
        kind = self._clean[data[0] << 8 | b1]
        if kind == 1:
            hlen = 2
            encoding = "7bit"
            if n != (b1 & 0x7F) + 2 + ((b1 & 0x80) >> 5):
                return None
        elif kind == 2:
            hlen = 4
            encoding = "16bit"
            plen = data[2] << 8 | data[3] if n >= 4 else 0
            if plen < 126 or n != plen + 4 + ((b1 & 0x80) >> 5):
                return None
        else:
            return None
        offset = self._consumed
        self._consumed = offset + n
        if b1 & 0x80:
            key = data[hlen : hlen + 4]
            payload = apply_mask(data[hlen + 4 :], key)
            return FrameEvent(payload, None, True, True, data[0], key, n - hlen - 4, encoding, offset)
        return FrameEvent(data[hlen:], None, True, True, data[0], None, n - hlen, encoding, offset)

    def feed_clean(self, data: bytes) -> tuple[list[FrameEvent], list[FrameEvent]]:
        """`feed` for a caller that takes clean frames whole (`MessageAssembler.clean`).

        Returns ``(clean, events)``: ``clean`` the leading run of frames that `whole` would take, as
        clean `FrameEvent`s (no `FrameHeader` each); ``events`` what `feed` returns for the bytes after
        them. Their masks go in one big-integer XOR as in `feed`. tests/test_websocket.py checks it
        against the general path.
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
        base = self._consumed
        found, keys, pos, kpos = self._clean_run(data)
        clear = data  # no masked frame: the payloads are as they came
        if kpos:
            if kpos < pos:  # unmasked frames after the last masked one (direction unknown)
                keys.append(bytes(pos - kpos))
            clear = (_from_bytes(data[:pos], "big") ^ _from_bytes(b"".join(keys), "big")).to_bytes(pos, "big")
        clean = [FrameEvent(clear[start:end], None, True, True, b0, key, end - start, encoding, offset)
                 for b0, key, start, end, encoding, offset in found]
        self._consumed = base + pos
        events: list = []
        if pos < len(data):
            self._parse(data[pos:] if pos else bytes(data), events)
        else:
            self._need = 2
        return clean, events

    def _clean_run(self, data: bytes) -> tuple[list, list[bytes], int, int]:
        """The leading run of clean frames of ``data``: ``(b0, key, start, end, encoding, offset)``
        each, the keystream pieces covering ``data[:kpos]``, the end of the run and ``kpos``."""
        n = len(data)
        pos = 0
        base = self._consumed
        table = self._clean
        found = []
        add_frame = found.append
        keys: list[bytes] = []
        add_key = keys.append
        kpos = 0
        while n - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            kind = table[b0 << 8 | b1]
            if kind == 1:
                plen = b1 & 0x7F
                start = pos + 2
                encoding = "7bit"
            elif kind == 2 and n - pos >= 4:
                plen = data[pos + 2] << 8 | data[pos + 3]
                if plen < 126:
                    break
                start = pos + 4
                encoding = "16bit"
            else:
                break
            mask = b1 & 0x80
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
        return found, keys, pos, kpos

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
        out.append(FrameEvent(chunk, hdr, False, last))
        return data[take:]

    def _construct_header(self, data: bytes, pos: int, hlen: int) -> FrameHeader:
        """The header at ``data[pos:]`` as the compiled construct schema parses it (engine="construct")."""
        head = HEADER_COMPILED.parse(data[pos : pos + hlen])
        plen = head.payload_len
        return FrameHeader(
            head.fin << 7 | head.rsv1 << 6 | head.rsv2 << 5 | head.rsv3 << 4 | head.opcode,
            head.masked, head.masking_key, plen, _ENCODING.get(head.len7, "7bit"), self._consumed + pos,
            header_violations(data[pos], data[pos + 1], plen, self.direction, self.deflate), True, plen,
        )

    def _parse(self, data: bytes, out: list) -> None:
        n = len(data)
        pos = 0
        base = self._consumed
        table = self._clean
        construct = self._construct
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
                hdr = self._construct_header(data, pos, hlen)
                plen = hdr.payload_len
                key = hdr.masking_key
            else:
                if len7 < 126:
                    plen = len7
                elif len7 == 126:
                    plen = data[pos + 2] << 8 | data[pos + 3]
                else:
                    plen = _from_bytes(data[pos + 2 : pos + 10], "big")
                key = data[pos + hlen - 4 : pos + hlen] if b1 & 0x80 else None
                kind = table[b0 << 8 | b1]
                # the common case, a plausible final data frame (`clean_table`), shows no violation
                viol = [] if kind == 1 or kind == 2 and plen > 125 else header_violations(
                    b0, b1, plen, self.direction, self.deflate)
                hdr = FrameHeader(b0, key is not None, key, plen, "7bit" if len7 < 126 else _ENCODING[len7],
                                  base + pos, viol, True, plen)
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
            streamed = self._start_streaming(hdr, data, start, end)
            pos = n
            break
        if found:
            self._emit(data, found, keys, kpos, out)
        if streamed is not None:
            out.append(streamed)
        self._consumed = base + pos
        self._need = need
        if pos < n:
            self._buf = bytearray(data[pos:])

    def _start_streaming(self, hdr: FrameHeader, data: bytes, start: int, end: int) -> FrameEvent:
        """The first piece of a frame too big to buffer; the rest streams through `_stream`."""
        chunk = data[start:]
        if hdr.masking_key is not None:
            chunk = apply_mask(chunk, hdr.masking_key)
        hdr.received = len(data) - start  # counts up as the payload streams in
        self._cur = hdr
        self._remaining = end - len(data)
        return FrameEvent(chunk, hdr, True, False)

    @staticmethod
    def _emit(data: bytes, found: list, keys: list[bytes], kpos: int, out: list) -> None:
        """Events for the whole frames of a run: every mask undone with one big-integer XOR (RFC 6455
        5.3), so the per-frame Python work is two slices, whatever the payload sizes."""
        if kpos:
            clear = (_from_bytes(data[:kpos], "big") ^ _from_bytes(b"".join(keys), "big")).to_bytes(kpos, "big")
            for hdr, start, end in found:
                out.append(FrameEvent(clear[start:end] if end <= kpos else data[start:end], hdr))
        else:
            for hdr, start, end in found:
                out.append(FrameEvent(data[start:end], hdr))

    def end(self) -> list[FrameEvent]:
        """End of input: the frame it cuts off, if any, as a last event (``truncated``); then reset."""
        out: list = []
        if self._cur is not None:
            hdr = self._cur
            hdr.complete = False
            hdr.violations.append(V.TRUNCATED)
            out.append(FrameEvent(b"", hdr, False, True))
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

    def _truncated(self, data: bytes) -> FrameEvent:
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
        return FrameEvent(payload, hdr)
