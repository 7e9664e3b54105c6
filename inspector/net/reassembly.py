"""TCP reassembly for one direction of a captured connection (sans-IO: segments in, ordered bytes out).

`Direction.segment(seq, payload, ts, syn=..., fin=..., rst=...)` takes one captured TCP segment and
returns the events it releases, in stream order:

- ``(DATA, bytes, ts)``: the next bytes of the stream; ``ts`` is the capture time of the packet that
  carried them (for bytes released from the out-of-order buffer, of the packet that carried *them*).
- ``(GAP, nbytes, ts)``: ``nbytes`` of the stream are missing from the capture; the consumer must resync
  (HTTP at the next request/status line, WebSocket via ``WebSocketStream.gap``).
- ``(FIN, None, ts)`` once, when the stream has been delivered up to the sender's FIN.
- ``(RST, None, ts)`` when the sender reset the connection (buffered bytes are released first, with gaps).

What real captures contain, and what this module does with it (RFC 9293 3.4, 3.10.7):

- The capture may start mid-connection: the first segment that carries data (or a SYN, whose sequence
  number + 1 is the first data byte) fixes the stream position.  Earlier bytes that show up afterwards
  are counted as retransmissions and dropped.
- Sequence numbers wrap at 2**32; positions are kept as the signed distance to the next expected byte, so
  streams longer than 4 GiB are fine.
- Retransmissions and overlaps: bytes already delivered are dropped ("first copy wins", like most stacks
  and like Wireshark's default); the counts are kept in `retransmitted_bytes` and `overlaps`.
- Out-of-order segments wait in a buffer bounded by ``max_buffer`` bytes and ``max_segments`` segments.
  A hole the peer has acknowledged (`acked`) is a gap at once: the receiver had those bytes, the capture
  missed them.  When the buffer is full the missing bytes are declared a gap too and delivery resumes at
  the first buffered segment: memory never grows with a hole that is never filled.  `flush()` (end of
  capture) releases the rest the same way.

The fast path (the next expected segment with nothing buffered) costs one comparison and one tuple.
"""

from __future__ import annotations

import heapq

__all__ = ["DATA", "GAP", "FIN", "RST", "Direction"]

DATA = "data"
GAP = "gap"
FIN = "fin"
RST = "rst"

_MASK = 0xFFFFFFFF
_HALF = 0x80000000


