"""Payload views: text, pretty JSON, hex dump, close code and reason, and terminal escaping.

Everything here takes untrusted bytes and returns bounded, printable values:

* `text_view` / `json_view` / `hex_dump` (xxd layout: offset, 16 bytes in 2-byte groups, ASCII column);
* `parse_close` (RFC 6455 5.5.1: 2-byte code + UTF-8 reason) with `close_code_name` from the IANA
  "WebSocket Close Code Number Registry" (RFC 6455 11.7) and `close_code_valid` (RFC 6455 7.4);
* `payload_views` (all of the above for one frame/message payload) and `describe_frame` (the frame's
  fields parsed with the construct schema of `inspector.frames`, plus the views);
* `escape_terminal`: anything from the wire goes through it before reaching a terminal, so control
  characters and ANSI escape sequences are shown (``\\x1b[31m``), never executed.
"""

from __future__ import annotations

import json
import re

from inspector import violations as V
from inspector.frames import opcode_name, parse_frame

__all__ = [
    "CLOSE_CODE_NAMES",
    "close_code_name",
    "close_code_valid",
    "parse_close",
    "text_view",
    "json_view",
    "hex_dump",
    "payload_views",
    "describe_frame",
    "escape_terminal",
]

#: IANA WebSocket Close Code Number Registry, 1000-1015 (RFC 6455 7.4.1, 11.7)
CLOSE_CODE_NAMES = {
    1000: "Normal Closure",
    1001: "Going Away",
    1002: "Protocol Error",
    1003: "Unsupported Data",
    1004: "Reserved",
    1005: "No Status Rcvd",
    1006: "Abnormal Closure",
    1007: "Invalid Frame Payload Data",
    1008: "Policy Violation",
    1009: "Message Too Big",
    1010: "Mandatory Extension",
    1011: "Internal Error",
    1012: "Service Restart",
    1013: "Try Again Later",
    1014: "Bad Gateway",
    1015: "TLS Handshake",
}

#: codes an endpoint must not send (RFC 6455 7.4.1/7.4.2): 1004 reserved, 1005/1006/1015 local-only
_FORBIDDEN = frozenset((1004, 1005, 1006, 1015))


def close_code_name(code: int | None) -> str | None:
    """The registered name, or the range's meaning (3000-3999 registered for libraries, 4000-4999
    private use), or None."""
    if code is None:
        return None
    name = CLOSE_CODE_NAMES.get(code)
    if name is not None:
        return name
    if 3000 <= code <= 3999:
        return "Library/Framework (IANA registered range)"
    if 4000 <= code <= 4999:
        return "Private Use"
    return None


def close_code_valid(code: int) -> bool:
    """May this code appear in a close frame on the wire? (RFC 6455 7.4: 1000-1003, 1007-1014, 3000-4999)."""
    if 1000 <= code <= 1014:
        return code not in _FORBIDDEN
    return 3000 <= code <= 4999


def parse_close(payload: bytes, cap: int | None = None) -> tuple[int | None, str | None, list[str]]:
    """``(code, reason, violations)`` of a close frame payload (RFC 6455 5.5.1).

    An empty payload has no code; a 1-byte payload is ``close-payload-length-1``; a code not allowed on
    the wire is ``invalid-close-code``; a reason that is not UTF-8 is ``invalid-utf8`` (the reason is
    then shown with U+FFFD replacements). ``cap`` limits the reason to that many characters.
    """
    if not payload:
        return None, None, []
    if len(payload) == 1:
        return None, None, [V.CLOSE_PAYLOAD_LENGTH_1]
    code = int.from_bytes(payload[:2], "big")
    found = [] if close_code_valid(code) else [V.INVALID_CLOSE_CODE]
    raw = payload[2:]
    try:
        reason = raw.decode("utf-8")
    except UnicodeDecodeError:
        reason = raw.decode("utf-8", "replace")
        found.append(V.INVALID_UTF8)
    if cap is not None:
        reason = reason[:cap]
    return code, reason, found


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
    """One whole frame's fields as the construct schema parses them (`inspector.frames.FRAME`), with
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


# Control characters (C0, DEL, C1: ESC starts every ANSI/VT sequence, CSI is also 0x9b) and bidi
# overrides. Escaping the introducer alone defuses a sequence and keeps the rest readable.
_ESCAPES = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape_terminal(text: str, keep_newlines: bool = False) -> str:
    """``text`` safe to print on a terminal: C0/C1 control characters, DEL, ANSI escape sequences and
    bidi overrides become visible escapes (``\\x1b[2J``, ``\\r``, ``\\u202e``). With ``keep_newlines``
    a ``\\n`` stays a line break."""
    if keep_newlines:
        return "\n".join(_ESCAPES.sub(_escape, part) for part in text.split("\n"))
    return _ESCAPES.sub(_escape, text)
