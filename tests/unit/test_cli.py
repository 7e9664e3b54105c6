"""Tests for the `decode`, `build` and `accept` commands: the real console script (subprocess) and click's
CliRunner; truth from wsproto and websockets (frames they build, their decoders, their accept values)."""

from __future__ import annotations

import base64
import json
import os

import pytest
import websockets.utils
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from inspector.cli import cli, parse_base64, parse_hex
from inspector.errors import InputError
from helpers.decode import decode_json, FRAME_KEYS


# --- accept ------------------------------------------------------------------------------------------


def test_accept_agrees_with_websockets():
    runner = CliRunner()
    for _ in range(20):
        key = base64.b64encode(os.urandom(16)).decode()
        result = runner.invoke(cli, ["accept", key])
        assert result.exit_code == 0 and result.output == websockets.utils.accept_key(key) + "\n"


# --- input parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "818548656c6c6f",
        "81 85 48 65 6c 6c 6f",
        "81:85:48:65:6c:6c:6f",
        "0x81, 0x85, 0x48, 0x65, 0x6c, 0x6c, 0x6f",
        "0x81 0x85 0x48656c6c6f",
        "\\x81\\x85\\x48\\x65\\x6c\\x6c\\x6f",
        "8185 4865\n6c6c 6f",
        # Wireshark "Copy as Hex Dump", one line
        "0000   81 85 48 65 6c 6c 6f                              ..Hello",
        # Wireshark "Copy as C Arrays"
        "/* Frame (7 bytes) */\nstatic const unsigned char pkt1[7] = {\n0x81, 0x85, 0x48, 0x65, 0x6c, 0x6c, /* ..Hell */\n0x6f };",
    ],
)
def test_parse_hex_forms(text):
    assert parse_hex(text) == bytes.fromhex("818548656c6c6f")


def test_parse_hex_reads_wireshark_multiline_dump():
    dump = (
        "0000   81 05 48 65 6c 6c 6f 20  77 6f 72 6c 64 21 0a 0a   ..Hello world!..\n"
        "0010   63 61 66 65 20 62 65                              cafe be\n"
    )
    assert parse_hex(dump) == b"\x81\x05Hello world!\n\ncafe be"


@pytest.mark.parametrize(
    "text, words",
    [("818", "odd number of hex digits (3)"), ("81 zz", "'z' is not a hex digit"), ("0x8", "odd number")],
)
def test_parse_hex_errors(text, words):
    with pytest.raises(InputError) as info:
        parse_hex(text)
    assert words in str(info.value)


