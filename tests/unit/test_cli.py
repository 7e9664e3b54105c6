"""Tests for the `decode`, `build` and `accept` commands: the real console script (subprocess) and click's
CliRunner; truth from wsproto and websockets (frames they build, their decoders, their accept values)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import websockets.utils
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from helpers.handshake_peers import chromium_available, chromium_session, head, validate_capture
from inspector.cli import cli, parse_base64, parse_hex
from inspector.errors import InputError

#: the console script of the interpreter running the tests (.venv or .venv312)
INSPECTOR = str(Path(sys.executable).parent / "inspector")


def run(*args: str, stdin: bytes | str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update(env or {})
    return subprocess.run([INSPECTOR, *args], input=data if data is not None else b"", capture_output=True,
                          timeout=60, env=full_env)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed run (exit 2, no traceback, nothing on stdout)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inspector: "), lines
    assert b"Traceback" not in result.stderr and result.stdout == b""
    return lines[0]


# --- accept ------------------------------------------------------------------------------------------


def test_accept_rfc6455_example_via_console_script():
    result = run("accept", "dGhlIHNhbXBsZSBub25jZQ==")
    assert result.returncode == 0 and result.stdout == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"
    assert run("accept", " dGhlIHNhbXBsZSBub25jZQ==\n").stdout == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"  # pasted


def test_accept_agrees_with_websockets():
    runner = CliRunner()
    for _ in range(20):
        key = base64.b64encode(os.urandom(16)).decode()
        result = runner.invoke(cli, ["accept", key])
        assert result.exit_code == 0 and result.output == websockets.utils.accept_key(key) + "\n"


@pytest.mark.parametrize("key", ["abc", "dGhlIHNhbXBsZQ==", "not base64!!", "\x1b[31mred"])
def test_accept_bad_key(key):
    line = one_line_error(run("accept", key))
    assert "Sec-WebSocket-Key" in line and "\x1b" not in line


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


@pytest.mark.parametrize("tool", [["xxd"], ["xxd", "-g1"], ["hexdump", "-C"], ["od", "-A", "x", "-t", "x1z", "-v"]])
@pytest.mark.parametrize("size", [2, 7, 16, 33, 70])
def test_parse_hex_reads_real_dump_tools(tool, size):
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} is not installed")
    # payload bytes that look like hex in the ASCII column are the hard case
    data = (b"\x81\x05cafe be" + bytes(range(64)))[:size]
    dump = subprocess.run(tool, input=data, capture_output=True, check=True).stdout.decode()
    assert parse_hex(dump) == data


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


def test_build_rfc6455_section_5_7_examples():
    # "A single-frame masked text message" and "A single-frame unmasked text message"
    assert run("build", "text", "Hello", "--mask", "37fa213d").stdout == b"818537fa213d7f9f4d5158\n"
    assert run("build", "text", "Hello", "--from", "server").stdout == b"810548656c6c6f\n"
    # "Unmasked Ping request and masked Ping response"
    assert run("build", "ping", "Hello", "--mask", "none").stdout == b"890548656c6c6f\n"
    assert run("build", "pong", "Hello", "--mask", "37fa213d").stdout == b"8a8537fa213d7f9f4d5158\n"
    # "256 bytes binary message in a single unmasked frame" / "64KiB ... "
    out = run("build", "binary", "--hex", "00" * 256, "--from", "server").stdout.decode().strip()
    assert out.startswith("827e0100") and len(out) == 2 * (4 + 256)
    out = run("build", "binary", "--payload-file", "-", "--from", "server", stdin=bytes(65536)).stdout.decode().strip()
    assert out.startswith("827f0000000000010000") and len(out) == 2 * (10 + 65536)


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


def test_build_random_mask_differs_and_unmasks():
    first, second = (bytes.fromhex(run("build", "text", "same").stdout.decode()) for _ in range(2))
    assert first[1] & 0x80 and second[1] & 0x80 and first[2:6] != second[2:6]
    key = first[2:6]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(first[6:])) == b"same"


def test_build_deflate_matches_rfc7692_example():
    # RFC 7692 7.2.3.1: "Hello" compressed in one unmasked frame
    assert run("build", "text", "Hello", "--deflate", "--from", "server").stdout == b"c107f248cdc9c90700\n"


def test_build_raw_writes_bytes():
    result = run("build", "text", "hi", "--mask", "none", "--raw")
    assert result.stdout == b"\x81\x02hi"


def test_build_non_minimal_and_flags():
    out = run("build", "0x9", "--from", "server", "--length-encoding", "16bit", "--rsv2", "--no-fin").stdout
    assert out == b"297e0000\n"


@pytest.mark.parametrize(
    "args",
    [
        ["build", "nope"],
        ["build", "16"],
        ["build", "text", "--mask", "123"],
        ["build", "text", "a", "--hex", "00"],
        ["build", "text", "a", "--payload-file", "/dev/null"],
        ["build", "text", "--payload-file", "/nonexistent"],
        ["build", "--reason", "x"],
        ["build", "--close-code", "70000"],
        ["build", "text", "--hex", "0"],
        ["build", "text", "--length-encoding", "8bit"],
        ["build", "text", "--hex", "00" * 126, "--length-encoding", "7bit"],
        ["build", "--unknown-option"],
    ],
)
def test_build_bad_input(args):
    one_line_error(run(*args))


# --- decode -------------------------------------------------------------------------------------------


def decode_json(*args: str, input: str | bytes | None = None) -> dict:
    result = CliRunner().invoke(cli, ["decode", "--json", *args], input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.output)


FRAME_KEYS = {"offset", "fin", "rsv1", "rsv2", "rsv3", "opcode", "opcode_name", "masked", "masking_key",
              "payload_len", "length_encoding", "payload", "complete"}


def test_decode_rfc6455_section_5_7_masked_text_via_console_script():
    result = run("decode", "--json", "0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58")
    assert result.returncode == 0 and result.stderr == b""
    out = json.loads(result.stdout)
    (frame,) = out["frames"]
    assert FRAME_KEYS <= frame.keys()
    assert frame | {} == frame and {k: frame[k] for k in FRAME_KEYS} == {
        "offset": 0, "fin": True, "rsv1": False, "rsv2": False, "rsv3": False, "opcode": 1,
        "opcode_name": "text", "masked": True, "masking_key": "37fa213d", "payload_len": 5,
        "length_encoding": "7bit", "payload": b"Hello".hex(), "complete": True,
    }
    assert out["direction"] == "client" and out["violations"] == []
    (message,) = out["messages"]
    assert message["text"] == "Hello" and message["frames"] == 1


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


def test_decode_reads_stdin_hex_dump_and_base64():
    frame = bytes.fromhex("818537fa213d7f9f4d5158")
    dump = b"00000000: 8185 37fa 213d 7f9f 4d51 58              ..7.!=..MQX\n"  # xxd
    assert run("decode", "--json", "-", stdin=dump).returncode == 0
    assert json.loads(run("decode", "--json", stdin=dump).stdout)["messages"][0]["text"] == "Hello"
    out = json.loads(run("decode", "--json", "--base64", base64.b64encode(frame).decode()).stdout)
    assert out["messages"][0]["text"] == "Hello"
    out = json.loads(run("decode", "--json", "--file", "-", stdin=frame * 3).stdout)
    assert [f["offset"] for f in out["frames"]] == [0, 11, 22]


def test_decode_file_streams_in_chunks(tmp_path):
    frame = bytes.fromhex("827e1000") + b"\x07" * 0x1000
    path = tmp_path / "frames.bin"
    path.write_bytes(frame * 100 + frame[:10])  # 100 whole frames across many 64 KiB reads, then a cut one
    out = json.loads(run("decode", "--json", "--from", "server", "--view-cap", "2", "--file", str(path)).stdout)
    assert len(out["frames"]) == 101 and out["violations"] == [{"name": "truncated", "frame": 100}]
    assert out["frames"][99]["offset"] == 99 * len(frame) and out["frames"][99]["payload"] == "0707"


def test_decode_human_output_is_annotated():
    result = run("decode", "81 85 37 fa 21 3d 7f 9f 4d 51 58")
    text = result.stdout.decode()
    assert result.returncode == 0
    for line in [
        "1... .... = FIN: True",
        ".000 .... = RSV: 0x0",
        ".... 0001 = Opcode: text (1)",
        "1... .... = MASK: True",
        ".000 0101 = Payload length: 5 (7-bit)",
        "Masking key: 37fa213d",
        "Header: 81 85 | 37 fa 21 3d",
        'Text: "Hello"',
        "00000000: 4865 6c6c 6f",
        "1 frame, 1 message, no violations",
    ]:
        assert line in text, line
    close = run("decode", "--from", "server", "8807 03e8 6279 6521 21").stdout.decode()
    assert "Close code: 1000 (Normal Closure)" in close and 'Reason: "bye!!"' in close
    wide = run("decode", "--from", "server", "827f 0000 0000 0000 0002 abcd").stdout.decode()
    assert ".111 1111 = Payload length: 127 (a 64-bit extended length follows)" in wide
    assert "Extended payload length (64 bits): 2" in wide and "Header: 82 7f | 00 00 00 00 00 00 00 02" in wide
    assert "Violation: non-minimal-length" in wide


def test_decode_json_payload_pretty_printed():
    text = run("decode", "--from", "server", (b'\x81\x0e{"a": [1, 2]}').hex()).stdout.decode()
    assert '"a": [\n' in text.replace("        ", "") and "JSON:" in text


def test_decode_escapes_ansi_and_control_characters():
    evil = "\x1b[2J\x1b]0;pwned\x07\r\u202eok"
    raw = evil.encode()
    frame = bytes([0x81, len(raw)]) + raw
    close = bytes([0x88, len(raw) + 2]) + (4000).to_bytes(2, "big") + raw
    ping = bytes([0x89, len(raw)]) + raw
    fragmented = bytes([0x01, len(raw)]) + raw + bytes([0x80, 0])
    for args in (["decode", frame.hex()], ["decode", "--from", "server", (frame + ping + fragmented + close).hex()]):
        out = run(*args).stdout
        assert b"\x1b" not in out and b"\x07" not in out and b"\r" not in out
        assert "\u202e".encode() not in out
        assert b"\\x1b" in out and b"\\u202e" in out


def _run_in_pty(args: list[str], env: dict) -> bytes:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([INSPECTOR, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks)


def test_colour_only_on_a_tty_and_never_with_no_color():
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    args = ["decode", "--from", "server", "8185 37fa 213d 7f9f 4d51 58"]  # a violation: red
    assert b"\x1b[" in _run_in_pty(args, env)
    assert b"\x1b[" not in _run_in_pty(args, env | {"NO_COLOR": "1"})
    assert b"\x1b[" not in run(*args).stdout


def test_strict_exit_status():
    assert run("decode", "--from", "server", "810548656c6c6f").returncode == 0
    assert run("decode", "--from", "client", "810548656c6c6f").returncode == 0
    assert run("decode", "--strict", "--from", "server", "810548656c6c6f").returncode == 0
    assert run("decode", "--strict", "--from", "client", "810548656c6c6f").returncode == 1
    assert run("decode", "--strict", "--json", "--from", "client", "810548656c6c6f").returncode == 1


@pytest.mark.parametrize(
    "args, stdin",
    [
        (["decode", "818"], None),
        (["decode", "81 0g"], None),
        (["decode", "--base64", "gY!U"], None),
        (["decode", "--base64", "a"], None),
        (["decode"], ""),
        (["decode", "-"], "  \n"),
        (["decode", "-"], b"\xff\xfe"),
        (["decode", "--file", "/nonexistent/frames.bin"], None),
        (["decode", "--file", "/dev/null"], None),
        (["decode", "--from", "both", "81"], None),
        (["decode", "--view-cap", "-1", "81"], None),
        (["decode", "--deflate-params", "client_max_window_bits=16", "81"], None),
        (["decode", "--deflate-params", "bogus", "81"], None),
        (["decode", "--no-such-option"], None),
        (["decode", "--file", "/dev/null", "81"], None),
        (["decode", "0000  81 05\n0020  48 65"], None),
        (["nosuchcommand"], None),
    ],
)
def test_decode_bad_input(args, stdin):
    one_line_error(run(*args, stdin=stdin))


def test_decode_jsonl_streams_the_same_records_as_json():
    hex_input = "810548656c6c6f" "010348656c" "80026c6f" "8a8537fa"
    lines = [json.loads(line) for line in run("decode", "--jsonl", "--from", "server", hex_input).stdout.splitlines()]
    whole = decode_json("--from", "server", hex_input)
    assert [r for r in lines if r["type"] == "frame"] == whole["frames"]
    assert [r for r in lines if r["type"] == "message"] == whole["messages"]
    assert [r["type"] for r in lines] == ["frame", "message", "frame", "frame", "message", "frame"]
    assert lines[-1]["payload"] is None and lines[-1]["masking_key"] is None  # cut inside the masking key
    assert run("decode", "--jsonl", "--strict", "--from", "server", hex_input).returncode == 1
    one_line_error(run("decode", "--json", "--jsonl", hex_input))


@pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium")
def test_decode_a_real_chromium_session():
    """Chromium's compressed, masked frames and the websockets server's replies, decoded with the
    permessage-deflate parameters the handshake negotiated: the texts are what the page sent and got."""
    text = "hello from chromium \u2603 " * 3
    sent, received, seen = chromium_session(text)
    assert seen.get("data") == text, seen
    record, deflate = validate_capture(sent, received)
    assert record.valid and deflate is not None
    params = deflate.format().removeprefix("permessage-deflate; ")
    client = decode_json("--from", "client", "--deflate-params", params, sent[len(head(sent)):].hex())
    # the server's whole byte stream, 101 head included: direction and deflate come from the head
    server = decode_json(received.hex())
    assert server["direction"] == "server" and server["deflate"] == deflate.format()
    assert server["http_head"]["start_line"] == "HTTP/1.1 101 Switching Protocols"
    assert client["violations"] == [] and server["violations"] == []
    for out in (client, server):
        first, close = out["messages"][0], out["messages"][-1]
        assert first["text"] == text and first["compressed"] is True and out["frames"][0]["rsv1"] is True
        assert close["opcode_name"] == "close" and close["close_code"] == 1000
    assert all(f["masked"] for f in client["frames"]) and not any(f["masked"] for f in server["frames"])
    assert client["messages"][-1]["close_reason"] == "done"


def test_decode_shows_json_of_a_reassembled_message():
    text = run("decode", "--from", "server", "0106" + b'{"a": '.hex() + "8002" + b"1}".hex()).stdout.decode()
    assert 'Message 0: text, 8 bytes, 2 frames: "{"a": 1}"' in text
    assert 'JSON:\n      {\n        "a": 1\n      }' in text


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


def test_decode_skips_an_http_head_and_explains():
    request = b"GET /chat HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    text = run("decode", (request + bytes.fromhex("818537fa213d7f9f4d5158")).hex()).stdout.decode()
    assert "skipped the HTTP head (" + str(len(request)) + " bytes, 'GET /chat HTTP/1.1')" in text
    assert "give what the server accepted with --deflate-params" in text and "Direction: client -> server\n" in text
    refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    out = decode_json(refused.hex())
    assert out["frames"] == [] and "status 403: not a WebSocket upgrade" in out["notes"][1]
    cut = decode_json(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n".hex())
    assert cut["http_head"] is None and "has no empty line" in cut["notes"][0] and cut["frames"]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=80), st.sampled_from(["client", "server", "auto"]), st.booleans())
def test_decode_never_fails_on_arbitrary_bytes(data, sender, deflate):
    """Untrusted bytes: always decoded (exit 0), in JSON and in the human output, whatever they hold."""
    args = ["decode", "--from", sender] + (["--deflate"] if deflate else [])
    for extra in (["--json"], []):
        result = CliRunner().invoke(cli, args + extra + [data.hex()])
        assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
        assert "\x1b" not in result.output


def _tshark_streams(pcap: Path) -> tuple[bytes, bytes]:
    """Both directions of TCP stream 0 as tshark reassembles them (follow,tcp,raw: server lines are
    indented with a tab)."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-q", "-z", "follow,tcp,raw,0"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    client, server = bytearray(), bytearray()
    for line in out.splitlines():
        if re.fullmatch(r"\t?[0-9a-f]+", line):
            (server if line.startswith("\t") else client).extend(bytes.fromhex(line.strip()))
    return bytes(client), bytes(server)


