"""Frame schema, build_frame and FrameDecoder (inspector.ws.schema, inspector.ws.decoder), against RFC 6455 and wsproto/websockets."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader
from wsproto.frame_protocol import FrameProtocol, ParseFailed

from inspector.ws import violations as V
from inspector.errors import InputError
from inspector.ws.decoder import FrameDecoder
from inspector.ws.header import apply_mask
from inspector.ws.schema import FRAME, FRAME_COMPILED, HEADER_COMPILED, build_frame, parse_frame

from helpers.memory import peak_of

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = bytes.fromhex("37fa213d")


# -- the schema compiles to plain Python -----------------------------------------------------------


@pytest.mark.parametrize("compiled", [FRAME_COMPILED, HEADER_COMPILED], ids=["frame", "header"])
def test_compiled_schema_has_no_interpreted_fallback(compiled):
    source = compiled.source
    # construct emits linkedparsers[...]/linkedbuilders[...] calls for anything it cannot compile
    assert "linkedparsers[" not in source
    assert "linkedbuilders[" not in source
    assert "linkedinstances[" not in source
    assert "def parse_struct_" in source and "def build_struct_" in source
    assert "formatfield" in source  # struct-based integer fields, not bit-level parsing


def test_compiled_and_interpreted_schema_agree():
    data = build_frame(2, b"x" * 300, mask=KEY)
    assert dict(FRAME.parse(data)) | {"_io": None} == dict(FRAME_COMPILED.parse(data)) | {"_io": None}


# -- RFC 6455 section 5.7 examples, exact bytes ----------------------------------------------------

RFC_EXAMPLES = [
    # (description, wire bytes, frames as (fin, opcode, masked, key, payload))
    ("single-frame unmasked text", bytes.fromhex("810548656c6c6f"), [(True, 1, False, None, b"Hello")]),
    ("single-frame masked text", bytes.fromhex("818537fa213d7f9f4d5158"), [(True, 1, True, KEY, b"Hello")]),
    (
        "fragmented unmasked text",
        bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"),
        [(False, 1, False, None, b"Hel"), (True, 0, False, None, b"lo")],
    ),
    ("unmasked ping", bytes.fromhex("890548656c6c6f"), [(True, 9, False, None, b"Hello")]),
    ("masked pong", bytes.fromhex("8a8537fa213d7f9f4d5158"), [(True, 10, True, KEY, b"Hello")]),
    ("256 bytes binary, 16-bit length", bytes.fromhex("827e0100") + bytes(256), [(True, 2, False, None, bytes(256))]),
    (
        "64 KiB binary, 64-bit length",
        bytes.fromhex("827f0000000000010000") + bytes(65536),
        [(True, 2, False, None, bytes(65536))],
    ),
]


@pytest.mark.parametrize("desc,wire,expected", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc6455_examples_build(desc, wire, expected):
    built = b"".join(
        build_frame(op, payload, fin=fin, mask=key) for fin, op, _masked, key, payload in expected
    )
    assert built == wire


@pytest.mark.parametrize("engine", ["fast", "construct"])
@pytest.mark.parametrize("desc,wire,expected", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc6455_examples_decode(desc, wire, expected, engine):
    for step in (len(wire), 1, 7):
        dec = FrameDecoder(None, engine=engine)
        events = []
        for i in range(0, len(wire), step):
            events += dec.feed(wire[i : i + step])
        assert dec.end() == []
        got = _whole_frames(events)
        assert [(h.fin, h.opcode, h.masked, h.masking_key, p) for h, p in got] == expected
        assert all(not h.violations for h, _ in got)


def test_parse_frame_uses_schema_and_unmasks():
    fields, size = parse_frame(bytes.fromhex("818537fa213d7f9f4d5158") + b"rest")
    assert size == 11
    assert fields["payload"] == b"Hello"
    assert fields["masked_payload"] == bytes.fromhex("7f9f4d5158")
    assert (fields["fin"], fields["opcode"], fields["masked"], fields["payload_len"]) == (True, 1, True, 5)
    with pytest.raises(InputError):
        parse_frame(bytes.fromhex("8105486565"))
    with pytest.raises(InputError):
        parse_frame(b"\x81")


# -- build_frame ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding,prefix", [("7bit", "8105"), ("16bit", "817e0005"), ("64bit", "817f0000000000000005")]
)
def test_build_frame_forced_length_encoding(encoding, prefix):
    data = build_frame(1, b"Hello", length_encoding=encoding)
    assert data.hex() == prefix + b"Hello".hex()
    # websockets parses the payload back; wsproto (strict) rejects exactly the non-minimal ones
    assert _websockets_parse(data, mask=False)[0].data == b"Hello"
    proto = FrameProtocol(client=True, extensions=[])
    proto.receive_bytes(data)
    if encoding == "7bit":
        (frame,) = list(proto.received_frames())
        assert frame.payload == "Hello"
    else:
        with pytest.raises(ParseFailed, match="would have sufficed"):
            list(proto.received_frames())
    assert _decode(data)[0][0].violations == ([] if encoding == "7bit" else [V.NON_MINIMAL_LENGTH])


def _websockets_parse(data: bytes, mask: bool) -> list:
    """Frames websockets' parser reads from ``data`` (an independent decoder)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        gen = WsFrame.parse(reader.read_exact, mask=mask, max_size=None, extensions=[])
        try:
            next(gen)
        except StopIteration as stop:
            frames.append(stop.value)
        else:
            raise AssertionError("incomplete frame")
    return frames


