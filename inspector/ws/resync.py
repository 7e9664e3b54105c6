"""`Resync`: finds a convincing frame boundary in one direction's bytes after a gap (RFC 6455 5.2).

Used by `inspector.ws.stream.WebSocketStream` after bytes went missing from a capture; whether a
position may start a frame is `inspector.ws.header.plausible_header`'s decision.
"""

from __future__ import annotations

import codecs
import re

from inspector.records import Direction
from inspector.ws.close import close_code_valid
from inspector.ws.header import (
    apply_mask,
    first_bytes,
    header_size,
    mask_bit,
    plausible_header,
)

__all__ = ["Resync"]

_utf8_decode = codecs.utf_8_decode
_PATTERNS: dict = {}


def _candidates(direction: Direction | None, deflate: bool) -> re.Pattern:
    """Positions whose first two bytes may start a plausible header (found at C speed): a first byte
    `plausible_header` takes with some second byte, then a second byte with the MASK bit it requires."""
    key = (direction, deflate)
    if key not in _PATTERNS:
        firsts = b"".join(b"\\x%02x" % b0 for b0 in sorted(first_bytes(deflate)))
        mask = mask_bit(direction)
        seconds = b"\\x00-\\xff" if mask is None else b"\\x80-\\xff" if mask else b"\\x00-\\x7f"
        _PATTERNS[key] = re.compile(b"(?=[" + firsts + b"][" + seconds + b"])", re.DOTALL)
    return _PATTERNS[key]


