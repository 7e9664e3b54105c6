"""Views of binary payloads: MessagePack (``msgpack``, which mitmproxy brings) and schema-less Protocol
Buffers.  Protocol Buffers carry no schema on the wire, so that view is a guess and says so: field
numbers, wire types, varints, fixed values, and length-delimited fields shown as a nested message when
their bytes parse as one, else as text when they are UTF-8, else as bytes.

Untrusted bytes in, bounded values out: a view is None when the payload is not that format (every byte
must be consumed), nesting stops at `MAX_DEPTH`, at most `MAX_FIELDS` fields per message are listed, and
MessagePack containers are limited by the unpacker's own caps.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_FIELDS", "binary_views", "msgpack_view", "protobuf_guess"]

MAX_DEPTH = 8
MAX_FIELDS = 256
_WIRE = {0: "varint", 1: "i64", 2: "len", 5: "i32"}


def msgpack_view(payload: bytes, indent: int = 2) -> str | None:
    """The payload as one MessagePack value, pretty JSON (bytes as ``"<N bytes>"``); None if it is not
    exactly one MessagePack value."""
    import msgpack

    from inspector.app.base import jsonable

    if not payload:
        return None
    cap = len(payload)
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False, max_str_len=cap, max_bin_len=cap,
                                max_array_len=cap, max_map_len=cap, max_ext_len=cap)
    except Exception:  # noqa: BLE001 - msgpack raises many types on bad input; any means "not MessagePack"
        return None
    if isinstance(value, (int, float)) and len(payload) == 1:
        return None  # every byte below 0x80 is a positive fixint: too weak to call it MessagePack
    return json.dumps(jsonable(value), indent=indent, ensure_ascii=False)


def _varint(data: bytes, i: int) -> tuple[int, int] | None:
    value = shift = 0
    while i < len(data) and shift < 70:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7
    return None


def _message(data: bytes, depth: int) -> list[dict] | None:
    """The fields of ``data`` as a protobuf message, None if the bytes are not one."""
    fields: list[dict] = []
    i = 0
    while i < len(data):
        key = _varint(data, i)
        if key is None:
            return None
        tag, i = key
        number, wire = tag >> 3, tag & 7
        if number == 0 or wire not in _WIRE:
            return None
        field: dict[str, Any] = {"field": number, "wire_type": _WIRE[wire]}
        if wire == 0:
            got = _varint(data, i)
            if got is None:
                return None
            field["value"], i = got
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if i + size > len(data):
                return None
            field["value"] = int.from_bytes(data[i:i + size], "little")
            i += size
        else:
            got = _varint(data, i)
            if got is None or got[1] + got[0] > len(data):
                return None
            size, i = got
            field.update(_length_delimited(data[i:i + size], depth))
            i += size
        if len(fields) < MAX_FIELDS:
            fields.append(field)
    return fields


def _length_delimited(chunk: bytes, depth: int) -> dict:
    nested = _message(chunk, depth + 1) if chunk and depth < MAX_DEPTH else None
    if nested:
        return {"guess": "message", "fields": nested}
    try:
        return {"guess": "string", "value": chunk.decode("utf-8")[:256]}
    except UnicodeDecodeError:
        return {"guess": "bytes", "value": chunk[:64].hex(), "length": len(chunk)}


def protobuf_guess(payload: bytes) -> list[dict] | None:
    """The payload read as a Protocol Buffers message without a schema: one dict per field (``field``,
    ``wire_type``, ``value``; length-delimited ones with a ``guess``), None when it is not one."""
    return _message(payload, 0) if payload else None


def binary_views(payload: bytes) -> dict:
    """The binary views that apply: ``msgpack`` (pretty JSON) and ``protobuf_guess`` (JSON text, labelled
    a guess)."""
    views: dict = {}
    packed = msgpack_view(payload)
    if packed is not None:
        views["msgpack"] = packed
    guess = protobuf_guess(payload)
    if guess:
        views["protobuf_guess"] = json.dumps(guess, indent=2, ensure_ascii=False)
    return views
