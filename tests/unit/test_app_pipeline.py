"""The application layer inside `Analysis`: chosen by URL, subprotocol or payload, fed from every way a
source hands messages over, adding fields and operation records without changing the layers below."""

from __future__ import annotations

import msgspec

from inspector import records
from inspector.analysis import Analysis, Options
from inspector.present.jsonl import JsonlWriter
from inspector.ws.schema import build_frame


def _handshake(url: str, subprotocol: str | None = None, conn: str = "c1") -> records.Exchange:
    request = [("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
    response = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]
    if subprotocol:
        request.append(("Sec-WebSocket-Protocol", subprotocol))
        response.append(("Sec-WebSocket-Protocol", subprotocol))
    return records.Exchange(conn=conn, method="GET", url=url, status=101, content_type=None, ts_request=1.0,
                            ts_response=1.0, ts_end=1.0, request_body_bytes=0, response_body_bytes=0,
                            http_version="HTTP/1.1", request_headers=request, response_headers=response)


def _run(url: str, messages: list[tuple[str, bytes]], subprotocol: str | None = None, *, frames: bool) -> list:
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    analysis.connection("c1", "127.0.0.1:1", "127.0.0.1:2", 1.0)
    ws = analysis.websocket("c1", handshake=_handshake(url, subprotocol))
    for i, (direction, payload) in enumerate(messages):
        ts = 2.0 + i
        if frames:
            ws.data(direction, build_frame(1, payload, mask=b"abcd" if direction == "client" else None), ts)
        else:
            ws.message(direction, 1, payload, ts)
    analysis.finish()
    return out


SOCKETIO = [("server", b'0{"sid":"s1"}'), ("client", b"40"), ("server", b'40{"sid":"n1"}'),
            ("client", b'421["chat","hi"]'), ("server", b'431["ok"]'), ("client", b'422["lost"]')]


def test_frames_and_whole_messages_give_the_same_app_layer_and_operations():
    by_frames = _run("http://h/socket.io/?EIO=4&transport=websocket", SOCKETIO, frames=True)
    by_messages = _run("http://h/socket.io/?EIO=4&transport=websocket", SOCKETIO, frames=False)
    for out in (by_frames, by_messages):
        apps = [(m.app.protocol, m.app.kind, m.app.name, m.app.id) for m in out if type(m) is records.Message]
        assert apps == [("engine.io", "open", None, "s1"), ("socket.io", "connect", None, None),
                        ("socket.io", "connect", None, None), ("socket.io", "event", "chat", "1"),
                        ("socket.io", "ack", None, "1"), ("socket.io", "event", "lost", "2")]
        ops = [(o.kind, o.name, o.outcome, o.latency_s) for o in out if type(o) is records.Operation]
        assert ops == [("connect", "/", "ok", 1.0), ("event", "chat", "ok", 1.0), ("event", "lost", "never answered", None)]


def test_the_layers_below_are_unchanged():
    """Frame and Message records are those of the same bytes on a connection no decoder takes, ``app`` aside."""
    later = SOCKETIO[1:]  # "40" first: nothing to sniff on a URL without hints
    plain = _run("http://h/plain", later, frames=True)
    decoded = _run("http://h/socket.io/?EIO=4&transport=websocket", later, frames=True)
    assert all(type(r) is not records.Operation for r in plain)
    assert all(m.app is msgspec.UNSET for m in plain if type(m) is records.Message)
    assert all(m.app is not msgspec.UNSET for m in decoded if type(m) is records.Message)

    def below(out):
        return [msgspec.structs.replace(r, app=msgspec.UNSET) if type(r) is records.Message else r
                for r in out if type(r) in (records.Frame, records.Message)]

    assert below(decoded) == below(plain) and len(below(plain)) == 2 * len(later)


def test_records_without_an_app_layer_have_no_app_key(tmp_path):
    out = _run("http://h/plain", [("client", b"hello"), ("server", b"world")], frames=True)
    path = tmp_path / "out.jsonl"
    with path.open("wb") as fh:
        writer = JsonlWriter(fh)
        writer.write_many(out)
        writer.flush()
    assert b'"app"' not in path.read_bytes()


def test_payload_sniffing_finds_json_rpc_without_hints():
    out = _run("http://h/rpc", [("client", b'{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":7}'),
                                ("server", b'{"jsonrpc":"2.0","result":3,"id":7}')], frames=True)
    (op,) = [o for o in out if type(o) is records.Operation]
    assert (op.protocol, op.kind, op.name, op.id, op.outcome) == ("jsonrpc", "call", "sum", "7", "ok")


def test_subprotocol_chooses_graphql():
    out = _run("http://h/graphql", [
        ("client", b'{"type":"connection_init"}'), ("server", b'{"type":"connection_ack"}'),
        ("client", b'{"id":"1","type":"subscribe","payload":{"query":"subscription Ticks { tick }"}}'),
        ("server", b'{"id":"1","type":"next","payload":{"data":{"tick":1}}}'),
        ("server", b'{"id":"1","type":"next","payload":{"data":{"tick":2}}}'),
        ("server", b'{"id":"1","type":"complete"}'),
    ], "graphql-transport-ws", frames=False)
    (op,) = [o for o in out if type(o) is records.Operation]
    assert (op.protocol, op.kind, op.name, op.messages, op.outcome, op.latency_s) == (
        "graphql-transport-ws", "subscription", "Ticks", 2, "ok", 3.0)


def test_polling_bodies_and_sse_events_get_an_app_layer():
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    poll = records.Exchange(conn="p", method="GET", url="http://h/socket.io/?EIO=4&transport=polling&sid=x",
                            status=200, content_type="text/plain", ts_request=1.0, ts_response=1.5, ts_end=None,
                            request_body_bytes=0, response_body_bytes=None)
    h = analysis.begin_exchange(poll)
    h.body(b'42["news",{"a":1}]\x1e', 1.5)
    h.body(b"2", 1.5)
    h.end(ts_end=1.5)
    sse = records.Exchange(conn="s", method="GET", url="http://h/mcp/sse", status=200,
                           content_type="text/event-stream", ts_request=1.0, ts_response=1.0, ts_end=None,
                           request_body_bytes=0, response_body_bytes=None)
    h = analysis.begin_exchange(sse)
    h.body(b'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{"ok":true}}\n\ndata: plain\n\n', 2.0)
    h.end(ts_end=3.0)
    analysis.finish()
    (ex, _) = [r for r in out if type(r) is records.Exchange]
    assert [(p.protocol, p.kind, p.name) for p in ex.app.packets] == [
        ("socket.io", "event", "news"), ("engine.io", "ping", None)]
    events = [r for r in out if type(r) is records.SseEvent]
    assert (events[0].app.protocol, events[0].app.kind, events[0].app.id) == ("jsonrpc", "result", "1")
    assert events[1].app is msgspec.UNSET


def test_json_rpc_response_bodies_and_plain_json_bodies():
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    for conn, body in (("r", b'{"jsonrpc":"2.0","result":{"tools":[]},"id":"7"}'), ("j", b'{"items":[1,2]}')):
        ex = records.Exchange(conn=conn, method="POST", url="http://h/rpc", status=200,
                              content_type="application/json", ts_request=1.0, ts_response=1.2, ts_end=None,
                              request_body_bytes=10, response_body_bytes=None)
        h = analysis.begin_exchange(ex)
        h.body(body[:9], 1.2)
        h.body(body[9:], 1.2)
        h.end(ts_end=1.3)
    analysis.finish()
    rpc, plain = [r for r in out if type(r) is records.Exchange]
    assert (rpc.app.protocol, rpc.app.kind, rpc.app.id, rpc.app.args) == ("jsonrpc", "result", "7", {"tools": []})
    assert plain.app is msgspec.UNSET


def test_an_operation_follows_the_message_that_ended_it_within_one_batch():
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    ws = analysis.websocket("c1", handshake=_handshake("http://h/socket.io/?EIO=4&transport=websocket"))
    ws.data("client", b"".join(build_frame(1, p, mask=b"abcd") for p in (b'421["a"]', b'422["b"]')), 2.0)
    ws.data("server", b"".join(build_frame(1, p) for p in (b"431[]", b"432[]", b'2')), 3.0)
    analysis.finish()
    kinds = [(type(r).__name__, r.app.kind if type(r) is records.Message else None) for r in out
             if type(r) is records.Operation or type(r) is records.Message and r.direction == "server"]
    assert kinds == [("Message", "ack"), ("Operation", None), ("Message", "ack"), ("Operation", None),
                     ("Message", "ping")]


def test_a_bug_in_a_decoder_stops_only_the_application_layer(monkeypatch):
    from inspector.app.socketio import SocketIoDecoder

    def broken(self, *args):
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(SocketIoDecoder, "message", broken)
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=False))
    ws = analysis.websocket("c1", handshake=_handshake("http://h/socket.io/?EIO=4&transport=websocket"))
    for i, (direction, payload) in enumerate(SOCKETIO):
        ws.data(direction, build_frame(1, payload, mask=b"abcd" if direction == "client" else None), 2.0 + i)
    analysis.finish()
    messages = [r for r in out if type(r) is records.Message]
    assert [m.text.encode() for m in messages] == [p for _, p in SOCKETIO]
    assert all(m.app is msgspec.UNSET for m in messages)
    (warning,) = [r for r in out if type(r) is records.WarningRecord]
    assert warning.name == "internal-error" and "decoder bug" in warning.message and warning.count == 1
