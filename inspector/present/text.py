"""The wording every terminal renderer shares: `analyze`'s HumanRenderer, `decode`'s DecodeRenderer, the
live addon's log lines and its content views.

One function per thing said: close text (code, registered name, reason), direction labels, plurals, byte
sizes and durations, record types in plain words, `fit` to a width, and `esc`, the one way untrusted text
reaches a terminal here (through `inspector.present.escape.escape_terminal`).
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from inspector.present.app import app_text
from inspector.present.escape import escape_terminal
from inspector.ws.close import close_code_name, close_code_valid

__all__ = [
    "INFLATE_ERRORS",
    "RECORD_WORDS",
    "close_text",
    "direction_label",
    "esc",
    "fit",
    "format_bytes",
    "message_close_text",
    "message_segments",
    "plural",
    "record_counts",
    "seconds",
    "text_width",
]

#: record type tag -> (singular, plural) in plain words
RECORD_WORDS = {
    "connection": ("connection", "connections"),
    "exchange": ("exchange", "exchanges"),
    "handshake": ("handshake", "handshakes"),
    "frame": ("frame", "frames"),
    "message": ("message", "messages"),
    "sse_event": ("SSE event", "SSE events"),
    "sse_stream": ("event stream", "event streams"),
    "pattern": ("endpoint pattern", "endpoint patterns"),
    "warning": ("warning", "warnings"),
}

_IRREGULAR = {word: many for word, many in RECORD_WORDS.values()}


def esc(text: Any, limit: int | None = None) -> str:
    """Untrusted text made safe for a terminal (control characters and escape sequences shown), cut to
    ``limit`` characters (before escaping) with "..." when cut."""
    text = str(text)
    if limit is not None and len(text) > limit:
        return escape_terminal(text[:limit]) + "..."
    return escape_terminal(text)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 request``, ``2 requests``, ``0 SSE events`` (``many`` for irregular plurals)."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or _IRREGULAR.get(word) or word + 's'}"


def record_counts(counts: dict[str, int]) -> str:
    """Counts by record type tag in plain words, most first: ``9 connections, 8 SSE events``."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(plural(n, *RECORD_WORDS.get(tag, (tag, None))) for tag, n in items)


def direction_label(direction: str | None) -> str:
    """``c->s`` for what the client sent, ``s->c`` for what the server sent."""
    return "c->s" if direction == "client" else "s->c"


def close_text(code: int | None, name: str | None = None, reason: str | None = None) -> str:
    """A close in words: ``close 1000 (Normal Closure) "bye"``, ``close 4000 (Private Use)``,
    ``close (no status code)``, ``close 999 (invalid code)``, ``close 1005 (No Status Rcvd, invalid code)``.
    ``name`` defaults to the registry's; the reason is escaped."""
    if code is None:
        return "close (no status code)"
    name = name or close_code_name(code)
    meaning = esc(name) if name else ""
    if not close_code_valid(code):
        meaning = f"{meaning}, invalid code" if meaning else "invalid code"
    quoted = f' "{esc(reason)}"' if reason else ""
    return f"close {code} ({meaning}){quoted}"


def message_close_text(message: Any) -> str:
    """`close_text` of a `records.Message` of opcode close."""
    return close_text(message.close_code, message.close_code_name, message.close_reason)


def message_segments(message: Any, limit: int | None = None) -> list[tuple[str, str | None]]:
    """A `records.Message` as one line's (text, style) segments: ``c->s message #2 text 12 B deflated: hi``,
    violations after the size (style "red"), then ``INCOMPLETE`` for a message that never ended and
    ``NOT INFLATED (why)`` for an `inflate_error` (no empty payload is shown for it); a close shows its
    `close_text` for the opcode.  ``limit``:
    characters of the payload shown."""
    m = message
    what = message_close_text(m) if m.opcode_name == "close" else esc(m.opcode_name)
    inflate_error = getattr(m, "inflate_error", None)
    size = format_bytes(m.length)
    if inflate_error:  # length covers only what was inflated before the failure
        wire = getattr(m, "wire_length", None)
        size = f"{format_bytes(wire)} on the wire" + (f", {size} inflated" if m.length else "")
    segments: list[tuple[str, str | None]] = [
        (f"{direction_label(m.direction)} message #{m.index} {what} {size}", None)
    ]
    if m.violations:
        segments.append((" ! " + esc(", ".join(m.violations)), "red"))
    if not m.complete:
        segments.append((" INCOMPLETE (never ended)", "yellow"))
    if inflate_error:
        why = INFLATE_ERRORS.get(inflate_error, esc(inflate_error))
        segments.append((f" NOT INFLATED ({why})", "yellow"))
    elif m.compressed:
        segments.append((" deflated", None))
    if m.app:
        segments.append((" " + app_text(m.app), "cyan"))
    payload = None if m.opcode_name == "close" else m.text if m.text is not None else m.data or None
    if inflate_error and not payload:
        payload = None
    if payload is not None:
        cut = m.truncated or (limit is not None and len(payload) > limit)
        segments.append((f": {esc(payload[:limit])}" + ("..." if cut else ""), None))
    return segments


#: Message.inflate_error -> why, in words
INFLATE_ERRORS = {
    "context-lost": "context lost after a capture gap or an earlier failure",
    "limit": "inflated size over the cap: a deflate bomb?",
    "error": "corrupt DEFLATE data",
    "window": "back-reference beyond the negotiated window",
}


def format_bytes(n: float | None) -> str:
    """Bytes for people: 512 B, 3.4 kB, 12.0 MB (powers of 1000, as browsers' DevTools show them)."""
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "kB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def seconds(value: float | None) -> str:
    """A duration: ``0 ms``, ``0.25 ms``, ``120 ms``, ``2.50 s``; ``?`` when unknown."""
    if value is None or not math.isfinite(value):
        return "?"
    if value == 0:
        return "0 ms"
    if abs(value) >= 1e7:  # about 116 days: no measured duration, shown short
        return f"{value:.3g} s"
    if value < 0.001:
        return f"{value * 1000:.2f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Display columns of ``text`` (East Asian wide characters count two, combining marks none)."""
    return sum(_char_width(ch) for ch in text) if not text.isascii() else len(text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns, ending in "..." when cut."""
    if text_width(text) <= width:
        return text
    mark = "..." if width > 3 else ""
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - len(mark):
            break
        out.append(ch)
        used += w
    return "".join(out) + mark
