"""The `decode`, `build` and `accept` commands as a user runs them: the real console script (subprocess),
real hex-dump tools, a pty, real Chromium and tshark captures; truth from wsproto, websockets and tshark."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.decode import FRAME_KEYS, decode_json
from helpers.handshake_peers import chromium_session, head, validate_capture
from helpers.tools import require

from inspector.cli import parse_hex

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


def _tshark_streams(pcap: Path) -> tuple[bytes, bytes]:
    """Both directions of TCP stream 0 as tshark reassembles them (follow,tcp,raw: server lines are
    indented with a tab)."""
    out = subprocess.run([require("tshark"), "-r", str(pcap), "-q", "-z", "follow,tcp,raw,0"], capture_output=True,
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
    out = subprocess.run([require("tshark"), "-r", str(pcap), "-Y", "websocket", "-T", "fields", "-E", "occurrence=a",
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


def test_accept_rfc6455_example_via_console_script():
    result = run("accept", "dGhlIHNhbXBsZSBub25jZQ==")
    assert result.returncode == 0 and result.stdout == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"
    assert run("accept", " dGhlIHNhbXBsZSBub25jZQ==\n").stdout == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"  # pasted


@pytest.mark.parametrize("key", ["abc", "dGhlIHNhbXBsZQ==", "not base64!!", "\x1b[31mred"])
def test_accept_bad_key(key):
    line = one_line_error(run("accept", key))
    assert "Sec-WebSocket-Key" in line and "\x1b" not in line


@pytest.mark.parametrize("tool", [["xxd"], ["xxd", "-g1"], ["hexdump", "-C"], ["od", "-A", "x", "-t", "x1z", "-v"]])
@pytest.mark.parametrize("size", [2, 7, 16, 33, 70])
def test_parse_hex_reads_real_dump_tools(tool, size):
    tool = [require(tool[0]), *tool[1:]]
    # payload bytes that look like hex in the ASCII column are the hard case
    data = (b"\x81\x05cafe be" + bytes(range(64)))[:size]
    dump = subprocess.run(tool, input=data, capture_output=True, check=True).stdout.decode()
    assert parse_hex(dump) == data


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
    assert 'close 1000 (Normal Closure) "bye!!"' in close
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


@pytest.mark.parametrize("name", ["ws_plain.pcap", "ws_deflate.pcap"])
def test_decode_agrees_with_tshark_on_real_captures(name):
    """The TCP streams of a real capture (fixtures/pcap, recorded with tcpdump), as tshark reassembles
    them, decoded by the CLI (HTTP heads skipped): every message equals what the sending library really
    sent (inflated, for permessage-deflate), every frame header field equals tshark's dissection."""
    pcap = Path(__file__).resolve().parents[2] / "fixtures" / "pcap" / name
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
        out = subprocess.run([require("tshark"), "-r", str(pcap), "-Y", "websocket.payload.text", "-T", "fields",
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