def _tshark_frames(pcap: Path) -> list[dict]:
    fields = ["tcp.srcport", "websocket.fin", "websocket.rsv", "websocket.opcode", "websocket.mask",
              "websocket.payload_length", "websocket.payload_length_ext_16", "websocket.payload_length_ext_64",
              "websocket.masking_key"]
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "websocket", "-T", "fields", "-E", "occurrence=a",
                          "-E", "aggregator=;", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    frames = []
    for line in out.splitlines():
        values = line.split("\t")
        # one packet may carry several frames: every field then lists one value per frame
        columns = [v.split(";") for v in values[1:]]
        for i in range(len(columns[0])):
            port, fin, rsv, opcode, mask, len7, ext16, ext64, key = [values[0]] + [c[i] if i < len(c) else "" for c in columns]
            frames.append({
                "port": int(port), "fin": fin == "1", "rsv1": bool(int(rsv, 16) & 4), "opcode": int(opcode),
                "masked": mask == "1", "masking_key": key or None,
                "payload_len": int(ext16 or ext64 or len7),
            })
    return frames


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
@pytest.mark.parametrize("name", ["ws_plain.pcap", "ws_deflate.pcap"])
def test_decode_agrees_with_tshark_on_real_captures(name):
    """The TCP streams of a real capture (fixtures/pcap, recorded with tcpdump), as tshark reassembles
    them, decoded by the CLI (HTTP heads skipped): every message equals what the sending library really
    sent (inflated, for permessage-deflate), every frame header field equals tshark's dissection."""
    pcap = Path(__file__).parent.parent / "fixtures" / "pcap" / name
    client, server = _tshark_streams(pcap)
    server_out = decode_json(server.hex())
    assert server_out["direction"] == "server" and server_out["http_head"] is not None
    params = server_out["deflate"]
    client_out = decode_json(*(["--deflate-params", params] if params else []), client.hex())
    assert client_out["direction"] == "client"
    assert client_out["violations"] == [] and server_out["violations"] == []
    if "deflate" in name:
        assert params is not None and any(f["rsv1"] for f in server_out["frames"])
    # what each side's library really sent (recorded by fixtures/pcap/make_fixtures.py)
    sent = json.loads(pcap.with_suffix(".expected.json").read_text())["sent"]
    for out, side in ((client_out, "client"), (server_out, "server")):
        got = [m for m in out["messages"] if m["opcode_name"] != "pong"]  # pongs are automatic, not recorded
        assert len(got) == len(sent[side])
        for message, truth in zip(got, sent[side]):
            assert message["opcode_name"] == truth["opcode"]
            if "sha256" in truth:
                assert (message["length"], message["sha256"]) == (truth["length"], truth["sha256"])
                assert message["frames"] == truth["frames"]
            if "close_code" in truth:
                assert (message["close_code"], message["close_reason"]) == (truth["close_code"], truth["close_reason"])
            if "payload" in truth:
                assert message["data"] == truth["payload"].encode().hex()
    theirs = _tshark_frames(pcap)
    client_port = max({f["port"] for f in theirs}, key=lambda p: sum(f["masked"] for f in theirs if f["port"] == p))
    keys = ["fin", "rsv1", "opcode", "masked", "masking_key", "payload_len"]
    for ours, from_client in ((client_out["frames"], True), (server_out["frames"], False)):
        expected = [f for f in theirs if (f["port"] == client_port) is from_client]
        assert len(ours) == len(expected) > 0
        assert [{k: f[k] for k in keys} for f in ours] == [{k: f[k] for k in keys} for f in expected]
    # message texts: tshark 4.0 shows them for unfragmented messages only, and garbles some inflated
    # client messages (context takeover), so the comparison is on the plain capture's single-frame ones
    if "deflate" not in name:
        out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "websocket.payload.text", "-T", "fields",
                              "-e", "tcp.srcport", "-e", "websocket.payload.text"],
                             capture_output=True, text=True, check=True, timeout=120).stdout
        texts = [line.split("\t", 1) for line in out.splitlines()]
        for decoded, from_client in ((client, True), (server, False)):
            ours = [m["text"].replace("\n", "\\n") for m in decode_json("--view-cap", "1000000", decoded.hex())["messages"]
                    if m["opcode_name"] == "text" and m["frames"] == 1]
            assert ours == [t for port, t in texts if (int(port) == client_port) is from_client] != []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_error_is_one_line_not_a_traceback():
    """An OS error while writing (a full disk) is one line naming it, exit 2."""
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([INSPECTOR, "build", "text", "hi"], stdout=full, capture_output=False,
                              stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.decode().splitlines()
    assert lines == ["inspector: No space left on device"]
