"""Payload views (inspector.present.views): hex dump against xxd, close codes, JSON, terminal escaping."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.ws import violations as V
from inspector.errors import InputError
from inspector.ws.schema import build_frame
from inspector.ws.close import CLOSE_CODE_NAMES, close_code_name, close_code_valid, parse_close
from inspector.present.views import describe_frame, hex_dump, json_view, payload_views, text_view
from inspector.present.escape import escape_terminal


def test_hex_dump_cap():
    dump = hex_dump(bytes(100), cap=20)
    assert dump.splitlines()[-1] == "... 80 more bytes"
    assert len(dump.splitlines()) == 3


def test_close_code_registry_and_validity():
    assert len(CLOSE_CODE_NAMES) == 16 and min(CLOSE_CODE_NAMES) == 1000 and max(CLOSE_CODE_NAMES) == 1015
    assert close_code_name(1000) == "Normal Closure"
    assert close_code_name(1012) == "Service Restart"
    assert close_code_name(3001).startswith("Library")
    assert close_code_name(4999) == "Private Use"
    assert close_code_name(2000) is None and close_code_name(None) is None
    valid = [c for c in range(0, 6000) if close_code_valid(c)]
    assert valid == [1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)]


def test_parse_close():
    assert parse_close(b"") == (None, None, [])
    assert parse_close(b"\x03") == (None, None, [V.CLOSE_PAYLOAD_LENGTH_1])
    assert parse_close(b"\x03\xe8done") == (1000, "done", [])
    assert parse_close(b"\x03\xee") == (1006, "", [V.INVALID_CLOSE_CODE])
    assert parse_close(b"\x03\xe8\xc3", cap=3) == (1000, "\ufffd", [V.INVALID_UTF8])


def test_text_and_json_views():
    assert text_view(b"h\xffi") == ("h\ufffdi", False)
    assert text_view("äöü".encode(), cap=2) == ("äö", True)
    assert json_view(b'{"b": [1, 2], "a": "\xc3\xa9"}') == '{\n  "b": [\n    1,\n    2\n  ],\n  "a": "é"\n}'
    assert json_view(b"not json") is None
    assert json_view(b"[" * 100000) is None  # deep nesting is "not JSON here", not a crash


def test_payload_views():
    v = payload_views(1, b'{"x":1}')
    assert v["text"] == '{"x":1}' and v["json"] == '{\n  "x": 1\n}' and v["hex"].startswith("00000000: 7b22")
    v = payload_views(8, b"\x03\xe9bye")
    assert (v["close_code"], v["close_code_name"], v["close_reason"]) == (1001, "Going Away", "bye")
    assert payload_views(9, b"\x01\x02", cap=1)["data"] == "01"
    assert "text" not in payload_views(2, b"\x00")


def test_describe_frame_uses_the_schema():
    d = describe_frame(bytes.fromhex("818537fa213d7f9f4d5158"))
    assert d["masking_key"] == "37fa213d" and d["opcode_name"] == "text" and d["size"] == 11
    assert d["views"]["text"] == "Hello" and d["payload_len"] == 5 and d["len7"] == 5
    d = describe_frame(build_frame(8, b"\x03\xe8", length_encoding="16bit"))
    assert d["len7"] == 126 and d["views"]["close_code"] == 1000
    with pytest.raises(InputError):
        describe_frame(b"\x81\x05He")


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x1b]0;title\x07x", "\\x1b]0;title\\x07x"),
        ("bell\x07 del\x7f c1\x9b", "bell\\x07 del\\x7f c1\\x9b"),
        ("\u202eevil", "\\u202eevil"),
        ("plain é 𝄞", "plain é 𝄞"),
    ],
)
def test_escape_terminal(raw, shown):
    assert escape_terminal(raw) == shown


def test_escape_terminal_keep_newlines():
    assert escape_terminal("a\n\x1b[1mb", keep_newlines=True) == "a\n\\x1b[1mb"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_escape_terminal_output_has_no_control_characters(text):
    out = escape_terminal(text)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in out)
    assert "\x1b" not in out