def test_build_frame_rejects_impossible_requests():
    with pytest.raises(InputError):
        build_frame(16, b"")
    with pytest.raises(InputError):
        build_frame(1, b"x" * 126, length_encoding="7bit")
    with pytest.raises(InputError):
        build_frame(2, b"x" * 65536, length_encoding="16bit")
    with pytest.raises(InputError):
        build_frame(1, b"", mask=b"abc")
    with pytest.raises(InputError):
        build_frame(1, b"", length_encoding="8bit")


def test_build_frame_matches_websockets_serialize():
    for opcode, payload, fin in [(1, b"Hi", True), (2, os.urandom(300), False), (9, b"", True), (8, b"\x03\xe8", True)]:
        ours = build_frame(opcode, payload, fin=fin)
        theirs = WsFrame(Opcode(opcode), payload, fin=fin).serialize(mask=False)
        assert ours == theirs


def test_apply_mask_phases():
    payload = os.urandom(103)
    masked = apply_mask(payload, KEY)
    assert masked == bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    assert apply_mask(masked[:5], KEY) + apply_mask(masked[5:], KEY, 5 % 4) == payload
    assert apply_mask(b"", KEY) == b""


# -- decoding: chunking, engines, random input ------------------------------------------------------


def _whole_frames(events):
    """Join streamed payload pieces: [(header, payload)] per frame."""
    frames, pieces = [], []
    for event in events:
        if event.first:
            pieces = []
        pieces.append(event.payload)
        if event.last:
            frames.append((event.header, b"".join(pieces)))
    return frames


def _decode(data: bytes, chunking: list[int] | None = None, **kwargs):
    dec = FrameDecoder(**kwargs)
    events = []
    pos = 0
    for size in chunking or []:
        events += dec.feed(data[pos : pos + size])
        pos += size
    events += dec.feed(data[pos:])
    events += dec.end()
    return [(h, p) for h, p in _whole_frames(events)]


frame_fields = st.fixed_dictionaries(
    {
        "opcode": st.integers(0, 15),
        "payload": st.binary(max_size=300),
        "fin": st.booleans(),
        "rsv1": st.booleans(),
        "rsv2": st.booleans(),
        "rsv3": st.booleans(),
        "mask": st.none() | st.binary(min_size=4, max_size=4),
        "length_encoding": st.sampled_from([None, "7bit", "16bit", "64bit"]),
    }
).filter(
    lambda f: not (f["length_encoding"] == "7bit" and len(f["payload"]) > 125)
)


@SETTINGS
@given(st.lists(frame_fields, max_size=6), st.lists(st.integers(1, 40), max_size=30),
       st.sampled_from(["fast", "construct"]))
def test_build_decode_round_trip(frames, chunking, engine):
    data = b"".join(build_frame(**f) for f in frames)
    got = _decode(data, chunking, engine=engine, buffer_limit=64)
    assert len(got) == len(frames)
    offset = 0
    for (hdr, payload), f in zip(got, frames):
        assert hdr.complete
        assert (hdr.fin, hdr.rsv1, hdr.rsv2, hdr.rsv3, hdr.opcode) == (
            f["fin"], f["rsv1"], f["rsv2"], f["rsv3"], f["opcode"]
        )
        assert hdr.masked == (f["mask"] is not None)
        assert hdr.masking_key == f["mask"]
        assert payload == f["payload"]
        assert hdr.payload_len == len(f["payload"])
        assert hdr.offset == offset
        if f["length_encoding"]:
            assert hdr.length_encoding == f["length_encoding"]
        offset += len(build_frame(**f))


