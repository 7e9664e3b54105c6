"""Reproducers of hostile inputs kept as regressions: JSON Lines on odd text, hex input, JSON depth, HAR
message types and timings, flow close codes, pcap length fields (in-process, no subprocess)."""

from __future__ import annotations

import io
import json
import struct

import pytest

from inspector.cli.hexinput import parse_hex
from inspector.errors import InputError
from inspector.present.jsonl import JsonlWriter
from inspector.present.text import seconds
from inspector.records import WarningRecord
from inspector.sources.jsondepth import DepthLimited, check_depth


def _lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def test_jsonl_writes_every_record_after_a_surrogate_escaped_string():
    out = io.BytesIO()
    writer = JsonlWriter(out, batch=2)
    writer.write(WarningRecord(name="bad", message="X-L: caf\udce9", conn="c1"))
    for n in range(5):
        writer.write(WarningRecord(name=f"ok{n}", message="fine"))
    writer.flush()
    records = _lines(out.getvalue())
    assert [r["name"] for r in records] == ["bad", "jsonl-text-replaced", "ok0", "ok1", "ok2", "ok3", "ok4"]
    assert records[0]["message"] == "X-L: caf\ufffd"
    assert records[1]["conn"] == "c1" and records[1]["count"] == 1


def test_jsonl_replaces_surrogates_inside_header_pairs():
    from inspector.records import Exchange

    fields = dict.fromkeys(Exchange.__struct_fields__)
    fields.update(conn="c1", method="GET", url="/caf\udce9", request_headers=[("X-L", "caf\udce9")],
                  response_headers=[])
    out = io.BytesIO()
    writer = JsonlWriter(out)
    writer.write(Exchange(**fields))
    writer.flush()
    exchange, warning = _lines(out.getvalue())
    assert exchange["request_headers"] == [["X-L", "caf\ufffd"]] and exchange["url"] == "/caf\ufffd"
    assert warning["name"] == "jsonl-text-replaced" and warning["count"] == 2


class _FailingStream(io.BytesIO):
    def write(self, data):  # a full disk
        raise OSError(28, "No space left on device")


def test_jsonl_writer_keeps_no_batch_it_failed_to_write():
    writer = JsonlWriter(_FailingStream(), batch=1000)
    writer.write(WarningRecord(name="a", message="x"))
    with pytest.raises(OSError):
        writer.flush()
    assert writer._pending == []


def test_jsonl_escapes_c1_and_del():
    out = io.BytesIO()
    JsonlWriter(out).write_many([WarningRecord(name="c1", message="a\x9b2Jb\x7f")])
    writer = JsonlWriter(out)
    writer.write(WarningRecord(name="c1", message="a\x9b2Jb\x7f"))
    writer.flush()
    assert b"\xc2\x9b" not in out.getvalue() and b"\x7f" not in out.getvalue()
    assert _lines(out.getvalue())[0]["message"] == "a\x9b2Jb\x7f"


@pytest.mark.parametrize("text", ["0x", "\\x", "0x0x81", "0x 0x"])
def test_hex_prefix_without_digits_is_an_input_error(text):
    with pytest.raises(InputError, match="no hex digits"):
        parse_hex(text)


@pytest.mark.parametrize("depth,ok", [(500, True), (501, False), (30_000, False)])
def test_json_depth_limit(depth, ok):
    text = b'{"log": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    reader = DepthLimited(io.BytesIO(text), "HAR", limit=502)  # the object and log add two levels
    if ok:
        while reader.read(7):
            pass
    else:
        with pytest.raises(InputError, match="HAR nests deeper than 502 levels"):
            while reader.read(7):
                pass


def test_json_depth_ignores_brackets_in_strings_and_escapes():
    text = json.dumps({"a": "[[[[\\\"[[[[" * 200, "b": ["\\", "]]]]"]}).encode()
    check_depth(text, limit=2)
    with pytest.raises(InputError):
        check_depth(b'{"a": "\\\\", "b": [[[1]]]}', limit=3)


def test_absurd_durations_print_short():
    assert seconds(float("inf")) == "?"
    assert seconds(3e297) == "3e+297 s"
    assert seconds(2.5) == "2.50 s"


def _har(messages: list[dict], timings: dict | None = None) -> bytes:
    entry = {"startedDateTime": "2026-01-01T00:00:00Z",
             "request": {"method": "GET", "url": "ws://a/ws", "headers": []},
             "response": {"status": 101, "headers": [], "content": {}},
             "timings": timings or {"send": 0, "wait": 0, "receive": 0},
             "_resourceType": "websocket", "_webSocketMessages": messages}
    return json.dumps({"log": {"entries": [entry]}}).encode()


