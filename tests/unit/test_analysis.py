"""The Analysis pipeline, fed with what real peers put on the wire (tests/helpers/servers.py).

Truth: the bytes the aiohttp server wrote (recorded as it wrote them), what the aiohttp clients received
and sent, and the raw TCP bytes a recording proxy relayed; never our own output.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector import records
from inspector.analysis import Analysis, Options
from helpers.offline import records_of


# -- contract details ------------------------------------------------------------------------------------


def _ws_exchange(conn="w1"):
    return records.Exchange(
        conn=conn, method="GET", url="http://h/ws", status=101, content_type=None, ts_request=1.0,
        ts_response=1.01, ts_end=1.01, request_body_bytes=0, response_body_bytes=0, http_version="HTTP/1.1",
        request_headers=[
            ("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ],
        response_headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ],
    )


def test_handshake_exchange_emitted_once():
    out: list = []
    analysis = Analysis(out.append, source="flows", options=Options(strict=True))
    ex = _ws_exchange()
    analysis.begin_exchange(ex).end()
    analysis.websocket("w1", handshake=ex).message("server", 1, b"hi", 1.5)
    analysis.finish()
    assert len(records_of(out, records.Exchange)) == 1
    assert records_of(out, records.Handshake)[0].valid
    assert [m.text for m in records_of(out, records.Message)] == ["hi"]
    assert records_of(out, records.Connection)[0].exchanges == 1
    assert [p.requests for p in records_of(out, records.Pattern)] == [1]


def test_forced_websocket_without_handshake():
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    analysis.connection("t1", "10.0.0.1:5000", "10.0.0.2:9000", 5.0)
    ws = analysis.websocket("t1", handshake=None, detected_by="--ws")
    ws.data("server", b"\x81\x02hi", 5.1)
    ws.data("client", b"\x81\x02hi", 5.2)  # unmasked client frame: a violation
    analysis.connection_end("t1", 6.0)
    analysis.finish()
    (c,) = records_of(out, records.Connection)
    assert (c.protocol, c.detected_by, c.exchanges) == ("websocket", "--ws", 0)
    client_frame = next(f for f in records_of(out, records.Frame) if f.direction == "client")
    assert client_frame.violations == ["client-frame-unmasked"]
    assert records_of(out, records.Handshake) == []
    (p,) = records_of(out, records.Pattern)
    assert (p.pattern, p.endpoint) == ("websocket", "GET ws://10.0.0.2:9000/")


class _ManySink(list):
    """A sink with `write_many`, as `JsonlWriter` has: records arrive in lists too."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    __call__ = list.append

    def write_many(self, records):
        self.batches += 1
        self.extend(records)


def _deflate_chunks() -> list[tuple[bytes, float]]:
    """Client bytes of a permessage-deflate WebSocket written by wsproto: a small message, one over
    ``max_message`` = 1000 (an inflate-limit warning among the records), a ping, a fragmented message
    (which context takeover cannot inflate after the limit: a second warning)."""
    from wsproto.extensions import PerMessageDeflate
    from wsproto.frame_protocol import FrameProtocol

    pmd = PerMessageDeflate()
    pmd._enabled = True
    client = FrameProtocol(client=True, extensions=[pmd])
    return [
        (client.send_data("small"), 2.0),
        (client.send_data("x" * 5000), 2.1),
        (client.ping(b"p") + client.send_data("first ", fin=False) + client.send_data("last"), 2.2),
    ]


def _deflate_session(analysis: Analysis, chunks: list[tuple[bytes, float]]) -> None:
    ex = _ws_exchange()
    ex.request_headers.append(("Sec-WebSocket-Extensions", "permessage-deflate"))
    ex.response_headers.append(("Sec-WebSocket-Extensions", "permessage-deflate"))
    ws = analysis.websocket("w1", handshake=ex)
    for data, ts in chunks:
        ws.data("client", data, ts)
    analysis.finish()


@pytest.mark.parametrize("frames", [True, False])
def test_sink_with_write_many_gets_the_same_records(frames):
    """`Analysis` hands an analyser's records to ``write_many`` in one call: same records, same order
    as one call each (warnings still aggregated, Frame records dropped when not wanted)."""
    options = Options(strict=True, frames=frames, max_message=1000)
    chunks = _deflate_chunks()
    single: list = []
    _deflate_session(Analysis(single.append, source="pcap", options=options), chunks)
    many = _ManySink()
    _deflate_session(Analysis(many, source="pcap", options=options), chunks)
    assert many.batches > 0
    assert [records.to_dict(r) for r in many] == [records.to_dict(r) for r in single]
    messages = records_of(single, records.Message)
    assert [(m.opcode_name, m.text, m.inflate_error) for m in messages] == [
        ("text", "small", None), ("text", "", "limit"), ("ping", None, None), ("text", "", "context-lost")]
    assert [w.name for w in records_of(single, records.WarningRecord)] == ["inflate-limit", "inflate-context-lost"]
    assert bool(records_of(single, records.Frame)) is frames


