"""The passive HTTP/2 decoder (inspector.http.http2) on byte streams written by a real HTTP/2 endpoint
library (``h2``, client and server state machines talking to each other in memory): the headers, DATA
and resets ``h2`` itself received are the truth."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from inspector.http import http2


def pair(client_settings: dict | None = None, server_settings: dict | None = None):
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    s = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    c.initiate_connection()
    s.initiate_connection()
    if client_settings:
        c.update_settings(client_settings)
    if server_settings:
        s.update_settings(server_settings)
    return c, s


class Wire:
    """Pumps bytes between two h2 endpoints, keeping each direction's bytes and what each side received."""

    def __init__(self, c, s) -> None:
        self.c, self.s = c, s
        self.bytes = {"client": bytearray(), "server": bytearray()}
        self.received = {"client": [], "server": []}  # events seen by the receiver of each direction
        self.pump()

    def pump(self) -> None:
        for _ in range(10):
            moved = False
            for name, sender, receiver in (("client", self.c, self.s), ("server", self.s, self.c)):
                data = sender.data_to_send()
                if data:
                    moved = True
                    self.bytes[name] += data
                    for event in receiver.receive_data(data):
                        self.received[name].append(event)
                        if isinstance(event, h2.events.DataReceived):
                            receiver.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if not moved:
                return


def request(wire: Wire, sid: int, path: str, extra: list | None = None, end: bool = True) -> list:
    headers = [(":method", "GET"), (":scheme", "https"), (":authority", "example.test"), (":path", path),
               ("user-agent", "h2-test"), ("x-trace", f"trace-{sid}")] + (extra or [])
    wire.c.send_headers(sid, headers, end_stream=end)
    wire.pump()
    return headers


def respond(wire: Wire, sid: int, body: bytes, headers: list | None = None, trailers: list | None = None,
            pad: int = 0) -> list:
    head = [(":status", "200"), ("content-type", "text/plain"), ("x-served", f"s{sid}")] + (headers or [])
    wire.s.send_headers(sid, head)
    wire.s.send_data(sid, body, end_stream=trailers is None, pad_length=pad or None)
    if trailers:
        wire.s.send_headers(sid, trailers, end_stream=True)
    wire.pump()
    return head


def text(headers) -> list[tuple[str, str]]:
    return [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
            for k, v in headers]


def truth(wire: Wire) -> dict:
    """Per direction: header lists and DATA as the receiving h2 endpoint saw them."""
    out: dict = {"client": {"headers": [], "data": {}}, "server": {"headers": [], "data": {}}}
    for direction, events in wire.received.items():
        for event in events:
            if isinstance(event, (h2.events.RequestReceived, h2.events.ResponseReceived, h2.events.TrailersReceived)):
                out[direction]["headers"].append((event.stream_id, text(event.headers)))
            elif isinstance(event, h2.events.DataReceived):
                out[direction]["data"][event.stream_id] = out[direction]["data"].get(event.stream_id, b"") + event.data
    return out


def decode(wire: Wire, chunks: dict | None = None, midway: bool = False, start: dict | None = None) -> tuple[dict, list]:
    """Feed both directions (interleaved in the given chunks) into a fresh decoder."""
    dec = http2.H2Connection(midway=midway)
    events = []
    for direction in ("client", "server"):
        data = bytes(wire.bytes[direction])[(start or {}).get(direction, 0):]
        for piece in (chunks or {}).get(direction, [data]) if chunks else [data]:
            events += dec.feed(direction, piece, 1.0)
    got: dict = {"client": {"headers": [], "data": {}}, "server": {"headers": [], "data": {}}}
    for e in events:
        if isinstance(e, http2.Headers) and e.promised is None:
            got[e.direction]["headers"].append((e.stream_id, e.headers))
        elif isinstance(e, http2.Data):
            got[e.direction]["data"][e.stream_id] = got[e.direction]["data"].get(e.stream_id, b"") + e.data
    problems = [e for e in events if isinstance(e, http2.Problem)]
    return got, problems


def conversation(client_settings=None, server_settings=None, streams=3, pad=0) -> Wire:
    wire = Wire(*pair(client_settings, server_settings))
    for n in range(streams):
        sid = 1 + 2 * n
        request(wire, sid, f"/poll?n={n}", extra=[("cookie", "session=" + "a" * 40)])
        respond(wire, sid, f"body {n} ".encode() * 50, headers=[("cache-control", "no-store")],
                trailers=[("grpc-status", "0")] if n == 1 else None, pad=pad)
    return wire


def test_both_directions_headers_trailers_padding_agree_with_h2():
    wire = conversation(pad=17)
    got, problems = decode(wire)
    assert problems == []
    assert got == truth(wire)
    assert [sid for sid, _ in got["server"]["headers"]] == [1, 3, 3, 5]  # stream 3's trailers


@pytest.mark.parametrize("size", [0, 256, 65536])
def test_hpack_table_size_follows_the_peers_setting(size):
    """The client announces a table size for the headers it receives; the server's encoder follows it
    (a dynamic table size update), and the decoder of the server's direction must follow too."""
    wire = Wire(*pair({h2.settings.SettingCodes.HEADER_TABLE_SIZE: size}))
    for n in range(4):
        sid = 1 + 2 * n
        request(wire, sid, f"/a{n}")
        respond(wire, sid, b"x", headers=[("x-long", "v" * 300), (f"x-{n}", "w" * 100)])
    got, problems = decode(wire)
    assert problems == []
    assert got == truth(wire)
    assert wire.s.encoder.header_table_size == size


