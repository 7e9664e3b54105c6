"""GraphQL over WebSocket: ``graphql-transport-ws`` (the graphql-ws library) and the legacy
``graphql-ws`` (subscriptions-transport-ws).

Messages are JSON objects with ``type`` (connection_init, connection_ack, ping, pong, subscribe, next,
error, complete; legacy: start, data, stop, connection_error, connection_terminate, ka), ``id`` and
``payload``.  The operation's type and name come from the query text of subscribe/start.

Operations: subscribe/start .. complete (outcome ok when the server completes, cancelled when the client
does first: ``complete``/``stop``), error (outcome error); next/data messages are counted.
"""

from __future__ import annotations

import re

from inspector.app.base import Decoder, Operations, args_value, parse_json
from inspector.records import AppLayer

__all__ = ["GraphQlDecoder", "operation_of"]

_COMMENT = re.compile(r"#[^\n\r]*")
_OPERATION = re.compile(r"\s*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?")


def operation_of(query: str) -> tuple[str, str | None]:
    """(operation type, operation name or None) of a GraphQL document's first operation."""
    text = _COMMENT.sub("", query[:8192]).lstrip().lstrip("\ufeff")
    while text.startswith("fragment"):  # fragments may come first: skip past the first one's body
        depth, cut = 0, len(text)
        for i, ch in enumerate(text):
            if ch == "{":
                depth += 1
            elif ch == "}" and depth > 0:
                depth -= 1
                if depth == 0:
                    cut = i + 1
                    break
        text = text[cut:].lstrip()
    m = _OPERATION.match(text)
    if m is None:
        return "query", None  # the query shorthand: `{ ... }`
    return m.group(1), m.group(2)


class GraphQlDecoder(Decoder):
    def __init__(self, ops: Operations, protocol: str) -> None:
        super().__init__(ops)
        self.protocol = protocol

    def message(self, direction, payload, text, ts, truncated):
        layer = AppLayer(protocol=self.protocol)
        value, error = parse_json(payload)
        if error is not None or not isinstance(value, dict) or not isinstance(value.get("type"), str):
            layer.kind = "unknown"
            layer.error = error or "not an object with a string type"
            if truncated:
                layer.error = f"payload over the decoder's cap, cut: {layer.error}"
            return layer
        kind = layer.kind = value["type"][:64]
        op_id = value.get("id")
        layer.id = str(op_id)[:128] if isinstance(op_id, (str, int)) and not isinstance(op_id, bool) else None
        body = value.get("payload")
        layer.args = args_value(body, len(payload))
        if kind in ("subscribe", "start"):
            query = body.get("query") if isinstance(body, dict) else None
            if isinstance(query, str):
                op_type, name = operation_of(query)
                given = body.get("operationName")
                layer.name = given[:256] if isinstance(given, str) and given else name
                layer.channel = op_type
            else:
                layer.error = "no query text"
            if layer.id is not None:
                self.ops.start(layer.id, layer.channel or "operation", layer.name, layer.id, direction, ts,
                               layer.channel)
        elif layer.id is not None:
            self._progress(direction, kind, layer, body, ts)
        return layer

    def _progress(self, direction: str, kind: str, layer: AppLayer, body, ts) -> None:
        ops = self.ops
        op = ops.get(layer.id)
        if op is not None:
            layer.name = op["name"]
            layer.channel = op["channel"]
        if kind in ("next", "data"):
            ops.item(layer.id)
        elif kind == "error":
            message = None
            if isinstance(body, list) and body and isinstance(body[0], dict):
                message = body[0].get("message")
            elif isinstance(body, dict):
                message = body.get("message")
            ops.end(layer.id, ts, "error", error=str(message)[:256] if message is not None else None)
        elif kind in ("complete", "stop"):
            started_here = op is not None and op["direction"] == direction
            ops.end(layer.id, ts, "cancelled" if started_here else "ok")
