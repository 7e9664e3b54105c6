"""SignalR (JSON and MessagePack hub protocols), STOMP 1.2, MQTT 3.1.1/5, Phoenix channels and
ActionCable on the examples of their specifications (SignalR HubProtocol.md, the STOMP 1.2 spec, the MQTT
OASIS standards' packet layouts, Phoenix's serializers, ActionCable's protocol), the registry's choice,
and a fuzz test per decoder: no exception escapes, outputs stay bounded."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.app import registry
from inspector.app.actioncable import ActionCableDecoder
from inspector.app.base import Operations
from inspector.app.mqtt import MqttDecoder
from inspector.app.phoenix import PhoenixDecoder
from inspector.app.signalr import SignalRDecoder, msgpack_records
from inspector.app.stomp import StompDecoder, parse_frames


def _new(cls, protocol):
    return cls(Operations("c", protocol))


def test_signalr_json_spec_messages_and_operations():
    d = _new(SignalRDecoder, "signalr")
    hs = d.message("client", b'{"protocol":"json","version":1}\x1e', True, 0.0, False)
    assert (hs.kind, hs.name) == ("handshake", "json")
    assert d.message("server", b"{}\x1e", True, 0.1, False).error is None
    inv = d.message("client", b'{"type":1,"invocationId":"123","target":"Send","arguments":[42,"Test Message"]}\x1e',
                    True, 1.0, False)
    assert (inv.kind, inv.id, inv.name, inv.args) == ("invocation", "123", "Send", [42, "Test Message"])
    d.message("client", b'{"type":4,"invocationId":"124","target":"Count","arguments":[42]}\x1e', True, 1.0, False)
    both = d.message("server", b'{"type":2,"invocationId":"124","item":42}\x1e{"type":3,"invocationId":"123",'
                               b'"error":"It didn\'t work!"}\x1e', True, 1.5, False)
    assert [p.kind for p in both.packets] == ["stream_item", "completion"]
    d.message("client", b'{"type":5,"invocationId":"124"}\x1e', True, 2.0, False)
    assert d.message("server", b'{"type":6}\x1e', True, 2.0, False).kind == "ping"
    close = d.message("server", b'{"type":7,"error":"Connection closed because of an error!"}\x1e', True, 3, False)
    assert (close.kind, close.error) == ("close", "Connection closed because of an error!")
    assert [(o.name, o.outcome, o.error, o.messages, o.latency_s) for o in d.ops.out] == [
        ("Send", "error", "It didn't work!", 0, 0.5), ("Count", "cancelled", None, 1, 1.0)]


def test_signalr_messagepack_spec_bytes():
    # HubProtocol.md: Invocation [1, {}, "xyz", "method", [42]], length-prefixed
    body = bytes([0x95, 0x01, 0x80, 0xA3, 0x78, 0x79, 0x7A, 0xA6, 0x6D, 0x65, 0x74, 0x68, 0x6F, 0x64, 0x91, 0x2A])
    (inv,) = msgpack_records(bytes([len(body)]) + body)
    assert (inv.kind, inv.id, inv.name, inv.args) == ("invocation", "xyz", "method", [42])
    d = _new(SignalRDecoder, "signalr")
    d.message("client", b'{"protocol":"messagepack","version":1}\x1e', True, 0, False)
    d.message("server", b"{}\x1e", True, 0, False)
    d.message("client", bytes([len(body)]) + body, False, 1.0, False)
    done = msgpack.packb([3, {}, "xyz", 3, {"ok": b"\x00\x01"}])
    layer = d.message("server", bytes([len(done)]) + done, False, 1.25, False)
    assert (layer.kind, layer.args) == ("completion", {"ok": "<2 bytes>"})
    assert [(o.name, o.outcome, o.latency_s) for o in d.ops.out] == [("method", "ok", 0.25)]
    assert msgpack_records(b"\x05\x95")[0].error == "record cut or bad length prefix"


def test_stomp_spec_frames_and_receipts():
    d = _new(StompDecoder, "stomp")
    d.message("client", b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\x00", True, 0.0, False)
    assert d.message("server", b"CONNECTED\nversion:1.2\n\n\x00", True, 0.5, False).kind == "connected"
    send = d.message("client", b"SEND\ndestination:/queue/a\ncontent-type:text/plain\nreceipt:message-12345\n\n"
                               b"hello queue a\x00", True, 1.0, False)
    assert (send.kind, send.channel, send.id, send.args["body"]) == ("send", "/queue/a", "message-12345", "hello queue a")
    msg = d.message("server", b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\n\nhello\x00\n",
                    True, 1.1, False)
    assert (msg.kind, msg.id, msg.channel) == ("message", "0", "/queue/a")
    d.message("client", b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nreceipt:77\n\n\x00", True, 2.0, False)
    err = d.message("server", b"ERROR\nreceipt-id:77\nmessage:malformed frame received\n\nThe message:\n\x00",
                    True, 2.5, False)
    assert (err.kind, err.name) == ("error", "malformed frame received")
    d.message("server", b"RECEIPT\nreceipt-id:message-12345\n\n\x00", True, 3.0, False)
    assert [(o.kind, o.outcome, o.latency_s) for o in d.ops.out] == [
        ("connect", "ok", 0.5), ("subscribe", "error", 0.5), ("send", "ok", 2.0)]
    assert [p.kind for p in parse_frames(b"\n")] == ["heartbeat"]
    assert parse_frames(b"SEND\ndestination:/a\\cb\n\n\x00")[0].channel == "/a:b"
    assert parse_frames(b"SEND\ndestination:/a")[0].error == "frame without its NUL terminator"


CONNECT = bytes([0x10, 0x0C, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0])
PUBLISH_QOS1 = bytes([0x32, 9, 0, 3]) + b"a/b" + bytes([0, 1]) + b"hi"
SUBSCRIBE = bytes([0x82, 8, 0, 2, 0, 3]) + b"a/b" + bytes([1])


def test_mqtt_packets_split_and_joined_across_messages():
    d = _new(MqttDecoder, "mqtt")
    assert d.message("client", CONNECT, False, 0.0, False).name == ""
    assert d.message("server", bytes([0x20, 2, 0, 0]), False, 0.1, False).kind == "connack"
    joined = d.message("client", PUBLISH_QOS1 + SUBSCRIBE[:3], False, 1.0, False)  # one and a bit
    assert (joined.kind, joined.channel, joined.id, joined.args["qos"]) == ("publish", "a/b", "1", 1)
    rest = d.message("client", SUBSCRIBE[3:], False, 1.0, False)
    assert (rest.kind, rest.channel, rest.id) == ("subscribe", "a/b", "2")
    both = d.message("server", bytes([0x40, 2, 0, 1, 0x90, 3, 0, 2, 0x80]), False, 1.5, False)
    assert [p.kind for p in both.packets] == ["puback", "suback"] and both.packets[1].error == "refused: 128"
    assert d.message("client", bytes([0xC0]), False, 2, False).kind == "partial"
    assert d.message("client", bytes([0]), False, 2, False).kind == "pingreq"
    assert [(o.kind, o.outcome, o.latency_s) for o in d.ops.out] == [
        ("connect", "ok", 0.1), ("publish", "ok", 0.5), ("subscribe", "error", 0.5)]


def test_mqtt5_properties_are_skipped():
    d = _new(MqttDecoder, "mqtt")
    d.message("client", bytes([0x10, 0x0D, 0, 4]) + b"MQTT" + bytes([5, 2, 0, 60, 0, 0, 0]), False, 0, False)
    publish = bytes([0x32, 12, 0, 3]) + b"t/x" + bytes([0, 9, 2, 0x01, 1]) + b"ok"  # props: payload format 1
    layer = d.message("client", publish, False, 1, False)
    assert (layer.channel, layer.id, layer.args["bytes"], layer.error) == ("t/x", "9", 2, None)
    ack = d.message("server", bytes([0x40, 3, 0, 9, 0x87]), False, 2, False)
    assert ack.error == "failed: reason code 135"
    assert d.ops.out[-1].outcome == "error"


def test_phoenix_v2_arrays_and_v1_objects():
    d = _new(PhoenixDecoder, "phoenix")
    join = d.message("client", b'["1","1","room:lobby","phx_join",{}]', True, 1.0, False)
    assert (join.kind, join.channel, join.id) == ("join", "room:lobby", "1")
    reply = d.message("server", b'["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]', True, 1.5, False)
    assert (reply.kind, reply.name) == ("reply", "phx_join")
    d.message("client", b'{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":"2"}', True, 2, False)
    d.message("server", b'{"topic":"room:lobby","event":"phx_reply","payload":{"status":"error",'
                        b'"response":{"reason":"unauthorized"}},"ref":"2"}', True, 3, False)
    push = d.message("server", b'[null,null,"room:lobby","new_msg",{"body":"x"}]', True, 3, False)
    assert (push.kind, push.name, push.id) == ("event", "new_msg", None)
    assert [(o.kind, o.name, o.outcome) for o in d.ops.out] == [("join", "phx_join", "ok"),
                                                                ("event", "new_msg", "error")]


def test_actioncable_subscribe_confirm_and_messages():
    d = _new(ActionCableDecoder, "actioncable")
    ident = '{\\"channel\\":\\"ChatChannel\\",\\"room\\":\\"1\\"}'
    assert d.message("server", b'{"type":"welcome"}', True, 0, False).kind == "welcome"
    sub = d.message("client", f'{{"command":"subscribe","identifier":"{ident}"}}'.encode(), True, 1.0, False)
    assert (sub.kind, sub.channel) == ("subscribe", "ChatChannel")
    d.message("server", f'{{"identifier":"{ident}","type":"confirm_subscription"}}'.encode(), True, 1.2, False)
    speak = d.message("client", f'{{"command":"message","identifier":"{ident}",'
                                f'"data":"{{\\"action\\":\\"speak\\",\\"text\\":\\"hi\\"}}"}}'.encode(), True, 2, False)
    assert (speak.kind, speak.name, speak.args) == ("message", "speak", {"action": "speak", "text": "hi"})
    cast = d.message("server", f'{{"identifier":"{ident}","message":{{"text":"hi"}}}}'.encode(), True, 2, False)
    assert (cast.kind, cast.channel) == ("broadcast", "ChatChannel")
    assert d.message("server", b'{"type":"ping","message":1700000000}', True, 3, False).args == 1700000000
    (op,) = d.ops.out
    assert (op.kind, op.name, op.outcome) == ("subscribe", "ChatChannel", "ok") and op.latency_s == pytest.approx(0.2)


@pytest.mark.parametrize(("url", "subprotocol", "first", "protocol"), [
    ("http://h/hub", None, b'{"protocol":"json","version":1}\x1e', "signalr"),
    ("http://h/ws", "v12.stomp", b"", "stomp"),
    ("http://h/ws", None, b"STOMP\naccept-version:1.2\n\n\x00", "stomp"),
    ("http://h/mqtt", "mqtt", b"", "mqtt"),
    ("http://h/mqtt", None, CONNECT, "mqtt"),
    ("http://h/socket/websocket?vsn=2.0.0", None, b"", "phoenix"),
    ("http://h/cable", "actioncable-v1-json", b"", "actioncable"),
    ("http://h/plain", None, b"hello", None),
])
def test_registry_choice(url, subprotocol, first, protocol):
    factory = registry.choose(url, subprotocol) or registry.sniff(first)
    assert (factory("c").ops.protocol if factory else None) == protocol


_DECODERS = [(SignalRDecoder, "signalr"), (StompDecoder, "stomp"), (MqttDecoder, "mqtt"),
             (PhoenixDecoder, "phoenix"), (ActionCableDecoder, "actioncable")]
_SAMPLES = [CONNECT, PUBLISH_QOS1, SUBSCRIBE, b'{"type":1,"invocationId":"1","target":"a","arguments":[]}\x1e',
            b"SEND\ndestination:/q\nreceipt:1\n\nx\x00", b'["1","1","t","phx_join",{}]',
            b'{"command":"subscribe","identifier":"{\\"channel\\":\\"C\\"}"}', bytes([3]) + msgpack.packb([6])]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=120),
    st.sampled_from(_SAMPLES).flatmap(lambda s: st.tuples(st.just(s), st.integers(0, len(s)), st.binary(max_size=6))),
), min_size=1, max_size=6), st.booleans())
def test_fuzz_decoders_never_raise_and_stay_bounded(payloads, truncated):
    for cls, protocol in _DECODERS:
        d = _new(cls, protocol)
        for i, data in enumerate(payloads):
            if isinstance(data, tuple):  # a specification message with bytes spliced in at a random place
                sample, at, junk = data
                data = sample[:at] + junk + sample[at + len(junk):]
            for direction in ("client", "server"):
                layer = d.message(direction, data, i % 2 == 0, float(i), truncated)
                assert layer.protocol == protocol
                assert len(layer.packets or []) <= 256 and len(layer.name or "") <= 256
        d.ops.finish(99.0)
        assert all(o.outcome in ("ok", "error", "cancelled", "never answered") for o in d.ops.out)
        if protocol == "mqtt":  # what it buffers is at most one packet's worth of the input
            assert sum(len(b) for b in d._buf.values()) <= 2 * sum(
                len(p) if isinstance(p, bytes) else len(p[0]) + len(p[2]) for p in payloads)
