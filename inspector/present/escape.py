"""The one escaping function for untrusted text on its way to a terminal.

Anything from the wire (payloads, URLs, header values, file names inside an archive) goes through
`escape_terminal` before it reaches stdout or stderr, so control characters and ANSI escape sequences are
shown (``\\x1b[31m``), never executed.
"""

from __future__ import annotations

import re

__all__ = ["escape_terminal"]

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
