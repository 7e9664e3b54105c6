"""ASP.NET Core SignalR hub protocols over WebSocket: the JSON protocol (records ending in ``\\x1e``) and
the MessagePack protocol (each record prefixed by its length as a varint), after the JSON handshake
(``{"protocol":"json"|"messagepack","version":1}\\x1e`` from the client, ``{}\\x1e`` or
``{"error":...}\\x1e`` from the server).

Message types: 1 Invocation, 2 StreamItem, 3 Completion, 4 StreamInvocation, 5 CancelInvocation, 6 Ping,
7 Close, 8 Ack, 9 Sequence.  Operations: an Invocation with an invocation id or a StreamInvocation,
ended by the other side's Completion (ok, or error when it carries one) or the caller's
CancelInvocation (cancelled); StreamItems are counted.
"""

from __future__ import annotations

from typing import Any

import msgpack

from inspector.app.base import Decoder, Operations, args_value, jsonable, other, parse_json
from inspector.records import AppLayer

__all__ = ["SignalRDecoder", "json_records", "msgpack_records"]

KINDS = {1: "invocation", 2: "stream_item", 3: "completion", 4: "stream_invocation", 5: "cancel_invocation",
         6: "ping", 7: "close", 8: "ack", 9: "sequence"}
_MAX_RECORDS = 256


def _str(value: Any, n: int = 256) -> str | None:
    return value[:n] if isinstance(value, str) else None


def _json_record(obj: Any, size: int) -> AppLayer:
    layer = AppLayer(protocol="signalr")
    if not isinstance(obj, dict):
        layer.kind = "unknown"
        layer.error = "not a JSON object"
        return layer
    t = obj.get("type")
    layer.kind = KINDS.get(t, "unknown") if isinstance(t, int) and not isinstance(t, bool) else "unknown"
    if layer.kind == "unknown":
        layer.error = f"unknown message type {t!r}"[:80]
    layer.id = _str(obj.get("invocationId"), 128)
    layer.name = _str(obj.get("target"))
    if layer.kind in ("invocation", "stream_invocation"):
        layer.args = args_value(obj.get("arguments"), size)
    elif layer.kind == "stream_item":
        layer.args = args_value(obj.get("item"), size)
    elif layer.kind in ("completion", "close"):
        error = obj.get("error")
        layer.error = _str(error) if error is not None else None
        layer.args = args_value(obj.get("result"), size)
    return layer


def json_records(payload: bytes) -> list[AppLayer]:
    """The records of a JSON-protocol message."""
    parts = payload.split(b"\x1e")
    if parts[-1] == b"":
        parts.pop()
    out = []
    for part in parts[:_MAX_RECORDS]:
        value, error = parse_json(part)
        out.append(_json_record(value, len(part)) if error is None
                   else AppLayer(protocol="signalr", kind="unknown", error=error))
    if not out:
        return [AppLayer(protocol="signalr", kind="unknown", error="empty message")]
    if not payload.endswith(b"\x1e"):
        out[-1].error = out[-1].error or "record without its \\x1e terminator"
    return out


def _varint(data: bytes, i: int) -> tuple[int | None, int]:
    value = shift = 0
    while i < len(data) and shift <= 28:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7
    return None, i


def _msgpack_record(items: Any, size: int) -> AppLayer:
    layer = AppLayer(protocol="signalr")
    if not isinstance(items, list) or not items or not isinstance(items[0], int):
        layer.kind = "unknown"
        layer.error = "not an array starting with the message type"
        return layer
    t = items[0]
    layer.kind = KINDS.get(t, "unknown")
    if layer.kind == "unknown":
        layer.error = f"unknown message type {t!r}"[:80]
    get = lambda i: items[i] if len(items) > i else None  # noqa: E731
    if t in (1, 2, 3, 4, 5):
        layer.id = _str(get(2), 128)
    if t in (1, 4):
        layer.name = _str(get(3))
        layer.args = args_value(jsonable(get(4)), size)
    elif t == 2:
        layer.args = args_value(jsonable(get(3)), size)
    elif t == 3:
        if get(3) == 1:
            layer.error = _str(get(4)) or "error"
        else:
            layer.args = args_value(jsonable(get(4)), size)
    elif t == 7:
        layer.error = _str(get(1))
    return layer


def msgpack_records(payload: bytes) -> list[AppLayer]:
    """The records of a MessagePack-protocol message."""
    out: list[AppLayer] = []
    i = 0
    while i < len(payload) and len(out) < _MAX_RECORDS:
        n, start = _varint(payload, i)
        if n is None or start + n > len(payload):
            out.append(AppLayer(protocol="signalr", kind="unknown", error="record cut or bad length prefix"))
            break
        try:
            items = msgpack.unpackb(payload[start:start + n], raw=False, strict_map_key=False, timestamp=3)
        except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
            out.append(AppLayer(protocol="signalr", kind="unknown", error=f"not MessagePack: {str(exc)[:80]}"))
        else:
            out.append(_msgpack_record(items, n))
        i = start + n
    return out or [AppLayer(protocol="signalr", kind="unknown", error="empty message")]


class SignalRDecoder(Decoder):
    protocol = "signalr"

    def __init__(self, ops: Operations) -> None:
        super().__init__(ops)
        self._handshaken: set[str] = set()
        self.binary = False  # the MessagePack protocol was asked for

    def message(self, direction, payload, text, ts, truncated):
        if direction not in self._handshaken:
            self._handshaken.add(direction)
            return self._handshake(direction, payload)
        layers = msgpack_records(payload) if self.binary and not text else json_records(payload)
        for layer in layers:
            self._operation(direction, layer, ts)
        if truncated:
            layers[-1].error = "payload over the decoder's cap, cut"
        return layers[0] if len(layers) == 1 else AppLayer(protocol="signalr", kind="messages", packets=layers)

    def _handshake(self, direction: str, payload: bytes) -> AppLayer:
        head, sep, rest = payload.partition(b"\x1e")
        value, error = parse_json(head)
        layer = AppLayer(protocol="signalr", kind="handshake", error=error)
        if isinstance(value, dict):
            layer.args = args_value(value, len(head))
            if direction == "client":
                layer.name = _str(value.get("protocol"))
                self.binary = layer.name == "messagepack"
            elif value.get("error") is not None:
                layer.error = _str(value.get("error")) or "error"
        elif error is None:
            layer.error = "handshake is not a JSON object"
        if not sep:
            layer.error = layer.error or "handshake without its \\x1e terminator"
        if rest:  # messages may follow the handshake response in the same WebSocket message
            more = msgpack_records(rest) if self.binary and rest[:1] != b"{" else json_records(rest)
            return AppLayer(protocol="signalr", kind="messages", packets=[layer, *more])
        return layer

    def _operation(self, direction: str, layer: AppLayer, ts) -> None:
        kind, op_id, ops = layer.kind, layer.id, self.ops
        if op_id is None:
            return
        if kind in ("invocation", "stream_invocation"):
            ops.start((direction, op_id), kind, layer.name, op_id, direction, ts)
        elif kind == "stream_item":
            ops.item((other(direction), op_id))
        elif kind == "completion":
            ops.end((other(direction), op_id), ts, "error" if layer.error else "ok", error=layer.error)
        elif kind == "cancel_invocation":
            ops.end((direction, op_id), ts, "cancelled")