def test_parse_base64_forms():
    raw = bytes.fromhex("818548656c6c6fff")
    assert parse_base64(base64.b64encode(raw).decode()) == raw
    assert parse_base64(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    for bad in ["gYU=!", "a"]:
        with pytest.raises(InputError):
            parse_base64(bad)


# --- build --------------------------------------------------------------------------------------------


def test_build_parsed_by_wsproto():
    """Frames built by the CLI, parsed by wsproto's frame decoder (independent)."""
    from wsproto.frame_protocol import FrameProtocol, Opcode

    runner = CliRunner()
    out = runner.invoke(cli, ["build", "--from", "client", "close", "--close-code", "4001", "--reason", "über"])
    assert out.exit_code == 0
    server = FrameProtocol(client=False, extensions=[])
    server.receive_bytes(bytes.fromhex(out.output))
    (frame,) = list(server.received_frames())
    assert frame.opcode is Opcode.CLOSE and frame.payload == (4001, "über")

    out = runner.invoke(cli, ["build", "binary", "--hex", "0102", "--no-fin", "--from", "server"])
    client = FrameProtocol(client=True, extensions=[])
    client.receive_bytes(bytes.fromhex(out.output))
    (frame,) = list(client.received_frames())
    assert frame.opcode is Opcode.BINARY and frame.payload == b"\x01\x02" and not frame.message_finished


# --- decode -------------------------------------------------------------------------------------------


def test_decode_rfc6455_section_5_7_other_examples():
    # unmasked text; fragmented unmasked text "Hel" + "lo"; unmasked ping, masked pong
    out = decode_json("--from", "server", "810548656c6c6f" "010348656c" "80026c6f" "890548656c6c6f")
    assert [(f["opcode_name"], f["fin"], bytes.fromhex(f["payload"])) for f in out["frames"]] == [
        ("text", True, b"Hello"), ("text", False, b"Hel"), ("continuation", True, b"lo"), ("ping", True, b"Hello")]
    assert [(m["opcode_name"], m["frames"], m.get("text") or m["data"]) for m in out["messages"]] == [
        ("text", 1, "Hello"), ("text", 2, "Hello"), ("ping", 1, b"Hello".hex())]
    assert out["violations"] == []
    out = decode_json("--from", "client", "8a8537fa213d7f9f4d5158")
    assert out["frames"][0]["opcode_name"] == "pong" and out["messages"][0]["data"] == b"Hello".hex()
    # 256 bytes in a 16-bit length, 64 KiB in a 64-bit length
    out = decode_json("--from", "server", "--view-cap", "4", "827e0100" + "ab" * 256 + "827f0000000000010000" + "cd" * 65536)
    assert [(f["payload_len"], f["length_encoding"], f["payload"]) for f in out["frames"]] == [
        (256, "16bit", "abababab"), (65536, "64bit", "cdcdcdcd")]


def test_decode_names_violations_with_their_frame():
    out = decode_json("--from", "client", "810548656c6c6f" "8a8537fa213d7f9f4d5158" "83800000000088810000000001")
    assert out["violations"] == [
        {"name": "client-frame-unmasked", "frame": 0},
        {"name": "reserved-opcode", "frame": 2},
        {"name": "close-payload-length-1", "frame": 3},
    ]
    assert out["frames"][2]["opcode_name"] == "reserved"


@pytest.mark.parametrize(
    "hex_input, expected",
    [
        ("81", dict(masked=None, payload_len=None, masking_key=None, length_encoding=None, payload=None)),
        ("81 85 37", dict(masked=True, payload_len=5, masking_key=None, length_encoding="7bit")),
        ("81 7e 01", dict(masked=False, payload_len=None, length_encoding="16bit")),
        ("81 85 37 fa 21 3d 7f 9f", dict(masked=True, payload_len=5, masking_key="37fa213d", payload="4865")),
    ],
)
def test_decode_truncated_frame_fields_are_null(hex_input, expected):
    out = decode_json(hex_input)
    (frame,) = out["frames"]
    assert frame["complete"] is False and frame["violations"][-1] == "truncated"
    assert FRAME_KEYS <= frame.keys()
    for key, value in expected.items():
        assert frame[key] == value, key


def test_decode_json_matches_wsproto_and_websockets_decoders():
    """Frames built by wsproto and websockets; our --json output checked against wsproto's FrameProtocol
    and websockets' Frame.parse reading the same bytes."""
    import websockets.frames as wf
    from websockets.streams import StreamReader
    from wsproto.frame_protocol import CloseReason, FrameProtocol

    sender = FrameProtocol(client=True, extensions=[])
    wire = b"".join([
        sender.send_data("Hello, ünïcode"),
        sender.send_data(b"\x00\x01" * 200, fin=False),
        sender.ping(b"are you there?"),
        sender.send_data(b"\xff" * 70000, fin=True),
        sender.send_data("{\"json\": [1, 2, 3]}"),
        wf.Frame(wf.Opcode.TEXT, "from websockets".encode(), fin=True).serialize(mask=True),
        wf.Frame(wf.Opcode.PONG, b"", fin=True).serialize(mask=True),
        sender.close(CloseReason.GOING_AWAY, "bye"),
    ])

    receiver = FrameProtocol(client=False, extensions=[])
    receiver.receive_bytes(wire)
    truth = [(f.opcode.value, f.message_finished, f.payload) for f in receiver.received_frames()]

    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parsed = []
    while reader.buffer:
        gen = wf.Frame.parse(reader.read_exact, mask=True)
        try:
            next(gen)
        except StopIteration as done:
            parsed.append(done.value)

    out = decode_json("--from", "client", "--view-cap", "100000", input=wire.hex())
    frames = out["frames"]
    assert out["violations"] == [] and len(frames) == len(parsed) == 8
    for frame, ws_frame in zip(frames, parsed):
        assert frame["opcode"] == ws_frame.opcode.value
        assert frame["fin"] == ws_frame.fin
        assert (frame["rsv1"], frame["rsv2"], frame["rsv3"]) == (ws_frame.rsv1, ws_frame.rsv2, ws_frame.rsv3)
        assert frame["payload_len"] == len(ws_frame.data)
        assert bytes.fromhex(frame["payload"]) == ws_frame.data[:100000]
        assert frame["masked"] is True and len(frame["masking_key"]) == 8
    offsets = [f["offset"] for f in frames]
    assert offsets == sorted(offsets) and offsets[0] == 0
    # wsproto: a continuation frame carries its message's opcode; close frames come back parsed
    assert [t[0] for t in truth] == [f["opcode"] or 2 for f in frames]
    assert [t[1] for t in truth] == [f["fin"] for f in frames]
    assert truth[0][2] == "Hello, ünïcode" and out["messages"][0]["text"] == "Hello, ünïcode"
    assert truth[7][2] == (CloseReason.GOING_AWAY, "bye")
    close = next(m for m in out["messages"] if m["opcode_name"] == "close")
    assert (close["close_code"], close["close_reason"]) == (1001, "bye")
    binary = next(m for m in out["messages"] if m["opcode_name"] == "binary")
    assert binary["length"] == 400 + 70000 and binary["frames"] == 2


def test_decode_deflate_frames_from_websockets():
    """Compressed frames written by websockets' permessage-deflate (server side, context takeover)."""
    import websockets.frames as wf
    from websockets.extensions.permessage_deflate import PerMessageDeflate

    ext = PerMessageDeflate(False, True, 15, 10)  # server: client context kept, server resets, 10 bits
    texts = ["hello hello hello", "hello hello hello again", json.dumps({"k": list(range(50))})]
    wire = b"".join(wf.Frame(wf.Opcode.TEXT, t.encode()).serialize(mask=False, extensions=[ext]) for t in texts)
    out = decode_json("--from", "server", "--deflate-params", "server_no_context_takeover; server_max_window_bits=10",
                      wire.hex())
    assert out["deflate"] == "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    assert [m["text"] for m in out["messages"]] == texts
    assert all(f["rsv1"] for f in out["frames"]) and out["violations"] == []
    # without --deflate the same bytes are RSV1 violations
    plain = decode_json("--from", "server", wire.hex())
    assert [v["frame"] for v in plain["violations"] if v["name"] == "rsv-without-extension"] == [0, 1, 2]


@pytest.mark.parametrize("opcode", ["text", "binary", "ping", "pong", "close", "continuation", "3", "0xb"])
@pytest.mark.parametrize("encoding", ["7bit", "16bit", "64bit"])
@pytest.mark.parametrize("mask", ["none", "random", "01020304"])
def test_build_decode_round_trip(opcode, encoding, mask):
    runner = CliRunner()
    payload = os.urandom(5).hex()
    built = runner.invoke(cli, ["build", opcode, "--hex", payload, "--mask", mask, "--length-encoding", encoding,
                                "--rsv3", "--no-fin"])
    assert built.exit_code == 0, built.output
    out = decode_json(built.output)
    (frame,) = out["frames"]
    assert frame["payload"] == payload and frame["length_encoding"] == encoding and frame["payload_len"] == 5
    assert frame["fin"] is False and frame["rsv3"] is True and frame["rsv1"] is False
    assert frame["masked"] is (mask != "none")
    if mask == "01020304":
        assert frame["masking_key"] == "01020304"
    assert frame["opcode"] == int(opcode, 0) if opcode[0].isdigit() else frame["opcode_name"] == opcode
    names = {v["name"] for v in out["violations"]}
    assert "rsv-without-extension" in names and ("non-minimal-length" in names) is (encoding != "7bit")


_WS_FRAME = st.tuples(
    st.sampled_from([0x1, 0x2, 0x9, 0xA]),
    st.binary(max_size=300),
    st.booleans(),  # mask
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_WS_FRAME, min_size=1, max_size=6), st.sampled_from(["client", "server"]))
def test_decode_json_agrees_with_websockets_on_random_frames(specs, sender):
    """Random frames serialised by websockets (text payloads made valid UTF-8); every header field and
    payload we report equals what websockets' own parser reads back from the same bytes."""
    import websockets.frames as wf
    from websockets.streams import StreamReader

    frames = []
    for opcode, payload, mask in specs:
        if opcode == 0x1:
            payload = payload.decode("utf-8", "replace").encode()
        if opcode >= 0x8:
            payload = payload[:125]
        frames.append((wf.Frame(wf.Opcode(opcode), payload), mask))
    wire = b"".join(frame.serialize(mask=mask) for frame, mask in frames)
    reader = StreamReader()
    reader.feed_data(wire)
    out = decode_json("--from", sender, "--view-cap", "1000", wire.hex())
    assert len(out["frames"]) == len(frames)
    for ours, (_, mask) in zip(out["frames"], frames):
        gen = wf.Frame.parse(reader.read_exact, mask=mask)
        with pytest.raises(StopIteration) as done:
            next(gen)
        theirs = done.value.value
        assert (ours["opcode"], ours["fin"], ours["masked"]) == (theirs.opcode.value, theirs.fin, mask)
        assert bytes.fromhex(ours["payload"]) == theirs.data and ours["payload_len"] == len(theirs.data)
        expected = {"client-frame-unmasked"} if sender == "client" and not mask else \
            {"server-frame-masked"} if sender == "server" and mask else set()
        assert set(ours["violations"]) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=80), st.sampled_from(["client", "server", "auto"]), st.booleans())
def test_decode_never_fails_on_arbitrary_bytes(data, sender, deflate):
    """Untrusted bytes: always decoded (exit 0), in JSON and in the human output, whatever they hold."""
    args = ["decode", "--from", sender] + (["--deflate"] if deflate else [])
    for extra in (["--json"], []):
        result = CliRunner().invoke(cli, args + extra + [data.hex()])
        assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
        assert "\x1b" not in result.output
