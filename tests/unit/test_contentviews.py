"""The content views, through mitmproxy's own view machinery (11: ``get_message_content_view``, 12:
``prettify_message``), on real mitmproxy flow objects.  Frames come from wsproto, event streams are written
by hand to the WHATWG format, so the expected text is independent of inspector's decoders."""

from __future__ import annotations

import json
import struct

import pytest
import wsproto
import wsproto.events
from mitmproxy import contentviews as mcv
from mitmproxy import http, tcp
from mitmproxy.test import taddons, tflow
from mitmproxy.websocket import WebSocketMessage

from inspector.mitm import contentviews
from helpers.mitm import MITMPROXY_12


@pytest.fixture
def views():
    with taddons.context():
        registered = contentviews.register()
        yield registered
        contentviews.unregister(registered)


def show(message, flow, view: str = "auto") -> tuple[str, str]:
    """(view name or description, text) as mitmproxy renders ``message`` of ``flow``."""
    if MITMPROXY_12:
        result = mcv.prettify_message(message, flow, view)
        return result.view_name or "", result.text
    description, lines, error = mcv.get_message_content_view(view, message, flow)
    assert error is None, error
    text = "\n".join("".join(t for _, t in line) for line in lines)
    return description, f"{description}\n\n{text}"  # 12 puts our description at the top of the text


def ws_flow(*messages: WebSocketMessage) -> http.HTTPFlow:
    flow = tflow.twebsocketflow(messages=False)
    flow.websocket.messages = list(messages)
    return flow


def test_websocket_json_message_is_pretty_printed(views):
    payload = {"op": "update", "items": [1, 2], "name": "ünïcode"}
    msg = WebSocketMessage(1, True, json.dumps(payload, separators=(",", ":")).encode())
    name, text = show(msg, ws_flow(msg))
    assert "WebSocket text client → server, 56 bytes" in text
    assert json.loads(text[text.index("{"):]) == payload
    assert '\n  "op": "update"' in text  # indented, one key per line


def test_websocket_binary_message_is_a_hex_dump(views):
    data = bytes(range(20))
    msg = WebSocketMessage(2, False, data)
    _, text = show(msg, ws_flow(msg), "WebSocket (inspector)")
    assert "0001 0203 0405 0607 0809 0a0b 0c0d 0e0f" in text
    assert "server → client" in text and "20 bytes" in text


def test_websocket_view_escapes_terminal_controls(views):
    msg = WebSocketMessage(1, False, b"evil \x1b[2J\x07 text")
    _, text = show(msg, ws_flow(msg), "WebSocket (inspector)")
    assert "\x1b" not in text and "\x07" not in text


def test_event_stream_body_is_shown_event_by_event(views):
    body = (
        b": heartbeat\n\nretry: 2000\nid: 7\nevent: tick\ndata: {\"n\": 1}\n\n"
        b"data: line one\ndata: line two\n\ndata: unterminated"
    )
    flow = tflow.tflow(resp=True)
    flow.response.headers["content-type"] = "text/event-stream; charset=utf-8"
    flow.response.content = body
    name, text = show(flow.response, flow)
    assert "Event stream" in name or "Event stream" in text
    assert "event: tick" in text and "id: '7'" in text and "retry: 2000" in text
    assert '"n": 1' in text
    assert "line one\n  line two" in text
    assert ": heartbeat" in text
    assert "unterminated event" in text


def test_views_do_not_take_over_other_content(views):
    flow = tflow.tflow(resp=True)
    flow.response.headers["content-type"] = "application/json"
    flow.response.content = b'{"a": 1}'
    name, text = show(flow.response, flow)
    assert "inspector" not in name and "Event stream" not in text


def _wsproto_client_bytes() -> bytes:
    """Frames exactly as wsproto (a client) puts them on the wire: a text message in two fragments, a ping,
    a close 1000 'bye'."""
    conn = wsproto.Connection(wsproto.ConnectionType.CLIENT)
    out = conn.send(wsproto.events.TextMessage(data="hello ", message_finished=False))
    out += conn.send(wsproto.events.TextMessage(data="world", message_finished=True))
    out += conn.send(wsproto.events.Ping(payload=b"p"))
    out += conn.send(wsproto.events.CloseConnection(code=1000, reason="bye"))
    return out


def _wire_flow(chunks: list[bytes]) -> tcp.TCPFlow:
    flow = tflow.ttcpflow(messages=False)
    flow.messages = [tcp.TCPMessage(True, c) for c in chunks]
    flow.metadata["inspector"] = "websocket-wire"
    return flow


def test_wire_frames_view_decodes_a_chunk_split_inside_a_frame(views):
    wire = _wsproto_client_bytes()
    cut = 4  # inside the first frame's masking key
    flow = _wire_flow([wire[:cut], wire[cut:]])
    _, first = show(flow.messages[0], flow, "WebSocket frames (inspector)")
    assert "no frame ends in this chunk" in first
    _, second = show(flow.messages[1], flow, "WebSocket frames (inspector)")
    # masking keys as wsproto drew them: byte 2..5 of each client frame header (7-bit lengths here)
    first_key = wire[2:6].hex()
    assert f"mask {first_key}" in second
    assert "text (1) len 6" in second and "FIN continuation (0) len 5" in second
    assert "hello world" in second
    assert "ping (9)" in second
    assert 'close 1000 (Normal Closure) "bye"' in second
    # auto picks the frames view for marked TCP flows
    name, auto = show(flow.messages[1], flow)
    assert "hello world" in auto


def test_wire_frames_view_names_violations(views):
    bad = bytes([0x81, 0x03]) + b"abc"  # a client frame without a mask
    flow = _wire_flow([bad])
    _, text = show(flow.messages[0], flow, "WebSocket frames (inspector)")
    assert "client-frame-unmasked" in text


def test_wire_frames_view_inflates_permessage_deflate(views):
    import zlib

    comp = zlib.compressobj(wbits=-15)
    deflated = comp.compress(b"compressed hello") + comp.flush(zlib.Z_SYNC_FLUSH)
    deflated = deflated[:-4]  # RFC 7692 7.2.1: drop the 00 00 ff ff tail
    key = b"\x01\x02\x03\x04"
    frame = bytes([0xC1, 0x80 | len(deflated)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(deflated))
    flow = _wire_flow([frame])
    flow.metadata["inspector_extensions"] = "permessage-deflate"
    _, text = show(flow.messages[0], flow, "WebSocket frames (inspector)")
    assert "RSV1" in text and "compressed hello" in text and "inflated from" in text


def test_register_twice_replaces(views):
    again = contentviews.register()  # a script reload registers again: no duplicate error
    contentviews.unregister(again)
    msg = WebSocketMessage(1, True, b"x")
    assert "x" in show(msg, ws_flow(msg))[1]


def test_close_payload_rendering():
    desc, text = contentviews.render_websocket(struct.pack("!H", 4001) + b"bye", True, 8)
    assert 'close 4001 (Private Use) "bye"' == text and "close" in desc
