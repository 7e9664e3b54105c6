"""`AppSession`: the application layer of one connection, fed the records `inspector.analysis` emits."""

from __future__ import annotations

from typing import Any

from inspector.app import registry
from inspector.app.base import APP_CAP, Decoder
from inspector.records import Message, Operation, SseEvent

__all__ = ["AppSession", "sse_event_app", "body_decoder", "body_app"]


class AppSession:
    """Decodes the text/binary messages of one WebSocket (``decoder`` from `registry.choose`, else from
    `registry.sniff` over the first `registry.SNIFF_MESSAGES` messages)."""

    cap = APP_CAP

    def __init__(self, conn: str, factory: registry.Factory | None) -> None:
        self.conn = conn
        self.decoder: Decoder | None = factory(conn) if factory is not None else None
        self._sniffs = 0 if factory is None else registry.SNIFF_MESSAGES
        self.payloads: dict[int, bytes] = {}

    @property
    def wants_payloads(self) -> bool:
        return self.decoder is not None or self._sniffs < registry.SNIFF_MESSAGES

    def _decoder_for(self, payload: bytes) -> Decoder | None:
        if self.decoder is None and self._sniffs < registry.SNIFF_MESSAGES:
            self._sniffs += 1
            factory = registry.sniff(payload)
            if factory is not None:
                self.decoder = factory(self.conn)
        return self.decoder

    def records(self, out: list) -> list:
        """Fill ``app`` of the Message records in ``out``; the operations a message ended follow it."""
        payloads = self.payloads
        if not payloads:
            return out
        result: list = []
        for record in out:
            result.append(record)
            if type(record) is not Message:
                continue
            payload = payloads.pop(id(record), None)
            decoder = self._decoder_for(payload) if payload is not None else None
            if decoder is None:
                continue
            layer = decoder.message(record.direction, payload, record.opcode_name == "text", record.ts,
                                    record.length > len(payload))
            if layer is not None:
                record.app = layer
            if decoder.ops.out:
                result += decoder.ops.out
                decoder.ops.out = []
        payloads.clear()
        return result

    def finish(self, ts: float | None) -> list[Operation]:
        """The connection ended: operations still open were never answered."""
        self.payloads.clear()
        if self.decoder is None:
            return []
        self.decoder.ops.finish(ts)
        out, self.decoder.ops.out = self.decoder.ops.out, []
        return out


def sse_event_app(event: Any) -> None:
    """JSON-RPC carried in an SSE event's data (MCP's HTTP+SSE transport): fills ``event.app``."""
    if type(event) is not SseEvent:
        return
    data = event.data.encode("utf-8", "replace")[:APP_CAP]
    if registry.sniff(data) is None:
        return
    from inspector.app.jsonrpc import decode_jsonrpc

    layer = decode_jsonrpc(data)
    if layer is not None:
        event.app = layer


def body_decoder(method: str, url: str, status: int | None, content_type: str | None) -> int | str | None:
    """What a response body may carry for the application layer: the Engine.IO version of a polling GET's
    response (a POST's is just "ok"), "json" for a JSON body (JSON-RPC over HTTP), None when nothing (the
    body is not kept)."""
    if status != 200:
        return None
    eio = registry.polling_eio(url)
    if eio is not None:
        return eio if method.upper() == "GET" else None
    return "json" if content_type and "json" in content_type.lower() else None


def body_app(body: bytes, kind: int | str, truncated: bool) -> Any:
    """The AppLayer of a response body (`body_decoder` said ``kind``), None when it is not one."""
    if kind == "json":
        if registry.sniff(body) is None:
            return None
        from inspector.app.jsonrpc import decode_jsonrpc

        layer = decode_jsonrpc(body)
    else:
        from inspector.app.socketio import decode_polling

        layer = decode_polling(body, int(kind), truncated)
    if truncated and layer.error is None:
        layer.error = "body over the decoder's cap, cut"
    return layer
