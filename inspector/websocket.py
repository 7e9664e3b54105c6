"""`WebSocketStream`: both directions of one WebSocket connection, sans-IO (RFC 6455 5, RFC 7692).

Bytes (any chunking) or whole messages go in with timestamps; `Frame`, `Message` and `Warning` records
(inspector.records, ../shared/spec/records.md) come out. Each direction has its own
`inspector.frames.FrameDecoder` (frame syntax, header violations) and
`inspector.messages.MessageAssembler` (fragmentation, close, UTF-8, permessage-deflate)::

    stream = WebSocketStream("c1", deflate=DeflateParams(...) or None, view_cap=256)
    stream.feed("client", data, ts)        # raw bytes client -> server
    stream.feed_message("server", 1, b"hi", ts)   # whole messages (HAR, mitmproxy): frames=None
    stream.gap("client")                   # bytes missing (capture loss)
    stream.end(ts)                         # frames cut off by the end of input are `truncated`

Gaps: after `gap(direction)` the frame in progress is reported as ``truncated``, the message in
progress as incomplete, a ``ws-gap`` warning is emitted, and that direction is **not decoded any
further** (later bytes are only counted). Resynchronising on "the next plausible header" in arbitrary
payload bytes invents frames and violations that never existed; an inspector must not report those as
facts. The other direction is unaffected.
"""

from __future__ import annotations

from inspector.deflate import DeflateParams
from inspector.errors import InputError
from inspector.frames import FrameDecoder
from inspector.messages import MessageAssembler
from inspector.records import Warning

__all__ = ["WebSocketStream", "DIRECTIONS"]

DIRECTIONS = ("client", "server")


class _Direction:
    __slots__ = ("decoder", "assembler", "stopped", "skipped", "last_ts")

    def __init__(self, decoder: FrameDecoder, assembler: MessageAssembler) -> None:
        self.decoder = decoder
        self.assembler = assembler
        self.stopped = False
        self.skipped = 0  # bytes received after a gap (not decoded)
        self.last_ts: float | None = None  # of the latest bytes fed


class WebSocketStream:
    """One WebSocket connection (see the module docstring).

    ``deflate``: negotiated permessage-deflate parameters (None: not negotiated; RSV1 is then a
    violation). ``view_cap``: characters of text / bytes of binary kept in views. ``max_message``: most
    bytes a message may inflate to. ``frame_payloads``: fill ``Frame.payload`` (hex, capped).
    ``buffer_limit``: payloads up to this size are decoded whole, larger ones streamed. ``engine``:
    ``"fast"`` or ``"construct"`` (every header parsed by the compiled construct schema).
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
    ) -> None:
        self.conn = conn
        self.deflate = deflate
        self._dirs = {
            d: _Direction(
                FrameDecoder(d, deflate=deflate is not None, buffer_limit=buffer_limit, engine=engine),
                MessageAssembler(conn, d, deflate=deflate, view_cap=view_cap, max_message=max_message,
                                 frame_payloads=frame_payloads),
            )
            for d in DIRECTIONS
        }
        self._ended = False

    def _dir(self, direction: str) -> _Direction:
        try:
            return self._dirs[direction]
        except KeyError:
            raise InputError(f"direction must be 'client' or 'server', not {direction!r}") from None

    def feed(self, direction: str, data: bytes, ts: float | None = None) -> list:
        """Records for ``data``, the next bytes ``direction`` sent (any chunking)."""
        d = self._dirs.get(direction) or self._dir(direction)
        d.last_ts = ts
        if d.stopped:
            d.skipped += len(data)
            return []
        assembler = d.assembler
        if assembler.idle:
            frame = d.decoder.whole(data)
            if frame is not None:
                return assembler.whole(*frame, ts)
        return assembler.process(d.decoder.feed(data), ts)

    def feed_message(
        self, direction: str, opcode: int, payload: bytes, ts: float | None = None, compressed: bool | None = None
    ) -> list:
        """Records for one whole message: a `Message` with ``frames=None`` (no `Frame` records).
        ``compressed``: True if ``payload`` is still permessage-deflate compressed, False if it was not
        compressed, None if unknown (already inflated by the source)."""
        return self._dir(direction).assembler.message(opcode, bytes(payload), ts, compressed)

    def gap(self, direction: str, ts: float | None = None) -> list:
        """Bytes of ``direction`` are missing here: report what was cut off and stop that direction.
        The records carry ``ts``, or the time of the last bytes fed when ``ts`` is None."""
        d = self._dir(direction)
        if d.stopped:
            return []
        out = d.assembler.end(d.decoder.end(), d.last_ts if ts is None else ts)
        d.stopped = True
        out.append(Warning(
            name="ws-gap",
            message=f"{direction} bytes missing after stream offset {d.decoder.offset}; "
                    f"{direction} frames are not decoded past it",
            conn=self.conn,
        ))
        return out

    def end(self, ts: float | None = None) -> list:
        """End of input on both directions: truncated frames and unfinished messages. Idempotent."""
        if self._ended:
            return []
        self._ended = True
        out: list = []
        for d in self._dirs.values():
            if not d.stopped:
                out.extend(d.assembler.end(d.decoder.end(), ts))
        return out
