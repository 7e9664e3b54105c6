"""WebSocketStream (inspector.ws.stream): every violation name, chunking, gaps, bounds, independent senders."""

from __future__ import annotations

import hashlib
import os
import random
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from wsproto.frame_protocol import FrameProtocol

from inspector.ws import violations as V
from inspector.ws.deflate import DeflateParams
from inspector.errors import InputError
from inspector.ws.schema import build_frame
from inspector.records import Frame, Message, WarningRecord, to_dict
from inspector.ws.stream import WebSocketStream

from helpers.memory import peak_of

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
K = b"\x01\x02\x03\x04"


def c(opcode, payload=b"", **kw):
    """A client frame (masked unless mask=None is given)."""
    kw.setdefault("mask", K)
    return build_frame(opcode, payload, **kw)


def s(opcode, payload=b"", **kw):
    """A server frame (unmasked unless a mask is given)."""
    return build_frame(opcode, payload, **kw)


def deflated(text: bytes) -> bytes:
    comp = zlib.compressobj(wbits=-15)
    data = comp.compress(text) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def bomb(size: int) -> bytes:
    """A compressed message payload (tail removed) that inflates to ``size`` zero bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (comp.compress(bytes(size)) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]


def run(direction, data, deflate=None, **kw):
    stream = WebSocketStream("t", deflate=deflate, **kw)
    out = stream.feed(direction, data, 1.0) + stream.end(2.0)
    return [r for r in out if type(r) is Frame], [r for r in out if type(r) is Message], out


PMD = DeflateParams()

# name -> (fire cases, near-miss cases); a case: (direction, bytes, deflate, index of the frame
# that must carry the name). Near misses must not show the name on any frame.
CASES = {
    V.TRUNCATED: (
        [("server", bytes.fromhex("81054865"), None, 0),
         ("server", s(1, b"ok") + bytes.fromhex("81"), None, 1),
         ("client", c(2, b"x" * 300)[:10], None, 0)],
        [("server", bytes.fromhex("010348656c"), None, None)],  # ends between frames, inside a message
    ),
    V.RSV_WITHOUT_EXTENSION: (
        [("server", s(1, b"hi", rsv1=True), None, 0),
         ("server", s(1, b"hi", rsv2=True), PMD, 0),
         ("client", c(9, b"", rsv3=True), PMD, 0)],
        [("server", s(1, deflated(b"hi"), rsv1=True), PMD, None)],
    ),
    V.RSV1_ON_CONTROL_OR_CONTINUATION: (
        [("server", s(9, b"", rsv1=True), PMD, 0),
         ("server", s(1, deflated(b"ab"), fin=False, rsv1=True) + s(0, b"", rsv1=True), PMD, 1)],
        [("server", s(1, deflated(b"ab"), fin=False, rsv1=True) + s(0, b""), PMD, None),
         ("server", s(9, b"", rsv1=True), None, None)],  # no deflate: rsv-without-extension instead
    ),
    V.RESERVED_OPCODE: (
        [("server", s(3, b"x"), None, 0), ("server", s(0xB, b""), None, 0), ("server", s(0xF), None, 0)],
        [("server", s(2, b"x") + s(0xA, b""), None, None)],
    ),
    V.CONTROL_FRAME_TOO_LONG: (
        [("server", s(9, b"p" * 126), None, 0), ("client", c(8, b"\x03\xe8" + b"r" * 124), None, 0)],
        [("server", s(9, b"p" * 125), None, None), ("server", s(2, b"p" * 126), None, None)],
    ),
    V.FRAGMENTED_CONTROL_FRAME: (
        [("server", s(9, b"", fin=False), None, 0), ("server", s(8, b"", fin=False), None, 0)],
        [("server", s(1, b"a", fin=False) + s(0, b"b"), None, None)],
    ),
    V.NON_MINIMAL_LENGTH: (
        [("server", s(2, b"x" * 125, length_encoding="16bit"), None, 0),
         ("server", s(2, b"x" * 65535, length_encoding="64bit"), None, 0),
         ("server", s(1, b"", length_encoding="64bit"), None, 0)],
        [("server", s(2, b"x" * 126, length_encoding="16bit"), None, None),
         ("server", s(2, b"x" * 65536, length_encoding="64bit"), None, None)],
    ),
    V.LENGTH_MSB_SET: (
        [("server", bytes([0x82, 0x7F]) + (2**63).to_bytes(8, "big") + b"x", None, 0)],
        [("server", bytes([0x82, 0x7F]) + (2**63 - 1).to_bytes(8, "big") + b"x", None, None)],
    ),
    V.CLIENT_FRAME_UNMASKED: (
        [("client", c(1, b"hi", mask=None), None, 0)],
        [("server", s(1, b"hi"), None, None), ("client", c(1, b"hi"), None, None)],
    ),
    V.SERVER_FRAME_MASKED: (
        [("server", s(1, b"hi", mask=K), None, 0)],
        [("client", c(1, b"hi"), None, None), ("server", s(1, b"hi"), None, None)],
    ),
    V.CONTINUATION_WITHOUT_START: (
        [("server", s(0, b"x"), None, 0), ("server", s(1, b"a") + s(0, b"b"), None, 1)],
        [("server", s(1, b"a", fin=False) + s(9) + s(0, b"b"), None, None)],
    ),
    V.NEW_MESSAGE_WHILE_FRAGMENTED: (
        [("server", s(1, b"a", fin=False) + s(2, b"b"), None, 1),
         ("server", s(2, b"a", fin=False) + s(0, b"b", fin=False) + s(1, b"c", fin=False), None, 2)],
        [("server", s(1, b"a", fin=False) + s(10) + s(8, b"\x03\xe8") + s(0, b"b"), None, None),
         ("server", s(1, b"a") + s(2, b"b"), None, None)],
    ),
    V.INVALID_UTF8: (
        [("server", s(1, b"\xff"), None, 0),
         ("server", s(1, b"ab", fin=False) + s(0, b"\xed\xa0\x80") + s(0, b"x"), None, 1),
         ("server", s(1, b"a\xc3", fin=False) + s(0, b""), None, 1),  # ends inside a sequence
         ("server", s(1, b"\xe2\x82", fin=False) + s(0, b"(") + s(0, b"x"), None, 1),
         ("client", c(8, b"\x03\xe8\xc0\xaf"), None, 0),
         ("server", s(1, deflated(b"ok \xf8"), rsv1=True), PMD, 0)],
        [("server", s(1, b"a\xc3", fin=False) + s(0, b"\xa9"), None, None),  # é split across frames
         ("server", s(1, "\ufffe\uffff\ufffd\U0010ffff".encode()), None, None),
         ("server", s(2, b"\xff"), None, None),
         ("client", c(8, b"\x03\xe8" + "é".encode()), None, None)],
    ),
    V.CLOSE_PAYLOAD_LENGTH_1: (
        [("server", s(8, b"\x03"), None, 0)],
        [("server", s(8, b""), None, None), ("server", s(8, b"\x03\xe8"), None, None)],
    ),
    V.INVALID_CLOSE_CODE: (
        [("server", s(8, code.to_bytes(2, "big")), None, 0)
         for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)],
        [("server", s(8, code.to_bytes(2, "big") + b"bye"), None, None)
         for code in (1000, 1001, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999)],
    ),
    V.DATA_AFTER_CLOSE: (
        [("client", c(8, b"\x03\xe8") + c(1, b"late"), None, 1),
         ("client", c(8) + c(9) + c(2, b"x"), None, 2),
         ("client", c(8) + c(0, b"x"), None, 1)],
        [("client", c(8) + c(9) + c(10), None, None), ("client", c(1, b"x") + c(8), None, None)],
    ),
}


def test_every_violation_name_has_cases():
    assert set(CASES) == set(V.ALL)


@pytest.mark.parametrize("engine", ["fast", "construct"])
@pytest.mark.parametrize("name", V.ALL)
def test_violation_fires(name, engine):
    fire, _ = CASES[name]
    for direction, data, deflate, index in fire:
        frames, _, _ = run(direction, data, deflate, engine=engine)
        assert name in frames[index].violations, (data.hex(), [f.violations for f in frames])
        assert all(name not in f.violations for i, f in enumerate(frames) if i != index)


@pytest.mark.parametrize("engine", ["fast", "construct"])
@pytest.mark.parametrize("name", V.ALL)
def test_violation_near_miss(name, engine):
    _, misses = CASES[name]
    for direction, data, deflate, _ in misses:
        frames, _, _ = run(direction, data, deflate, engine=engine)
        assert frames
        assert all(name not in f.violations for f in frames), (data.hex(), [f.violations for f in frames])


@pytest.mark.parametrize("name", V.ALL)
def test_violation_same_one_byte_at_a_time(name):
    fire, misses = CASES[name]
    for direction, data, deflate, _ in fire + misses:
        whole = run(direction, data, deflate)[2]
        stream = WebSocketStream("t", deflate=deflate, buffer_limit=8)
        pieces = []
        for i in range(len(data)):
            pieces += stream.feed(direction, data[i : i + 1], 1.0)
        pieces += stream.end(2.0)
        assert [to_dict(r) for r in pieces] == [to_dict(r) for r in whole]


@pytest.mark.parametrize("name", V.ALL)
def test_violation_same_one_frame_per_feed(name):
    """Each frame in its own feed (a capture's usual segment): the one-frame fast path where it
    applies, with the same records as the whole input in one feed."""
    fire, misses = CASES[name]
    for direction, data, deflate, _ in fire + misses:
        whole = run(direction, data, deflate)[2]
        cuts = [f.offset for f in whole if type(f) is Frame][1:] + [len(data)]
        stream = WebSocketStream("t", deflate=deflate)
        pieces, pos = [], 0
        for cut in cuts:
            pieces += stream.feed(direction, data[pos:cut], 1.0)
            pos = cut
        pieces += stream.end(2.0)
        assert [to_dict(r) for r in pieces] == [to_dict(r) for r in whole]


def test_continuation_without_start_keeps_state():
    # a stray continuation between two fragments does not end or join the message
    frames, messages, _ = run("server", s(1, b"ab", fin=False) + s(0, b"cd", fin=False) + s(0, b"ef"), None)
    assert [m.text for m in messages] == ["abcdef"]
    frames, messages, _ = run("server", s(0, b"zz") + s(1, b"ab", fin=False) + s(0, b"ef"), None)
    assert frames[0].violations == [V.CONTINUATION_WITHOUT_START]
    assert [m.text for m in messages] == ["abef"] and messages[0].frames == 2


def test_new_message_while_fragmented_reports_the_abandoned_message():
    _, messages, _ = run("server", s(1, b"old", fin=False) + s(2, b"new"), None)
    assert [(m.opcode_name, m.complete, m.length) for m in messages] == [("text", False, 3), ("binary", True, 3)]


def test_frame_record_fields():
    frames, messages, _ = run("client", c(1, b"Hello", length_encoding="16bit"), None)
    f = to_dict(frames[0])
    assert f == {
        "type": "frame", "conn": "t", "direction": "client", "ts": 1.0, "index": 0, "fin": True,
        "rsv1": False, "rsv2": False, "rsv3": False, "opcode": 1, "opcode_name": "text", "masked": True,
        "masking_key": "01020304", "payload_len": 5, "violations": [V.NON_MINIMAL_LENGTH], "offset": 0,
        "length_encoding": "16bit", "complete": True, "payload": None,
    }
    m = to_dict(messages[0])
    assert m["sha256"] == hashlib.sha256(b"Hello").hexdigest()
    assert (m["text"], m["length"], m["frames"], m["compressed"], m["wire_length"]) == ("Hello", 5, 1, False, 5)


def test_frame_payloads_opt_in_and_capped():
    stream = WebSocketStream("t", frame_payloads=True, view_cap=4)
    out = stream.feed("client", c(1, b"Hello"), 0.0)
    assert out[0].payload == b"Hell".hex()
    plain = WebSocketStream("t").feed("client", c(1, b"Hello"), 0.0)
    assert plain[0].payload is None and "payload" in to_dict(plain[0])


def test_view_cap_truncates_text_and_data_but_hashes_everything():
    text = "ü" * 300
    _, messages, _ = run("server", s(1, text.encode()) + s(2, bytes(range(256)) * 2), None, view_cap=10)
    t, b = messages
    assert t.text == "ü" * 10 and t.truncated and t.length == 600
    assert t.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert b.data == bytes(range(10)).hex() and b.truncated and b.length == 512


def test_close_record():
    _, messages, _ = run("server", s(8, b"\x03\xe9going"), None)
    m = messages[0]
    assert (m.opcode_name, m.close_code, m.close_reason, m.close_code_name) == ("close", 1001, "going", "Going Away")
    _, messages, _ = run("server", s(8, b""), None)
    assert messages[0].close_code is None and messages[0].close_reason is None


def test_ping_pong_data():
    _, messages, _ = run("client", c(9, b"\x00\x01") + c(10, b"xyz"), None)
    assert [(m.opcode_name, m.data) for m in messages] == [("ping", "0001"), ("pong", "78797a")]


def test_feed_message_whole_messages():
    stream = WebSocketStream("h")
    out = stream.feed_message("server", 1, b'{"a": 1}', 5.0)
    out += stream.feed_message("client", 2, b"\x00\xff", 6.0, compressed=False)
    out += stream.feed_message("server", 8, b"\x03\xe8", 7.0)
    out += stream.feed_message("server", 1, b"\xff", 8.0)
    assert all(type(r) is Message for r in out)
    assert [(m.opcode_name, m.frames, m.compressed) for m in out] == [
        ("text", None, None), ("binary", None, False), ("close", None, None), ("text", None, None)
    ]
    assert out[0].text == '{"a": 1}' and out[1].data == "00ff" and out[2].close_code == 1000
    assert out[3].violations == [V.DATA_AFTER_CLOSE, V.INVALID_UTF8]


def test_feed_message_compressed_payload_is_inflated():
    stream = WebSocketStream("h", deflate=PMD)
    (m,) = stream.feed_message("server", 1, deflated(b"hello hello"), 1.0, compressed=True)
    assert m.text == "hello hello" and m.compressed is True and m.wire_length == len(deflated(b"hello hello"))


def test_bad_direction_is_input_error():
    with pytest.raises(InputError):
        WebSocketStream("t").feed("sideways", b"", 0.0)


def test_gap_reports_cut_frame_then_resyncs_without_blaming_the_sender():
    stream = WebSocketStream("g")
    out = stream.feed("server", s(1, b"ab", fin=False), 1.0)
    out += stream.feed("server", s(0, b"cdef", fin=False)[:4], 1.0)
    out += stream.gap("server")
    frames = [r for r in out if type(r) is Frame]
    assert frames[-1].violations == [V.TRUNCATED] and not frames[-1].complete
    assert frames[-1].ts == 1.0  # the time of the last bytes seen
    assert [m.complete for m in out if type(m) is Message] == [False]
    assert not [w for w in out if type(w) is WarningRecord]  # the ws-gap warning comes with the whole story
    # after the gap: the cut message's last fragments, then new messages, one frame per segment
    after = [s(0, b"gh", fin=False), s(0, b"ij"), s(9, b"p"), s(1, b"next"), s(2, b"\x00\x01"), s(1, b"last")]
    out = []
    for chunk in after:
        out += stream.feed("server", chunk, 2.0)
    frames = [r for r in out if type(r) is Frame]
    assert [f.opcode for f in frames] == [0, 0, 9, 1, 2, 1]
    assert all(not f.violations for f in frames)  # no continuation-without-start: the gap did it
    got = [(m.opcode_name, m.text or m.data) for m in out if type(m) is Message]
    assert got == [("ping", "70"), ("text", "next"), ("binary", "0001"), ("text", "last")]
    # the other direction was never affected
    assert [type(r) for r in stream.feed("client", c(1, b"ok"), 2.0)] == [Frame, Message]
    # the warning comes once the story is known (here: at the end, the resync still on probation)
    out += stream.end(3.0)
    (warning,) = [w for w in out if type(w) is WarningRecord]
    assert warning.name == "ws-gap" and "skipping 0 bytes" in warning.message
    assert "2 continuation frame(s)" in warning.message
    assert stream.end(4.0) == []


def test_wrong_resync_is_withdrawn_when_a_violation_follows():
    """Bytes that chain like frames for a while, then a frame with a violation: the resync is
    withdrawn, the bad frame is not reported, and decoding resumes at the real frames after it."""
    stream = WebSocketStream("w")
    stream.gap("server")
    fake = s(2, b"ab") + s(2, b"cd")  # plausible, confirmed by the segment boundaries
    out = stream.feed("server", fake, 1.0)
    out += stream.feed("server", s(2, b"ef") + s(3, b"reserved opcode: not a real frame"), 1.0)
    real = [s(1, b"one"), s(1, b"two"), s(1, b"three")]
    for chunk in real:
        out += stream.feed("server", chunk, 2.0)
    out += stream.end(3.0)
    frames = [f for f in out if type(f) is Frame]
    assert all(not f.violations for f in frames)
    assert [m.data or m.text for m in out if type(m) is Message] == ["6162", "6364", "6566", "one", "two", "three"]
    (warning,) = [w for w in out if type(w) is WarningRecord]
    assert "was withdrawn (frame 3 after it shows reserved-opcode)" in warning.message


def test_gap_inside_a_big_frame_skips_its_tail_and_resumes_at_the_next_frame():
    # Fixed bytes: random ones resync inside the tail now and then (the ~1e-5 per segment measured by
    # test_random_garbage_after_a_gap_invents_almost_nothing), which is not what this test is about.
    big = s(2, random.Random(5000).randbytes(5000))
    stream = WebSocketStream("g")
    out = stream.feed("server", big[:1400], 1.0) + stream.gap("server")
    rest = big[2800:] + s(1, b"one") + s(1, b"two") + s(1, b"three")
    for i in range(0, len(big) - 2800, 1400):  # the big frame's tail, in segments
        out += stream.feed("server", rest[i : min(i + 1400, len(big) - 2800)], 2.0)
    for chunk in (s(1, b"one"), s(1, b"two"), s(1, b"three")):
        out += stream.feed("server", chunk, 2.0)
    out += stream.end(3.0)
    texts = [m.text for m in out if type(m) is Message and m.complete]
    assert texts == ["one", "two", "three"]
    (warning,) = [w for w in out if type(w) is WarningRecord]
    assert f"skipping {len(big) - 2800} bytes" in warning.message


def test_gap_without_a_convincing_boundary_decodes_nothing_and_says_so():
    stream = WebSocketStream("g")
    out = stream.feed("client", c(1, b"hi"), 1.0) + stream.gap("client")
    out += stream.feed("client", random.Random(3000).randbytes(3000), 2.0) + stream.end(3.0)  # fixed: see above
    assert [type(r) for r in out[:2]] == [Frame, Message]
    (warning,) = [w for w in out if type(w) is WarningRecord]
    assert "not resynchronised: 3000 bytes" in warning.message
    assert len(out) == 3


@pytest.mark.parametrize("no_takeover", [False, True])
def test_gap_loses_the_deflate_window_unless_no_context_takeover(no_takeover):
    params = DeflateParams(server_no_context_takeover=no_takeover)
    comp = zlib.compressobj(wbits=-15)

    def compressed(text: bytes) -> bytes:
        nonlocal comp
        if no_takeover:
            comp = zlib.compressobj(wbits=-15)
        return s(1, (comp.compress(text) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4], rsv1=True)

    stream = WebSocketStream("d", deflate=params)
    out = stream.feed("server", compressed(b"before the gap, before the gap"), 1.0)
    compressed(b"lost in the gap: the window now holds these bytes")
    out += stream.gap("server")
    for chunk in (compressed(b"before the gap, after the gap"), s(1, b"plain"), compressed(b"again")):
        out += stream.feed("server", chunk, 2.0)
    out += stream.end(3.0)
    messages = [m for m in out if type(m) is Message]
    assert messages[0].text == "before the gap, before the gap"
    if no_takeover:
        assert [m.text for m in messages[1:]] == ["before the gap, after the gap", "plain", "again"]
        assert all(m.inflate_error is None for m in messages)
    else:
        # the window the sender compressed against went with the gap: reported, never garbage
        assert [(m.inflate_error, m.text) for m in messages[1:]] == [
            ("context-lost", ""), (None, "plain"), ("context-lost", "")]
        lost = [w for w in out if type(w) is WarningRecord and w.name == "inflate-context-lost"]
        assert len(lost) == 2 and "gap" in lost[0].message
    assert not any(f.violations for f in out if type(f) is Frame)


@pytest.mark.parametrize("direction", ["client", "server"])
@pytest.mark.parametrize("params", [None, PMD])
def test_random_garbage_after_a_gap_invents_almost_nothing(direction, params):
    """Random bytes (what masked client payloads and compressed data look like) in segment-sized
    feeds after a gap: resyncs on garbage are rare (see Resync) and withdrawn at the first violation,
    so invented frames stay few and carry no invented violation."""
    import random

    rng = random.Random(f"{direction}{params}")
    stream = WebSocketStream("r", deflate=params)
    stream.gap(direction)
    out = []
    for _ in range(1500):  # ~1 MB
        out += stream.feed(direction, rng.randbytes(rng.choice([rng.randint(1, 1460), 1460])), 1.0)
    out += stream.end(2.0)
    frames = [f for f in out if type(f) is Frame]
    assert len(frames) <= 20
    # a wrong resync is withdrawn at the first violation, which is never reported
    assert all(set(f.violations) <= {V.TRUNCATED} for f in frames)


@pytest.mark.parametrize("direction", ["client", "server"])
def test_gap_inside_a_big_frame_rarely_invents_a_frame_before_the_next_segment(direction):
    """The usual gap: it cuts a big frame, whose random tail ends where the next frames' segments
    start. Those real frames must not vouch for a fake frame ending exactly on that segment boundary
    (before the rule in `Resync` that an unanchored start needs two headers of its own, ~3.8% of such
    gaps invented a frame or lost the next messages; now ~0.04%)."""
    rng = random.Random(direction)
    build = c if direction == "client" else s
    bad = 0
    for _ in range(1500):
        big = build(2, rng.randbytes(rng.randint(2000, 6000)))
        stream = WebSocketStream("g")
        out = stream.feed(direction, big[:1400], 1.0) + stream.gap(direction)
        tail = big[2800:]
        for i in range(0, len(tail), 1400):
            out += stream.feed(direction, tail[i : i + 1400], 2.0)
        for text in (b"one", b"two", b"three"):
            out += stream.feed(direction, build(1, text), 3.0)
        out += stream.end(4.0)
        texts = [m.text for m in out if type(m) is Message and m.complete]
        bad += texts != ["one", "two", "three"]
    assert bad <= 3  # without the rule: 30 and 31 of these 1500


def test_resync_inside_a_segment_needs_two_frames_before_its_boundary():
    """The price of that rule: after a gap, a segment holding the cut frame's tail and then two whole
    frames resyncs inside the segment (both decoded); with only one, that frame is skipped and counted,
    and decoding resumes at the next segment."""
    tail = random.Random(1).randbytes(900)
    for inside, expected in (([b"a", b"b"], ["a", "b", "next"]), ([b"a"], ["next"])):
        stream = WebSocketStream("g")
        out = stream.feed("server", s(2, bytes(3000))[:1400], 1.0) + stream.gap("server")
        segment = tail + b"".join(s(1, t) for t in inside)
        out += stream.feed("server", segment, 2.0) + stream.feed("server", s(1, b"next"), 3.0)
        out += stream.feed("server", s(1, b"last"), 4.0) + stream.end(5.0)
        texts = [m.text for m in out if type(m) is Message and m.complete]
        assert texts == expected + ["last"]
        (warning,) = [w for w in out if type(w) is WarningRecord]
        skipped = len(tail) + (3 if len(inside) == 1 else 0)
        assert f"after skipping {skipped} bytes" in warning.message


def test_end_is_idempotent_and_reports_unfinished_message():
    stream = WebSocketStream("e")
    stream.feed("client", c(1, b"ab", fin=False), 1.0)
    out = stream.end(2.0)
    assert [(type(r), r.complete) for r in out] == [(Message, False)]
    assert all(V.TRUNCATED not in m.violations for m in out)
    assert stream.end(3.0) == []


# -- random input -----------------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20), st.sampled_from(["client", "server"]),
       st.booleans(), st.booleans())
def test_random_bytes_never_raise_and_chunking_does_not_matter(data, chunking, direction, deflate, fpay):
    params = PMD if deflate else None
    whole = run(direction, data, params, frame_payloads=fpay)[2]
    stream = WebSocketStream("t", deflate=params, frame_payloads=fpay, buffer_limit=16)
    out, pos = [], 0
    for size in chunking:
        out += stream.feed(direction, data[pos : pos + size], 1.0)
        pos += size
    out += stream.feed(direction, data[pos:], 1.0) + stream.end(2.0)
    assert [to_dict(r) for r in out] == [to_dict(r) for r in whole]
    frames = [r for r in whole if type(r) is Frame]
    assert [f.index for f in frames] == list(range(len(frames)))


@pytest.mark.timeout(120)
def test_large_random_streams_decode_to_consistent_frames():
    rnd = os.urandom(200_000)
    for direction in ("client", "server"):
        for params in (PMD, None):
            frames, messages, out = run(direction, rnd, params)
            offsets = [f.offset for f in frames]
            assert offsets == sorted(set(offsets)) and offsets[0] == 0
            assert all(f.complete for f in frames[:-1])
            assert frames[-1].complete or V.TRUNCATED in frames[-1].violations


# -- bounds -----------------------------------------------------------------------------------------


def test_huge_length_claim_costs_nothing():
    head = bytes([0x82, 0xFF]) + (2**63 - 1).to_bytes(8, "big") + K
    stream = WebSocketStream("big")

    def feed():
        out = stream.feed("client", head, 1.0)
        for _ in range(50):
            out += stream.feed("client", os.urandom(20_000), 1.0)
        return out + stream.end(2.0)

    out, peak = peak_of(feed)
    assert peak < 2 << 20
    frame, message = out
    assert frame.payload_len == 2**63 - 1 and frame.violations == [V.TRUNCATED]
    assert message.length == 1_000_000 and not message.complete


@pytest.mark.parametrize("alone", [False, True], ids=["with-next-message", "alone-in-its-chunk"])
def test_deflate_bomb_is_bounded_and_reported(alone):
    """``alone``: the bomb is the only frame of its chunk (the one-frame fast path), the next message
    arrives in a chunk of its own."""
    frames = [s(2, bomb(100 << 20), rsv1=True), s(2, deflated(b"next"), rsv1=True)]
    chunks = frames if alone else [b"".join(frames)]
    stream = WebSocketStream("bomb", deflate=PMD, max_message=1 << 20)
    out, peak = peak_of(lambda: [r for chunk in chunks for r in stream.feed("server", chunk, 1.0)])
    assert peak < 8 << 20
    warnings = [r for r in out if type(r) is WarningRecord]
    assert [w.name for w in warnings] == ["inflate-limit", "inflate-context-lost"]
    messages = [r for r in out if type(r) is Message]
    assert messages[0].inflate_error == "limit" and messages[0].length <= 1 << 20
    # shared context is gone (server context takeover), so the next message cannot be inflated
    assert messages[1].inflate_error == "context-lost"


def test_deflate_bomb_with_no_context_takeover_next_message_inflates():
    params = DeflateParams(server_no_context_takeover=True)
    stream = WebSocketStream("bomb", deflate=params, max_message=1 << 16)
    out = stream.feed("server", s(2, bomb(10 << 20), rsv1=True) + s(1, deflated(b"next"), rsv1=True), 1.0)
    messages = [r for r in out if type(r) is Message]
    assert messages[0].inflate_error == "limit"
    assert messages[1].text == "next" and messages[1].inflate_error is None


# -- independent senders ----------------------------------------------------------------------------

messages_strategy = st.lists(
    st.tuples(st.sampled_from(["text", "binary", "ping", "pong", "frag"]), st.binary(max_size=300),
              st.lists(st.integers(0, 300), max_size=3)),
    max_size=8,
)


@SETTINGS
@given(messages_strategy, st.lists(st.integers(1, 200), max_size=20))
def test_wsproto_sender_messages_decode_to_what_was_sent(items, chunking):
    sender = FrameProtocol(client=True, extensions=[])
    data, sent = b"", []
    for kind, payload, cuts in items:
        if kind in ("ping", "pong"):
            payload = payload[:125]
            data += sender.ping(payload) if kind == "ping" else sender.pong(payload)
            sent.append((kind, payload))
        elif kind == "frag":
            text = payload.decode("latin-1")
            points = sorted({min(c, len(text)) for c in cuts})
            parts = [text[a:b] for a, b in zip([0] + points, points + [len(text)])]
            for i, part in enumerate(parts):
                data += sender.send_data(part, fin=i == len(parts) - 1)
            sent.append(("text", text.encode()))
        else:
            value = payload.decode("latin-1") if kind == "text" else payload
            data += sender.send_data(value, fin=True)
            sent.append((kind, payload.decode("latin-1").encode() if kind == "text" else payload))
    stream = WebSocketStream("w")
    out, pos = [], 0
    for size in chunking:
        out += stream.feed("client", data[pos : pos + size], 1.0)
        pos += size
    out += stream.feed("client", data[pos:], 1.0) + stream.end(2.0)
    assert all(not r.violations for r in out if type(r) is Frame)
    got = [(m.opcode_name, m.sha256, m.length) for m in out if type(m) is Message]
    assert got == [(kind, hashlib.sha256(p).hexdigest(), len(p)) for kind, p in sent]


@pytest.mark.parametrize("no_takeover", [False, True])
@pytest.mark.parametrize("bits", [9, 10, 12, 15])
def test_websockets_permessage_deflate_sender(no_takeover, bits):
    from websockets.extensions.permessage_deflate import PerMessageDeflate

    # the client side of websockets compresses; we inflate what it sent
    ext = PerMessageDeflate(remote_no_context_takeover=False, local_no_context_takeover=no_takeover,
                            remote_max_window_bits=15, local_max_window_bits=bits)
    params = DeflateParams(client_no_context_takeover=no_takeover, client_max_window_bits=bits)
    rnd = __import__("random").Random(bits * 2 + no_takeover)
    data, sent = b"", []
    for i in range(30):
        body = ("message %d " % i + "".join(rnd.choice("abcé€𝄞 ") for _ in range(rnd.randint(0, 3000)))).encode()
        if i % 3 == 0:  # fragmented, with websockets' empty final fragment
            parts = [body[:7], body[7:]]
            frames = [WsFrame(Opcode.TEXT, parts[0], fin=False), WsFrame(Opcode.CONT, parts[1], fin=False),
                      WsFrame(Opcode.CONT, b"", fin=True)]
        else:
            frames = [WsFrame(Opcode.TEXT if i % 2 else Opcode.BINARY, body)]
        for f in frames:
            data += f.serialize(mask=True, extensions=[ext])
        data += WsFrame(Opcode.PING, b"%d" % i).serialize(mask=True, extensions=[ext])
        sent.append(body)
    stream = WebSocketStream("pmd", deflate=params)
    out = []
    for j in range(0, len(data), 1000):
        out += stream.feed("client", data[j : j + 1000], 1.0)
    out += stream.end(2.0)
    assert all(not r.violations for r in out if type(r) is Frame)
    assert not [r for r in out if type(r) is WarningRecord]
    got = [m for m in out if type(m) is Message and m.opcode_name in ("text", "binary")]
    assert [m.sha256 for m in got] == [hashlib.sha256(b).hexdigest() for b in sent]
    assert all(m.compressed for m in got)
    assert [m.frames for m in got] == [3 if i % 3 == 0 else 1 for i in range(30)]


ws_frames = st.lists(
    st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE]),
              st.binary(max_size=2000), st.integers(0, 3)),
    max_size=8,
)


@SETTINGS
@given(ws_frames, st.booleans(), st.lists(st.integers(1, 300), max_size=20))
def test_websockets_serialize_stream_decodes_to_same_frames_and_messages(items, masked, chunking):
    """websockets' Frame.serialize writes the stream (data messages split into 1-4 fragments, control
    frames between them); our frames match websockets' own parse, our messages what was sent."""
    data, expected_frames, sent = b"", [], []
    for opcode, payload, splits in items:
        if opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
            payload = payload[:125] if opcode != Opcode.CLOSE else b"\x03\xe8" + payload[:20].hex().encode()
            frames = [WsFrame(opcode, payload)]
        else:
            if opcode == Opcode.TEXT:
                payload = payload.decode("latin-1").encode()
            step = max(1, len(payload) // (splits + 1))
            parts = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
            frames = [WsFrame(opcode if i == 0 else Opcode.CONT, part, fin=i == len(parts) - 1)
                      for i, part in enumerate(parts)]
        for f in frames:
            data += f.serialize(mask=masked)
            expected_frames.append((f.opcode.value, f.fin, len(f.data)))
        sent.append((opcode.name.lower(), payload))
        if opcode == Opcode.CLOSE:
            break
    direction = "client" if masked else "server"
    stream = WebSocketStream("wsk")
    out, pos = [], 0
    for size in chunking:
        out += stream.feed(direction, data[pos : pos + size], 1.0)
        pos += size
    out += stream.feed(direction, data[pos:], 1.0) + stream.end(2.0)
    frames = [r for r in out if type(r) is Frame]
    assert [(f.opcode, f.fin, f.payload_len) for f in frames] == expected_frames
    assert all(not f.violations and f.masked == masked for f in frames)
    messages = [r for r in out if type(r) is Message]
    assert [(m.opcode_name, m.sha256) for m in messages] == [
        (name, hashlib.sha256(p).hexdigest()) for name, p in sent
    ]


# -- the one-frame-per-feed fast path (FrameDecoder.whole + MessageAssembler.whole) ----------------

whole_frame_st = st.tuples(
    st.sampled_from([0, 1, 2, 8, 9]),
    st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
              st.sampled_from([b"\xc3", b"ok\xed\xa0\x80", b"\xff" * 130, "é".encode() * 200])),
    st.sampled_from(["deflate", "garbage", "plain"]),  # RSV1 payload: really deflated, junk, or not set
    st.booleans(),  # fin
    st.booleans(),  # masked as the direction requires
)