def test_websocket_data_bug_is_contained_unless_strict(monkeypatch):
    import inspector.ws.stream

    def broken(self, direction, data, ts=None):
        raise ValueError("bad state")

    monkeypatch.setattr(inspector.ws.stream.WebSocketStream, "feed", broken)
    out: list = []
    analysis = Analysis(out.append, source="pcap")
    ws = analysis.websocket("w1", handshake=_ws_exchange())
    ws.data("server", b"\x81\x02hi", 2.0)
    ws.data("server", b"\x81\x02hi", 3.0)  # the stream was stopped: not fed again
    analysis.finish()
    (w,) = records_of(out, records.WarningRecord)
    assert w.name == "internal-error" and w.count == 1 and "ValueError: bad state" in w.message
    assert records_of(out, records.Connection)[0].ts_end == 3.0  # the bytes' time still counts
    strict = Analysis([].append, source="pcap", options=Options(strict=True))
    with pytest.raises(ValueError, match="bad state"):
        strict.websocket("w1", handshake=_ws_exchange()).data("server", b"\x81\x02hi", 2.0)


def test_warnings_aggregated_by_name():
    out: list = []
    echoed: list = []
    analysis = Analysis(out.append, source="pcap", on_warning=lambda n, m: echoed.append(n))
    for _ in range(3):
        analysis.warning("pcap-truncated", "capture ends inside a packet record")
    analysis.warning("other", "x", conn="c9")
    analysis.finish()
    assert echoed == ["pcap-truncated", "other"]
    got = {w.name: (w.count, w.conn) for w in records_of(out, records.WarningRecord)}
    assert got == {"pcap-truncated": (3, None), "other": (1, "c9")}


def test_finish_ends_what_is_open():
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True))
    analysis.connection("c1", "a:1", "b:2", 10.0)
    ex = records.Exchange(
        conn="c1", method="GET", url="http://b:2/events", status=200, content_type="text/event-stream",
        ts_request=10.0, ts_response=10.1, ts_end=None, request_body_bytes=0, response_body_bytes=None,
    )
    h = analysis.begin_exchange(ex)
    h.body(b"data: a\n\ndata: unterminated", 11.0)
    analysis.finish()
    analysis.finish()  # idempotent
    (emitted,) = records_of(out, records.Exchange)
    assert emitted.ts_end == 11.0 and emitted.response_body_bytes == len(b"data: a\n\ndata: unterminated")
    assert [e.data for e in records_of(out, records.SseEvent)] == ["a"]
    assert len(records_of(out, records.SseStream)) == 1 and len(records_of(out, records.Connection)) == 1
    assert records_of(out, records.Connection)[0].protocol == "sse"


def test_empty_body_is_hashed_and_unknown_body_is_not():
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    base = dict(conn="c", method="GET", url="http://h/x", status=204, content_type=None, ts_request=1.0,
                ts_response=1.1, ts_end=1.1, request_body_bytes=0)
    analysis.begin_exchange(records.Exchange(**base, response_body_bytes=0)).end()
    analysis.begin_exchange(records.Exchange(**{**base, "status": 200}, response_body_bytes=None)).end()
    analysis.finish()
    empty, unknown = records_of(out, records.Exchange)
    assert empty.response_sha256 == hashlib.sha256(b"").hexdigest()
    assert unknown.response_sha256 is None and unknown.response_body_bytes is None


def test_analyser_bug_is_contained_unless_strict(monkeypatch):
    import inspector.sse

    def broken(self, data, ts=None):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(inspector.sse.stream.SseStreamAnalysis, "feed", broken)
    ex = records.Exchange(
        conn="c1", method="GET", url="http://h/e", status=200, content_type="text/event-stream",
        ts_request=1.0, ts_response=1.0, ts_end=None, request_body_bytes=0, response_body_bytes=None,
    )
    out: list = []
    analysis = Analysis(out.append, source="live")
    h = analysis.begin_exchange(ex)
    h.body(b"data: x\n\n", 2.0)
    h.body(b"data: y\n\n", 3.0)
    h.end(ts_end=3.0)
    analysis.finish()
    (w,) = records_of(out, records.WarningRecord)
    assert w.name == "internal-error" and w.count == 1 and "RuntimeError: boom" in w.message
    assert "\n" not in w.message
    assert len(records_of(out, records.Exchange)) == 1
    strict = Analysis([].append, source="live", options=Options(strict=True))
    with pytest.raises(RuntimeError):
        strict.begin_exchange(ex).body(b"data: x\n\n", 2.0)


