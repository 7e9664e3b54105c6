"""Engine.IO v3/v4 and Socket.IO (protocol v4 and v5, the Socket.IO 2.x-4.x servers) over WebSocket and
in polling payloads.

An Engine.IO packet is one type digit (0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade, 6 noop)
and its data; a message's data is a Socket.IO packet: ``<type>[<attachments>-][<namespace>,][<ack
id>][<JSON>]`` with types 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR (ERROR before v5),
5 BINARY_EVENT, 6 BINARY_ACK.  A binary packet's attachments are the binary messages that follow it in
the same direction (over Engine.IO v3 each starts with the message type byte 4).  Polling payloads
separate packets with ``\\x1e`` (v4) or prefix each with ``<length>:`` (v3); ``b`` marks a base64 binary
packet.

Operations: each EVENT/BINARY_EVENT with an ack id, ended by the other side's ACK/BINARY_ACK with the same
namespace and id; each CONNECT, ended by the server's CONNECT (ok) or CONNECT_ERROR (error).
"""

from __future__ import annotations

import base64
import binascii
import re

from inspector.app.base import ARGS_CAP, Decoder, Operations, args_value, other, parse_json
from inspector.records import AppLayer

__all__ = ["SocketIoDecoder", "decode_polling", "parse_socketio"]

EIO_TYPES = ("open", "close", "ping", "pong", "message", "upgrade", "noop")
SIO_TYPES = ("connect", "disconnect", "event", "ack", "connect_error", "binary_event", "binary_ack")
#: type, attachment count (binary types), namespace (up to its comma), ack id
_HEADER = re.compile(r"[0-6](?:(\d{1,10})-)?(?:(/[^,]*)(?:,|$))?(\d{1,20})?")
_EVENT_NAME = re.compile(r'\[\s*"((?:[^"\\]|\\.){0,256})"')
_MAX_ATTACHMENTS = 1024


def _name_from_head(text: str) -> str | None:
    """The event name of an EVENT whose JSON did not parse (a payload cut at the cap)."""
    m = _EVENT_NAME.match(text)
    return m.group(1) if m else None


def parse_socketio(data: str, eio: int = 4) -> AppLayer:
    """One Socket.IO packet (the data of an Engine.IO message)."""
    layer = AppLayer(protocol="socket.io", channel="/")
    if not data or not "0" <= data[0] <= "6":
        layer.kind = "unknown"
        layer.error = f"unknown Socket.IO packet type {data[:1]!r}"
        return layer
    t = int(data[0])
    layer.kind = "error" if t == 4 and eio < 4 else SIO_TYPES[t]
    head = _HEADER.match(data)
    if t in (5, 6) and head.group(1) is None:
        layer.error = "binary packet without its attachment count"
        return layer
    count, nsp, ack = head.groups()
    if count is not None:
        layer.attachments = int(count)
    if nsp is not None:
        layer.channel = nsp[:256]
    layer.id = ack
    j = head.end()
    body = data[j:]
    if not body:
        return layer
    value, error = parse_json(body)
    if error is not None:
        layer.error = error
        if t in (2, 5):
            layer.name = _name_from_head(body)
        return layer
    size = len(body)
    if t in (2, 5):
        if not isinstance(value, list) or not value or not isinstance(value[0], str):
            layer.error = "event payload is not an array starting with the event name"
            layer.args = args_value(value, size)
            return layer
        layer.name = value[0][:256]
        value = value[1:]
    layer.args = args_value(value, size)
    return layer


def parse_engineio(text: str, eio: int = 4) -> AppLayer:
    """One Engine.IO text packet; a message carries a Socket.IO packet (answered as the socket.io layer)."""
    if not text or not "0" <= text[0] <= "6":
        return AppLayer(protocol="engine.io", kind="unknown",
                        error=f"unknown Engine.IO packet type {text[:1]!r}")
    t = int(text[0])
    data = text[1:]
    if t == 4:
        return parse_socketio(data, eio)
    layer = AppLayer(protocol="engine.io", kind=EIO_TYPES[t])
    if t == 0:
        value, error = parse_json(data)
        layer.error = error
        if isinstance(value, dict):
            sid = value.get("sid")
            layer.id = sid[:128] if isinstance(sid, str) else None
        layer.args = args_value(value, len(data))
    elif data:
        layer.args = data[:ARGS_CAP]
    return layer