def _whole_chunks(frames, direction, params):
    """One wire frame per chunk; compressed ones deflated as the sender would (shared context unless
    no_context_takeover)."""
    no_takeover = params is not None and params.for_sender(direction)[0]
    comp = zlib.compressobj(wbits=-15)
    chunks = []
    for op, payload, rsv1, fin, right_mask in frames:
        if rsv1 == "deflate" and op in (1, 2):
            if no_takeover:
                comp = zlib.compressobj(wbits=-15)
            payload = comp.compress(payload) + comp.flush(zlib.Z_SYNC_FLUSH)
            payload = payload[:-4]
        elif op >= 8:
            payload = payload[:125]
        masked = (direction == "client") == right_mask
        chunks.append(build_frame(op, payload, fin=fin or op != 0 and op < 8, rsv1=rsv1 != "plain",
                                  mask=K if masked else None))
    return chunks


def _general(chunks, direction, params, **kw):
    """The general path: FrameDecoder.feed events through MessageAssembler(fast=False)."""
    from inspector.ws.decoder import FrameDecoder
    from inspector.ws.messages import MessageAssembler

    dec = FrameDecoder(direction, deflate=params is not None)
    asm = MessageAssembler("t", direction, deflate=params, fast=False, **kw)
    out = []
    for chunk in chunks:
        out += asm.process(dec.feed(chunk), 1.0)
    return out + asm.end(dec.end(), 2.0)


