"""The message layer (inspector.ws.messages): fragmentation, control frames, UTF-8 attribution, close,
and the fast path checked against the general path."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.ws import violations as V
from inspector.ws.deflate import DeflateParams
from inspector.ws.decoder import FrameDecoder
from inspector.ws.schema import build_frame
from inspector.ws.messages import MessageAssembler
from inspector.records import Frame, Message, to_dict

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assemble(data: bytes, direction="server", fast=True, pieces=None, **kw):
    dec = FrameDecoder(direction, deflate=kw.get("deflate") is not None)
    asm = MessageAssembler("m", direction, fast=fast, **kw)
    out = []
    if pieces is None:
        out += asm.process(dec.feed(data), 1.0)
    else:
        pos = 0
        for size in pieces:
            out += asm.process(dec.feed(data[pos : pos + size]), 1.0)
            pos += size
        out += asm.process(dec.feed(data[pos:]), 1.0)
    out += asm.end(dec.end(), 2.0)
    return out


def frames_of(out):
    return [r for r in out if type(r) is Frame]


def messages_of(out):
    return [r for r in out if type(r) is Message]


def test_fragmented_with_interleaved_controls_and_empty_final_fragment():
    data = (build_frame(1, b"Hel", fin=False) + build_frame(9, b"p1") + build_frame(0, b"lo", fin=False)
            + build_frame(10, b"") + build_frame(0, b"", fin=True))
    out = assemble(data)
    assert [type(r).__name__ for r in out] == [
        "Frame", "Frame", "Message", "Frame", "Frame", "Message", "Frame", "Message"
    ]
    text = messages_of(out)[-1]
    assert (text.text, text.frames, text.length, text.index) == ("Hello", 3, 5, 2)
    assert [m.opcode_name for m in messages_of(out)] == ["ping", "pong", "text"]
    assert all(not f.violations for f in frames_of(out))


def test_message_times():
    dec = FrameDecoder("server")
    asm = MessageAssembler("m", "server")
    out = asm.process(dec.feed(build_frame(2, b"ab", fin=False)), 10.0)
    out += asm.process(dec.feed(build_frame(0, b"cd")), 12.5)
    (m,) = messages_of(out)
    assert (m.ts_first, m.ts) == (10.0, 12.5)
    assert [f.ts for f in frames_of(out)] == [10.0, 12.5]


@pytest.mark.parametrize(
    "parts,bad_frame",
    [
        # Autobahn 6.4.x style: the first invalid byte decides, byte by byte
        ([b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", b"\xf4", b"\x90", b"\x80\x80", b"edited"], 2),
        ([b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", b"\xed", b"\xa0", b"\x80", b"edited"], 2),
        ([b"ok", b"\xe0", b"\x80"], 2),
        ([b"ok", b"\xc0"], 1),
        ([b"ok", b"\xe2\x82", b""], 2),  # the message ends inside a sequence: the final frame
        ([b"\xf0\x9f", b"\x98"], 1),  # ends inside a sequence on the final frame itself
    ],
)
def test_invalid_utf8_attribution(parts, bad_frame):
    data = b"".join(
        build_frame(1 if i == 0 else 0, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)
    )
    frames = frames_of(assemble(data))
    assert [V.INVALID_UTF8 in f.violations for f in frames] == [i == bad_frame for i in range(len(parts))]


def test_valid_utf8_split_everywhere():
    text = "κόσμε 𝄞 \ufffe \U0010ffff é".encode()
    data = b"".join(build_frame(1 if i == 0 else 0, text[i : i + 1], fin=i == len(text) - 1) for i in range(len(text)))
    out = assemble(data)
    assert all(not f.violations for f in frames_of(out))
    assert messages_of(out)[0].text == text.decode()


def test_text_view_of_invalid_utf8_uses_replacement():
    (m,) = messages_of(assemble(build_frame(1, b"a\xffb")))
    assert m.text == "a\ufffdb" and m.violations == [V.INVALID_UTF8]


@pytest.mark.parametrize(
    "payload,code,reason,name,violations",
    [
        (b"", None, None, None, []),
        (b"\x03", None, None, None, [V.CLOSE_PAYLOAD_LENGTH_1]),
        (b"\x03\xe8", 1000, "", "Normal Closure", []),
        (b"\x03\xf3bye", 1011, "bye", "Internal Error", []),
        (b"\x0f\xa0x", 4000, "x", "Private Use", []),
        (b"\x03\xed", 1005, "", "No Status Rcvd", [V.INVALID_CLOSE_CODE]),
        (b"\x03\xe8\xff", 1000, "\ufffd", "Normal Closure", [V.INVALID_UTF8]),
        (b"\x03\xe7\xff", 999, "\ufffd", None, [V.INVALID_UTF8, V.INVALID_CLOSE_CODE]),
    ],
)
def test_close_frames(payload, code, reason, name, violations):
    out = assemble(build_frame(8, payload))
    (m,) = messages_of(out)
    assert (m.close_code, m.close_reason, m.close_code_name) == (code, reason, name)
    assert frames_of(out)[0].violations == violations
    assert m.violations == violations


def test_close_reason_capped():
    (m,) = messages_of(assemble(build_frame(8, b"\x03\xe8" + b"r" * 123), view_cap=10))
    assert m.close_reason == "r" * 10


def test_data_after_close_only_for_own_close():
    asm_out = assemble(build_frame(8, b"\x03\xe8", mask=b"abcd") + build_frame(9, b"", mask=b"abcd")
                       + build_frame(1, b"x", mask=b"abcd"), direction="client")
    assert [f.violations for f in frames_of(asm_out)] == [[], [], [V.DATA_AFTER_CLOSE]]
    (_, text) = [m for m in messages_of(asm_out) if m.opcode_name != "ping"]
    assert text.violations == [V.DATA_AFTER_CLOSE] and text.text == "x"


def test_compressed_flag_needs_negotiation():
    import zlib

    comp = zlib.compressobj(wbits=-15)
    payload = (comp.compress(b"hi") + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
    negotiated = messages_of(assemble(build_frame(1, payload, rsv1=True), deflate=DeflateParams()))
    assert negotiated[0].compressed and negotiated[0].text == "hi"
    raw = assemble(build_frame(1, payload, rsv1=True))
    assert not messages_of(raw)[0].compressed
    assert frames_of(raw)[0].violations[0] == V.RSV_WITHOUT_EXTENSION


# -- fast path == general path ----------------------------------------------------------------------

frame_st = st.tuples(
    st.sampled_from([0, 1, 2, 3, 8, 9, 10, 11]),
    st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
              st.sampled_from([b"\x03\xe8", b"\x03", b"\xc3", b"\xa9", b"\xed\xa0\x80"])),
    st.booleans(),  # fin
    st.booleans(),  # rsv1
    st.booleans(),  # masked
)


@SETTINGS
@given(st.lists(frame_st, max_size=12), st.sampled_from(["client", "server"]), st.booleans(),
       st.lists(st.integers(1, 20), max_size=10), st.integers(1, 50))
def test_fast_path_equals_general_path(frames, direction, deflate, pieces, cap):
    weights = {0: 1, 1: 3, 2: 3}
    data = b"".join(
        build_frame(op, p, fin=fin or weights.get(op, 0) > 1, rsv1=rsv1 and op == 1, mask=b"k3y!" if masked else None)
        for op, p, fin, rsv1, masked in frames
    )
    params = DeflateParams() if deflate else None
    fast = assemble(data, direction, fast=True, pieces=pieces, deflate=params, view_cap=cap)
    general = assemble(data, direction, fast=False, deflate=params, view_cap=cap)
    assert [to_dict(r) for r in fast] == [to_dict(r) for r in general]
    for m in messages_of(fast):
        valid = V.INVALID_UTF8 not in m.violations and m.inflate_error is None
        if m.opcode_name == "text" and not m.truncated and valid:
            assert hashlib.sha256(m.text.encode()).hexdigest() == m.sha256
