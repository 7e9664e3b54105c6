"""permessage-deflate (inspector.ws.deflate, and its use by WebSocketStream): RFC 7692 examples, parameters,
bounds, and what websockets' PerMessageDeflate actually sent."""

from __future__ import annotations

import hashlib
import random
import zlib

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode

from inspector.ws.deflate import DeflateParams, InflateLimit, Inflater
from inspector.ws.extensions import parse_extensions
from inspector.records import Frame, Message, WarningRecord
from inspector.ws.stream import WebSocketStream


def decode_server(data: bytes, params: DeflateParams = DeflateParams()):
    stream = WebSocketStream("d", deflate=params)
    out = stream.feed("server", data, 1.0) + stream.end(2.0)
    return (
        [r for r in out if type(r) is Frame],
        [r for r in out if type(r) is Message],
        [r for r in out if type(r) is WarningRecord],
    )


# -- RFC 7692 section 7.2.3 examples ----------------------------------------------------------------

RFC7692 = [
    ("7.2.3.1 one compressed block", "c107f248cdc9c90700", ["Hello"]),
    ("7.2.3.1 fragmented", "4103f248cd" "8004c9c90700", ["Hello"]),
    ("7.2.3.2 sharing LZ77 window", "c107f248cdc9c90700" "c105f200110000", ["Hello", "Hello"]),
    ("7.2.3.3 no compression block", "c10b000500faff48656c6c6f00", ["Hello"]),
    ("7.2.3.4 BFINAL set", "c108f348cdc9c907000" "0", ["Hello"]),
    ("7.2.3.5 two DEFLATE blocks", "c10df248050000 00ffffcac9c90700".replace(" ", ""), ["Hello"]),
]


@pytest.mark.parametrize("desc,wire,texts", RFC7692, ids=[r[0] for r in RFC7692])
def test_rfc7692_examples(desc, wire, texts):
    frames, messages, warnings = decode_server(bytes.fromhex(wire))
    assert [m.text for m in messages] == texts
    assert all(m.compressed for m in messages)
    assert not warnings
    assert all(not f.violations for f in frames)
    assert frames[0].rsv1


def test_rfc7692_shared_window_needs_context_takeover():
    # the second message refers back into the first one's window: with no_context_takeover it cannot
    # inflate, and that is reported, not raised
    wire = bytes.fromhex("c107f248cdc9c90700c105f200110000")
    _, messages, warnings = decode_server(wire, DeflateParams(server_no_context_takeover=True))
    assert messages[0].text == "Hello"
    assert messages[1].inflate_error == "error"
    assert [w.name for w in warnings] == ["inflate-error"]


def test_compressed_message_with_interleaved_ping():
    wire = bytes.fromhex("4103f248cd") + bytes.fromhex("8900") + bytes.fromhex("8004c9c90700")
    frames, messages, _ = decode_server(wire)
    assert [(m.opcode_name, m.text) for m in messages] == [("ping", None), ("text", "Hello")]
    assert messages[1].frames == 2 and messages[1].wire_length == 7 and messages[1].length == 5


# -- parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("permessage-deflate", DeflateParams()),
        ("permessage-deflate; client_max_window_bits=10", DeflateParams(client_max_window_bits=10)),
        ('Permessage-Deflate; server_max_window_bits="8"; server_no_context_takeover',
         DeflateParams(server_max_window_bits=8, server_no_context_takeover=True)),
        ("permessage-deflate; client_no_context_takeover; client_max_window_bits",
         DeflateParams(client_no_context_takeover=True)),
        ("x-webkit-deflate-frame, permessage-deflate;client_max_window_bits=15;server_max_window_bits=9",
         DeflateParams(server_max_window_bits=9)),
    ],
)
def test_params_parse(value, expected):
    assert DeflateParams.parse(value) == (expected, [])


