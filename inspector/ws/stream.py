"""`WebSocketStream`: both directions of one WebSocket connection, sans-IO (RFC 6455 5, RFC 7692).

Bytes (any chunking) or whole messages go in with timestamps; `Frame`, `Message` and `WarningRecord` records
(inspector.records, docs/records.md) come out. Each direction has its own
`inspector.ws.decoder.FrameDecoder` (frame syntax, header violations) and
`inspector.ws.messages.MessageAssembler` (fragmentation, close, UTF-8, permessage-deflate)::

    stream = WebSocketStream("c1", deflate=DeflateParams(...) or None, view_cap=256)
    stream.feed("client", data, ts)        # raw bytes client -> server
    stream.feed_message("server", 1, b"hi", ts)   # whole messages (HAR, mitmproxy): frames=None
    stream.gap("client")                   # bytes missing (capture loss): resync
    stream.end(ts)                         # frames cut off by the end of input are `truncated`

A chunk that is exactly one clean frame (a capture's usual TCP segment) takes the fast path
`FrameDecoder.whole` -> `MessageAssembler.whole`; anything else the general path.

Gaps (missing capture segments): `gap(direction)` reports the frame in progress as ``truncated`` and the
message in progress as incomplete; the bytes after the gap go to a `inspector.ws.resync.Resync` scanner, and decoding resumes
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

from inspector.errors import InputError
from inspector.records import Direction, Frame, WarningRecord
from inspector.ws.decoder import FrameDecoder
from inspector.ws.deflate import DeflateParams
from inspector.ws.messages import MessageAssembler
from inspector.ws.resync import Resync

__all__ = ["WebSocketStream", "DIRECTIONS", "Resync"]

DIRECTIONS: tuple[Direction, ...] = ("client", "server")

#: frames after a resync that must show no violation, or the resync is withdrawn (`WebSocketStream`)
PROBATION = 8

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

    def _dir(self, direction: Direction) -> _Direction:
        try:
            return self._dirs[direction]
        except KeyError:
            raise InputError(f"direction must be 'client' or 'server', not {direction!r}") from None

    def feed(self, direction: Direction, data: bytes, ts: float | None = None) -> list:
        """Records for ``data``, the next bytes ``direction`` sent (any chunking; after a gap, each call's
        bytes are taken as one run of TCP segments, see `Resync`)."""
        d = self._dirs.get(direction) or self._dir(direction)
        d.last_ts = ts
        assembler = d.assembler
        if assembler.idle:
            decoder = d.decoder
            frame = decoder.whole(data)
            if frame is not None:
                return assembler.whole(frame, ts)
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

    def _probe(self, direction: Direction, d: _Direction, out: list, data: bytes, start: int, ts) -> list:
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

    def _resync(self, direction: Direction, d: _Direction, data: bytes, ts) -> list:
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
        self, direction: Direction, opcode: int, payload: bytes, ts: float | None = None, compressed: bool | None = None
    ) -> list:
        """Records for one whole message: a `Message` with ``frames=None`` (no `Frame` records).
        ``compressed``: True if ``payload`` is still permessage-deflate compressed, False if it was not
        compressed, None if unknown (already inflated by the source)."""
        return self._dir(direction).assembler.message(opcode, bytes(payload), ts, compressed)

    def gap(self, direction: Direction, ts: float | None = None) -> list:
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