class Resync:
    """Finds a convincing frame boundary in one direction's bytes after a gap (RFC 6455 5.2).

    A position is a *plausible header* when the frame starting there passes `plausible_header` (the
    MASK bit its direction requires; a defined opcode; RSV2/RSV3 clear, and RSV1 only on text/binary
    and only when permessage-deflate was negotiated; the minimal length encoding and no 64-bit MSB; a
    control frame with FIN=1 and at most 125 bytes) and, where its payload is here, is an uncompressed
    text frame whose payload is UTF-8 (a valid prefix when FIN=0) or a close frame with an allowed code
    and a UTF-8 reason, if it is either.

    A *chain* is a run of plausible headers each starting where the previous frame ends. An *anchor* is
    a chain boundary (its start or a frame end) that falls on a feed boundary: the pcap source feeds one
    reassembled run of TCP segments per call, and senders usually start a frame with a write, so frame
    boundaries and segment boundaries tend to coincide. A position is accepted when its chain has at
    least 2 plausible headers, at least 1 anchor, and headers + anchors >= 4; a position that is not
    itself an anchor must show 2 headers before its chain reaches its first anchor. The earliest such
    position wins, and while an earlier position could still qualify (its frame has not all arrived)
    nothing is accepted. The typical capture (one frame per segment) resyncs at the first whole frame
    after the gap as soon as the next segment's header arrives.

    Why the second rule: the usual gap cuts a big frame, whose tail ends where the next frames' segments
    begin. Those real frames would vouch for any fake header in the tail whose length lands exactly on
    that boundary (~127 positions, each ~9/256 * 1/128): ~3% of such gaps invented a frame, or lost the
    next messages to a fake fragment (measured 114 in 3,000); with it, ~0.04% (11 in 30,000). The price:
    when the segment ending the cut frame also carries exactly one whole frame, that frame is skipped
    (its bytes are counted as skipped) and decoding resumes at the next segment.

    False positives: in random bytes (masked client payloads, compressed or binary data) a position is
    a plausible header with probability h ~ 9/256 * 1/2 ~ 0.018 (~0.025 with deflate). A position at a
    feed boundary needs a second plausible header and either a frame ending exactly on the next feed
    boundary (~1/128 at best) or a third header: ~h^2/128 + h^3 ~ 1e-5 per feed. A position inside a
    feed needs a frame end on a feed boundary (only the ~127 positions before it can reach it with a
    7-bit length) plus two more headers: ~h^3 ~ 6e-6 per feed. So ~1e-5 wrong resyncs per segment of
    random payload; text payloads (ASCII, UTF-8) almost never show a plausible first byte
    (0x00-0x02, 0x80-0x8A, 0xC1-0xC2) followed by a second header, and text frames must be UTF-8.

    Bounds: a chain may span at most ``limit`` bytes from its start (a position needing more is given
    up), so at most ``limit`` plus one feed of bytes are held; each position is walked again only when
    the bytes it waits for have arrived.
    """

    def __init__(self, direction: Direction | None, deflate: bool, base: int, limit: int = 1 << 18) -> None:
        self.direction = direction
        self.deflate = deflate
        self.limit = limit
        self.buf = bytearray()
        self.base = base  # stream offset (bytes received) of buf[0]
        self.start = base  # stream offset of the first byte after the gap
        self.anchors = {base}
        self.scan = base  # next position never looked at
        self.waiting: dict[int, int] = {}  # position -> stream offset it needs the bytes up to
        self._mask = mask_bit(direction)
        self._find = _candidates(direction, deflate).finditer

    @property
    def end(self) -> int:
        """Stream offset just past the bytes received so far."""
        return self.base + len(self.buf)

    def feed(self, data: bytes) -> int | None:
        """Take the next bytes; the stream offset to resume decoding at, or None (keep feeding)."""
        if not data:
            return None
        self.anchors.add(self.end)
        self.buf += data
        end = self.end
        self.anchors.add(end)
        found = None
        for pos in sorted(p for p, need in self.waiting.items() if need <= end):
            verdict = self._chain(pos)
            if verdict is True:
                found = pos
                break
            if verdict is False:
                del self.waiting[pos]
            else:
                self.waiting[pos] = verdict
        if found is None:
            base = self.base
            for match in self._find(self.buf, self.scan - base):
                pos = base + match.start()
                verdict = self._chain(pos)
                if verdict is True:
                    found = pos
                    break
                if verdict is not False:
                    self.waiting[pos] = verdict
            self.scan = found if found is not None else max(self.scan, end - 1)
        if found is not None and any(p < found for p in self.waiting):
            self.waiting[found] = end + 1  # an earlier position may still qualify: wait for it
            self.scan = max(self.scan, found + 1)
            found = None
        if found is None:
            keep = min([self.scan, *self.waiting]) - self.base
            if keep > 0:
                del self.buf[:keep]
                self.base += keep
                self.anchors = {a for a in self.anchors if a >= self.base}
            return None
        return found

    def finish(self) -> int | None:
        """End of input: a position whose chain tiles the received bytes exactly, starting and ending
        on feed boundaries (at least one frame: the last frames of a stream have no successor to
        confirm them), or None. At most one such guess per gap, so at most one run of frames."""
        for pos in sorted(self.waiting):
            if self._chain(pos, final=True) is True:
                return pos
        return None

    def tail(self, pos: int) -> bytes:
        """The bytes from stream offset ``pos`` (a position `feed` returned) to the end."""
        return bytes(self.buf[pos - self.base :])

    def _chain(self, start: int, final: bool = False) -> bool | int:
        """True: accept ``start``; False: it can never qualify; an int: the stream offset of the bytes
        it needs before it can be decided. ``final``: no more bytes come (see `finish`)."""
        end = self.end
        headers = 0
        anchors = 1 if start in self.anchors else 0
        pos = start
        while True:
            frame = self._frame_at(pos, final)
            if frame is None:
                avail = end - pos
                if final:
                    return avail == 0 and headers >= 1 and anchors >= 2
                return pos + 2 if pos + 2 - start <= self.limit else False
            if frame is False or type(frame) is int:
                return frame
            headers += 1
            if headers >= 2 and anchors and headers + anchors >= 4:
                return True
            frame_end = frame[1]
            if frame_end - start > self.limit:
                return False
            if frame_end > end:
                return False if final else frame_end
            if not self._payload_plausible(pos, frame[0], frame_end):
                return False
            if frame_end in self.anchors:
                if not anchors and headers < 2:
                    return False  # an unanchored start needs two headers of its own (see the docstring)
                anchors += 1
                if headers >= 2 and headers + anchors >= 4:
                    return True
            pos = frame_end

    def _frame_at(self, pos: int, final: bool) -> tuple[int, int] | bool | int | None:
        """The frame whose header starts at stream offset ``pos``: ``(header length, frame end)``;
        None: fewer than 2 bytes here; False: not a plausible header; an int: the stream offset of the
        bytes its header needs (never when ``final``: then False)."""
        buf = self.buf
        i = pos - self.base
        avail = self.end - pos
        if avail < 2:
            return None
        b0 = buf[i]
        b1 = buf[i + 1]
        if not plausible_header(b0, b1, None, self._mask, self.deflate):
            return False
        hlen = header_size(b1)
        if avail < hlen:
            return False if final else pos + hlen
        len7 = b1 & 0x7F
        if len7 == 126:
            plen = buf[i + 2] << 8 | buf[i + 3]
        elif len7 == 127:
            plen = int.from_bytes(buf[i + 2 : i + 10], "big")
        else:
            plen = len7
        if not plausible_header(b0, b1, plen, self._mask, self.deflate):
            return False
        return hlen, pos + hlen + plen

    def _payload_plausible(self, pos: int, hlen: int, frame_end: int) -> bool:
        """An uncompressed text frame's payload is UTF-8 (a valid prefix when FIN=0); a close frame's
        code is allowed and its reason UTF-8; any other payload is plausible."""
        buf = self.buf
        i = pos - self.base
        b0 = buf[i]
        opcode = b0 & 0x0F
        if not ((opcode == 1 and not b0 & 0x40) or opcode == 8):
            return True
        payload = bytes(buf[i + hlen : frame_end - self.base])
        if buf[i + 1] & 0x80:
            payload = apply_mask(payload, bytes(buf[i + hlen - 4 : i + hlen]))
        if opcode == 8:
            if len(payload) == 1 or len(payload) >= 2 and not close_code_valid(payload[0] << 8 | payload[1]):
                return False
            payload = payload[2:]
        try:
            _utf8_decode(payload, "strict", b0 >= 0x80)
        except UnicodeDecodeError:
            return False
        return True
