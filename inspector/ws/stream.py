"""`WebSocketStream`: both directions of one WebSocket connection, sans-IO (RFC 6455 5, RFC 7692).

Bytes (any chunking) or whole messages go in with timestamps; `Frame`, `Message` and `WarningRecord` records
(inspector.records, ../shared/spec/records.md) come out. Each direction has its own
`inspector.ws.frames.FrameDecoder` (frame syntax, header violations) and
`inspector.ws.messages.MessageAssembler` (fragmentation, close, UTF-8, permessage-deflate)::

    stream = WebSocketStream("c1", deflate=DeflateParams(...) or None, view_cap=256)
    stream.feed("client", data, ts)        # raw bytes client -> server
    stream.feed_message("server", 1, b"hi", ts)   # whole messages (HAR, mitmproxy): frames=None
    stream.gap("client")                   # bytes missing (capture loss): resync
    stream.end(ts)                         # frames cut off by the end of input are `truncated`

A chunk that is exactly one clean frame (a capture's usual TCP segment) takes the fast path
`FrameDecoder.whole` -> `MessageAssembler.whole`; anything else the general path.

Gaps (missing capture segments): `gap(direction)` reports the frame in progress as ``truncated`` and the
message in progress as incomplete; the bytes after the gap go to a `Resync` scanner, and decoding resumes
only at a **convincing** frame boundary (the rule and its false-positive reasoning are in `Resync`).
Bytes skipped before it are counted, never decoded. After the resync the message layer restarts
cleanly: continuation frames of the message the gap cut are shown as frames but not blamed on the
sender (no ``continuation-without-start``) and skipped until the next message starts. The first
`PROBATION` frames after a resync are on probation: one with any violation means the resync was wrong
(bytes that only looked like frames); that frame and what follows it are dropped, the message in
progress is discarded and scanning starts again, so a wrong resync costs at most a few invented frames
without violations (a sender's genuine violation right after a gap is lost the same way: a known price). One ``ws-gap``
warning per gap tells the story (where, bytes skipped, where decoding resumed, continuations ignored),
emitted once it is known: at the next message start after the resync, at the next gap, or at the end.
With permessage-deflate and context takeover the sender's LZ77 window is lost with the missing bytes:
no later compressed message of that direction can be inflated (``inflate_error="context-lost"``,
warning ``inflate-context-lost`` naming the gap); with ``*_no_context_takeover`` for that sender every
message after the resync inflates again. Offsets after a gap count the bytes received (the missing ones
are unknown). The other direction is unaffected.
"""

from __future__ import annotations

import codecs
import re

from inspector.ws.deflate import DeflateParams
from inspector.errors import InputError
from inspector.ws.frames import FrameDecoder
from inspector.ws.messages import MessageAssembler
from inspector.records import Frame, WarningRecord
from inspector.ws.close import close_code_valid

__all__ = ["WebSocketStream", "DIRECTIONS", "Resync"]

DIRECTIONS = ("client", "server")

#: frames after a resync that must show no violation, or the resync is withdrawn (`WebSocketStream`)
PROBATION = 8

_utf8_decode = codecs.utf_8_decode
_PATTERNS: dict = {}


def _candidates(direction: str | None, deflate: bool) -> re.Pattern:
    """Positions whose first two bytes may start a plausible header (found at C speed)."""
    key = (direction, deflate)
    if key not in _PATTERNS:
        firsts = b"\\x00-\\x02\\x80-\\x82\\x88-\\x8a" + (b"\\x41\\x42\\xc1\\xc2" if deflate else b"")
        seconds = {"client": b"\\x80-\\xff", "server": b"\\x00-\\x7f"}.get(direction, b"\\x00-\\xff")
        _PATTERNS[key] = re.compile(b"(?=[" + firsts + b"][" + seconds + b"])", re.DOTALL)
    return _PATTERNS[key]