@SETTINGS
@given(st.lists(frame_fields, max_size=5))
def test_one_byte_at_a_time_equals_whole(frames):
    data = b"".join(build_frame(**f) for f in frames)
    whole = _decode(data, direction="client")
    bytewise = _decode(data, [1] * len(data), direction="client", buffer_limit=16)
    assert whole == bytewise


@SETTINGS
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=20),
       st.sampled_from(["client", "server", None]), st.booleans())
def test_random_bytes_fast_and_construct_engines_agree(data, chunking, direction, deflate):
    fast = _decode(data, chunking, direction=direction, deflate=deflate)
    slow = _decode(data, chunking, direction=direction, deflate=deflate, engine="construct")
    assert fast == slow
    # every byte is accounted for: frames tile the input
    pos = 0
    for hdr, payload in fast:
        assert hdr.offset == pos
        if not hdr.complete:
            assert V.TRUNCATED in hdr.violations
            break
        size = len(build_frame(hdr.opcode, payload, mask=hdr.masking_key, length_encoding=hdr.length_encoding))
        pos = hdr.offset + size
    else:
        assert pos == len(data)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([1, 2, 9, 10]), st.binary(max_size=200), st.booleans()), max_size=8),
       st.lists(st.integers(1, 30), max_size=20))
def test_decoder_matches_wsproto_on_wsproto_frames(items, chunking):
    """wsproto (client) frames these messages; our frames match what wsproto's server side parses."""
    sender = FrameProtocol(client=True, extensions=[])
    data = b""
    for opcode, payload, fin in items:
        if opcode in (9, 10):
            payload = payload[:125]
            data += sender.ping(payload) if opcode == 9 else sender.pong(payload)
        else:
            payload = payload.decode("latin-1") if opcode == 1 else payload
            data += sender.send_data(payload, fin=True)
    receiver = FrameProtocol(client=False, extensions=[])
    receiver.receive_bytes(data)
    theirs = list(receiver.received_frames())
    ours = _decode(data, chunking, direction="client")
    assert len(ours) == len(theirs)
    for (hdr, payload), frame in zip(ours, theirs):
        assert hdr.opcode == frame.opcode.value
        assert hdr.fin == frame.frame_finished == frame.message_finished
        assert not hdr.violations
        expected = frame.payload.encode() if isinstance(frame.payload, str) else bytes(frame.payload)
        assert payload == expected


# -- untrusted lengths ------------------------------------------------------------------------------


def test_2_63_length_claim_allocates_nothing():
    head = bytes([0x82, 0x7F]) + (2**63 - 1).to_bytes(8, "big")

    def feed():
        dec = FrameDecoder("server")
        events = dec.feed(head)
        for _ in range(100):
            events += dec.feed(b"\0" * 1000)
        return dec, events

    (dec, events), peak = peak_of(feed)
    assert peak < 1 << 20
    assert events[0].header.payload_len == 2**63 - 1
    assert sum(len(event.payload) for event in events) == 100_000
    (event,) = dec.end()
    hdr = event.header
    assert hdr.violations == [V.TRUNCATED] and not hdr.complete and event.last
    assert hdr.received == 100_000


def test_length_msb_set_is_streamed_and_named():
    head = bytes([0x82, 0x7F]) + (2**63 + 5).to_bytes(8, "big")
    dec = FrameDecoder("server")
    events = dec.feed(head + b"abc")
    assert events[0].header.violations == [V.LENGTH_MSB_SET]
    (event,) = dec.end()
    assert event.header.violations == [V.LENGTH_MSB_SET, V.TRUNCATED]


def test_big_frame_streams_in_pieces_with_bounded_buffer():
    payload = os.urandom(1 << 20)
    data = build_frame(2, payload, mask=KEY)
    dec = FrameDecoder("client", buffer_limit=1024)
    events = []
    for i in range(0, len(data), 4093):
        events += dec.feed(data[i : i + 4093])
        assert len(dec._buf) <= 1024 + 14
    assert len(events) > 200
    assert b"".join(event.payload for event in events) == payload
    assert events[0].first and events[-1].last


@pytest.mark.parametrize(
    "prefix,fields",
    [
        ("81", dict(fin=True, opcode=1, masked=None, payload_len=None, masking_key=None, length_encoding=None)),
        ("01fe00", dict(fin=False, opcode=1, masked=True, payload_len=None, length_encoding="16bit")),
        ("82fe0100aabb", dict(masked=True, payload_len=256, masking_key=None)),
        ("82fe0100aabbccdd4142", dict(masked=True, payload_len=256, masking_key=bytes.fromhex("aabbccdd"), received=2)),
        ("827f00000000", dict(payload_len=None, length_encoding="64bit", masked=False)),
    ],
)
def test_truncated_headers_report_known_fields_and_none(prefix, fields):
    dec = FrameDecoder(None)
    assert dec.feed(bytes.fromhex(prefix)) == []
    (event,) = dec.end()
    hdr, last = event.header, event.last
    assert last and not hdr.complete and V.TRUNCATED in hdr.violations
    for name, value in fields.items():
        assert getattr(hdr, name) == value, name