@SETTINGS
@given(st.lists(whole_frame_st, max_size=10), st.sampled_from(["client", "server"]),
       st.sampled_from([None, PMD, DeflateParams(client_no_context_takeover=True,
                                                 server_no_context_takeover=True)]),
       st.sampled_from([64 << 20, 40]), st.integers(1, 50), st.none() | st.lists(st.integers(1, 400), max_size=8))
def test_whole_path_equals_general_path_and_construct_engine(frames, direction, params, max_message, cap, cuts):
    """One frame per feed (FrameDecoder.whole), or the frames rechunked at random (FrameDecoder.feed_clean
    for runs of clean frames, split frames buffered across feeds)."""
    chunks = _whole_chunks(frames, direction, params)
    if cuts is not None:
        joined, chunks, pos = b"".join(chunks), [], 0
        for size in cuts:
            chunks.append(joined[pos : pos + size])
            pos += size
        chunks.append(joined[pos:])
    kw = dict(deflate=params, max_message=max_message, view_cap=cap)
    results = []
    for engine in ("fast", "construct"):
        stream = WebSocketStream("t", engine=engine, **kw)
        out = []
        for chunk in chunks:
            out += stream.feed(direction, chunk, 1.0)
        results.append([to_dict(r) for r in out + stream.end(2.0)])
    general = [to_dict(r) for r in _general(chunks, direction, params, max_message=max_message, view_cap=cap)]
    assert results[0] == general
    assert results[1] == general


