"""mitmproxy content views: decoded WebSocket messages, wire-mode frames and event streams.

Three views, registered by the addon (`register` in its ``load``, `unregister` in ``done``):

- ``WebSocket (inspector)``: a WebSocket message in mitmproxy's message layer: direction, type, size, then
  pretty JSON, text or a hex dump.
- ``WebSocket frames (inspector)``: a TCP chunk of a wire-mode WebSocket (the addon marks those flows with
  ``flow.metadata["inspector"] == "websocket-wire"``): every frame that ends in the chunk, decoded from the
  start of its direction (earlier chunks still in ``flow.messages``), with FIN/RSV/opcode/mask/length, the
  payload view and close code and reason.
- ``Event stream (inspector)``: a ``text/event-stream`` body, event by event as EventSource sees it.

The rendering is plain text (`render_*` functions, no mitmproxy types), wrapped for both view APIs:
mitmproxy 11's ``contentviews.View`` (``__call__`` returns a description and lines of (style, text)) and
mitmproxy 12's ``contentviews.Contentview`` protocol (``prettify`` returns text, ``contentviews.add``).
"""

from __future__ import annotations

from typing import Any

from mitmproxy import contentviews

from inspector.present import views
from inspector.present.text import close_text, message_close_text
from inspector.sse import parser as sse
from inspector.ws.close import parse_close

__all__ = ["register", "unregister", "render_websocket", "render_frames", "render_event_stream"]

VIEW_CAP = 64 * 1024  # bytes of a payload shown
_PRIORITY = 2.0  # above mitmproxy's JSON/raw views for the data these views are for


def _payload(data: bytes, opcode: int | None) -> str:
    """Pretty JSON, text, or a hex dump; ``opcode`` None: text if it is UTF-8."""
    if opcode in (1, None):
        try:
            text = data[:VIEW_CAP].decode("utf-8")
        except UnicodeDecodeError:
            text = None if opcode is None else data[:VIEW_CAP].decode("utf-8", "replace")
        if text is not None:
            if len(data) <= VIEW_CAP and text.lstrip()[:1] in ("{", "["):
                pretty = views.json_view(text)
                if pretty is not None:
                    return pretty
            return text + (f"\n... {len(data) - VIEW_CAP} more bytes" if len(data) > VIEW_CAP else "")
    return views.hex_dump(data, VIEW_CAP)


def _close(payload: bytes) -> str:
    code, reason, problems = parse_close(payload, VIEW_CAP)
    return close_text(code, None, reason) + (f"\nviolations: {', '.join(problems)}" if problems else "")


def render_websocket(data: bytes, from_client: bool | None, opcode: int | None) -> tuple[str, str]:
    """(description, text) for one whole WebSocket message."""
    direction = {True: " client → server", False: " server → client", None: ""}[from_client]
    kind = {1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}.get(opcode or 0, "message")
    desc = f"WebSocket {kind}{direction}, {len(data)} bytes"
    if opcode == 8:
        return desc, _close(data)
    return desc, _payload(data, opcode if opcode in (1, 2) else None)


def render_frames(
    stream_before: bytes, chunk: bytes, from_client: bool, extensions: str | None = None, trimmed: bool = False
) -> tuple[str, str]:
    """(description, text): the frames that end inside ``chunk``, decoding its direction from the start.
    ``extensions``: the handshake's Sec-WebSocket-Extensions response header (permessage-deflate)."""
    from inspector.ws.deflate import DeflateParams
    from inspector.ws.stream import WebSocketStream

    deflate = DeflateParams.parse(extensions)[0] if extensions else None
    ws = WebSocketStream("view", deflate=deflate, view_cap=VIEW_CAP)
    direction = "client" if from_client else "server"
    start = len(stream_before)
    out = []
    if stream_before:
        ws.feed(direction, stream_before, None)
    for r in ws.feed(direction, chunk, None):
        if type(r).__name__ == "Frame":
            bits = "".join(
                name for name, on in (("FIN ", r.fin), ("RSV1 ", r.rsv1), ("RSV2 ", r.rsv2), ("RSV3 ", r.rsv3)) if on
            )
            mask = f"mask {r.masking_key}" if r.masked else "unmasked"
            at = "" if r.offset is None else f" @{r.offset - start:+d}"
            out.append(f"frame #{r.index}{at}: {bits}{r.opcode_name} ({r.opcode}) len {r.payload_len} {mask}")
            if r.violations:
                out.append("  violations: " + ", ".join(r.violations))
        elif type(r).__name__ == "Message":
            deflated = f", inflated from {r.wire_length}" if r.compressed else ""
            out.append(f"  message {r.opcode_name}, {r.length} bytes in {r.frames} frame(s){deflated}")
            if r.opcode_name == "close":
                out.append(f"  {message_close_text(r)}")
            elif r.text is not None:
                pretty = views.json_view(r.text) if not r.truncated else None
                out.append("  " + (pretty or r.text).replace("\n", "\n  "))
            elif r.data:
                out.append("  " + r.data)
            if r.violations:
                out.append("  violations: " + ", ".join(r.violations))
    desc = f"WebSocket frames {'client → server' if from_client else 'server → client'}, chunk of {len(chunk)} bytes"
    if trimmed:
        out.insert(0, "(earlier chunks were dropped by inspector_ws_keep: decoding starts at the first kept one)")
    return desc, "\n".join(out) if out else "(no frame ends in this chunk)"


