"""A passive HTTP/2 decoder (RFC 9113) over both directions of one connection, sans-IO.

Bytes of either direction go in (``feed(direction, data, ts)``), events come out: `Headers` (a decoded
header block: request, response, informational or trailers; ``headers`` None when it could not be
decoded), `Data` (a DATA frame's payload, padding removed), `Reset`, `GoAway`, `Settings` and `Problem`
(bad input, as a warning name and a one-line message).  Frames are parsed with ``hyperframe`` and header
blocks decoded with ``hpack``; ``h2`` is an endpoint state machine and cannot shadow a connection.

- One HPACK decoder per direction.  A SETTINGS_HEADER_TABLE_SIZE a peer sends bounds the table of the
  headers it receives (the other direction's decoder): a larger value applies at once, a smaller one
  when the sender of the table updates has acknowledged it (the encoder's size updates are checked
  against it by ``hpack``).  SETTINGS_MAX_FRAME_SIZE likewise bounds the frames a peer receives.
- Header blocks span HEADERS/PUSH_PROMISE and CONTINUATION frames; padding and the PRIORITY fields are
  removed by ``hyperframe``; PRIORITY, WINDOW_UPDATE, PING and unknown frame types are skipped.
- Picked up mid-way (``midway=True``, or after a gap in a direction): the HPACK state of the lost part is
  unknown.  A block that refers to an entry the decoder never saw gives ``headers = None``
  (``hpack-state-lost``) and the table is emptied, so that later blocks decode only what they themselves
  add (references into the dynamic table count from the newest entry, so those stay right); DATA still
  flows.  Frame boundaries are found again by looking for two consecutive plausible frame headers.
- Bad input is a `Problem` and the rest goes on: a frame longer than the receiver's
  SETTINGS_MAX_FRAME_SIZE (``http2-frame-too-large``: skipped without being buffered), a header block
  that fails HPACK (``http2-hpack-error``), a new stream whose id is not above the last one of its side
  (``http2-stream-id-backwards``: the block is decoded to keep HPACK in step, the stream ignored), a
  frame ``hyperframe`` rejects (``http2-frame-invalid``), a missing CONTINUATION
  (``http2-continuation-missing``).
- Memory: a direction buffers at most one frame (at most its receiver's maximum frame size, itself
  capped at `MAX_FRAME_CAP`), one header block (`MAX_HEADER_BLOCK`), and `RESYNC_LIMIT` bytes while
  looking for a frame boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import hpack
from hpack.exceptions import (
    HPACKDecodingError,
    InvalidTableIndex,
    InvalidTableSizeError,
)
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
)

__all__ = [
    "PREFACE",
    "Data",
    "GoAway",
    "H2Connection",
    "Headers",
    "Problem",
    "Reset",
    "Settings",
    "looks_like_preface",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEFAULT_MAX_FRAME = 16384
MAX_FRAME_CAP = 1 << 20  # frames are buffered whole up to this size; larger ones are skipped
MAX_HEADER_BLOCK = 256 * 1024  # bytes of one header block (HEADERS + CONTINUATIONs)
MAX_HEADER_LIST = 256 * 1024  # decoded size of one header list (hpack's own guard)
RESYNC_LIMIT = 64 * 1024
_HEADER_TABLE_SIZE, _MAX_FRAME_SIZE = 0x1, 0x5
_MIDWAY_TABLE = 64 * 1024  # table size assumed when the SETTINGS were not seen
_KNOWN_TYPES = 10  # DATA .. CONTINUATION
_OTHER = {"client": "server", "server": "client"}


def looks_like_preface(data: bytes) -> bool | None:
    """Does a client stream start with the HTTP/2 connection preface?  None: too short to tell."""
    if len(data) < len(PREFACE):
        return None if PREFACE.startswith(data) else False
    return data.startswith(PREFACE)


@dataclass(slots=True)
class Headers:
    direction: str
    stream_id: int
    ts: float | None
    #: (name, value) in order, pseudo-headers included; None: the block could not be decoded
    headers: list[tuple[str, str]] | None
    wire_bytes: int  # header block bytes plus the 9-byte frame headers of its frames
    end_stream: bool
    #: for a PUSH_PROMISE: the promised stream (``stream_id`` is the associated one)
    promised: int | None = None


@dataclass(slots=True)
class Data:
    direction: str
    stream_id: int
    ts: float | None
    data: bytes
    end_stream: bool


@dataclass(slots=True)
class Reset:
    direction: str
    stream_id: int
    ts: float | None
    error_code: int


@dataclass(slots=True)
class GoAway:
    direction: str
    ts: float | None
    last_stream_id: int
    error_code: int


@dataclass(slots=True)
class Settings:
    direction: str
    ts: float | None
    settings: dict[int, int]
    ack: bool


@dataclass(slots=True)
class Problem:
    name: str
    message: str


class _Side:
    """One direction: its buffer, frame boundary state and the HPACK decoder of what it sends."""

    def __init__(self, lost: bool) -> None:
        self.buf = bytearray()
        self.preface = 0  # client: bytes of the preface still expected
        self.skip = 0  # bytes of an oversized frame still to skip
        self.lost = lost  # frame boundaries unknown (mid-way, after a gap): resync first
        self.decoder = hpack.Decoder(max_header_list_size=MAX_HEADER_LIST)
        if lost:
            self.decoder.max_allowed_table_size = _MIDWAY_TABLE
            self.decoder.header_table_size = _MIDWAY_TABLE
        self.state_lost = lost  # HPACK entries may be missing
        self.block: bytearray | None = None  # header block being assembled
        self.block_frame: Frame | None = None
        self.block_wire = 0
        self.max_frame = DEFAULT_MAX_FRAME  # what the receiver of this side's frames accepts
        self.last_stream = 0  # highest stream id this side opened
        #: per SETTINGS announced to this side and not yet acknowledged: a smaller table size, or None
        self.pending_table: list[int | None] = []


class H2Connection:
    """Both directions of one HTTP/2 connection.  ``midway``: the capture joined after the start."""

    def __init__(self, midway: bool = False) -> None:
        self.sides = {"client": _Side(midway), "server": _Side(midway)}
        self.midway = midway
        if not midway:
            self.sides["client"].preface = len(PREFACE)
        #: open streams -> which sides ended them (bit 0 client, bit 1 server)
        self.open: dict[int, int] = {}

    def feed(self, direction: str, data: bytes, ts: float | None) -> list:
        """Bytes of one direction, any chunking -> events."""
        side = self.sides[direction]
        out: list = []
        if side.skip:
            cut = min(side.skip, len(data))
            side.skip -= cut
            data = data[cut:]
        if side.preface and data:
            expected = PREFACE[len(PREFACE) - side.preface:]
            cut = min(len(expected), len(data))
            if data[:cut] != expected[:cut]:
                out.append(Problem("http2-preface-missing", "the client did not start with the HTTP/2 preface"))
                side.lost = True
                side.preface = 0
            else:
                side.preface -= cut
                data = data[cut:]
        side.buf += data
        self._frames(direction, side, ts, out)
        return out

    def gap(self, direction: str) -> list:
        """Bytes of ``direction`` are missing: frame boundaries and the HPACK state of that side are lost."""
        side = self.sides[direction]
        side.buf.clear()
        side.skip = 0
        side.preface = 0
        side.block = None
        side.lost = side.state_lost = True
        return []

    # -- frames -----------------------------------------------------------------------------------------

    def _frames(self, direction: str, side: _Side, ts, out: list) -> None:
        buf = side.buf
        pos = 0
        while True:
            if side.lost:
                found = _resync(buf, pos, side.max_frame)
                if found is None:
                    if len(buf) - pos > RESYNC_LIMIT:
                        pos = len(buf) - 9
                    break
                pos = found
                side.lost = False
            if len(buf) - pos < 9:
                break
            length = int.from_bytes(buf[pos:pos + 3], "big")
            if length > side.max_frame:
                out.append(Problem("http2-frame-too-large", f"a {direction} frame of {length} bytes, over the "
                                   f"{side.max_frame} bytes its receiver accepts (SETTINGS_MAX_FRAME_SIZE)"))
                available = len(buf) - pos - 9
                if available >= length:
                    pos += 9 + length
                    continue
                side.skip = length - available
                pos = len(buf)
                break
            if len(buf) - pos < 9 + length:
                break
            self._frame(direction, side, bytes(buf[pos:pos + 9]), memoryview(buf)[pos + 9:pos + 9 + length], ts, out)
            pos += 9 + length
        del buf[:pos]

    def _frame(self, direction: str, side: _Side, header: bytes, body: memoryview, ts, out: list) -> None:
        try:
            frame, length = Frame.parse_frame_header(memoryview(header))
            frame.parse_body(body)
        except (HyperframeError, ValueError) as exc:
            body.release()
            out.append(Problem("http2-frame-invalid", f"a {direction} frame that does not parse: {exc}"))
            return
        body.release()
        if side.block is not None and not isinstance(frame, ContinuationFrame):
            out.append(Problem("http2-continuation-missing",
                               f"a {direction} header block not continued by CONTINUATION frames"))
            side.block = None
        kind = type(frame)
        if kind is DataFrame:
            end = "END_STREAM" in frame.flags
            out.append(Data(direction, frame.stream_id, ts, frame.data, end))
            if end:
                self._ended(frame.stream_id, direction)
        elif kind in (HeadersFrame, PushPromiseFrame):
            side.block = bytearray(frame.data)
            side.block_frame = frame
            side.block_wire = 9 + length
            if "END_HEADERS" in frame.flags:
                self._block(direction, side, ts, out)
        elif kind is ContinuationFrame:
            if side.block is None or frame.stream_id != side.block_frame.stream_id:
                out.append(Problem("http2-frame-invalid", f"a {direction} CONTINUATION without its HEADERS"))
                side.block = None
                return
            if len(side.block) + len(frame.data) > MAX_HEADER_BLOCK:
                out.append(Problem("http2-header-block-too-large",
                                   f"a {direction} header block over {MAX_HEADER_BLOCK} bytes: not decoded"))
                side.block = None
                side.state_lost = True
                self._reset_table(side)
                return
            side.block += frame.data
            side.block_wire += 9 + length
            if "END_HEADERS" in frame.flags:
                self._block(direction, side, ts, out)
        elif kind is SettingsFrame:
            self._settings(direction, frame, ts, out)
        elif kind is RstStreamFrame:
            out.append(Reset(direction, frame.stream_id, ts, frame.error_code))
            self.open.pop(frame.stream_id, None)
        elif kind is GoAwayFrame:
            out.append(GoAway(direction, ts, frame.last_stream_id, frame.error_code))

    def _settings(self, direction: str, frame: SettingsFrame, ts, out: list) -> None:
        receiver = self.sides[_OTHER[direction]]  # its frames and header blocks are bounded by these
        if "ACK" in frame.flags:
            # ``direction`` acknowledges what the other side announced: the smaller table of the blocks
            # it sends applies now.
            # An ACK answers the oldest SETTINGS not yet acknowledged (RFC 9113 6.5.3).
            acker = self.sides[direction]
            if acker.pending_table:
                size = acker.pending_table.pop(0)
                if size is not None:
                    acker.decoder.max_allowed_table_size = size
            out.append(Settings(direction, ts, {}, True))
            return
        settings = dict(frame.settings)
        table = settings.get(_HEADER_TABLE_SIZE)
        decoder = receiver.decoder
        if table is not None and table >= decoder.max_allowed_table_size:
            decoder.max_allowed_table_size = table
            table = None
        # a smaller table applies once acknowledged: until then the encoder may still use the larger one
        if len(receiver.pending_table) < 64:
            receiver.pending_table.append(table)
        size = settings.get(_MAX_FRAME_SIZE)
        if size is not None and DEFAULT_MAX_FRAME <= size <= (1 << 24) - 1:
            receiver.max_frame = min(size, MAX_FRAME_CAP)
        out.append(Settings(direction, ts, settings, False))

    def _block(self, direction: str, side: _Side, ts, out: list) -> None:
        frame, block, wire = side.block_frame, bytes(side.block), side.block_wire
        side.block = None
        headers = self._decode(direction, side, block, out)
        promised = frame.promised_stream_id if isinstance(frame, PushPromiseFrame) else None
        sid = frame.stream_id
        end_stream = "END_STREAM" in frame.flags
        # A request (client, odd id) or a push promise opens a stream, whose id must go up; other blocks
        # (responses, trailers) belong to a stream already open.
        opener = "server" if promised is not None else direction
        new = promised if promised is not None else sid
        if (promised is not None or (direction == "client" and sid % 2 == 1)) and new not in self.open:
            owner = self.sides[opener]
            if new <= owner.last_stream:
                if self.midway:  # a stream opened before the capture began (trailers, a late block)
                    out.append(Headers(direction, sid, ts, headers, wire, end_stream, promised))
                    return
                out.append(Problem("http2-stream-id-backwards", f"a {opener} stream {new} opened after stream "
                                   f"{owner.last_stream}: ignored"))
                return
            owner.last_stream = new
            self.open[new] = 0
        out.append(Headers(direction, sid, ts, headers, wire, end_stream, promised))
        if end_stream:
            self._ended(sid, direction)

    def _ended(self, sid: int, direction: str) -> None:
        """A side ended the stream (END_STREAM); when both have, or at a reset, it is forgotten."""
        if sid in self.open:
            self.open[sid] |= 1 if direction == "client" else 2
            if self.open[sid] == 3:
                del self.open[sid]

    def _decode(self, direction: str, side: _Side, block: bytes, out: list) -> list[tuple[str, str]] | None:
        try:
            raw = side.decoder.decode(block, raw=True)
        except InvalidTableIndex:
            if not side.state_lost:
                out.append(Problem("http2-hpack-error",
                                   f"a {direction} header block refers to a table entry that does not exist"))
            else:
                out.append(Problem("hpack-state-lost", "header blocks that refer to HPACK table entries "
                                   "from before the capture (or a gap) could not be decoded"))
            self._reset_table(side)
            return None
        except (HPACKDecodingError, InvalidTableSizeError, IndexError, ValueError) as exc:
            out.append(Problem("http2-hpack-error", f"a {direction} header block fails HPACK: {exc}"))
            side.state_lost = True
            self._reset_table(side)
            return None
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]

    @staticmethod
    def _reset_table(side: _Side) -> None:
        """Forget the dynamic table (its entries can no longer be trusted) but keep its size limits."""
        decoder = side.decoder
        fresh = hpack.Decoder(max_header_list_size=MAX_HEADER_LIST)
        fresh.max_allowed_table_size = decoder.max_allowed_table_size
        fresh.header_table_size = decoder.header_table_size
        side.decoder = fresh


def _plausible(buf, pos: int, max_frame: int) -> int | None:
    """The end of a plausible frame header at ``pos`` (known type, length within bounds, reserved bit
    clear, stream 0 exactly for the connection-level types), or None."""
    length = int.from_bytes(buf[pos:pos + 3], "big")
    kind = buf[pos + 3]
    sid = int.from_bytes(buf[pos + 5:pos + 9], "big")
    if kind >= _KNOWN_TYPES or length > max_frame or sid >> 31:
        return None
    if (kind in (4, 6, 7)) != (sid == 0):  # SETTINGS, PING, GOAWAY on stream 0; the others on a stream
        if kind != 8:  # WINDOW_UPDATE: either
            return None
    if kind == 4 and length % 6 or kind == 6 and length != 8 or kind == 3 and length != 4:
        return None
    return pos + 9 + length


def _resync(buf, pos: int, max_frame: int) -> int | None:
    """The first position at or after ``pos`` where two plausible frame headers follow each other (or
    one whose frame ends exactly at the end of the data)."""
    end = len(buf)
    while pos + 9 <= end:
        nxt = _plausible(buf, pos, max_frame)
        if nxt is not None:
            if nxt == end:
                return pos
            if nxt + 9 <= end:
                if _plausible(buf, nxt, max_frame) is not None:
                    return pos
            else:
                return None  # wait for more data to confirm
        pos += 1
    return None