@pytest.mark.parametrize(
    "value,problem",
    [
        ("permessage-deflate; client_max_window_bits=7", "8-15"),
        ("permessage-deflate; server_max_window_bits=16", "8-15"),
        ("permessage-deflate; server_max_window_bits=010", "8-15"),
        ("permessage-deflate; server_max_window_bits=ten", "8-15"),
        ("permessage-deflate; server_max_window_bits", "needs a value"),
        ("permessage-deflate; client_no_context_takeover=1", "takes no value"),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "duplicate"),
        ("permessage-deflate; client_max_window_bits=9; client_max_window_bits=10", "duplicate"),
        ("permessage-deflate; foo=1", "unknown parameter foo"),
        ("x-other", "no permessage-deflate"),
    ],
)
def test_params_parse_errors(value, problem):
    params, errors = DeflateParams.parse(value)
    assert params is None
    assert len(errors) == 1 and problem in errors[0]


def test_params_format_round_trip():
    p = DeflateParams(True, False, 10, 12)
    assert p.format() == ("permessage-deflate; client_no_context_takeover; client_max_window_bits=10; "
                          "server_max_window_bits=12")
    assert DeflateParams.parse(p.format()) == (p, [])
    assert DeflateParams().format() == "permessage-deflate"


def test_parse_extensions():
    assert parse_extensions('foo; a=1; b="x,y", permessage-deflate;;client_max_window_bits , ', lenient=True) == [
        ("foo", [("a", "1"), ("b", "x,y")]),
        ("permessage-deflate", [("client_max_window_bits", None)]),
    ]


def test_params_for_sender():
    p = DeflateParams(client_no_context_takeover=True, server_max_window_bits=9)
    assert p.for_sender("client") == (True, 15)
    assert p.for_sender("server") == (False, 9)


# -- bounded inflation ------------------------------------------------------------------------------


def test_inflater_pieces_and_limit_are_bounded():
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = comp.compress(bytes(50 << 20)) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 100_000
    inf = Inflater(limit=5 << 20, chunk=1 << 16)
    assert inf.begin()
    total = 0
    with pytest.raises(InflateLimit):
        for piece in inf.feed(bomb[:-4]):
            assert len(piece) <= 1 << 16
            total += len(piece)
    assert total <= 5 << 20
    assert inf.context_lost and not inf.begin()


def test_inflater_exact_limit_is_allowed():
    comp = zlib.compressobj(wbits=-15)
    data = comp.compress(b"a" * 1000) + comp.flush(zlib.Z_SYNC_FLUSH)
    inf = Inflater(limit=1000, chunk=7)
    inf.begin()
    out = b"".join(inf.feed(data[:-4])) + b"".join(inf.finish())
    assert out == b"a" * 1000


# -- what websockets sent ---------------------------------------------------------------------------


@pytest.mark.parametrize("server_no_takeover", [False, True])
@pytest.mark.parametrize("bits", [9, 11, 13, 15])
def test_websockets_server_compressed_stream(server_no_takeover, bits):
    """websockets as the server compresses (local = server); fragmented and whole messages."""
    ext = PerMessageDeflate(remote_no_context_takeover=False, local_no_context_takeover=server_no_takeover,
                            remote_max_window_bits=15, local_max_window_bits=bits)
    params = DeflateParams(server_no_context_takeover=server_no_takeover, server_max_window_bits=bits)
    rnd = random.Random(bits)
    common = b"".join(rnd.choice([b"alpha ", b"beta ", b"gamma ", b"\xce\xb4 "]) for _ in range(400))
    data, sent = b"", []
    for i in range(20):
        body = common[: rnd.randint(0, len(common))].decode("utf-8", "ignore").encode() + b"#%d" % i
        if i % 4 == 1:
            data += WsFrame(Opcode.BINARY, body[:5], fin=False).serialize(mask=False, extensions=[ext])
            data += WsFrame(Opcode.CONT, body[5:], fin=True).serialize(mask=False, extensions=[ext])
        else:
            data += WsFrame(Opcode.TEXT, body).serialize(mask=False, extensions=[ext])
        data += WsFrame(Opcode.PONG, b"").serialize(mask=False, extensions=[ext])
        sent.append(body)
    frames, messages, warnings = decode_server(data, params)
    assert not warnings and all(not f.violations for f in frames)
    data_messages = [m for m in messages if m.opcode_name != "pong"]
    assert [m.sha256 for m in data_messages] == [hashlib.sha256(b).hexdigest() for b in sent]
    assert [m.length for m in data_messages] == [len(b) for b in sent]
    # with context takeover, later messages compress better than alone: the window really is shared
    if not server_no_takeover:
        assert sum(m.wire_length for m in data_messages[10:]) < sum(len(b) for b in sent[10:]) / 5