class SocketIoDecoder(Decoder):
    """Engine.IO + Socket.IO over one WebSocket (``eio``: 3 or 4, from the URL's ``EIO``)."""

    protocol = "socket.io"

    def __init__(self, ops: Operations, eio: int = 4) -> None:
        super().__init__(ops)
        self.eio = eio
        #: per direction: (the binary packet's layer, attachments still expected, next number)
        self._pending: dict[str, list] = {}

    def message(self, direction, payload, text, ts, truncated):
        pending = self._pending.get(direction)
        if not text:
            if pending is None:
                return AppLayer(protocol="engine.io", kind="message", args=None,
                                error=None if self.eio >= 4 or payload[:1] == b"\x04" else "binary without type byte")
            packet, _left, number = pending
            layer = AppLayer(protocol="socket.io", kind="attachment", name=packet.name, id=packet.id,
                             channel=packet.channel, attachment=number)
            pending[1] -= 1
            pending[2] += 1
            if pending[1] <= 0:
                del self._pending[direction]
            return layer
        if pending is not None:  # a text packet before the announced attachments: they never came
            del self._pending[direction]
        layer = parse_engineio(payload.decode("utf-8", "replace"), self.eio)
        if truncated and layer.error is not None:
            layer.error = f"payload over the decoder's cap, cut: {layer.error}"
        if layer.protocol == "socket.io":
            self._operations(direction, layer, ts)
            if layer.attachments and layer.error is None:
                self._pending[direction] = [layer, min(layer.attachments, _MAX_ATTACHMENTS), 0]
        return layer

    def _operations(self, direction: str, layer: AppLayer, ts) -> None:
        ops, kind, nsp = self.ops, layer.kind, layer.channel
        if kind in ("event", "binary_event") and layer.id is not None:
            ops.start((direction, nsp, layer.id), "event", layer.name, layer.id, direction, ts, nsp)
        elif kind in ("ack", "binary_ack") and layer.id is not None:
            ops.end((other(direction), nsp, layer.id), ts, "ok")
        elif kind == "connect":
            if direction == "client":
                ops.start(("connect", nsp), "connect", nsp, None, direction, ts, nsp)
            else:
                ops.end(("connect", nsp), ts, "ok")
        elif kind in ("connect_error", "error") and direction == "server":
            message = layer.args.get("message") if isinstance(layer.args, dict) else layer.args
            ops.end(("connect", nsp), ts, "error", error=str(message)[:256] if message is not None else None)


def _polling_packets(body: bytes, eio: int) -> tuple[list[str], str | None]:
    """The packets of a polling payload as text (binary ones as ``b<base64>``)."""
    text = body.decode("utf-8", "replace")
    if eio >= 4:
        return text.split("\x1e"), None
    packets: list[str] = []
    i = 0
    while i < len(text):
        colon = text.find(":", i, i + 12)
        if colon < 0 or not text[i:colon].isdigit():
            return packets, "v3 payload: a packet without its length prefix"
        n = int(text[i:colon])
        packets.append(text[colon + 1: colon + 1 + n])
        if colon + 1 + n > len(text):
            return packets, "v3 payload: the last packet is cut"
        i = colon + 1 + n
    return packets, None


def decode_polling(body: bytes, eio: int = 4, truncated: bool = False, cap: int = 1024) -> AppLayer:
    """An Engine.IO polling payload (a GET response or a POST body): one layer per packet in ``packets``
    (at most ``cap``)."""
    if body[:1] in (b"\x00", b"\x01"):
        return AppLayer(protocol="engine.io", kind="payload", error="binary (XHR2) polling payload not decoded")
    packets, error = _polling_packets(body, eio)
    layers = []
    for packet in packets[:cap]:
        if packet.startswith("b"):
            try:
                size = len(base64.b64decode(packet[2 if eio < 4 else 1:], validate=False))
            except (binascii.Error, ValueError):
                size = None
            layers.append(AppLayer(protocol="engine.io", kind="binary", args=size))
        else:
            layers.append(parse_engineio(packet, eio))
    if truncated:
        error = "payload over the decoder's cap: the last packets are cut"
    if len(packets) > cap:
        error = f"{len(packets)} packets, the first {cap} decoded"
    return AppLayer(protocol="engine.io", kind="payload", packets=layers, error=error)
