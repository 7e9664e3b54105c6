"""The per-direction message layer: frames in, `Frame` and `Message` records out (RFC 6455 5.4-5.6, 7692).

`MessageAssembler` consumes the `FrameEvent`s of `inspector.ws.decoder.FrameDecoder` for one direction and keeps
the state that single frames cannot show:

* fragmentation (RFC 6455 5.4): a text/binary frame with FIN=0 starts a message, continuation frames
  extend it, FIN=1 ends it (an empty final fragment included). Control frames may come in between and
  never start or join a fragmented message. ``continuation-without-start`` leaves the state unchanged;
  ``new-message-while-fragmented`` ends the old message as incomplete (``complete=False``) and starts
  the new one;
* ``data-after-close``: a data frame after this endpoint's own close frame (5.5.1);
* UTF-8 (5.6, 8.1): text messages (after inflating) and close reasons go through an incremental
  decoder, so ``invalid-utf8`` lands on the frame where the first invalid byte arrives, or on the
  final frame when the message ends inside a sequence;
* close frames (5.5.1, 7.4): code, reason, registered name; ``close-payload-length-1``,
  ``invalid-close-code``;
* permessage-deflate (RFC 7692 6, 7.2.2): RSV1 on a message's first frame marks it compressed; its
  frames' payloads inflate through one bounded `inspector.ws.deflate.Inflater` per direction (context
  shared across messages unless the sender negotiated no_context_takeover). Past ``max_message``
  inflated bytes a message stops inflating (``inflate_error="limit"``, warning ``inflate-limit``).

Payloads are never held whole: each message keeps its running length, a SHA-256 of the whole
(unmasked, inflated) payload and a prefix big enough for its capped view (``view_cap`` characters of
text, ``view_cap`` bytes of binary/ping/pong as hex, close reasons). A `Frame` record is emitted when its
frame ends (``ts`` = time of the chunk that completed it), followed by the `Message` it completed.

A frame that is whole, well formed, FIN=1, text/binary, uncompressed and outside any fragmented message
takes a fast path (one decode, one hash); tests check it against the general path.
"""

from __future__ import annotations

import zlib
from hashlib import sha256

from msgspec.structs import replace as _replace

from inspector.records import Direction, Frame, Message, WarningRecord
from inspector.ws import violations as V
from inspector.ws.close import close_code_name, parse_close
from inspector.ws.decoder import FrameEvent
from inspector.ws.deflate import DeflateParams, InflateLimit, Inflater, WindowExceeded
from inspector.ws.header import OPCODE_NAMES, FrameHeader
from inspector.ws.message_state import MessageState, valid_prefix

__all__ = ["MessageAssembler"]

_ORDER = {name: i for i, name in enumerate(V.ALL)}

