"""Response bodies in the live addon: event-stream detection, the body hash the classifier compares, and
the stream callable that feeds a streamed event stream to its exchange while relaying every chunk as is."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any

from inspector.http.encoding import BodyDecoder, decode_body

__all__ = ["StreamState", "body_sha256", "feed_request_body", "is_event_stream", "sse_stream"]


@dataclasses.dataclass
class StreamState:
    """A streamed event stream being analysed: its exchange handle, body decoder and bytes so far.
    (Declared here, not in the addon module: mitmproxy may load that one as a script, outside
    ``sys.modules``, where dataclasses cannot resolve annotations.)"""

    handle: Any
    decoder: BodyDecoder | None
    total: int = 0
    parsing: bool = True


def is_event_stream(response: Any) -> bool:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "text/event-stream"


def feed_request_body(request: Any, handle: Any, cap: int) -> None:
    """The start of a request's decoded body (at most ``cap`` bytes: the application layer's) into its
    exchange handle; nothing for a bodyless request, a corrupt encoding or one inflating past 16 caps."""
    raw = request.raw_content
    if not raw:
        return
    encoding = request.headers.get("content-encoding")
    body = raw if not encoding else decode_body(raw, encoding, cap=16 * cap)  # None: over it, or corrupt
    if body:
        handle.request_body(body[:cap], request.timestamp_end or request.timestamp_start)


def body_sha256(resp: Any, limit: int) -> str | None:
    """sha256 of the decoded body (the classifier's "changed" test), decoding at most ``limit`` bytes;
    for encodings not decoded here (br, zstd), of the body as sent.  None when over the limit or corrupt."""
    raw = resp.raw_content
    if raw is None:
        return None
    try:
        decoder = BodyDecoder.for_header(resp.headers.get("content-encoding"), cap=limit)
    except ValueError:
        return hashlib.sha256(raw).hexdigest()
    if decoder is None:
        return hashlib.sha256(raw).hexdigest() if len(raw) <= limit else None
    digest = hashlib.sha256()
    try:
        for piece in decoder.pieces(raw):
            digest.update(piece)
    except ValueError:
        return None
    return digest.hexdigest()


def sse_stream(flow: Any, feed: Callable[[bytes, float], None], keep: int) -> Callable[[bytes], bytes]:
    """The ``response.stream`` callable of a streamed event stream: every chunk goes to ``feed`` (chunk,
    arrival time; it must not raise) and is returned unchanged (after a stream callable set before, if
    any).  The first ``keep`` bytes are stored as the flow's body at the end (content views, saved flows)."""
    resp = flow.response
    previous = resp.stream
    kept = bytearray()
    total = [0]

    def stream(data: bytes) -> bytes:
        if callable(previous):
            data = previous(data)
        if data:
            total[0] += len(data)
            if len(kept) < keep:
                kept.extend(data[: keep - len(kept)])
            feed(data, time.time())
        elif kept and resp.raw_content is None:  # the end of the body
            resp.raw_content = bytes(kept)
            flow.metadata["inspector_sse_kept"] = f"first {len(kept)} of {total[0]} bytes"
        return data

    return stream
