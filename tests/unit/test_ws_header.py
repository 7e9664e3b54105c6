"""inspector.ws.header: Opcode names, the one plausibility rule against the construct schema, the
decoder's named events against `parse_frame`, and ws modules free of mitmproxy."""

from __future__ import annotations

import ast
import functools
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inspector.ws
from inspector.records import Frame
from inspector.ws.decoder import FrameDecoder, FrameEvent
from inspector.ws.header import (
    OPCODE_NAMES,
    Opcode,
    clean_table,
    first_bytes,
    header_violations,
    mask_bit,
    opcode_name,
    plausible_header,
)
from inspector.ws.schema import HEADER_COMPILED, build_frame, parse_frame

# The opcode_name values of the records contract (docs/records.md, Frame.opcode_name)
CONTRACT = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
DEFINED = set(CONTRACT)


def test_opcode_names_are_the_records_contract():
    assert {op.value: op.name.lower() for op in Opcode} == CONTRACT
    assert OPCODE_NAMES == CONTRACT
    for op in range(16):
        assert opcode_name(op) == CONTRACT.get(op, "reserved")
    assert "opcode_name" in Frame.__struct_fields__


def _completion(b1: int) -> bytes:
    """Extended length (minimal for its encoding) and masking key completing a header whose second
    byte is ``b1``, so the schema can parse it."""
    len7 = b1 & 0x7F
    ext = (200).to_bytes(2, "big") if len7 == 126 else (70000).to_bytes(8, "big") if len7 == 127 else b""
    return ext + (b"\x01\x02\x03\x04" if b1 & 0x80 else b"")


@functools.cache
def _heads() -> list:
    """The schema's parse of every first two bytes (completed by `_completion`), index b0 << 8 | b1."""
    return [HEADER_COMPILED.parse(bytes((i >> 8, i & 0xFF)) + _completion(i & 0xFF)) for i in range(65536)]


def _rule(head, mask, deflate) -> bool:
    """The plausibility rule stated on the schema's fields: defined opcode; RSV2/RSV3 clear; RSV1 only
    when deflate allows it (never when not negotiated, only text/binary when negotiated, data frames
    when unknown); a control frame final; the MASK bit the direction requires."""
    op = head.opcode
    if op not in DEFINED or head.rsv2 or head.rsv3:
        return False
    if head.rsv1:
        allowed = {False: set(), True: {1, 2}, None: {0, 1, 2}}[deflate]
        if op not in allowed:
            return False
    if op >= 8 and not head.fin:
        return False
    return mask is None or head.masked == bool(mask)


@pytest.mark.parametrize("deflate", [False, True, None])
@pytest.mark.parametrize("direction", ["client", "server", None])
def test_plausible_header_on_every_first_two_bytes_against_the_schema(direction, deflate):
    """All 65536 first-two-byte values: plausible (length not yet known) iff the schema's fields
    follow the rule; then, with the length known, iff also the length rule holds (control frames at
    most 125 bytes, minimal encodings) -- and for a known direction and deflate, iff the header shows
    no violation."""
    mask = mask_bit(direction)
    heads = _heads()
    for b0 in range(256):
        for b1 in range(256):
            head = heads[b0 << 8 | b1]
            expected = _rule(head, mask, deflate)
            assert plausible_header(b0, b1, None, mask, deflate) is expected, (b0, b1)
            with_length = expected and (head.opcode < 8 or head.payload_len <= 125)
            assert plausible_header(b0, b1, head.payload_len, mask, deflate) is with_length, (b0, b1)
            if direction is not None and deflate is not None:
                clean = not header_violations(b0, b1, head.payload_len, direction, deflate)
                assert clean is with_length, (b0, b1)


@pytest.mark.parametrize(("len7", "payload_len", "ok"), [
    (126, 125, False), (126, 126, True), (126, 0xFFFF, True),
    (127, 0xFFFF, False), (127, 0x10000, True), (127, 2**63 - 1, True), (127, 2**63, False),
])
def test_plausible_header_length_rule(len7, payload_len, ok):
    assert plausible_header(0x82, len7, payload_len) is ok
    assert not header_violations(0x82, len7, payload_len, "server", False) is ok


def test_first_bytes_and_clean_table_follow_plausible_header():
    assert first_bytes(False) == {0x00, 0x01, 0x02, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A}
    assert first_bytes(True) == first_bytes(False) | {0x41, 0x42, 0xC1, 0xC2}
    for direction in ("client", "server", None):
        for deflate in (False, True):
            table = clean_table(direction, deflate)
            mask = mask_bit(direction)
            for b0 in range(256):
                for b1 in range(256):
                    len7 = b1 & 0x7F
                    final_data = b0 & 0x8F in (0x81, 0x82)
                    want = 0
                    if final_data and len7 < 126 and plausible_header(b0, b1, len7, mask, deflate):
                        want = 1
                    elif final_data and len7 == 126 and plausible_header(b0, b1, 126, mask, deflate):
                        want = 2
                    assert table[b0 << 8 | b1] == want


frame_fields = st.fixed_dictionaries({
    "opcode": st.sampled_from([0, 1, 2, 3, 8, 9, 10, 15]),
    "payload": st.binary(max_size=300),
    "fin": st.booleans(),
    "rsv1": st.booleans(),
    "mask": st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
    "length_encoding": st.sampled_from([None, None, "16bit", "64bit"]),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame_fields, min_size=1, max_size=8), st.sampled_from(["client", "server", None]),
       st.booleans(), st.integers(1, 64))
def test_named_events_match_parse_frame(frames, direction, deflate, chunk):
    """Every event the decoder hands out (clean or general, whole or streamed) is a `FrameEvent`
    whose fields match what the construct schema parses from the same bytes."""
    wires = [build_frame(**f) for f in frames]
    data = b"".join(wires)
    dec = FrameDecoder(direction, deflate=deflate, buffer_limit=100)
    events: list[FrameEvent] = []
    for pos in range(0, len(data), chunk):
        clean, general = dec.feed_clean(data[pos : pos + chunk])
        events += clean + general
    events += dec.end()
    got = []
    pieces: list[bytes] = []
    for event in events:
        assert type(event) is FrameEvent
        if event.header is None:
            got.append((event.b0, event.masking_key, event.payload_len, event.length_encoding, event.offset,
                        event.payload))
            continue
        pieces = [event.payload] if event.first else pieces + [event.payload]
        if event.last:
            hdr = event.header
            got.append((hdr.b0, hdr.masking_key, hdr.payload_len, hdr.length_encoding, hdr.offset,
                        b"".join(pieces)))
    expected = []
    offset = 0
    for wire in wires:
        fields, size = parse_frame(wire)
        b0 = fields["fin"] << 7 | fields["rsv1"] << 6 | fields["opcode"]
        encoding = {126: "16bit", 127: "64bit"}.get(fields["len7"], "7bit")
        expected.append((b0, fields["masking_key"], fields["payload_len"], encoding, offset, fields["payload"]))
        offset += size
    assert got == expected


def test_ws_modules_import_no_mitmproxy():
    root = pathlib.Path(inspector.ws.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "mitmproxy" for name in names), path.name
