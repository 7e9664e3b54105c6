"""STOMP 1.0-1.2 over WebSocket: ``COMMAND\\n`` + ``name:value\\n`` headers + a blank line + the body +
NUL; bare end-of-lines between frames are heart-beats.

Operations: a client frame with a ``receipt`` header, ended by the server's RECEIPT (ok) or ERROR
(error) with that ``receipt-id``; CONNECT/STOMP, ended by CONNECTED (ok) or ERROR (error).
"""

from __future__ import annotations

from inspector.app.base import ARGS_CAP, Decoder
from inspector.records import AppLayer

__all__ = ["StompDecoder", "parse_frames"]

COMMANDS = {"CONNECT", "STOMP", "CONNECTED", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN",
            "COMMIT", "ABORT", "DISCONNECT", "MESSAGE", "RECEIPT", "ERROR"}
_ESCAPES = {"\\n": "\n", "\\r": "\r", "\\c": ":", "\\\\": "\\"}
_MAX_FRAMES = 256
_MAX_HEADERS = 64


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        pair = value[i:i + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _frame(text: str) -> AppLayer:
    head, _, body = text.partition("\n\n")
    if "\r\n\r\n" in text and ("\n\n" not in text or text.find("\r\n\r\n") < text.find("\n\n")):
        head, _, body = text.partition("\r\n\r\n")
    lines = head.replace("\r\n", "\n").split("\n")
    command = lines[0].strip()
    layer = AppLayer(protocol="stomp", kind=command.lower()[:32])
    if command not in COMMANDS:
        layer.error = f"unknown STOMP command {command[:32]!r}"
    headers: dict[str, str] = {}
    raw = command in ("CONNECT", "CONNECTED")  # no escaping in these (STOMP 1.2)
    for line in lines[1:1 + _MAX_HEADERS]:
        name, colon, value = line.partition(":")
        if not colon:
            layer.error = layer.error or f"header line without a colon: {line[:40]!r}"
            continue
        name = name if raw else _unescape(name)
        headers.setdefault(name[:128], (value if raw else _unescape(value))[:512])  # the first one counts
    layer.channel = headers.get("destination")
    layer.id = headers.get("receipt") or headers.get("receipt-id") or headers.get("id") or headers.get(
        "subscription") or headers.get("message-id")
    if command == "ERROR":
        layer.name = headers.get("message")
    layer.args = {"headers": headers, "body": body[:ARGS_CAP]} if body else {"headers": headers}
    return layer


def parse_frames(payload: bytes) -> list[AppLayer]:
    """The frames (and heart-beats) of one WebSocket message."""
    text = payload.decode("utf-8", "replace")
    out: list[AppLayer] = []
    pieces = text.split("\x00")
    for i, piece in enumerate(pieces[:_MAX_FRAMES]):
        stripped = piece.lstrip("\r\n")
        if not stripped:
            if piece and i == 0:
                out.append(AppLayer(protocol="stomp", kind="heartbeat"))
            continue
        layer = _frame(stripped)
        if i == len(pieces) - 1:  # no NUL after it
            layer.error = layer.error or "frame without its NUL terminator"
        out.append(layer)
    return out or [AppLayer(protocol="stomp", kind="heartbeat")]


class StompDecoder(Decoder):
    protocol = "stomp"

    def message(self, direction, payload, text, ts, truncated):
        layers = parse_frames(payload)
        for layer in layers:
            self._operation(direction, layer, ts)
        if truncated:
            layers[-1].error = "payload over the decoder's cap, cut"
        return layers[0] if len(layers) == 1 else AppLayer(protocol="stomp", kind="frames", packets=layers)

    def _operation(self, direction: str, layer: AppLayer, ts) -> None:
        ops, kind = self.ops, layer.kind
        headers = layer.args.get("headers", {}) if isinstance(layer.args, dict) else {}
        if direction == "client":
            if kind in ("connect", "stomp"):
                ops.start("connect", "connect", headers.get("host"), None, direction, ts)
            if "receipt" in headers:
                ops.start(("receipt", headers["receipt"]), kind, layer.channel, headers["receipt"], direction, ts,
                          layer.channel)
        elif kind == "connected":
            ops.end("connect", ts, "ok")
        elif kind == "receipt":
            ops.end(("receipt", headers.get("receipt-id")), ts, "ok")
        elif kind == "error":
            if not ops.end(("receipt", headers.get("receipt-id")), ts, "error", error=layer.name):
                ops.end("connect", ts, "error", error=layer.name)
