"""Which application decoder a connection gets: from the handshake's subprotocol, the URL, and (when
neither tells) the first payloads."""

from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qs, urlsplit

from inspector.app.base import Decoder, Operations

__all__ = ["choose", "sniff", "polling_eio", "SNIFF_MESSAGES", "Factory"]

#: messages looked at before a connection without subprotocol or URL hint is left undecoded
SNIFF_MESSAGES = 4

Factory = Callable[[str], Decoder]


def _socketio(eio: int) -> Factory:
    from inspector.app.socketio import SocketIoDecoder

    return lambda conn: SocketIoDecoder(Operations(conn, "socket.io"), eio)


def _graphql(protocol: str) -> Factory:
    from inspector.app.graphql import GraphQlDecoder

    return lambda conn: GraphQlDecoder(Operations(conn, protocol), protocol)


def _jsonrpc() -> Factory:
    from inspector.app.jsonrpc import JsonRpcDecoder

    return lambda conn: JsonRpcDecoder(Operations(conn, "jsonrpc"))


def _simple(module: str, cls: str, protocol: str) -> Callable[[], Factory]:
    def make() -> Factory:
        import importlib

        decoder = getattr(importlib.import_module(f"inspector.app.{module}"), cls)
        return lambda conn: decoder(Operations(conn, protocol))

    return make


_stomp = _simple("stomp", "StompDecoder", "stomp")
_mqtt = _simple("mqtt", "MqttDecoder", "mqtt")
_signalr = _simple("signalr", "SignalRDecoder", "signalr")
_phoenix = _simple("phoenix", "PhoenixDecoder", "phoenix")

_SUBPROTOCOLS: dict[str, Callable[[], Factory]] = {
    "graphql-transport-ws": lambda: _graphql("graphql-transport-ws"),
    "graphql-ws": lambda: _graphql("graphql-ws"),
    "jsonrpc": _jsonrpc,
    "json-rpc": _jsonrpc,
    "jsonrpc2.0": _jsonrpc,
    "v10.stomp": _stomp,
    "v11.stomp": _stomp,
    "v12.stomp": _stomp,
    "stomp": _stomp,
    "mqtt": _mqtt,
    "mqttv3.1": _mqtt,
    "actioncable-v1-json": _simple("actioncable", "ActionCableDecoder", "actioncable"),
}


def _eio(url: str) -> int | None:
    """The Engine.IO version of a Socket.IO URL (``/socket.io/?EIO=4&transport=...``), else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    query = parse_qs(parts.query)
    version = query.get("EIO", [""])[0]
    if version.isdigit():
        return int(version)
    if "/socket.io/" in parts.path or "/engine.io/" in parts.path:
        return 4
    return None


def polling_eio(url: str) -> int | None:
    """The Engine.IO version of a polling request's URL (``transport=polling``), else None."""
    try:
        transport = parse_qs(urlsplit(url).query).get("transport", [""])[0]
    except ValueError:
        return None
    return _eio(url) if transport == "polling" else None


def choose(url: str | None, subprotocol: str | None) -> Factory | None:
    """The decoder the handshake names, or None (then `sniff` the payloads)."""
    if subprotocol:
        make = _SUBPROTOCOLS.get(subprotocol.strip().lower())
        if make is not None:
            return make()
    eio = _eio(url) if url else None
    if eio is not None:
        return _socketio(eio)
    try:
        path = urlsplit(url).path if url else ""
    except ValueError:
        path = ""
    if path.endswith("/websocket"):  # Phoenix sockets: /socket/websocket?vsn=2.0.0, /live/websocket
        return _phoenix()
    return None


def sniff(payload: bytes) -> Factory | None:
    """A decoder for a payload that names its protocol unmistakably, else None."""
    head = payload[:64].lstrip()
    if head.startswith((b"{", b"[")) and b'"jsonrpc"' in payload[:4096] and b'"2.0"' in payload[:4096]:
        return _jsonrpc()
    if head.startswith(b'0{"sid":'):
        return _socketio(4)
    if head.startswith(b'{"protocol":') and payload.endswith(b"\x1e"):  # the SignalR handshake request
        return _signalr()
    if head.startswith((b"CONNECT\n", b"STOMP\n", b"CONNECT\r\n", b"STOMP\r\n")):
        return _stomp()
    if payload[:1] == b"\x10" and b"\x00\x04MQTT" in payload[2:11]:  # an MQTT 3.1.1/5 CONNECT
        return _mqtt()
    return None