def test_websockets_compressed_with_negotiated_small_window_inflates():
    ext = PerMessageDeflate(False, False, 15, 9)
    body = bytes(random.Random(1).randbytes(600)) * 3
    data = WsFrame(Opcode.BINARY, body).serialize(mask=False, extensions=[ext])
    _, messages, _ = decode_server(data, DeflateParams(server_max_window_bits=9))
    assert messages[0].sha256 == hashlib.sha256(body).hexdigest()


def _server_frame(b0: int, payload: bytes) -> bytes:
    """An unmasked frame, header written by hand from RFC 6455 5.2 (7- or 16-bit length)."""
    n = len(payload)
    return bytes([b0]) + (bytes([n]) if n < 126 else b"\x7e" + n.to_bytes(2, "big")) + payload


@pytest.mark.parametrize("bits", [10, 11, 15])
def test_back_reference_beyond_the_negotiated_window(bits):
    """A server that negotiated server_max_window_bits but compresses with zlib's 2^15 window: its second
    message copies 2000 bytes back into the first. websockets, receiving with the negotiated window,
    rejects it exactly when the window is smaller than 2000 bytes; so does inspector, and names it."""
    blob = random.Random(7).randbytes(2000)
    comp = zlib.compressobj(wbits=-15)
    payloads = [(comp.compress(blob) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4] for _ in range(2)]
    assert len(payloads[1]) < 100  # the second message is a back-reference, not a copy
    wire = b"".join(_server_frame(0xC2, p) for p in payloads)  # FIN, RSV1, binary

    receiver = PerMessageDeflate(False, False, bits, 15)  # websockets as the client receiving
    first = receiver.decode(WsFrame(Opcode.BINARY, payloads[0], rsv1=True))
    assert first.data == blob
    try:
        receiver.decode(WsFrame(Opcode.BINARY, payloads[1], rsv1=True))
        websockets_rejects = False
    except Exception:
        websockets_rejects = True
    assert websockets_rejects is (1 << bits < 2000)

    _, messages, warnings = decode_server(wire, DeflateParams(server_max_window_bits=bits))
    assert messages[0].sha256 == hashlib.sha256(blob).hexdigest()
    if websockets_rejects:
        assert messages[1].inflate_error == "window"
        (w,) = warnings
        assert w.name == "inflate-window-exceeded"
        assert f"{1 << bits}-byte window" in w.message and f"server_max_window_bits={bits}" in w.message
    else:
        assert messages[1].inflate_error is None and not warnings
        assert messages[1].sha256 == hashlib.sha256(blob).hexdigest()


@pytest.mark.parametrize("bits", [10, 15])
@pytest.mark.parametrize("fragmented", [False, True])
def test_bfinal_streams_keep_the_window_under_context_takeover(bits, fragmented):
    """RFC 7692 7.2.3.4 / 7.2.2: a sender that ends every message with a BFINAL block (zlib's Z_FINISH)
    and keeps its window (context takeover: the next stream is primed with the previous output) sends
    messages that refer back into earlier ones; each must inflate to what was sent."""
    rng = random.Random(bits)
    sent = [rng.randbytes(700)]
    for _ in range(11):  # 12 messages: more output than a window and the history kept beyond it
        sent.append(sent[-1][100:600] + rng.randbytes(200))
    wire, history = b"", b""
    for body in sent:
        comp = zlib.compressobj(wbits=-bits, zdict=history[-(1 << bits):]) if history else \
            zlib.compressobj(wbits=-bits)
        payload = comp.compress(body) + comp.flush(zlib.Z_FINISH)  # BFINAL=1, no 00 00 ff ff
        history += body
        if fragmented:
            half = len(payload) // 2
            wire += _server_frame(0x42, payload[:half]) + _server_frame(0x80, payload[half:])
        else:
            wire += _server_frame(0xC2, payload)
    _, messages, warnings = decode_server(wire, DeflateParams(server_max_window_bits=bits))
    assert not warnings
    assert [m.sha256 for m in messages] == [hashlib.sha256(b).hexdigest() for b in sent]
    assert [m.length for m in messages] == [len(b) for b in sent]
