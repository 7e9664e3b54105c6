"""Rails ActionCable (subprotocol ``actioncable-v1-json``): the server's ``welcome``, ``ping``,
``confirm_subscription``, ``reject_subscription``, ``disconnect`` and broadcasts (``identifier`` +
``message``); the client's ``subscribe``, ``unsubscribe`` and ``message`` commands (``data`` a JSON
string with the ``action``).  The channel is the ``channel`` of the identifier (itself a JSON string).

Operations: subscribe, ended by confirm_subscription (ok) or reject_subscription (error).
"""

from __future__ import annotations

from typing import Any

from inspector.app.base import Decoder, args_value, parse_json
from inspector.records import AppLayer

__all__ = ["ActionCableDecoder", "parse_actioncable"]


def _channel(identifier: Any) -> str | None:
    if not isinstance(identifier, str):
        return None
    value, error = parse_json(identifier[:4096])
    if error is None and isinstance(value, dict) and isinstance(value.get("channel"), str):
        return value["channel"][:256]
    return identifier[:256]


def parse_actioncable(payload: bytes) -> AppLayer:
    value, error = parse_json(payload)
    layer = AppLayer(protocol="actioncable")
    if error is not None or not isinstance(value, dict):
        layer.kind, layer.error = "unknown", error or "not a JSON object"
        return layer
    identifier = value.get("identifier")
    layer.channel = _channel(identifier)
    layer.id = identifier[:512] if isinstance(identifier, str) else None
    kind = value.get("type") or value.get("command")
    if isinstance(kind, str):
        layer.kind = kind[:64]
        if kind == "message" and isinstance(value.get("data"), str):
            data, bad = parse_json(value["data"][:65536])
            if bad is None and isinstance(data, dict) and isinstance(data.get("action"), str):
                layer.name = data["action"][:256]
            layer.args = args_value(data if bad is None else value["data"], len(payload))
        else:
            layer.args = args_value(value.get("message", value.get("reason")), len(payload))
    elif "message" in value:
        layer.kind = "broadcast"
        layer.args = args_value(value["message"], len(payload))
    else:
        layer.kind, layer.error = "unknown", "neither a type, a command nor a message"
    return layer


class ActionCableDecoder(Decoder):
    protocol = "actioncable"

    def message(self, direction, payload, text, ts, truncated):
        layer = parse_actioncable(payload)
        if truncated and layer.error:
            layer.error = f"payload over the decoder's cap, cut: {layer.error}"
        key = layer.id
        if layer.kind == "subscribe" and direction == "client" and key is not None:
            self.ops.start(key, "subscribe", layer.channel, None, direction, ts, layer.channel)
        elif layer.kind == "confirm_subscription":
            self.ops.end(key, ts, "ok")
        elif layer.kind == "reject_subscription":
            self.ops.end(key, ts, "error", error="subscription rejected")
        return layer