class Resync:
    """Finds a convincing frame boundary in one direction's bytes after a gap (RFC 6455 5.2).

    A position is a *plausible header* when the frame starting there has: the MASK bit its direction
    requires (client 1, server 0; either when unknown); a defined opcode; RSV2/RSV3 clear, and RSV1
    only on text/binary and only when permessage-deflate was negotiated; the minimal length encoding and no 64-bit MSB; a control frame with FIN=1 and at most
    125 bytes; and, where its payload is here, an uncompressed text frame whose payload is UTF-8 (a
    valid prefix when FIN=0) and a close frame with an allowed code and a UTF-8 reason.

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

    def __init__(self, direction: str | None, deflate: bool, base: int, limit: int = 1 << 18) -> None:
        self.direction = direction
        self.deflate = deflate
        self.limit = limit
        self.buf = bytearray()
        self.base = base  # stream offset (bytes received) of buf[0]
        self.start = base  # stream offset of the first byte after the gap
        self.anchors = {base}
        self.scan = base  # next position never looked at
        self.waiting: dict[int, int] = {}  # position -> stream offset it needs the bytes up to
        self._mask = 0x80 if direction == "client" else 0 if direction == "server" else None
        self._find = _candidates(direction, deflate).finditer
        self._b0 = frozenset((0x00, 0x01, 0x02, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A)
                             + ((0x41, 0x42, 0xC1, 0xC2) if deflate else ()))

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
        buf = self.buf
        base = self.base
        end = self.end
        headers = 0
        anchors = 1 if start in self.anchors else 0
        pos = start
        while True:
            i = pos - base
            avail = end - pos
            if avail < 2:
                if final:
                    return avail == 0 and headers >= 1 and anchors >= 2
                return pos + 2 if pos + 2 - start <= self.limit else False
            b0 = buf[i]
            b1 = buf[i + 1]
            if b0 not in self._b0 or (self._mask is not None and b1 & 0x80 != self._mask):
                return False
            opcode = b0 & 0x0F
            len7 = b1 & 0x7F
            hlen = 2 + (2 if len7 == 126 else 8 if len7 == 127 else 0) + (4 if b1 & 0x80 else 0)
            if avail < hlen:
                return False if final else pos + hlen
            if len7 == 126:
                plen = buf[i + 2] << 8 | buf[i + 3]
                if plen < 126:
                    return False
            elif len7 == 127:
                plen = int.from_bytes(buf[i + 2 : i + 10], "big")
                if plen < 0x10000 or plen >> 63:
                    return False
            else:
                plen = len7
            if opcode >= 8 and (plen > 125 or b0 < 0x80):
                return False
            headers += 1
            if headers >= 2 and anchors and headers + anchors >= 4:
                return True
            frame_end = pos + hlen + plen
            if frame_end - start > self.limit:
                return False
            if frame_end > end:
                return False if final else frame_end
            if (opcode == 1 and not b0 & 0x40) or opcode == 8:
                payload = bytes(buf[i + hlen : i + hlen + plen])
                if b1 & 0x80:
                    key = buf[i + hlen - 4 : i + hlen]
                    payload = (int.from_bytes(payload, "big") ^ int.from_bytes(
                        (bytes(key) * ((plen >> 2) + 1))[:plen], "big")).to_bytes(plen, "big")
                if opcode == 8:
                    if plen == 1 or plen >= 2 and not close_code_valid(payload[0] << 8 | payload[1]):
                        return False
                    payload = payload[2:]
                try:
                    _utf8_decode(payload, "strict", b0 >= 0x80)
                except UnicodeDecodeError:
                    return False
            if frame_end in self.anchors:
                if not anchors and headers < 2:
                    return False  # an unanchored start needs two headers of its own (see the docstring)
                anchors += 1
                if headers >= 2 and headers + anchors >= 4:
                    return True
            pos = frame_end


class _Direction:
    __slots__ = ("decoder", "assembler", "resync", "skipped", "last_ts", "gap_note", "probation", "resync_at")

    def __init__(self, decoder: FrameDecoder, assembler: MessageAssembler) -> None:
        self.decoder = decoder
        self.assembler = assembler
        self.resync: Resync | None = None  # scanning for a frame boundary after a gap
        self.skipped = 0  # bytes received after gaps and not decoded (all gaps)
        self.last_ts: float | None = None  # of the latest bytes fed
        self.gap_note: str | None = None  # the ws-gap warning being written
        self.probation = 0  # frames after a resync still to show no violation (see `WebSocketStream`)
        self.resync_at = 0  # stream offset of the latest resync


class WebSocketStream:
    """One WebSocket connection (see the module docstring).

    ``deflate``: negotiated permessage-deflate parameters (None: not negotiated; RSV1 is then a
    violation). ``view_cap``: characters of text / bytes of binary kept in views. ``max_message``: most
    bytes a message may inflate to. ``frame_payloads``: fill ``Frame.payload`` (hex, capped).
    ``buffer_limit``: payloads up to this size are decoded whole, larger ones streamed. ``engine``:
    ``"fast"`` or ``"construct"`` (every header parsed by the compiled construct schema).
    ``resync_limit``: the most bytes a resync candidate may need (see `Resync`).
    """

    def __init__(
        self,
        conn: str,
        *,
        deflate: DeflateParams | None = None,
        view_cap: int = 256,
        max_message: int = 64 << 20,
        frame_payloads: bool = False,
        buffer_limit: int = 1 << 16,
        engine: str = "fast",
        resync_limit: int = 1 << 18,
    ) -> None:
        self.conn = conn
        self.deflate = deflate
        self.resync_limit = resync_limit
        self._dirs = {
            d: _Direction(
                FrameDecoder(d, deflate=deflate is not None, buffer_limit=buffer_limit, engine=engine),
                MessageAssembler(conn, d, deflate=deflate, view_cap=view_cap, max_message=max_message,
                                 frame_payloads=frame_payloads),
            )
            for d in DIRECTIONS
        }
        self._ended = False

    def keep_payloads(self, payloads: dict[int, bytes] | None, cap: int = 0) -> None:
        """From now on put the first ``cap`` bytes of every text/binary message's payload into
        ``payloads`` under ``id(message record)`` (None: stop); the taker removes them."""
        for d in self._dirs.values():
            d.assembler.payloads = payloads
            d.assembler.app_cap = cap

    def _dir(self, direction: str) -> _Direction:
        try:
            return self._dirs[direction]
        except KeyError:
            raise InputError(f"direction must be 'client' or 'server', not {direction!r}") from None

    def feed(self, direction: str, data: bytes, ts: float | None = None) -> list:
        """Records for ``data``, the next bytes ``direction`` sent (any chunking; after a gap, each call's
        bytes are taken as one run of TCP segments, see `Resync`)."""
        d = self._dirs.get(direction) or self._dir(direction)
        d.last_ts = ts
        assembler = d.assembler
        if assembler.idle:
            decoder = d.decoder
            frame = decoder.whole(data)
            if frame is not None:
                return assembler.whole(*frame, ts)
            return assembler.clean(*decoder.feed_clean(data), ts)
        if d.resync is not None:
            return self._resync(direction, d, data, ts)
        start = d.decoder.offset
        out = assembler.process(d.decoder.feed(data), ts)
        if d.probation:
            out = self._probe(direction, d, out, data, start, ts)
        if d.gap_note is not None and not assembler.after_gap and not d.probation:
            out.append(self._gap_warning(d))
        return out

    def _probe(self, direction: str, d: _Direction, out: list, data: bytes, start: int, ts) -> list:
        """Probation after a resync: a frame with a violation among the first `PROBATION` frames means
        the resync was wrong (garbage that looked like frames): that frame and what follows it are
        dropped, the message in progress is discarded without a record, and scanning starts again
        one byte after that frame's start."""
        for i, record in enumerate(out):
            if type(record) is not Frame:
                continue
            if record.violations:
                break
            d.probation -= 1
            if not d.probation:
                return out
        else:
            d.assembler.idle = False  # every frame of the probation goes through this check
            return out
        del out[i:]
        d.probation = 0
        d.assembler.discard()
        d.assembler.gap()
        d.decoder.end()
        d.gap_note += (f"; the resync at received offset {d.resync_at} was withdrawn (frame {record.index} "
                       f"after it shows {', '.join(record.violations)}), scanning again")
        pos = record.offset + 1
        if pos < start:  # that frame began in an earlier feed: scan from here
            pos = start + len(data)
        d.resync = Resync(direction, self.deflate is not None, pos, self.resync_limit)
        return out + self._resync(direction, d, data[pos - start :], ts)

    def _resync(self, direction: str, d: _Direction, data: bytes, ts) -> list:
        scanner = d.resync
        pos = scanner.feed(data)
        if pos is None:
            return []
        d.resync = None
        d.probation = PROBATION
        d.resync_at = pos
        skipped = pos - scanner.start
        d.skipped += skipped
        d.gap_note += (f"; resynchronised at received offset {pos} after skipping {skipped} bytes "
                       "(a chain of plausible frame headers aligned with segment boundaries)")
        d.decoder.restart(pos)
        return self.feed(direction, scanner.tail(pos), ts)

    def _gap_warning(self, d: _Direction) -> WarningRecord:
        """The ws-gap warning, now that the story of the gap is known."""
        assembler = d.assembler
        note = d.gap_note
        if d.resync is not None:
            after = d.resync.end - d.resync.start
            note += (f"; not resynchronised: {after} bytes after it not decoded (no convincing frame boundary)"
                     if after else "; nothing followed it")
        elif assembler.orphans:
            note += (f"; {assembler.orphans} continuation frame(s) of the message the gap cut were skipped "
                     "(their start is missing)")
        assembler.orphans = 0
        d.gap_note = None
        return WarningRecord(name="ws-gap", message=note, conn=self.conn)

    def feed_message(
        self, direction: str, opcode: int, payload: bytes, ts: float | None = None, compressed: bool | None = None
    ) -> list:
        """Records for one whole message: a `Message` with ``frames=None`` (no `Frame` records).
        ``compressed``: True if ``payload`` is still permessage-deflate compressed, False if it was not
        compressed, None if unknown (already inflated by the source)."""
        return self._dir(direction).assembler.message(opcode, bytes(payload), ts, compressed)

    def gap(self, direction: str, ts: float | None = None) -> list:
        """Bytes of ``direction`` are missing here: report what was cut off and resync on later bytes
        (see the module docstring). The records carry ``ts``, or the time of the last bytes fed when
        ``ts`` is None."""
        d = self._dir(direction)
        out: list = []
        if d.gap_note is not None:  # the previous gap's story ends here
            if d.resync is not None:
                d.skipped += d.resync.end - d.resync.start
            out.append(self._gap_warning(d))
        decoder = d.decoder
        if d.resync is not None:
            offset = d.resync.end
        else:
            out += d.assembler.end(decoder.end(), d.last_ts if ts is None else ts)
            offset = decoder.offset
        d.assembler.gap()
        d.probation = 0
        d.resync = Resync(direction, self.deflate is not None, offset, self.resync_limit)
        d.gap_note = f"{direction} bytes missing after received offset {offset}"
        return out

    def end(self, ts: float | None = None) -> list:
        """End of input on both directions: truncated frames and unfinished messages. Idempotent."""
        if self._ended:
            return []
        self._ended = True
        out: list = []
        for direction, d in self._dirs.items():
            scanner = d.resync
            if scanner is not None:
                pos = scanner.finish()
                if pos is None:
                    d.skipped += scanner.end - scanner.start
                else:
                    d.resync = None
                    d.skipped += pos - scanner.start
                    d.gap_note += (f"; resynchronised at received offset {pos} after skipping "
                                   f"{pos - scanner.start} bytes (the last frames, ending with the input)")
                    d.decoder.restart(pos)
                    out.extend(d.assembler.process(d.decoder.feed(scanner.tail(pos)), ts))
            if d.resync is None:
                out.extend(d.assembler.end(d.decoder.end(), ts))
            if d.gap_note is not None:
                out.append(self._gap_warning(d))
        return out
