"""JSON-RPC 2.0: requests (``method`` + ``id``), notifications (no ``id``), responses (``result`` or
``error`` + ``id``) and batches (arrays), over WebSocket messages and HTTP/SSE bodies.

Operations: a request, ended by the other side's response with the same id (``error``: outcome error).
"""

from __future__ import annotations

from typing import Any

from inspector.app.base import Decoder, args_value, other, parse_json
from inspector.records import AppLayer

__all__ = ["JsonRpcDecoder", "decode_jsonrpc"]

_MAX_BATCH = 1024


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        return str(value)[:128]
    return None


def _one(obj: Any, size: int) -> AppLayer:
    layer = AppLayer(protocol="jsonrpc")
    if not isinstance(obj, dict):
        layer.kind = "invalid"
        layer.error = "not a JSON-RPC object"
        return layer
    if obj.get("jsonrpc") != "2.0":
        layer.error = 'no "jsonrpc": "2.0" member'
    layer.id = _id(obj.get("id"))
    method = obj.get("method")
    if isinstance(method, str):
        layer.kind = "request" if "id" in obj else "notification"
        layer.name = method[:256]
        layer.args = args_value(obj.get("params"), size)
    elif "result" in obj:
        layer.kind = "result"
        layer.args = args_value(obj["result"], size)
    elif "error" in obj:
        layer.kind = "error"
        error = obj["error"]
        layer.args = args_value(error, size)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            layer.name = error["message"][:256]
    else:
        layer.kind = "invalid"
        layer.error = "neither a method nor a result or error"
    return layer


def decode_jsonrpc(payload: bytes) -> AppLayer:
    """One message or body: an object, or a batch (``kind`` "batch", its members in ``packets``)."""
    value, error = parse_json(payload)
    if error is not None:
        return AppLayer(protocol="jsonrpc", kind="invalid", error=error)
    if isinstance(value, list):
        members = [_one(obj, len(payload)) for obj in value[:_MAX_BATCH]]
        layer = AppLayer(protocol="jsonrpc", kind="batch", packets=members)
        if not value:
            layer.error = "empty batch"
        elif len(value) > _MAX_BATCH:
            layer.error = f"{len(value)} members, the first {_MAX_BATCH} decoded"
        return layer
    return _one(value, len(payload))


class JsonRpcDecoder(Decoder):
    protocol = "jsonrpc"

    def message(self, direction, payload, text, ts, truncated):
        layer = decode_jsonrpc(payload)
        if truncated and layer.error is not None:
            layer.error = f"payload over the decoder's cap, cut: {layer.error}"
        for member in layer.packets if layer.packets is not None else (layer,):
            if member.kind == "request" and member.id is not None:
                self.ops.start((direction, member.id), "call", member.name, member.id, direction, ts)
            elif member.kind in ("result", "error") and member.id is not None:
                self.ops.end((other(direction), member.id), ts, "ok" if member.kind == "result" else "error",
                             error=member.name if member.kind == "error" else None)
        return layer
