"""HTTP/2 streams into `Analysis` (inspector.sources.pcap_h2): an RFC 8441 WebSocket whose HTTP/2 side is
written by ``h2`` (extended CONNECT, SETTINGS_ENABLE_CONNECT_PROTOCOL) and whose RFC 6455 frames are
written by ``wsproto`` (permessage-deflate): the handshake record is validated in rfc8441 mode and the
messages are what wsproto sent; an SSE response split over DATA frames keeps each frame's time."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, TextMessage
from wsproto.extensions import PerMessageDeflate

from inspector.analysis import Analysis, Options
from inspector.records import Exchange, Handshake, Message, SseEvent
from inspector.sources.pcap_h2 import H2Streams


def endpoints():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    s = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    c.initiate_connection()
    s.initiate_connection()
    s.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
    return c, s


def run(steps) -> list:
    """steps: (direction, bytes, ts); both endpoints also receive the bytes so their state moves on."""
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    analysis.connection("c1", client="127.0.0.1:5000", server="127.0.0.1:8443", ts=0.0)
    streams = H2Streams(analysis, "c1", "127.0.0.1:8443", "https", lambda name, n=1: out.append(("note", name)))
    for direction, data, ts in steps:
        streams.data(direction, data, ts)
    streams.end(10.0)
    analysis.connection_end("c1", 10.0)
    analysis.finish()
    return out


def pump(c, s, steps, ts):
    for _ in range(5):
        for direction, sender, receiver in (("client", c, s), ("server", s, c)):
            data = sender.data_to_send()
            if data:
                steps.append((direction, data, ts))
                receiver.receive_data(data)


def test_rfc8441_websocket_with_deflate():
    c, s = endpoints()
    steps: list = []
    pump(c, s, steps, 1.0)
    assert c.remote_settings.enable_connect_protocol == 1
    c.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                       (":path", "/chat"), (":authority", "example.test"), ("sec-websocket-version", "13"),
                       ("sec-websocket-extensions", "permessage-deflate")])
    pump(c, s, steps, 2.0)
    s.send_headers(1, [(":status", "200"), ("sec-websocket-extensions", "permessage-deflate")])
    pump(c, s, steps, 3.0)
    client_ext, server_ext = PerMessageDeflate(), PerMessageDeflate()
    client_ext.finalize("permessage-deflate")  # what the 200 accepted
    server_ext.accept("permessage-deflate")
    client_ws = Connection(ConnectionType.CLIENT, extensions=[client_ext])
    server_ws = Connection(ConnectionType.SERVER, extensions=[server_ext])
    sent = {"client": ["hello " * 50, b"\x00\x01" * 100], "server": ["welcome " * 40]}
    for n, payload in enumerate(sent["client"]):
        event = TextMessage(data=payload) if isinstance(payload, str) else BytesMessage(data=payload)
        c.send_data(1, client_ws.send(event))
        pump(c, s, steps, 4.0 + n)
    s.send_data(1, server_ws.send(TextMessage(data=sent["server"][0])))
    pump(c, s, steps, 6.0)
    records = run(steps)
    handshake = [r for r in records if isinstance(r, Handshake)]
    assert len(handshake) == 1 and handshake[0].mode == "rfc8441" and handshake[0].valid, handshake
    messages = [r for r in records if isinstance(r, Message)]
    import hashlib

    for direction in ("client", "server"):
        got = [(m.sha256, m.compressed) for m in messages if m.direction == direction]
        want = [(hashlib.sha256(p.encode() if isinstance(p, str) else p).hexdigest(), True) for p in sent[direction]]
        assert got == want, direction
    connection = [r for r in records if type(r).__name__ == "Connection"][0]
    assert connection.protocol == "websocket"


def test_sse_over_h2_keeps_each_data_frames_time():
    c, s = endpoints()
    steps: list = []
    pump(c, s, steps, 1.0)
    c.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":path", "/events"),
                       (":authority", "example.test"), ("accept", "text/event-stream")], end_stream=True)
    pump(c, s, steps, 2.0)
    s.send_headers(1, [(":status", "200"), ("content-type", "text/event-stream")])
    pump(c, s, steps, 2.5)
    for n, piece in enumerate([b"id: 1\nda", b"ta: one\n\n", b": ping\n\n", b"id: 2\ndata: two\n\n"]):
        s.send_data(1, piece, end_stream=n == 3)
        pump(c, s, steps, 3.0 + n)
    records = run(steps)
    events = [(e.id, e.data, e.ts) for e in records if isinstance(e, SseEvent)]
    assert events == [("1", "one", 4.0), ("2", "two", 6.0)]
    exchange = [r for r in records if isinstance(r, Exchange)][0]
    assert (exchange.http_version, exchange.stream_id, exchange.status) == ("HTTP/2", 1, 200)
    assert exchange.url == "https://example.test/events" and exchange.ts_end == 6.0
