"""Phoenix channels over WebSocket: the V2 serializer's arrays ``[join_ref, ref, topic, event, payload]``
and the V1 serializer's objects ``{"topic", "event", "payload", "ref"}`` (``vsn`` in the socket URL).

Operations: a client message with a ref (join, leave, heartbeat, push), ended by the server's
``phx_reply`` with that topic and ref: outcome ok when its payload's status is "ok", else error.
"""

from __future__ import annotations

from typing import Any

from inspector.app.base import Decoder, args_value, parse_json
from inspector.records import AppLayer

__all__ = ["PhoenixDecoder", "parse_phoenix"]

_KINDS = {"phx_join": "join", "phx_leave": "leave", "phx_reply": "reply", "phx_close": "close",
          "phx_error": "error", "heartbeat": "heartbeat"}


def _ref(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value)[:128] if isinstance(value, (str, int)) else None


def parse_phoenix(payload: bytes) -> AppLayer:
    value, error = parse_json(payload)
    layer = AppLayer(protocol="phoenix")
    if error is not None:
        layer.kind, layer.error = "unknown", error
        return layer
    if isinstance(value, list) and len(value) == 5:
        _join_ref, ref, topic, event, body = value
    elif isinstance(value, dict):
        ref, topic, event, body = (value.get(k) for k in ("ref", "topic", "event", "payload"))
    else:
        layer.kind, layer.error = "unknown", "neither a V2 array of five nor a V1 object"
        return layer
    if not isinstance(topic, str) or not isinstance(event, str):
        layer.kind, layer.error = "unknown", "topic or event is not a string"
        return layer
    layer.kind = _KINDS.get(event, "event")
    layer.name = event[:256]
    layer.channel = topic[:256]
    layer.id = _ref(ref)
    layer.args = args_value(body, len(payload))
    return layer


class PhoenixDecoder(Decoder):
    protocol = "phoenix"

    def message(self, direction, payload, text, ts, truncated):
        if not text:
            return AppLayer(protocol="phoenix", kind="binary")
        layer = parse_phoenix(payload)
        if truncated and layer.error:
            layer.error = f"payload over the decoder's cap, cut: {layer.error}"
        key = (layer.channel, layer.id)
        if layer.id is None:
            return layer
        if direction == "client" and layer.kind != "reply":
            self.ops.start(key, layer.kind, layer.name, layer.id, direction, ts, layer.channel)
        elif direction == "server" and layer.kind == "reply":
            op = self.ops.get(key)
            if op is not None:
                layer.name = op["name"]  # the reply answers this event
            status = layer.args.get("status") if isinstance(layer.args, dict) else None
            response = layer.args.get("response") if isinstance(layer.args, dict) else None
            error = None if status == "ok" else str(response if response is not None else status)[:256]
            self.ops.end(key, ts, "ok" if status == "ok" else "error", error=error)
        return layer
