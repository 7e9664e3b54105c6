"""Tests for the `decode`, `build` and `accept` commands: the real console script (subprocess) and click's
CliRunner; truth from wsproto and websockets (frames they build, their decoders, their accept values)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import websockets.utils
from click.testing import CliRunner

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
    ],
)
def test_parse_hex_forms(text):
    assert parse_hex(text) == bytes.fromhex("818548656c6c6f")


@pytest.mark.parametrize("tool", [["xxd"], ["xxd", "-g1"], ["hexdump", "-C"], ["od", "-A", "x", "-t", "x1z", "-v"]])
@pytest.mark.parametrize("size", [2, 7, 16, 33, 70])
def test_parse_hex_reads_real_dump_tools(tool, size):
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
    out = CliRunner().invoke(cli, ["build", "binary", "--hex", "00" * 65536, "--from", "server"]).output.strip()
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