def render_event_stream(data: bytes) -> tuple[str, str]:
    parser = sse.SseParser()
    out = []
    events = 0
    for item in parser.feed(data):
        if isinstance(item, sse.ParsedEvent):
            events += 1
            out.append(f"event: {item.event}    id: {item.id!r}" + (f"    retry: {item.retry}" if item.retry else ""))
            out.extend("  " + line for line in _payload(item.data.encode(), 1).split("\n"))
        elif isinstance(item, sse.Comment):
            out.append(f":{item.text}")
        elif isinstance(item, sse.Oversize):
            out.append(f"(oversize {item.kind} of {item.size} bytes dropped)")
    tail = parser.end()
    if tail and tail[0].has_data:
        out.append("(unterminated event at the end: EventSource discards it)")
    return f"Event stream: {events} events", "\n".join(out)


# --- adapters ------------------------------------------------------------------------------------------


def _wire_chunk(flow: Any, message: Any) -> tuple[bytes, bytes, bool, str | None, bool] | None:
    """For a TCP message of a wire-mode WebSocket flow: (direction's earlier bytes still in the flow, chunk,
    from_client, negotiated extensions, whether earlier chunks were trimmed)."""
    if flow is None or message is None or flow.metadata.get("inspector") != "websocket-wire":
        return None
    extensions = flow.metadata.get("inspector_extensions")
    before = []
    for m in flow.messages:
        if m is message:
            break
        if m.from_client == message.from_client:
            before.append(m.content)
    else:
        before = []
    trimmed = bool(flow.metadata.get("inspector_trimmed"))
    return b"".join(before), message.content, message.from_client, extensions, trimmed


def _render(data: bytes, content_type: str | None, flow: Any, ws_message: Any, tcp_message: Any) -> tuple[str, str] | None:
    if ws_message is not None:
        return render_websocket(data, ws_message.from_client, int(ws_message.type))
    wire = _wire_chunk(flow, tcp_message) if tcp_message is not None else None
    if wire is not None:
        return render_frames(*wire)
    if content_type == "text/event-stream":
        return render_event_stream(data)
    return None


def _applies(content_type: str | None, flow: Any, ws_message: Any, tcp_message: Any, kind: str) -> bool:
    if kind == "ws":
        return ws_message is not None
    if kind == "frames":
        return tcp_message is not None and flow is not None and flow.metadata.get("inspector") == "websocket-wire"
    return content_type == "text/event-stream"


_NAMES = {"ws": "WebSocket (inspector)", "frames": "WebSocket frames (inspector)", "sse": "Event stream (inspector)"}


def _make_views() -> list:
    if hasattr(contentviews, "Contentview"):  # mitmproxy >= 12
        class _View:
            def __init__(self, kind: str) -> None:
                self.kind = kind

            @property
            def name(self) -> str:
                return _NAMES[self.kind]

            @property
            def syntax_highlight(self) -> str:
                return "none"

            def _meta(self, m):
                return m.content_type, m.flow, m.websocket_message, m.tcp_message

            def prettify(self, data: bytes, metadata) -> str:
                out = _render(data, *self._meta(metadata))
                if out is None:
                    raise ValueError(f"not data for the {self.name} view")
                return f"{out[0]}\n\n{out[1]}"

            def render_priority(self, data: bytes, metadata) -> float:
                return _PRIORITY if _applies(*self._meta(metadata), self.kind) else -1

            def __lt__(self, other):
                return self.name < other.name

        return [_View(kind) for kind in _NAMES]

    class _LegacyView(contentviews.View):  # mitmproxy 11
        def __init__(self, kind: str) -> None:
            self.kind = kind
            self.name = _NAMES[kind]

        @staticmethod
        def _meta(content_type, flow, metadata):
            return content_type, flow, metadata.get("websocket_message"), metadata.get("tcp_message")

        def __call__(self, data, *, content_type=None, flow=None, http_message=None, **metadata):
            out = _render(data, *self._meta(content_type, flow, metadata))
            if out is None:
                return None
            return out[0], ([("text", line)] for line in out[1].split("\n"))

        def render_priority(self, data, *, content_type=None, flow=None, http_message=None, **metadata):
            return _PRIORITY if _applies(*self._meta(content_type, flow, metadata), self.kind) else 0

    return [_LegacyView(kind) for kind in _NAMES]


def register() -> list:
    """Create and register the views with the running mitmproxy; returns them for `unregister`."""
    views = _make_views()
    for view in views:
        if not hasattr(contentviews, "Contentview"):
            existing = contentviews.get(view.name)
            if existing is not None:  # the script was reloaded
                contentviews.remove(existing)
        contentviews.add(view)
    return views


def unregister(views: list) -> None:
    if hasattr(contentviews, "Contentview"):
        registry = contentviews.registry
        for view in views:
            registry._by_name.pop(view.name.lower(), None)
        return
    for view in views:
        if view in contentviews.views:
            contentviews.remove(view)
