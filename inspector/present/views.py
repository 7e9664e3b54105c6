"""Payload views: text, pretty JSON, hex dump, and every view of one frame or message payload.

Everything here takes untrusted bytes and returns bounded values:

* `text_view` / `json_view` / `hex_dump` (xxd layout: offset, 16 bytes in 2-byte groups, ASCII column);
* `payload_views` (all of the above for one frame/message payload, with the close code and reason of
  `inspector.ws.close`) and `describe_frame` (the frame's fields parsed with the construct schema of
  `inspector.ws.schema`, plus the views).

Text from here reaches a terminal only through `inspector.present.escape.escape_terminal`.
"""

from __future__ import annotations

import json

from inspector.ws.close import close_code_name, parse_close
from inspector.ws.header import opcode_name
from inspector.ws.schema import parse_frame

__all__ = ["text_view", "json_view", "hex_dump", "payload_views", "describe_frame"]

def text_view(payload: bytes, cap: int | None = None) -> tuple[str, bool]:
    """``(text, truncated)``: UTF-8 with U+FFFD for invalid bytes, at most ``cap`` characters."""
    text = payload.decode("utf-8", "replace")
    if cap is not None and len(text) > cap:
        return text[:cap], True
    return text, False


def json_view(payload: bytes | str, indent: int = 2) -> str | None:
    """Pretty-printed JSON (keys in their order, non-ASCII kept), or None when it is not JSON."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def hex_dump(data: bytes, cap: int | None = None, width: int = 16) -> str:
    """xxd-style dump: ``00000010: 4865 6c6c 6f0a  Hello.`` (offset, hex in 2-byte groups, ASCII)."""
    shown = data if cap is None else data[:cap]
    lines = []
    group_cols = (width // 2) * 5 - 1
    for off in range(0, len(shown), width):
        row = shown[off : off + width]
        hexpart = " ".join(row[i : i + 2].hex() for i in range(0, len(row), 2))
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{off:08x}: {hexpart:<{group_cols}}  {text}")
    if cap is not None and len(data) > cap:
        lines.append(f"... {len(data) - cap} more bytes")
    return "\n".join(lines)


def payload_views(opcode: int, payload: bytes, cap: int = 256) -> dict:
    """Every view that applies to a payload of ``opcode``: ``hex`` always; ``text`` (+ ``json`` when it
    parses) for text; ``close_code``/``close_code_name``/``close_reason`` for close; ``data`` for
    ping/pong. Values are bounded by ``cap`` (characters or bytes)."""
    views: dict = {"length": len(payload), "hex": hex_dump(payload, cap)}
    if opcode == 1:
        views["text"], views["truncated"] = text_view(payload, cap)
        pretty = json_view(payload) if len(payload) <= 1 << 20 else None
        if pretty is not None:
            views["json"] = pretty
    elif opcode == 8:
        code, reason, found = parse_close(payload, cap)
        views.update(close_code=code, close_code_name=close_code_name(code), close_reason=reason,
                     close_violations=found)
    elif opcode in (9, 10):
        views["data"] = payload[:cap].hex()
    return views


def describe_frame(data: bytes, cap: int = 256) -> dict:
    """One whole frame's fields as the construct schema parses them (`inspector.ws.schema.FRAME`), with
    the masking key as hex and the unmasked payload's views. Raises InputError if ``data`` holds no
    whole frame."""
    fields, size = parse_frame(data)
    payload = fields.pop("payload")
    fields.pop("masked_payload")
    key = fields["masking_key"]
    fields["masking_key"] = key.hex() if key is not None else None
    fields["opcode_name"] = opcode_name(fields["opcode"])
    fields["size"] = size
    fields["views"] = payload_views(fields["opcode"], payload, cap)
    return fields
