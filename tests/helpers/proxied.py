"""Feeding a `servers.RecordingProxy` connection to `Analysis` the way a capture source does."""

from __future__ import annotations

from helpers.servers import ProxiedConnection
from inspector import records
from inspector.analysis import Analysis


def _head(data: bytes) -> tuple[str, list[tuple[str, str]], int]:
    end = data.index(b"\r\n\r\n")
    first, *lines = data[:end].decode("latin-1").split("\r\n")
    return first, [tuple(part.strip() for part in line.split(":", 1)) for line in lines], end + 4


def feed_upgraded(analysis: Analysis, conn: ProxiedConnection, server: str) -> None:
    """One upgraded connection as a capture source hands it over: handshake exchange, then raw bytes."""
    joined = {d: b"".join(c for direction, _, c in conn.chunks if direction == d) for d in ("client", "server")}
    request_line, request_headers, req_len = _head(joined["client"])
    status_line, response_headers, resp_len = _head(joined["server"])
    method, target, version = request_line.split(" ", 2)
    first = {d: next(ts for direction, ts, _ in conn.chunks if direction == d) for d in ("client", "server")}
    cid = f"proxy:{conn.client}"
    analysis.connection(cid, conn.client, server, conn.ts_start)
    handshake = records.Exchange(
        conn=cid, method=method, url=f"http://{server}{target}", status=int(status_line.split(" ")[1]),
        content_type=None, ts_request=first["client"], ts_response=first["server"], ts_end=first["server"],
        request_body_bytes=0, response_body_bytes=0, http_version=version,
        request_headers=request_headers, response_headers=response_headers,
    )
    ws = analysis.websocket(cid, handshake=handshake)
    skip = {"client": req_len, "server": resp_len}
    for direction, ts, data in conn.chunks:
        cut = min(skip[direction], len(data))
        skip[direction] -= cut
        if data[cut:]:
            ws.data(direction, data[cut:], ts)
    analysis.connection_end(cid, conn.ts_end)
