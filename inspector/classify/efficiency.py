"""What a polling endpoint costs against push (`efficiency`), and the one-line answer (`verdict`).

`efficiency` fills `Pattern.efficiency` for polling endpoints; `verdict` turns it into the answer to "is
my polling worth replacing?".
"""

from __future__ import annotations

from inspector.classify.features import useful
from inspector.classify.samples import Sample, by_session, rounded
from inspector.classify.thresholds import Thresholds
from inspector.records import Pattern

__all__ = ["SSE_EVENT_OVERHEAD", "WS_101_RESPONSE", "WS_HANDSHAKE_EXTRA", "efficiency", "verdict"]

#: Bytes a WebSocket handshake adds to an ordinary request: Upgrade, Connection, Sec-WebSocket-Key and
#: -Version headers, and the 101 response with Sec-WebSocket-Accept (about what browsers send).
WS_HANDSHAKE_EXTRA = 105
WS_101_RESPONSE = 129
#: SSE framing per event: ``data: `` + payload + ``\n\n``.
SSE_EVENT_OVERHEAD = 8


def _sse_event(length: int) -> int:
    """Wire bytes of one SSE event of ``length`` payload bytes over HTTP/1.1: ``data: `` + payload +
    ``\n\n``, flushed as one chunk (hex size + CRLF, payload, CRLF)."""
    size = length + SSE_EVENT_OVERHEAD
    return size + len(f"{size:x}") + 4


def _ws_header(length: int) -> int:
    """Server-to-client frame header (unmasked): 2 bytes, +2 for 16-bit, +8 for 64-bit lengths."""
    return 2 if length < 126 else 4 if length < 65536 else 10


def efficiency(pattern: Pattern, samples: list[Sample], *, overflow_bytes: int = 0) -> dict[str, float | int | None]:
    """What a polling endpoint costs, and what the same updates would cost pushed.

    With ``R`` requests over the endpoint's sessions, ``bytes(x)`` = request head + body + response head +
    body of exchange ``x`` (heads measured by the source, else estimated from the header lists), and
    "useful" = 2xx responses that are non-empty, not a framework keep-alive (Engine.IO ping/noop) and
    whose body changed (see `inspector.classify.features`):

    - ``requests_per_min`` = sum over sessions of (requests - 1) / (last start - first start) * 60;
    - ``useful`` and ``useful_ratio`` (= useful / R); ``wasted_requests`` = R - useful; ``wasted_bytes`` = sum of bytes(x) for wasted x;
    - ``poll_bytes`` = sum of bytes(x) over all R;
    - ``staleness_s``: how long an update waits on average before the client sees it: interval / 2 for
      short polling (it appears uniformly between two polls), the median re-poll gap for long polling
      (only updates arriving while no request is open wait);
    - ``sse_bytes`` = one request head + one response head (the means of this endpoint) + sum over useful
      responses of (body + 8 + chunk framing) ("data: " + payload + "\\n\\n", each event one HTTP/1.1
      chunk: hex size + 4 bytes; multi-line payloads add 6 bytes a line);
    - ``websocket_bytes`` = mean request head + 105 (upgrade headers) + 129 (the 101 response) + sum over
      useful responses of (body + 2/4/10) (server frames are unmasked; 16/64-bit lengths add 2/8 bytes);
    - ``push_bytes`` = min(sse_bytes, websocket_bytes); ``saving_bytes`` = poll_bytes - push_bytes;
      ``saving_ratio`` = saving_bytes / poll_bytes.

    Compression, TLS and TCP/IP overhead are ignored on both sides; heartbeats a push connection needs
    (SSE comments, WebSocket pings: a few bytes every 15-30 s) are not counted.
    """
    requests = pattern.requests
    carried = useful(samples)
    useful_ids = {id(s) for s in carried}

    def size(s: Sample) -> int:
        return s.request_bytes + s.response_header_bytes + s.body

    poll_bytes = sum(size(s) for s in samples) + overflow_bytes
    wasted_bytes = sum(size(s) for s in samples if id(s) not in useful_ids) + overflow_bytes
    rate = 0.0
    for session in by_session(samples).values():
        starts = [s.ts_request for s in session if s.ts_request is not None]
        if len(starts) >= 2 and starts[-1] > starts[0]:
            rate += (len(starts) - 1) / (starts[-1] - starts[0]) * 60
    n = max(1, len(samples))
    mean_request = sum(s.request_bytes for s in samples) / n
    mean_response_head = sum(s.response_header_bytes for s in samples) / n
    sse_bytes = round(mean_request + mean_response_head + sum(_sse_event(s.body) for s in carried))
    ws_bytes = round(mean_request + WS_HANDSHAKE_EXTRA + WS_101_RESPONSE + sum(s.body + _ws_header(s.body) for s in carried))
    push = min(sse_bytes, ws_bytes)
    if pattern.pattern == "short-polling":
        staleness = pattern.interval_s / 2 if pattern.interval_s is not None else None
    else:
        staleness = pattern.repoll_gap_s
    saving = poll_bytes - push
    return {
        "requests_per_min": rounded(rate if rate else None, 1),
        "useful": len(carried),
        "useful_ratio": rounded(len(carried) / requests if requests else None),
        "wasted_requests": requests - len(carried),
        "wasted_bytes": wasted_bytes,
        "poll_bytes": poll_bytes,
        "staleness_s": rounded(staleness),
        "sse_bytes": sse_bytes,
        "websocket_bytes": ws_bytes,
        "push_bytes": push,
        "saving_bytes": saving,
        "saving_ratio": rounded(saving / poll_bytes if poll_bytes else None),
    }


def verdict(pattern: Pattern, thresholds: Thresholds | None = None) -> str | None:
    """One line answering "is this polling worth replacing with SSE or a WebSocket?" (None if not polling).

    Short polling is worth replacing when at least ``replace_wasted_ratio`` of its requests brought
    nothing new, when push would save at least ``replace_saving_ratio`` of its bytes, or when updates wait
    ``replace_staleness_s`` or more for the next poll.  Long polling already delivers at once; it is worth
    replacing when most answers are empty (timeouts, keep-alives), and otherwise the line says what push
    would still save (one request head per update).
    """
    eff = pattern.efficiency
    if not eff:
        return None
    t = thresholds or Thresholds()
    requests = max(1, pattern.requests)
    wasted = (eff.get("wasted_requests") or 0) / requests
    saving = eff.get("saving_ratio") or 0.0
    staleness = eff.get("staleness_s")
    reasons = []
    if wasted >= t.replace_wasted_ratio:
        reasons.append(f"{wasted:.0%} of requests brought nothing new")
    if pattern.pattern == "short-polling":
        if saving >= t.replace_saving_ratio:
            reasons.append(f"push would save {saving:.0%} of the bytes")
        if staleness is not None and staleness >= t.replace_staleness_s:
            reasons.append(f"updates wait ~{staleness:.1f} s for the next poll")
    elif reasons and saving > 0:
        reasons.append(f"push would save {saving:.0%} of the bytes")
    if reasons:
        return "worth replacing: " + "; ".join(reasons)
    if pattern.pattern == "long-polling":
        return f"works: updates arrive at once; push would still save {saving:.0%} of the bytes (a request per update)"
    return f"cheap enough: push would save {saving:.0%} of the bytes"