def _analyze(tmp_path, data: bytes, name: str = "x.har") -> list[dict]:
    from inspector.analysis import Analysis
    from inspector.records import to_dict
    from inspector.sources import open_source

    path = tmp_path / name
    path.write_bytes(data)
    records = []
    analysis = Analysis(lambda r: records.append(to_dict(r)), source="har")
    open_source(str(path)).run(analysis)
    analysis.finish()
    return records


@pytest.mark.parametrize("first", [True, False])
def test_har_empty_message_type_is_left_out_with_a_warning(tmp_path, first):
    send = {"type": "send", "time": 1.7e9, "opcode": 1, "data": "from client"}
    empty = {"type": "", "time": 1.7e9, "opcode": 1, "data": "no direction"}
    records = _analyze(tmp_path, _har([empty, send] if first else [send, empty]))
    messages = [r for r in records if r["type"] == "message"]
    assert [(m["direction"], m["text"]) for m in messages] == [("client", "from client")]
    assert any(r["type"] == "warning" and r["name"] == "har-message-type-unknown" for r in records)


def test_har_absurd_timings_are_unknown(tmp_path):
    records = _analyze(tmp_path, _har([], {"blocked": 1e300, "send": 0, "wait": 1e300, "receive": 1}))
    exchange = next(r for r in records if r["type"] == "exchange")
    assert exchange["ts_response"] is None
    assert any(r["type"] == "warning" and r["name"] == "har-timing-out-of-range" for r in records)


@pytest.mark.parametrize("bad", [b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\\udce9"])
def test_har_invalid_utf8_is_one_line_without_bytes_repr(tmp_path, bad):
    data = _har([{"type": "send", "time": 1.7e9, "opcode": 1, "data": "XXXX"}]).replace(b"XXXX", bad)
    with pytest.raises(InputError) as info:
        _analyze(tmp_path, data)
    message = str(info.value)
    assert "invalid UTF-8" in message and "b'" not in message and "\n" not in message
    assert message.startswith(str(tmp_path / "x.har"))


def test_har_deep_nesting_under_an_ignored_key(tmp_path):
    data = b'{"log": {"x": ' + b"[" * 30_000 + b"]" * 30_000 + b', "entries": []}}'
    with pytest.raises(InputError, match="nests deeper than 500 levels"):
        _analyze(tmp_path, data)


def _pcap(snaplen: int, linktype: int, records: list[tuple[int, bytes]]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for caplen, data in records:
        out += struct.pack("<IIII", 1_700_000_000, 0, caplen, caplen) + data
    return out


def test_pcap_record_length_is_capped_whatever_the_snaplen(tmp_path):
    data = _pcap(0xFFFFFFFF, 1, [(0xFFFFFF00, b"\0" * (3 << 20))])
    with pytest.raises(InputError, match="bomb.pcap: "):  # read to the end, never a 4 GiB buffer
        _analyze(tmp_path, data, "bomb.pcap")


@pytest.mark.parametrize("linktype", [0, 101])
def test_pcap_wrong_link_type_is_named(tmp_path, linktype):
    ethernet = b"\x02\x00\x00\x00\x00\x01" * 2 + b"\x08\x00" + b"\x45" + b"\0" * 60
    data = _pcap(65535, linktype, [(len(ethernet), ethernet)] * 3)
    with pytest.raises(InputError, match=f"none of the 3 packets parsed as IP over link type {linktype}"):
        _analyze(tmp_path, data, "link.pcap")


def _syn(n: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 1024 + n, 80, n * 7919, 0, 5 << 4, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, 0x0A000001, 0x0A640001)
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp


def test_pcap_connection_table_is_bounded_in_total(tmp_path, monkeypatch):
    from inspector.sources import pcap

    monkeypatch.setattr(pcap, "MAX_CONNECTIONS", 10)
    records = _analyze(tmp_path, _pcap(65535, 1, [(54, _syn(n)) for n in range(30)]), "syn.pcap")
    assert len([r for r in records if r["type"] == "connection"]) == 30  # every one still reported
    evicted = [r for r in records if r["type"] == "warning" and r["name"] == "pcap-connections-evicted"]
    assert evicted and evicted[0]["count"] == 20