def test_a_table_size_change_mid_connection():
    wire = Wire(*pair())
    request(wire, 1, "/before")
    respond(wire, 1, b"a", headers=[("x-big", "b" * 1000)])
    wire.c.update_settings({h2.settings.SettingCodes.HEADER_TABLE_SIZE: 128})
    wire.pump()
    request(wire, 3, "/after")
    respond(wire, 3, b"b", headers=[("x-big", "b" * 1000)])
    got, problems = decode(wire)
    assert problems == []
    assert got == truth(wire)


def test_frames_split_at_every_byte():
    wire = conversation(streams=2, pad=3)
    whole, _ = decode(wire)
    for direction in ("client", "server"):
        data = bytes(wire.bytes[direction])
        for cut in range(1, len(data)):
            chunks = {direction: [data[:cut], data[cut:]]}
            other = "server" if direction == "client" else "client"
            chunks[other] = [bytes(wire.bytes[other])]
            got, problems = decode(wire, chunks)
            assert problems == [] and got == whole, (direction, cut)


def test_continuation_frames():
    """A header block over the peer's frame size goes out as HEADERS + CONTINUATION."""
    wire = Wire(*pair())
    request(wire, 1, "/big", extra=[(f"x-h{i}", "z" * 900) for i in range(40)])
    respond(wire, 1, b"ok")
    assert b"\x00\x00\x09" in wire.bytes["client"] or len(wire.bytes["client"]) > 16384
    got, problems = decode(wire)
    assert problems == []
    assert got == truth(wire)


def test_picked_up_midway_marks_lost_headers_and_data_still_flows():
    wire = conversation(streams=3)
    first = truth(wire)
    # start both directions where stream 3 begins (after the preface, SETTINGS and all of stream 1)
    cut = {}
    for direction in ("client", "server"):
        data = bytes(wire.bytes[direction])
        offsets = _frame_offsets(data, 24 if direction == "client" else 0)
        cut[direction] = next(off for off, sid in offsets if sid == 3)
    got, problems = decode(wire, midway=True, start=cut)
    # DATA of streams 3 and 5 flows whatever happened to their headers
    for direction in ("client", "server"):
        for sid in (3, 5):
            if sid in first[direction]["data"]:
                assert got[direction]["data"][sid] == first[direction]["data"][sid]
    # every header list is either what h2 saw or marked undecodable (None), never wrong
    for direction in ("client", "server"):
        truth_headers = dict((sid, h) for sid, h in first[direction]["headers"] if sid != 1)
        for sid, headers in got[direction]["headers"]:
            assert headers is None or headers in [h for s, h in first[direction]["headers"] if s == sid]
        assert {sid for sid, _ in got[direction]["headers"]} == set(truth_headers)
    assert any(h is None for _, h in got["client"]["headers"])  # the cookie was indexed in stream 1
    assert all(p.name == "hpack-state-lost" for p in problems)


def test_midway_start_inside_a_frame_resyncs():
    wire = conversation(streams=3)
    data = bytes(wire.bytes["server"])
    dec = http2.H2Connection(midway=True)
    events = dec.feed("server", data[len(data) // 2:], 1.0)
    assert any(isinstance(e, http2.Data) for e in events) or any(isinstance(e, http2.Headers) for e in events)


def _frame_offsets(data: bytes, pos: int) -> list[tuple[int, int]]:
    out = []
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos:pos + 3], "big")
        out.append((pos, int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF))
        pos += 9 + length
    return out


def test_bad_input_is_a_problem_and_the_rest_goes_on():
    wire = conversation(streams=2)
    client = bytes(wire.bytes["client"])
    dec = http2.H2Connection()
    events = dec.feed("client", client, 1.0)
    # a frame over the default SETTINGS_MAX_FRAME_SIZE (16384), then a header block that fails HPACK, then a
    # stream id going backwards, then a good request
    too_big = (20000).to_bytes(3, "big") + b"\x00\x00" + (7).to_bytes(4, "big") + b"\x00" * 20000
    bad_hpack = (2).to_bytes(3, "big") + b"\x01\x05" + (9).to_bytes(4, "big") + b"\xff\xff"
    enc = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True)).encoder
    block = enc.encode([(":method", "GET"), (":path", "/x"), (":scheme", "http"), (":authority", "a")])
    backwards = len(block).to_bytes(3, "big") + b"\x01\x05" + (7).to_bytes(4, "big") + block
    events = dec.feed("client", too_big[:5000], 2.0) + dec.feed("client", too_big[5000:] + bad_hpack + backwards, 2.0)
    names = [e.name for e in events if isinstance(e, http2.Problem)]
    assert names == ["http2-frame-too-large", "http2-hpack-error", "http2-stream-id-backwards"]
    block = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True)).encoder.encode(
        [(":method", "GET"), (":path", "/later"), (":scheme", "http"), (":authority", "a")])
    later = len(block).to_bytes(3, "big") + b"\x01\x05" + (11).to_bytes(4, "big") + block
    events = dec.feed("client", later, 3.0)
    assert [(e.stream_id, dict(e.headers)[":path"]) for e in events if isinstance(e, http2.Headers)] == [(11, "/later")]


def test_reset_and_goaway():
    wire = Wire(*pair())
    request(wire, 1, "/r")
    wire.s.reset_stream(1, error_code=8)
    wire.s.close_connection(error_code=0, last_stream_id=1)
    wire.pump()
    dec = http2.H2Connection()
    events = dec.feed("client", bytes(wire.bytes["client"]), 1.0) + dec.feed("server", bytes(wire.bytes["server"]), 2.0)
    assert [(e.stream_id, e.error_code) for e in events if isinstance(e, http2.Reset)] == [(1, 8)]
    assert [(e.last_stream_id, e.error_code) for e in events if isinstance(e, http2.GoAway)] == [(1, 0)]
