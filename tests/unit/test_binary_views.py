"""Binary payload views: MessagePack checked against msgpack's own packer, the schema-less Protocol
Buffers guess against bytes written by the protobuf wire format rules (varint keys, field numbers,
wire types), and hypothesis: no input raises."""

from __future__ import annotations

import json

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.present.binary import binary_views, msgpack_view, protobuf_guess
from inspector.present.views import payload_views


def test_msgpack_round_trip_from_the_reference_packer():
    value = {"type": 1, "target": "Send", "arguments": ["hi", 3, None, True], "blob": b"\x00\x01"}
    assert json.loads(msgpack_view(msgpack.packb(value))) == {**value, "blob": "<2 bytes>"}
    assert msgpack_view(msgpack.packb([1, 2]) + b"\xc1") is None  # trailing garbage: not one value
    assert msgpack_view(b"\x05") is None  # a lone fixint says nothing


def test_protobuf_guess_fields_wire_types_and_nesting():
    # field 1 varint 150; field 2 len "testing"; field 3 len nested {1: varint 1}; field 4 fixed32
    data = b"\x08\x96\x01" + b"\x12\x07testing" + b"\x1a\x02\x08\x01" + b"\x25\x01\x00\x00\x00"
    assert protobuf_guess(data) == [
        {"field": 1, "wire_type": "varint", "value": 150},
        {"field": 2, "wire_type": "len", "guess": "string", "value": "testing"},
        {"field": 3, "wire_type": "len", "guess": "message", "fields": [{"field": 1, "wire_type": "varint", "value": 1}]},
        {"field": 4, "wire_type": "i32", "value": 1},
    ]
    assert protobuf_guess(b"\x12\x09short") is None  # a length past the end


def test_decode_views_label_the_guess():
    views = payload_views(2, b"\x08\x96\x01")
    assert "protobuf_guess" in views and payload_views(1, b"\x08\x96\x01").get("protobuf_guess") is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_no_input_raises(data):
    views = binary_views(data)
    assert set(views) <= {"msgpack", "protobuf_guess"}
