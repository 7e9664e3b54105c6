"""Real-time frameworks recognised by their URL shapes and WebSocket subprotocols.

Frameworks (`Pattern.framework`, `Pattern.transport`, `Pattern.upgrade`)
    Socket.IO / Engine.IO (``/socket.io/?EIO=4&transport=polling|websocket&sid=``; a session id seen on
    polling and then on websocket is reported as ``upgrade="polling->websocket"``), SignalR (classic
    ``/signalr/...?transport=longPolling|serverSentEvents|webSockets|foreverFrame``, ASP.NET Core hubs:
    ``POST <hub>/negotiate`` then ``<hub>?id=``), SockJS (``/<prefix>/<server>/<session>/xhr|
    xhr_streaming|eventsource|websocket...``), Phoenix (``/socket/websocket|longpoll?vsn=``), Pusher
    (``/app/<key>?protocol=``), and WebSocket subprotocols: ActionCable (``actioncable-v1-json``), GraphQL
    (``graphql-transport-ws``, legacy ``graphql-ws``), MQTT, STOMP, WAMP, Vite HMR.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from inspector.classify.endpoints import http_origin
from inspector.classify.samples import Base, Endpoint

__all__ = [
    "Sites", "defined_pattern", "detect", "is_send", "mark_upgrades", "no_data_bodies", "note", "sites", "transport",
]


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


#: Response bodies that are a framework's keep-alive, not data.  Engine.IO v4 ping "2" and noop "6",
#: v3 "1:2" / "1:6" (length-prefixed), and "ok" (the answer to every POST).
_ENGINEIO_NO_DATA = frozenset(_sha(b) for b in (b"2", b"6", b"1:2", b"1:6", b"ok"))
#: SockJS: the open frame "o" and heartbeats "h" (each newline-terminated on xhr transports).
_SOCKJS_NO_DATA = frozenset(_sha(b) for b in (b"o", b"o\n", b"h", b"h\n"))
_NO_DATA_BODIES = {"socket.io": _ENGINEIO_NO_DATA, "engine.io": _ENGINEIO_NO_DATA, "sockjs": _SOCKJS_NO_DATA}

_SIGNALR_CLASSIC_TRANSPORTS = {"longpolling", "serversentevents", "websockets", "foreverframe"}
_PUSHER = re.compile(r"^(?:.*/)?app/[^/]+$")

#: WebSocket subprotocols (lower-cased, exact or prefix) -> framework name.
_SUBPROTOCOL_FRAMEWORKS = (
    ("actioncable-", "actioncable"),
    ("graphql-transport-ws", "graphql-transport-ws"),
    ("graphql-ws", "graphql-ws"),
    ("mqttv3.1", "mqtt"),
    ("mqtt", "mqtt"),
    ("v10.stomp", "stomp"),
    ("v11.stomp", "stomp"),
    ("v12.stomp", "stomp"),
    ("wamp.", "wamp"),
    ("vite-hmr", "vite-hmr"),
)

#: (SignalR hubs, SockJS prefixes) of the whole capture, each as (http origin, path)
Sites = tuple[set[tuple[str, str]], set[tuple[str, str]]]


def sites(bases: Iterable[Base]) -> Sites:
    """The SignalR hubs (a ``<hub>/negotiate`` was requested) and SockJS prefixes (session URLs were)."""
    bases = list(bases)
    hubs = {(http_origin(b.origin), b.path[: -len("/negotiate")] or "/") for b in bases if b.path.endswith("/negotiate")}
    prefixes = {(http_origin(b.origin), b.path.rsplit("/*/*/", 1)[0]) for b in bases if b.sockjs_transport}
    return hubs, prefixes


def no_data_bodies(framework: str | None) -> frozenset[str]:
    """SHA-256 hex digests of the framework's keep-alive response bodies."""
    return _NO_DATA_BODIES.get(framework or "", frozenset())


def _by_subprotocol(base: Base) -> str | None:
    for s in base.samples[:50]:
        if s.subprotocol:
            low = s.subprotocol.lower()
            for prefix, name in _SUBPROTOCOL_FRAMEWORKS:
                if low == prefix or (prefix.endswith((".", "-")) and low.startswith(prefix)):
                    return name
    return None


def detect(base: Base, known: Sites) -> str | None:
    """The framework of one base (None if none is recognised)."""
    signalr_hubs, sockjs_prefixes = known
    names = {k.lower(): v for s in base.samples[:50] for k, v in s.params}
    path = base.path.lower()
    if "/socket.io" in path:
        return "socket.io"
    if "eio" in names:
        return "engine.io"
    if "/signalr" in path or names.get("transport", "").lower() in _SIGNALR_CLASSIC_TRANSPORTS:
        return "signalr"
    if path.endswith("/negotiate") and ("negotiateversion" in names or base.method == "POST"):
        return "signalr"
    if (http_origin(base.origin), base.path) in signalr_hubs and "id" in names:
        return "signalr"
    if base.sockjs_transport is not None:
        return "sockjs"
    prefix, _, last = base.path.rpartition("/")
    if last in ("info", "websocket") and (http_origin(base.origin), prefix) in sockjs_prefixes:
        return "sockjs"  # the prefix's /info and raw /websocket, next to its session transports
    if "vsn" in names and path.endswith(("/websocket", "/longpoll")):
        return "phoenix"
    if _PUSHER.match(base.path) and "protocol" in names and "client" in names:
        return "pusher"
    found = _by_subprotocol(base)
    if found is None and path.endswith("/cable") and any(s.websocket for s in base.samples[:50]):
        return "actioncable"
    return found