def test_extended_connect_websocket_is_classified_as_websocket():
    """RFC 8441: a 200 to an extended CONNECT opens the WebSocket (HAR and HTTP/2 sources)."""
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    ex = records.Exchange(
        conn="h1", method="CONNECT", url="wss://h/chat", status=200, content_type=None, ts_request=1.0,
        ts_response=1.1, ts_end=None, request_body_bytes=0, response_body_bytes=0, http_version="HTTP/2.0",
        request_headers=[(":protocol", "websocket"), ("sec-websocket-version", "13")],
    )
    analysis.begin_exchange(ex).end()  # a source may pass it through begin_exchange first
    analysis.websocket("h1", handshake=ex).message("client", 1, b"x", 1.2)
    analysis.begin_exchange(records.Exchange(**{**{f: getattr(ex, f) for f in ex.__struct_fields__}, "conn": "h2"})).end()
    analysis.finish()
    (hs,) = records_of(out, records.Handshake)
    assert hs.mode == "rfc8441"
    assert len(records_of(out, records.Exchange)) == 2
    # h1's CONNECT opened a WebSocket; h2's (never upgraded) is a plain request, reported apart
    got = sorted((p.endpoint, p.pattern, p.requests) for p in records_of(out, records.Pattern))
    assert got == [("CONNECT wss://h/chat", "request-response", 1), ("CONNECT wss://h/chat", "websocket", 1)]


# -- any order of calls, any bytes ------------------------------------------------------------------------

_CTYPES = [None, "text/event-stream", "application/json", "application/x-ndjson", "text/event-stream; charset=latin1"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_call_sequence_keeps_the_contract(data):
    """Sources may call in any order and feed any bytes: never an exception (strict: analyser bugs
    surface), one Connection record per connection, each exchange emitted once, state dropped at the end."""
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True, view_cap=16))
    conns = ["a", "b", "c"]
    handles: list = []
    sockets: dict = {}
    t = 0.0
    for _ in range(data.draw(st.integers(0, 25))):
        t += data.draw(st.floats(0, 2))
        conn = data.draw(st.sampled_from(conns))
        op = data.draw(st.sampled_from(["connection", "exchange", "body", "end", "ws", "ws_hs", "ws_data", "ws_msg", "gap", "close", "warn"]))
        if op == "connection":
            analysis.connection(conn, "10.0.0.1:1", "10.0.0.2:80", t)
        elif op == "exchange":
            status = data.draw(st.sampled_from([None, 101, 200, 204, 304, 404]))
            ex = records.Exchange(
                conn=conn, method=data.draw(st.sampled_from(["GET", "POST", "CONNECT"])),
                url=f"http://h/{data.draw(st.sampled_from(['p', 'q', 'socket.io/']))}?_={t}", status=status,
                content_type=data.draw(st.sampled_from(_CTYPES)), ts_request=t, ts_response=t if status else None,
                ts_end=None, request_body_bytes=0, response_body_bytes=None,
                request_headers=[("Accept", "text/event-stream")] if data.draw(st.booleans()) else [],
            )
            handles.append(analysis.begin_exchange(ex))
        elif op == "body" and handles:
            data.draw(st.sampled_from(handles)).body(data.draw(st.binary(max_size=40) | st.just(b"data: x\n\n")), t)
        elif op == "end" and handles:
            data.draw(st.sampled_from(handles)).end(ts_end=t)
        elif op == "ws":
            sockets[conn] = analysis.websocket(conn, handshake=None, detected_by="--ws")
        elif op == "ws_hs":  # a 101, maybe also passed through begin_exchange first
            hs = _ws_exchange(conn)
            if data.draw(st.booleans()):
                handles.append(analysis.begin_exchange(hs))
                if data.draw(st.booleans()):
                    handles[-1].end()
            sockets[conn] = analysis.websocket(conn, handshake=hs)
        elif op == "ws_data" and conn in sockets:
            sockets[conn].data(data.draw(st.sampled_from(["client", "server"])), data.draw(st.binary(max_size=40)), t)
        elif op == "ws_msg" and conn in sockets:
            sockets[conn].message("server", data.draw(st.sampled_from([1, 2, 8, 9])), data.draw(st.binary(max_size=20)), t)
        elif op == "gap" and conn in sockets:
            sockets[conn].gap("client")
        elif op == "close":
            analysis.connection_end(conn, t)
            sockets.pop(conn, None)
        elif op == "warn":
            analysis.warning("w", "m", conn)
    analysis.finish()
    assert not analysis._conns
    exchanges = [r for r in out if isinstance(r, records.Exchange)]
    handshakes = sum(isinstance(r, records.Handshake) for r in out)
    assert len(exchanges) <= len(handles) + handshakes  # each exchange is emitted at most once
    assert all(h._done for h in handles)  # finish() ended every one
    since_end: dict[str, int] = {}
    for record in out:
        records.to_dict(record)  # every record encodes
        if isinstance(record, records.Exchange):
            since_end[record.conn] = since_end.get(record.conn, 0) + 1
        elif isinstance(record, records.Connection):
            assert record.exchanges == since_end.pop(record.conn, 0)
            assert record.ts_start is None or record.ts_end is None or record.ts_start <= record.ts_end
    assert since_end == {}  # no exchange emitted outside a connection's lifetime