def test_message_cut_off_by_a_truncated_frame_keeps_its_last_frames_time():
    """A fragment (ts 1.0), then the header of a new text frame whose payload never arrives: the first
    message is incomplete with the time of its last frame, whether the cut frame is held to the end of
    input or streamed (a small buffer limit), as Message.ts is defined."""
    data = bytes.fromhex("0100" "0111")
    for kw in ({}, {"buffer_limit": 16}):
        out = run("client", data, **kw)[1]
        assert [(m.ts, m.complete) for m in out] == [(1.0, False), (2.0, False)]


@pytest.mark.parametrize("params", [PMD, DeflateParams(server_no_context_takeover=True)])
def test_corrupt_one_frame_message_counts_what_inflated_before_the_error(params):
    """A payload that inflates to 3 bytes and fails only once the 00 00 ff ff tail follows: the one-call
    fast path reports the bytes the general path (payload, then tail) inflated before the error, after a
    first message that fills the shared window too."""
    corrupt = bytes.fromhex("335f973daa")
    before = zlib.decompressobj(-15).decompress(corrupt)  # zlib alone: what inflates before the tail
    comp = zlib.compressobj(wbits=-15)
    first = (comp.compress(b"x" * 300) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
    for frames in ([corrupt], [first, corrupt]):
        chunks = [s(1, payload, rsv1=True) for payload in frames]
        general = [to_dict(r) for r in _general(chunks, "server", params)]
        for engine in ("fast", "construct"):
            stream = WebSocketStream("t", deflate=params, engine=engine)
            out = [to_dict(r) for chunk in chunks for r in stream.feed("server", chunk, 1.0)] + [
                to_dict(r) for r in stream.end(2.0)]
            assert out == general
        if len(frames) == 1:
            (message,) = [r for r in general if r["type"] == "message"]
            assert message["inflate_error"] == "error" and message["length"] == len(before) == 3


@pytest.mark.parametrize("params", [PMD, DeflateParams(server_no_context_takeover=True)])
def test_whole_path_message_bigger_than_one_inflate_piece(params):
    """A one-frame message inflating past one 64 KiB piece leaves the fast path for the streaming one;
    the next message (shared context) still inflates."""
    comp = zlib.compressobj(wbits=-15)
    big = os.urandom(50_000) * 4
    chunks = [s(2, (comp.compress(big) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4], rsv1=True)]
    if params.server_no_context_takeover:
        comp = zlib.compressobj(wbits=-15)
    chunks.append(s(1, (comp.compress(b"after") + comp.flush(zlib.Z_SYNC_FLUSH))[:-4], rsv1=True))
    outs = []
    for engine in ("fast", "construct"):
        stream = WebSocketStream("t", deflate=params, engine=engine)
        outs.append([to_dict(r) for chunk in chunks for r in stream.feed("server", chunk, 1.0)])
    assert outs[0] == outs[1]
    messages = [r for r in outs[0] if r["type"] == "message"]
    assert messages[0]["sha256"] == hashlib.sha256(big).hexdigest() and messages[0]["length"] == len(big)
    assert messages[1]["text"] == "after" and messages[1]["inflate_error"] is None


# -- gaps in real captures: a segment dropped from the fixtures ---------------------------------------


def _capture_without(tmp_path, name: str, drop: int):
    """Records of fixtures/pcap/NAME.pcap with its packet number ``drop`` removed (a lost segment)."""
    import dpkt

    from inspector.sources.pcap import records

    with open(FIXTURES / f"{name}.pcap", "rb") as f:
        pkts = list(dpkt.pcap.Reader(f))
    path = tmp_path / f"{name}-{drop}.pcap"
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=262144)
        for i, (ts, buf) in enumerate(pkts):
            if i != drop:
                writer.writepkt(buf, ts)
    return records(str(path), strict=True)


