"""mitmproxy flows -> `records.Exchange`: the one conversion the live addon and the flow-file source share.

Duck-typed over mitmproxy's `http.HTTPFlow` (11.x and 12.x), so this module imports mitmproxy only to
assemble HTTP/1 heads for their byte count.  Byte counts are what crossed the wire: bodies as sent
(after de-chunking, before Content-Encoding is undone), heads exactly for HTTP/1; HTTP/2 and HTTP/3 heads
are HPACK/QPACK-compressed, so there is no honest count and it is None.
"""

from __future__ import annotations

from typing import Any

from inspector.records import Exchange

__all__ = ["exchange_from_flow", "headers_list", "head_bytes"]


def headers_list(headers: Any) -> list[tuple[str, str]]:
    """mitmproxy's Headers as the records' list of (name, value), repeated headers kept."""
    return [(k, v) for k, v in headers.items(multi=True)]


def head_bytes(message: Any, request: bool) -> int | None:
    """Bytes of an HTTP/1 request or response head on the wire; None for HTTP/2 and HTTP/3."""
    if not message.http_version.startswith("HTTP/1"):
        return None
    from mitmproxy.net.http import http1

    head = http1.assemble_request_head(message) if request else http1.assemble_response_head(message)
    return len(head)


def exchange_from_flow(flow: Any, conn: str, *, streamed: bool = False,
                       response_sha256: str | None = None) -> Exchange:
    """The Exchange record of an HTTP flow.  ``streamed``: the response body went through a stream
    callable and was not stored, so its size is not known here (the caller ends the exchange with it)."""
    req, resp = flow.request, flow.response
    body = None if (resp is None or streamed) else resp.raw_content
    return Exchange(
        conn=conn,
        method=req.method,
        url=req.pretty_url,
        status=resp.status_code if resp is not None else None,
        content_type=resp.headers.get("content-type") if resp is not None else None,
        ts_request=req.timestamp_start,
        ts_response=resp.timestamp_start if resp is not None else None,
        ts_end=resp.timestamp_end if resp is not None else None,
        request_body_bytes=len(req.raw_content) if req.raw_content is not None else None,
        response_body_bytes=len(body) if body is not None else None,
        http_version=req.http_version,
        reason=(resp.reason or None) if resp is not None else None,
        request_header_bytes=head_bytes(req, True),
        response_header_bytes=head_bytes(resp, False) if resp is not None else None,
        response_sha256=response_sha256,
        request_headers=headers_list(req.headers),
        response_headers=headers_list(resp.headers) if resp is not None else [],
    )


#: the reasons wsproto gives the close it makes itself when a peer breaks the protocol (mitmproxy sends that
#: close to both sides and reports it as if the peer had closed)
_PROXY_CLOSE_REASONS = (
    "client received unexpected masked frame", "server received unexpected unmasked frame",
    "Reserved bit set unexpectedly", "Invalid opcode", "expected CONTINUATION", "unexpected CONTINUATION",
    "Control frame with payload len", "Invalid attempt to fragment control frame", "CLOSE with",
    "8-byte payload length", "error in extension", "remote CLOSE with local-only reason", "'utf-8' codec",
)


def proxy_close(code: int | None, reason: str | None) -> bool:
    """Whether a WebSocket close mitmproxy reports (``flow.websocket.close_code``/``close_reason``) is the
    one its own WebSocket stack (wsproto) made after a protocol error, rather than a close frame the peer
    sent."""
    return code in (1002, 1007, 1009) and bool(reason) and reason.startswith(_PROXY_CLOSE_REASONS)