def test_stream_ending_between_frames_is_not_truncated():
    dec = FrameDecoder("server")
    dec.feed(bytes.fromhex("010348656c"))
    assert dec.end() == []


# -- FrameDecoder.whole: the one-frame-per-chunk fast path ------------------------------------------


@SETTINGS
@given(frame_fields, st.sampled_from(["client", "server", None]), st.booleans(), st.binary(max_size=2),
       st.integers(0, 40))
def test_whole_takes_exactly_the_clean_frames_the_schema_parses(f, direction, deflate, extra, offset):
    """`whole` accepts a chunk iff the construct schema parses it as exactly one frame that is FIN=1,
    text/binary, RSV2/3 clear, RSV1 only with deflate, minimal length <= 65535, masked as the direction
    requires, with no header violation; then its fields and unmasked payload are the schema's."""
    data = build_frame(**f) + extra
    dec = FrameDecoder(direction, deflate=deflate)
    dec.feed(b"\x82\x00" * (offset // 2) if direction != "client" else c_empty * (offset // 6))
    start = dec.offset
    got = dec.whole(data)
    fields, size = parse_frame(data)
    length_ok = (fields["len7"] < 126 or fields["len7"] == 126 and fields["payload_len"] >= 126)
    mask_ok = direction is None or fields["masked"] == (direction == "client")
    clean = (size == len(data) and fields["fin"] and fields["opcode"] in (1, 2) and not fields["rsv2"]
             and not fields["rsv3"] and (deflate or not fields["rsv1"]) and length_ok and mask_ok)
    if not clean:
        assert got is None and dec.offset == start
        return
    b0, key, payload, encoding, frame_offset = got.b0, got.masking_key, got.payload, got.length_encoding, got.offset
    assert got.header is None and got.payload_len == fields["payload_len"]
    assert b0 == data[0] and key == fields["masking_key"] and payload == fields["payload"]
    assert encoding == ("7bit" if fields["len7"] < 126 else "16bit") and frame_offset == start
    assert dec.offset == start + len(data)
    assert _decode(data, direction=direction, deflate=deflate)[0][0].violations == []


c_empty = build_frame(2, b"", mask=KEY)


def test_whole_declines_when_bytes_are_buffered_or_streaming_and_for_construct():
    frame = build_frame(1, b"hello")
    dec = FrameDecoder("server")
    dec.feed(frame[:3])
    assert dec.whole(frame) is None
    big = FrameDecoder("server", buffer_limit=8)
    big.feed(build_frame(2, b"x" * 100)[:20])
    assert big.whole(frame) is None
    assert FrameDecoder("server", engine="construct").whole(frame) is None
    got = FrameDecoder("server").whole(frame)
    assert (got.b0, got.masking_key, got.payload, got.length_encoding, got.offset) == (0x81, None, b"hello", "7bit", 0)


@SETTINGS
@given(st.lists(frame_fields, max_size=6), st.lists(st.integers(1, 300), max_size=10),
       st.sampled_from(["client", "server", None]), st.booleans())
def test_feed_clean_equals_feed(frames, chunking, direction, deflate):
    """`feed_clean` gives the same frames as `feed`: clean ones as tuples, the rest as events."""
    data = b"".join(build_frame(**f) for f in frames)

    def norm(hdr, payload):
        return (hdr.b0, hdr.masking_key, payload, hdr.length_encoding, hdr.offset, hdr.violations, hdr.complete)

    expected = [norm(h, p) for h, p in _decode(data, chunking, direction=direction, deflate=deflate,
                                                buffer_limit=128)]
    dec = FrameDecoder(direction, deflate=deflate, buffer_limit=128)
    got, pieces, pos = [], [], 0
    for size in chunking + [len(data)]:
        clean, events = dec.feed_clean(data[pos : pos + size])
        pos += size
        if clean:
            assert not pieces  # never inside a streamed frame
        assert all(e.header is None and e.payload_len == len(e.payload) for e in clean)
        got += [(e.b0, e.masking_key, e.payload, e.length_encoding, e.offset, [], True) for e in clean]
        for event in events + (dec.end() if pos >= len(data) else []):
            pieces = [event.payload] if event.first else pieces + [event.payload]
            if event.last:
                got.append(norm(event.header, b"".join(pieces)))
                pieces = []
    assert got == expected