def _data_segments(name: str) -> list[tuple[int, str, bool]]:
    """(packet number, direction, holds a pong) of the WebSocket data segments (after both handshake
    segments)."""
    import json

    import dpkt

    port = json.loads((FIXTURES / f"{name}.expected.json").read_text())["port"]
    with open(FIXTURES / f"{name}.pcap", "rb") as f:
        pkts = list(dpkt.pcap.Reader(f))
    out = []
    for i, (_, buf) in enumerate(pkts):
        tcp = dpkt.ethernet.Ethernet(buf).data.data
        if tcp.data:
            out.append((i, "server" if tcp.sport == port else "client", tcp.data[0] == 0x8A))
    return out[2:]


FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[2] / "fixtures" / "pcap"


def _sent_key(m: dict) -> tuple:
    return (m["opcode"], m["length"] if "length" in m else None, m.get("sha256"))


def _got_key(m: Message) -> tuple:
    if m.opcode_name in ("ping", "close"):
        return (m.opcode_name, m.length if m.opcode_name == "ping" else None, None)
    return (m.opcode_name, m.length, m.sha256)


@pytest.mark.parametrize("name", ["ws_plain", "ws_deflate"])
def test_dropped_segment_loses_one_message_and_the_rest_decodes_as_sent(tmp_path, name):
    """Every data segment of a real capture dropped in turn: the message it belonged to is lost
    (reported incomplete or skipped), every other message decodes to what the library sent, and no
    frame carries an invented violation. With permessage-deflate (context takeover) the compressed
    messages after the gap are reported ``context-lost`` instead of being inflated into garbage."""
    import json

    sent_all = json.loads((FIXTURES / f"{name}.expected.json").read_text())["sent"]
    for drop, direction, pong in _data_segments(name):
        recs = _capture_without(tmp_path, name, drop)
        frames = [f for f in recs if type(f) is Frame and f.direction == direction]
        assert all(set(f.violations) <= {V.TRUNCATED} for f in recs if type(f) is Frame), drop
        got = [m for m in recs if type(m) is Message and m.direction == direction and m.opcode_name != "pong"]
        sent = [m for m in sent_all[direction] if m["opcode"] != "pong"]
        complete = [m for m in got if m.complete]
        assert len(complete) == len(sent) - (not pong), (drop, [_got_key(m) for m in got])
        # the first message that is not what was sent (or cannot be checked: context lost) marks the gap
        lost = next((i for i, (m, w) in enumerate(zip(complete + [None], sent)) if m is None or
                     m.inflate_error is not None or _got_key(m) != _sent_key(w)), len(sent))
        for i, (m, want) in enumerate(zip(complete, sent[:lost] + sent[lost + 1 :])):
            assert m.opcode_name == want["opcode"], drop
            if m.inflate_error is None:
                assert _got_key(m) == _sent_key(want), drop
                if want["opcode"] == "close":
                    assert (m.close_code, m.close_reason) == (want["close_code"], want["close_reason"])
            else:  # a compressed message after the gap, context takeover
                assert name == "ws_deflate" and m.inflate_error == "context-lost" and m.compressed, drop
                assert i >= lost and not m.text, drop
            if i >= lost and m.compressed:
                assert m.inflate_error == "context-lost", drop
        (warning,) = [w for w in recs if type(w) is WarningRecord and w.name == "ws-gap"]
        assert "; resynchronised at" in warning.message or "; nothing followed it" in warning.message, drop
        assert frames


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["text", "binary", "ping", "frag"]), st.binary(max_size=3000)),
                min_size=2, max_size=12),
       st.sampled_from(["client", "server"]), st.booleans(), st.data())