class Direction:
    """Reassembles one direction of a TCP connection."""

    __slots__ = (
        "max_buffer",
        "max_segments",
        "isn",
        "_next",
        "offset",
        "_pending",
        "_pending_bytes",
        "_counter",
        "_fin_at",
        "fin_delivered",
        "reset",
        "bytes",
        "retransmitted_bytes",
        "overlaps",
        "out_of_order",
        "gaps",
        "gap_bytes",
    )

    def __init__(self, max_buffer: int = 1 << 20, max_segments: int = 4096) -> None:
        self.max_buffer = max_buffer
        self.max_segments = max_segments
        self.isn: int | None = None  # sequence number of the SYN, if one was seen
        self._next: int | None = None  # raw sequence number of the next expected byte
        self.offset = 0  # stream offset of the next expected byte (delivered + gap bytes)
        self._pending: list[tuple[int, int, bytes, float]] = []  # heap of (offset, n, data, ts)
        self._pending_bytes = 0
        self._counter = 0
        self._fin_at: int | None = None
        self.fin_delivered = False
        self.reset = False
        self.bytes = 0  # payload bytes delivered
        self.retransmitted_bytes = 0
        self.overlaps = 0
        self.out_of_order = 0
        self.gaps = 0
        self.gap_bytes = 0

    @property
    def synced(self) -> bool:
        """True once a SYN or a data segment has fixed the stream position."""
        return self._next is not None

    def is_new_syn(self, seq: int) -> bool:
        """Would a SYN with this sequence number start a new connection (not a retransmitted SYN)?"""
        return self._next is not None and seq != self.isn

    def segment(
        self,
        seq: int,
        payload: bytes,
        ts: float,
        syn: bool = False,
        fin: bool = False,
        rst: bool = False,
        lost: int = 0,
    ) -> list[tuple]:
        """One captured segment.  ``lost``: payload bytes the segment carried beyond ``payload`` that the
        capture cut off (snaplen); reported as a gap right after ``payload`` when it is delivered in order."""
        nxt = self._next
        if syn:
            if self.isn is None:
                self.isn = seq
            seq = (seq + 1) & _MASK
            if nxt is None:
                self._next = nxt = seq
        if nxt is None:
            if not payload:
                return []
            self._next = nxt = seq
        if seq == nxt and not self._pending and not fin and not rst and not lost:
            if not payload:
                return []
            n = len(payload)
            self._next = (nxt + n) & _MASK
            self.offset += n
            self.bytes += n
            return [(DATA, payload, ts)]
        return self._slow(seq, payload, ts, fin, rst, lost)

    def _slow(self, seq: int, payload: bytes, ts: float, fin: bool, rst: bool, lost: int) -> list[tuple]:
        out: list[tuple] = []
        rel = ((seq - self._next + _HALF) & _MASK) - _HALF
        n = len(payload)
        if fin and self._fin_at is None:
            self._fin_at = self.offset + rel + n + lost
        if lost and rel <= 0 and rel + n >= 0:
            # In order: the cut-off bytes are a known hole right after this payload.
            if rel + n > 0:
                self._deliver(payload[-rel:] if rel else payload, ts, out)
            self.gaps += 1
            self.gap_bytes += lost
            self._next = (self._next + lost) & _MASK
            self.offset += lost
            out.append((GAP, lost, ts))
            n = 0
            self._drain(out)

        if n:
            if rel < 0:
                if rel + n <= 0:
                    self.retransmitted_bytes += n
                    n = 0
                else:
                    self.overlaps += 1
                    self.retransmitted_bytes += -rel
                    payload = payload[-rel:]
                    n = len(payload)
                    rel = 0
            if n:
                if rel == 0:
                    self._deliver(payload, ts, out)
                else:
                    self.out_of_order += 1
                    self._counter += 1
                    heapq.heappush(self._pending, (self.offset + rel, self._counter, payload, ts))
                    self._pending_bytes += n
            self._drain(out)
            while self._pending and (
                self._pending_bytes > self.max_buffer or len(self._pending) > self.max_segments
            ):
                self._skip_to_first(ts, out)
                self._drain(out)
        self._check_fin(ts, out)
        if rst and not self.reset:
            out.extend(self.flush(ts))
            self.reset = True
            out.append((RST, None, ts))
        return out

    def acked(self, ack: int, ts: float) -> list[tuple]:
        """The peer acknowledged every byte before ``ack``.  Bytes it acknowledged that the capture lacks
        while later segments wait in the buffer will never come (the receiver had them; only the capture
        missed them, like Wireshark's "ACKed unseen segment"): they become a gap at once, instead of when
        the buffer is full.  Cheap when nothing is buffered."""
        if not self._pending:
            return []
        rel = ((ack - self._next + _HALF) & _MASK) - _HALF
        if rel <= 0:
            return []
        acked_to = self.offset + rel
        out: list[tuple] = []
        while self._pending and self.offset < acked_to:
            start = self._pending[0][0]
            missing = min(start, acked_to) - self.offset
            if missing <= 0:
                break
            self.gaps += 1
            self.gap_bytes += missing
            self._next = (self._next + missing) & _MASK
            self.offset += missing
            out.append((GAP, missing, ts))
            self._drain(out)
        self._check_fin(ts, out)
        return out

    def _deliver(self, payload: bytes, ts: float, out: list) -> None:
        n = len(payload)
        self._next = (self._next + n) & _MASK
        self.offset += n
        self.bytes += n
        out.append((DATA, payload, ts))

    def _drain(self, out: list) -> None:
        pending = self._pending
        while pending and pending[0][0] <= self.offset:
            start, _, data, ts = heapq.heappop(pending)
            self._pending_bytes -= len(data)
            skip = self.offset - start
            if skip >= len(data):
                self.retransmitted_bytes += len(data)
                continue
            if skip:
                self.overlaps += 1
                self.retransmitted_bytes += skip
                data = data[skip:]
            self._deliver(data, ts, out)

    def _skip_to_first(self, ts: float, out: list) -> None:
        missing = self._pending[0][0] - self.offset
        self.gaps += 1
        self.gap_bytes += missing
        self._next = (self._next + missing) & _MASK
        self.offset += missing
        out.append((GAP, missing, self._pending[0][3]))

    def _check_fin(self, ts: float, out: list) -> None:
        if self._fin_at is not None and not self.fin_delivered and self.offset >= self._fin_at:
            self.fin_delivered = True
            out.append((FIN, None, ts))

    def flush(self, ts: float | None = None) -> list[tuple]:
        """End of input: release everything buffered, declaring gaps for the holes."""
        out: list[tuple] = []
        while self._pending:
            self._skip_to_first(ts, out)
            self._drain(out)
        if self._fin_at is not None and not self.fin_delivered:
            if self._fin_at > self.offset:
                missing = self._fin_at - self.offset
                self.gaps += 1
                self.gap_bytes += missing
                self.offset = self._fin_at
                out.append((GAP, missing, ts))
            self._check_fin(ts, out)
        return out