class MessageAssembler:
    """Message layer of one direction of one connection (see the module docstring)."""

    def __init__(
        self,
        conn: str,
        direction: Direction,
        *,
        deflate: DeflateParams | None = None,
        view_cap: int = 256,
        max_message: int = 64 << 20,
        frame_payloads: bool = False,
        fast: bool = True,
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.view_cap = view_cap
        self.max_message = max_message
        self.frame_payloads = frame_payloads
        self._fast = fast and not frame_payloads
        self._inflater = (
            Inflater.for_direction(deflate, direction, limit=max_message) if deflate is not None else None
        )
        self._text_limit = 4 * view_cap + 4  # bytes that always hold view_cap characters
        self.frame_count = 0
        self.message_count = 0
        self.closed = False  # this endpoint sent its close frame
        self._msg: MessageState | None = None  # fragmented data message in progress
        self._cur: MessageState | None = None  # message the current frame belongs to (None: ignored)
        self._viol: list[str] = []  # violations of the current frame
        self._payload: bytearray | None = None  # current frame's payload prefix (frame_payloads)
        #: after a gap: continuation frames are the cut message's, skipped (counted in ``orphans``)
        #: without blame until a text/binary frame starts a message
        self.after_gap = False
        self.orphans = 0
        self._gap_lost = False  # the inflater's context was lost with the bytes of a gap
        #: when set (`WebSocketStream.keep_payloads`): id(Message) -> the first ``app_cap`` bytes of each
        #: text/binary message's (inflated) payload, for the application layer to take
        self.payloads: dict[int, bytes] | None = None
        self.app_cap = 0
        #: no fragmented message in progress, no gap aftermath and the fast paths allowed (`whole` may
        #: be called)
        self.idle = self._fast
        self._templates = (
            Frame(conn=conn, direction=direction, ts=None, index=0, fin=True, rsv1=False, rsv2=False,
                  rsv3=False, opcode=1, opcode_name="text", masked=None, masking_key=None, payload_len=0,
                  violations=[]),
            Message(conn=conn, direction=direction, ts=None, opcode_name="text", length=0, frames=1,
                    compressed=False, sha256=""),
        )

    # -- frames ---------------------------------------------------------------------------------------

    def process(self, events: list[FrameEvent], ts: float | None) -> list:
        """Records for decoder events (see `FrameDecoder.feed`), in order."""
        out: list = []
        fast = self.idle
        for event in events:
            hdr = event.header
            chunk = event.payload
            first = event.first
            last = event.last
            # Fast path: a whole FIN=1 text/binary frame with no header violation and no RSV1 (so not
            # compressed), outside a fragmented message, before this side's close.
            b0 = hdr.b0
            if fast and (b0 == 0x81 or b0 == 0x82) and first and last and not hdr.violations:
                self._records((FrameEvent(chunk, None, True, True, b0, hdr.masking_key, len(chunk),
                                          hdr.length_encoding, hdr.offset),), ts, out)
                continue
            if first:
                self._begin(hdr, ts, out)
            if chunk:
                self._data(chunk, out)
            if last:
                self._finish(hdr, ts, out)
            fast = self._fast and self._msg is None and not self.after_gap
        self.idle = fast
        return out

    def whole(self, frame: FrameEvent, ts) -> list:
        """Records for one clean frame from `FrameDecoder.whole` (only when `idle`): a FIN=1 text or
        binary frame with no header violation, RSV1 only if permessage-deflate was negotiated.

        The common case of a capture (one TCP segment, one frame, one message) costs one call: the
        payload is hashed once, text is validated and decoded in one ``bytes.decode``, and a compressed
        payload is inflated in one `Inflater.whole` call when its output fits one piece."""
        out: list = []
        if frame.b0 < 0xC0:
            self._records((frame,), ts, out)
        else:
            self._compressed(frame, ts, out)
        return out

    def clean(self, frames: list[FrameEvent], events: list[FrameEvent], ts) -> list:
        """Records for `FrameDecoder.feed_clean`'s output (only when `idle`): its leading clean frames
        (as `whole` takes them), then the events of the rest."""
        out: list = []
        inflater = self._inflater
        if inflater is None:  # no RSV1 frame is clean: they are all as `_records` takes them
            self._records(frames, ts, out)
            if events:
                out += self.process(events, ts)
            return out
        batch = []
        for frame in frames:
            if frame.b0 < 0xC0:
                batch.append(frame)
                continue
            begun = inflater.begin()
            data = inflater.whole(frame.payload) if begun else None
            if data is not None:
                batch.append(_replace(frame, payload=data))
                continue
            if batch:
                self._records(batch, ts, out)
                batch = []
            self._not_whole(begun, frame, ts, out)
        if batch:
            self._records(batch, ts, out)
        if events:
            out += self.process(events, ts)
        return out

    def _compressed(self, frame: FrameEvent, ts, out: list) -> None:
        """A clean one-frame compressed message."""
        inflater = self._inflater
        begun = inflater.begin()
        data = inflater.whole(frame.payload) if begun else None
        if data is not None:
            self._records((_replace(frame, payload=data),), ts, out)
        else:
            self._not_whole(begun, frame, ts, out)

    def _not_whole(self, begun: bool, frame: FrameEvent, ts, out: list) -> None:
        """A compressed one-frame message `Inflater.whole` did not finish (bigger than one piece, over
        the limit, corrupt: the streaming path takes over from `Inflater.rest`), or could not start
        (``begun`` False: the context was lost; the general path reports it)."""
        n = frame.payload_len
        key = frame.masking_key
        hdr = FrameHeader(frame.b0, key is not None, key, n, frame.length_encoding, frame.offset, [], True, n)
        if not begun:
            out += self.process([FrameEvent(frame.payload, hdr)], ts)
            return
        op = frame.b0 & 0x0F
        m = MessageState(op, True, self._limit(op), ts)
        if self.payloads is not None:
            m.app = bytearray()
        m.frames = 1
        m.wire_length = n
        self._cur = m
        self._viol = hdr.violations
        self._payload = None
        self._inflate(m, self._inflater.rest(), out)
        self._finish(hdr, ts, out)

    def _records(self, frames, ts, out: list) -> None:
        """Frame + Message records of one-frame messages: clean `FrameEvent`s whose ``payload`` is the
        whole (inflated) payload; compressed when ``b0`` has RSV1.

        Each record is a copy of this direction's template (`_templates`) with the per-frame fields
        replaced: ``msgspec.structs.replace`` costs the same per keyword however many are given, where
        the constructor gets ~4x slower past 15 keywords (a Frame here needs 16). Every field the
        template does not fix is given here, lists included (never shared)."""
        cap = self.view_cap
        text_limit = self._text_limit
        frame_t, message_t = self._templates
        findex = self.frame_count
        mindex = self.message_count
        append = out.append
        for frame in frames:
            b0 = frame.b0
            key = frame.masking_key
            data = frame.payload
            wire_n = frame.payload_len
            viol = []
            if b0 & 0x0F == 1:
                op, name, value = 1, "text", None
                try:
                    text = data.decode()
                except UnicodeDecodeError:
                    # RFC 6455 8.1: the one frame holds the first invalid byte (as the general path finds)
                    text = data[:text_limit].decode("utf-8", "replace")
                    truncated = len(data) > text_limit or len(text) > cap
                    viol = [V.INVALID_UTF8]
                else:
                    truncated = len(text) > cap
                if truncated:
                    text = text[:cap]
            else:
                op, name, text, value = 2, "binary", None, data[:cap].hex()
                truncated = len(data) > cap
            append(_replace(
                frame_t, ts=ts, index=findex, opcode=op, opcode_name=name, rsv1=b0 >= 0xC0,
                masked=key is not None, masking_key=None if key is None else key.hex(),
                payload_len=wire_n, violations=viol, offset=frame.offset, length_encoding=frame.length_encoding,
            ))
            message = _replace(
                message_t, ts=ts, opcode_name=name, length=len(data), compressed=b0 >= 0xC0,
                sha256=sha256(data).hexdigest(), text=text, data=value, truncated=truncated, index=mindex,
                ts_first=ts, wire_length=wire_n, violations=viol[:],
            )
            append(message)
            if self.payloads is not None:
                self.payloads[id(message)] = bytes(data[: self.app_cap])
            findex += 1
            mindex += 1
        self.frame_count = findex
        self.message_count = mindex

    def _limit(self, opcode: int) -> int:
        """Bytes of a message's payload kept for its view."""
        if opcode == 1:
            return self._text_limit
        if opcode == 8:
            return max(125, 2 + self._text_limit)
        return self.view_cap

    def _new_msg(self, opcode: int, compressed: bool, ts, out: list) -> MessageState:
        m = MessageState(opcode, compressed, self._limit(opcode), ts)
        if self.payloads is not None and opcode <= 2:
            m.app = bytearray()
        if compressed and not self._inflater.begin():
            m.inflating = False
            m.inflate_error = "context-lost"
            cause = ("bytes missing from the capture (a gap) took the sender's shared LZ77 window with them; "
                     f"with context takeover no later compressed {self.direction} message can be trusted"
                     if self._gap_lost else "an earlier message broke the shared compression context")
            out.append(self._warning(
                "inflate-context-lost",
                f"{self.direction} message {self.message_count} cannot be inflated: {cause} (RFC 7692 7.2.2)",
            ))
        return m

    def _begin(self, hdr: FrameHeader, ts, out: list) -> None:
        viol = hdr.violations
        op = hdr.opcode
        target = None
        if op <= 2:
            if self.closed:
                viol.append(V.DATA_AFTER_CLOSE)
            if op == 0:
                if self._msg is not None:
                    target = self._msg
                elif self.after_gap:
                    self.orphans += 1  # the gap took its message's start: not the sender's fault
                else:
                    viol.append(V.CONTINUATION_WITHOUT_START)
            else:
                self.after_gap = False
                if self._msg is not None:
                    viol.append(V.NEW_MESSAGE_WHILE_FRAGMENTED)
                    self._abandon(self._msg, self._msg.ts_last, out)
                    self._msg = None
                target = self._new_msg(op, hdr.rsv1 and self._inflater is not None, ts, out)
        elif op in (8, 9, 10):
            target = self._new_msg(op, False, ts, out)
        if target is not None:
            target.frames += 1
        self._cur = target
        self._viol = viol
        self._payload = bytearray() if self.frame_payloads else None

    def _data(self, chunk: bytes, out: list) -> None:
        if self._payload is not None and len(self._payload) < self.view_cap:
            self._payload += chunk[: self.view_cap - len(self._payload)]
        m = self._cur
        if m is None:
            return
        m.wire_length += len(chunk)
        if not m.compressed:
            self._consume(m, chunk)
        elif m.inflating:
            self._inflate(m, self._inflater.feed(chunk), out)

    def _inflate(self, m: MessageState, pieces, out: list) -> None:
        try:
            for piece in pieces:
                self._consume(m, piece)
        except InflateLimit:
            m.inflating = False
            m.inflate_error = "limit"
            out.append(self._warning(
                "inflate-limit",
                f"{self.direction} message {self.message_count} inflates to more than {self.max_message} "
                "bytes (deflate bomb?); inflation stopped there",
            ))
        except WindowExceeded:
            m.inflating = False
            m.inflate_error = "window"
            bits = self._inflater.max_window_bits
            side = self.direction
            out.append(self._warning(
                "inflate-window-exceeded",
                f"{side} message {self.message_count} refers back further than the {1 << bits}-byte "
                f"window the {side} negotiated ({side}_max_window_bits={bits}, RFC 7692 7.1.2): a "
                "receiver that holds it to that window (websockets does) fails here",
            ))
        except zlib.error as exc:
            m.inflating = False
            m.inflate_error = "error"
            out.append(self._warning(
                "inflate-error", f"{self.direction} message {self.message_count} does not inflate: {exc}"
            ))

    def _consume(self, m: MessageState, data: bytes) -> None:
        """Account for ``data`` (unmasked, inflated payload bytes) of message ``m``."""
        m.length += len(data)
        m.sha.update(data)
        if len(m.prefix) < m.limit:
            m.prefix += data[: m.limit - len(m.prefix)]
        if m.app is not None and len(m.app) < self.app_cap:
            m.app += data[: self.app_cap - len(m.app)]
        if m.decoder is not None and not m.utf8_bad:
            if m.skip:
                k = min(m.skip, len(data))
                data = data[k:]
                m.skip -= k
            try:
                m.decoder.decode(data)
            except UnicodeDecodeError:
                m.utf8_bad = True
                self._viol.append(V.INVALID_UTF8)
            else:
                pending = m.decoder.getstate()[0]
                if pending and not valid_prefix(pending):
                    m.utf8_bad = True
                    self._viol.append(V.INVALID_UTF8)

    def _finish(self, hdr: FrameHeader, ts, out: list) -> None:
        m = self._cur
        viol = self._viol
        message = None
        if m is not None:
            if m.frames == 1:
                m.ts_first = ts  # a frame's time is when it completed (as Frame.ts)
            m.ts_last = ts
            if not hdr.complete:
                if m.opcode <= 2:
                    message = self._abandoned(m, ts)
                    self._msg = None
            elif m.opcode <= 2:
                if hdr.fin:
                    self._end_message(m, viol, out)
                    message = self._message(m, ts, frames=m.frames)
                    self._msg = None
                else:
                    self._msg = m
            else:
                self._end_message(m, viol, out)
                message = self._message(m, ts, frames=1)
                if m.opcode == 8:
                    self.closed = True
                    self._fast = False  # data frames now carry data-after-close
        if len(viol) > 1:
            viol.sort(key=_ORDER.__getitem__)  # spec order, whatever order they were found in
        key = hdr.masking_key
        index = self.frame_count
        self.frame_count = index + 1
        op = hdr.opcode
        frame = Frame(
            conn=self.conn, direction=self.direction, ts=ts, index=index, fin=hdr.fin, rsv1=hdr.rsv1,
            rsv2=hdr.rsv2, rsv3=hdr.rsv3, opcode=op, opcode_name=OPCODE_NAMES.get(op, "reserved"),
            masked=hdr.masked, masking_key=None if key is None else key.hex(),
            payload_len=hdr.payload_len, violations=viol, offset=hdr.offset,
        )
        frame.length_encoding = hdr.length_encoding
        frame.complete = hdr.complete
        if self._payload is not None:
            frame.payload = self._payload.hex()
        out.append(frame)
        if m is not None:
            for name in viol:
                if name not in m.violations:
                    m.violations.append(name)
        if message is not None:
            out.append(message)
        self._cur = None
        self._payload = None

    def _end_message(self, m: MessageState, viol: list[str], out: list) -> None:
        """The message's last frame arrived: inflate the tail, final UTF-8 check (RFC 6455 8.1)."""
        if m.compressed and m.inflating:
            self._inflate(m, self._inflater.finish(), out)
        if m.decoder is not None and not m.utf8_bad:
            try:
                m.decoder.decode(b"", True)
            except UnicodeDecodeError:
                m.utf8_bad = True
                viol.append(V.INVALID_UTF8)
        if m.opcode == 8:  # RFC 6455 5.5.1, 7.4 (the reason's UTF-8 was checked above, in full)
            viol.extend(name for name in parse_close(bytes(m.prefix[:2]))[2] if name != V.INVALID_UTF8)

    def _abandoned(self, m: MessageState, ts) -> Message:
        if m.compressed and m.inflating:
            self._inflater.abandon()
        return self._message(m, ts, frames=m.frames, complete=False)

    def _abandon(self, m: MessageState, ts, out: list) -> None:
        out.append(self._abandoned(m, ts))

    def _message(self, m: MessageState, ts, *, frames: int | None, complete: bool = True) -> Message:
        cap = self.view_cap
        op = m.opcode
        text = data = reason = code = None
        truncated = False
        if op == 1:
            text = m.prefix.decode("utf-8", "replace")
            truncated = m.length > len(m.prefix) or len(text) > cap
            text = text[:cap]
        elif op == 8:
            code, reason, _ = parse_close(bytes(m.prefix), cap)
        else:
            data = bytes(m.prefix[:cap]).hex()
            truncated = m.length > cap
        index = self.message_count
        self.message_count = index + 1
        message = Message(
            conn=self.conn, direction=self.direction, ts=ts, opcode_name=OPCODE_NAMES.get(op, "reserved"),
            length=m.length, frames=frames, compressed=m.compressed, sha256=m.sha.hexdigest(), text=text,
            truncated=truncated, data=data, index=index, ts_first=m.ts_first, wire_length=m.wire_length,
        )
        message.violations = m.violations
        message.complete = complete
        if m.app is not None and self.payloads is not None:
            self.payloads[id(message)] = bytes(m.app)
        message.inflate_error = m.inflate_error
        if op == 8:
            message.close_code = code
            message.close_reason = reason
            message.close_code_name = close_code_name(code)
        return message

    def _warning(self, name: str, message: str) -> WarningRecord:
        return WarningRecord(name=name, message=message, conn=self.conn)

    # -- whole messages, end of input -----------------------------------------------------------------

    def message(self, opcode: int, payload: bytes, ts, compressed: bool | None = None) -> list:
        """Records for one whole message (HAR, mitmproxy's message layer): a `Message` with
        ``frames=None``, no `Frame`. ``compressed=True``: ``payload`` is still deflated (RFC 7692)."""
        out: list = []
        if self._inflater is None and compressed:
            self._inflater = Inflater(limit=self.max_message)
        m = self._new_msg(opcode, bool(compressed), ts, out)
        self._viol = m.violations
        if opcode <= 2 and self.closed:
            m.violations.append(V.DATA_AFTER_CLOSE)
        m.wire_length = len(payload)
        if m.compressed:
            if m.inflating:
                self._inflate(m, self._inflater.feed(payload), out)
        else:
            self._consume(m, payload)
        self._end_message(m, m.violations, out)
        record = self._message(m, ts, frames=None)
        record.compressed = compressed
        if compressed is None:
            record.wire_length = None
        if opcode == 8:
            self.closed = True
            self._fast = self.idle = False
        out.append(record)
        return out

    def end(self, events: list, ts) -> list:
        """End of input: the frame cut off (``events`` from `FrameDecoder.end`) and any message left
        unfinished (``complete=False``; a stream ending between frames is not ``truncated``)."""
        out = self.process(events, ts)
        if self._msg is not None:
            out.append(self._abandoned(self._msg, self._msg.ts_last))
            self._msg = None
        self.idle = self._fast and not self.after_gap
        return out

    def discard(self) -> None:
        """Forget the fragmented message in progress without a record (it came from bytes a
        withdrawn resync misread: see `inspector.ws.stream`)."""
        if self._msg is not None:
            if self._msg.compressed and self._msg.inflating:
                self._inflater.abandon()
            self._msg = None

    def gap(self) -> None:
        """Bytes are missing before the next frame (call after `end`): later continuation frames
        without a start are the gap's doing, and the shared LZ77 window (context takeover) is gone."""
        self.after_gap = True
        self.idle = False
        if self._inflater is not None and not self._inflater.no_context_takeover:
            self._inflater.abandon()
            self._gap_lost = True