def test_hole_in_library_bytes_gives_prefix_and_suffix_of_what_was_sent(items, direction, coalesce, data):
    """wsproto frames messages; the bytes go in as segments (one per frame, or frames cut into
    1460-byte pieces and neighbours merged at random) and one segment is lost. What decodes is what
    was sent before the hole and what was sent after it (a prefix and a suffix of the messages), never a
    message that was not sent; with one frame per segment at most the message of the hole is lost."""
    sender = FrameProtocol(client=direction == "client", extensions=[])
    frames, sent = [], []
    for kind, payload in items:
        if kind == "ping":
            frames.append(sender.ping(payload[:125]))
            sent.append(("ping", payload[:125]))
        elif kind == "frag":
            text = payload.decode("latin-1")
            frames.append(sender.send_data(text[: len(text) // 2], fin=False))
            frames.append(sender.send_data(text[len(text) // 2 :], fin=True))
            sent.append(("text", text.encode()))
        else:
            value = payload.decode("latin-1") if kind == "text" else payload
            frames.append(sender.send_data(value, fin=True))
            sent.append((kind, value.encode() if kind == "text" else payload))
    if coalesce:
        pieces = [f[i : i + 1460] for f in frames for i in range(0, len(f), 1460)]
        segments = []
        for piece in pieces:
            if segments and data.draw(st.booleans()):
                segments[-1] += piece
            else:
                segments.append(piece)
    else:
        segments = frames
    hole = data.draw(st.integers(0, len(segments) - 1))
    stream = WebSocketStream("h")
    out = []
    for i, segment in enumerate(segments):
        out += stream.gap(direction) if i == hole else stream.feed(direction, segment, 1.0)
    out += stream.end(2.0)
    assert all(set(f.violations) <= {V.TRUNCATED} for f in out if type(f) is Frame)
    got = [(m.opcode_name, m.sha256) for m in out if type(m) is Message and m.complete]
    want = [(kind, hashlib.sha256(p).hexdigest()) for kind, p in sent]
    a = next((i for i, (g, w) in enumerate(zip(got + [None], want)) if g != w), len(want))
    b = len(want) - (len(got) - a)
    assert a <= b and got == want[:a] + want[b:]
    if not coalesce:
        assert b - a <= 1
