"""Engine.IO / Socket.IO decoding on packets from the protocols' specifications
(socket.io-protocol and engine.io-protocol READMEs), and a fuzz test: no exception escapes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.app.base import Operations
from inspector.app.socketio import SocketIoDecoder, decode_polling, parse_engineio, parse_socketio


def test_spec_packets():
    p = parse_socketio('2["hello",1]')
    assert (p.kind, p.channel, p.name, p.args, p.id) == ("event", "/", "hello", [1], None)
    p = parse_socketio('2/admin,456["project:delete",123]')
    assert (p.kind, p.channel, p.name, p.id, p.args) == ("event", "/admin", "project:delete", "456", [123])
    p = parse_socketio('3/admin,456[]')
    assert (p.kind, p.channel, p.id, p.args) == ("ack", "/admin", "456", [])
    p = parse_socketio('51-["hello",{"_placeholder":true,"num":0}]')
    assert (p.kind, p.attachments, p.name) == ("binary_event", 1, "hello")
    p = parse_socketio('61-/admin,456[{"_placeholder":true,"num":0}]')
    assert (p.kind, p.attachments, p.channel, p.id) == ("binary_ack", 1, "/admin", "456")
    p = parse_socketio('4{"message":"Not authorized"}')
    assert (p.kind, p.args) == ("connect_error", {"message": "Not authorized"})
    assert parse_socketio('4"Not authorized"', eio=3).kind == "error"
    assert parse_socketio("1/admin,").kind == "disconnect"
    assert parse_socketio('0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}').channel == "/admin"


def test_engineio_packets():
    open_ = parse_engineio('0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000}')
    assert (open_.protocol, open_.kind, open_.id) == ("engine.io", "open", "lv_VI97HAXpY6yYWAAAC")
    assert (parse_engineio("2probe").kind, parse_engineio("2probe").args) == ("ping", "probe")
    assert parse_engineio("3").kind == "pong" and parse_engineio("5").kind == "upgrade"
    assert parse_engineio("4hello").protocol == "socket.io" and parse_engineio("4hello").error
    assert parse_engineio("x").error and parse_engineio("").error


def test_bad_payloads_are_errors_with_the_head_decoded():
    p = parse_socketio('22["chat","cut here')
    assert p.kind == "event" and p.id == "2" and p.name == "chat" and p.error.startswith("not JSON")
    assert parse_socketio("9").error and parse_socketio("5x").error
    assert parse_socketio("2{}").error == "event payload is not an array starting with the event name"


def test_polling_payloads_v4_and_v3():
    v4 = decode_polling(b'4hello\x1e2\x1e42["chat","hi"]\x1ebAQID', eio=4)
    kinds = [(p.protocol, p.kind) for p in v4.packets]
    assert kinds[1:] == [("engine.io", "ping"), ("socket.io", "event"), ("engine.io", "binary")]
    assert v4.packets[3].args == 3
    v3 = decode_polling('2:4é9:42["a",1]1:2'.encode(), eio=3)  # lengths count characters, not bytes
    assert v3.error is None and [p.kind for p in v3.packets] == ["unknown", "event", "ping"]
    assert v3.packets[1].args == [1]
    v3 = decode_polling(b'2:40', eio=3)
    assert [p.kind for p in v3.packets] == ["connect"] and v3.error is None
    assert decode_polling(b"9:40", eio=3).error == "v3 payload: the last packet is cut"
    assert decode_polling(b"\x00\x01\xff4", eio=3).error


def _decoder() -> SocketIoDecoder:
    return SocketIoDecoder(Operations("c", "socket.io"), 4)


def test_ack_operations_pair_by_namespace_id_and_direction():
    d = _decoder()
    d.message("client", b'421["chat"]', True, 1.0, False)
    d.message("server", b'421["push"]', True, 1.5, False)  # the server's own emit with id 1
    d.message("client", b"431[]", True, 2.0, False)  # answers the server's
    assert [(o.direction, o.name, o.latency_s) for o in d.ops.out] == [("server", "push", 0.5)]
    d.ops.finish(3.0)
    assert [(o.name, o.outcome, o.latency_s) for o in d.ops.out[1:]] == [("chat", "never answered", None)]


def test_connect_error_ends_the_connect_operation():
    d = _decoder()
    d.message("client", b"40/admin,", True, 1.0, False)
    d.message("server", b'44/admin,{"message":"Not authorized"}', True, 1.25, False)
    (op,) = d.ops.out
    assert (op.kind, op.channel, op.outcome, op.error, op.latency_s) == ("connect", "/admin", "error", "Not authorized", 0.25)


def test_attachments_follow_their_binary_packet():
    d = _decoder()
    d.message("client", b'452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', True, 1, False)
    a0 = d.message("client", b"\x01", False, 1, False)
    a1 = d.message("client", b"\x02", False, 1, False)
    plain = d.message("client", b"\x03", False, 1, False)
    assert [(a.kind, a.attachment) for a in (a0, a1)] == [("attachment", 0), ("attachment", 1)]
    assert (plain.protocol, plain.kind) == ("engine.io", "message")


_SAMPLES = [b'0{"sid":"x"}', b'421["chat",{"a":[1,2]}]', b'451-/n,7["b",{"_placeholder":true,"num":0}]',
            b'43/admin,1[]', b'44{"message":"no"}', b'2probe']


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.sampled_from(_SAMPLES).flatmap(lambda s: st.tuples(st.just(s), st.integers(0, len(s)),
                                                                       st.binary(max_size=8)))),
       st.booleans(), st.sampled_from([3, 4]))
def test_fuzz_never_raises_and_stays_bounded(data, text, eio):
    if isinstance(data, tuple):  # a specification packet with bytes spliced in at a random place
        sample, at, junk = data
        data = sample[:at] + junk + sample[at + len(junk):]
    d = SocketIoDecoder(Operations("c", "socket.io"), eio)
    for direction in ("client", "server"):
        layer = d.message(direction, data, text, 1.0, False)
        assert layer is not None and len(layer.name or "") <= 256 and len(layer.channel or "") <= 256
    polling = decode_polling(data, eio)
    assert len(polling.packets or []) <= 1024
    d.ops.finish(2.0)
    assert all(o.outcome for o in d.ops.out)