def is_send(ep: Endpoint) -> bool:
    """The framework's client-to-server channel (regular pongs there are not polling)."""
    fw, method, path = ep.framework, ep.base.method, ep.base.path
    if fw in ("socket.io", "engine.io", "phoenix"):
        return method == "POST"
    if fw == "signalr":
        return (method == "POST" and not path.endswith("/negotiate")) or path.endswith("/send")
    if fw == "sockjs":
        return ep.base.sockjs_transport in ("xhr_send", "jsonp_send")
    return False


def transport(ep: Endpoint, pattern: str) -> str | None:
    """The framework's own name for the transport of this endpoint."""
    fw = ep.framework
    if fw is None:
        return None
    low = {k.lower(): v for k, v in ep.params.items()}
    if fw in ("socket.io", "engine.io"):
        return low.get("transport") or ("websocket" if pattern == "websocket" else None)
    if fw == "signalr":
        if "transport" in low:
            return low["transport"]
        if ep.base.path.endswith("/negotiate"):
            return "negotiate"
        if ep.base.method == "POST":
            return "send"
        return {"websocket": "webSockets", "sse": "serverSentEvents", "long-polling": "longPolling"}.get(pattern)
    if fw == "sockjs":
        return ep.base.sockjs_transport or ep.base.path.rsplit("/", 1)[-1]
    if fw == "phoenix":
        return ep.base.path.rsplit("/", 1)[-1]
    return "websocket" if pattern == "websocket" else None


#: (framework, its transport name lower-cased) -> the pattern the framework's protocol defines it as.
#: Engine.IO holds a polling GET until it has a packet or its ping is due (so a short ping interval
#: makes short holds, still long polling); SignalR's longPolling, SockJS's xhr (xhr-polling) and jsonp
#: and Phoenix's longpoll hold the request until there is data; xhr_streaming, htmlfile,
#: serverSentEvents and eventsource keep one response open.
_BY_DEFINITION = {
    ("socket.io", "polling"): "long-polling",
    ("engine.io", "polling"): "long-polling",
    ("signalr", "longpolling"): "long-polling",
    ("signalr", "serversentevents"): "sse",
    ("sockjs", "xhr"): "long-polling",
    ("sockjs", "jsonp"): "long-polling",
    ("sockjs", "xhr_streaming"): "streaming",
    ("sockjs", "htmlfile"): "streaming",
    ("sockjs", "eventsource"): "sse",
    ("phoenix", "longpoll"): "long-polling",
}
#: classic ASP.NET SignalR: the requests of a transport that are held (the others start, send, abort)
_SIGNALR_CLASSIC_HELD = ("/connect", "/reconnect", "/poll")


def defined_pattern(ep: Endpoint) -> tuple[str, str] | None:
    """(pattern, the framework's name for the transport) when the framework's protocol defines what this
    endpoint's requests are, whatever their measured rhythm; None when the figures decide."""
    fw, base = ep.framework, ep.base
    if fw is None or is_send(ep) or any(s.websocket for s in ep.samples):
        return None
    if base.method != "GET" and fw != "sockjs":  # SockJS polls and streams with POST (xhr, xhr_streaming)
        return None
    name = transport(ep, "")
    if fw == "signalr":
        has_id = any(k.lower() == "id" for s in ep.samples for k, _ in s.params)
        if name is None and has_id and not base.path.endswith("/negotiate"):
            name = "longPolling"  # ASP.NET Core: GET <hub>?id= (an SSE stream is decided before this rule)
        elif name is not None and not base.path.endswith(_SIGNALR_CLASSIC_HELD):
            return None  # classic SignalR's start, abort, ping carry the transport name too
    if name is None:
        return None
    pattern = _BY_DEFINITION.get((fw, name.lower()))
    return (pattern, name) if pattern is not None else None


def note(ep: Endpoint) -> str:
    """What a pattern's reason adds about the framework (empty without one)."""
    if ep.framework is None:
        return ""
    text = f"; {ep.framework}"
    eio = next((v for k, v in ep.params.items() if k.lower() == "eio"), None)
    if eio:
        text += f" (Engine.IO v{eio})"
    if ep.upgrade:
        text += f", session upgraded {ep.upgrade}"
    return text


def mark_upgrades(endpoints: list[Endpoint]) -> None:
    """Engine.IO (Socket.IO): a WebSocket request carrying a ``sid`` upgrades a polling session.

    A client that starts on WebSocket has no session id yet; one that upgrades sends the sid its polling
    session got (Engine.IO protocol, "Upgrade").  The polling endpoints of the same origin are marked too.
    """
    groups: dict[tuple[str, str], list[Endpoint]] = {}
    for ep in endpoints:
        if ep.framework in ("socket.io", "engine.io"):
            groups.setdefault((http_origin(ep.base.origin), ep.base.path), []).append(ep)
    for group in groups.values():
        upgraded = [
            ep for ep in group
            if any(s.websocket and any(k.lower() == "sid" for k, _ in s.params) for s in ep.samples)
        ]
        if not upgraded:
            continue
        label = "polling->websocket"
        for ep in group:
            if ep in upgraded or (transport(ep, "") or "") == "polling":
                ep.upgrade = label
