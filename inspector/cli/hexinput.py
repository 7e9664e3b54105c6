"""Pasted bytes: hex in the forms people copy (plain, C arrays, offset dumps) and base64."""

from __future__ import annotations

import base64
import binascii
import re
import sys

from inspector.errors import InputError
from inspector.present.escape import escape_terminal

__all__ = ["parse_hex", "parse_base64", "text_input"]

_DUMP_LINE = re.compile(r"\s*([0-9A-Fa-f]{4,8}):?(?=\s|$)(.*)")
_HEX_TOKEN = re.compile(r"(?:0[xX]|\\x)?([0-9A-Fa-f]+)")


def _plain_hex(text: str, what: str) -> bytes:
    """Bytes of a hex string with optional spaces, colons, commas, ``0x`` or ``\\x`` prefixes."""
    digits = []
    for token in re.split(r"[\s:,;]+", text):
        for part in re.split(r"(?=0[xX])|(?=\\x)", token):
            if not part:
                continue
            match = _HEX_TOKEN.fullmatch(part)
            if not match:
                bad = next((c for c in part if c not in "0123456789abcdefABCDEFxX\\"), None)
                if bad is None:  # "0x", "\\x", "0x0x81": a prefix without digits
                    raise InputError(f"{what}: {escape_terminal(part[:20])!r} has no hex digits after its prefix")
                raise InputError(f"{what}: {escape_terminal(bad)!r} is not a hex digit")
            digits.append(match.group(1))
    joined = "".join(digits)
    if len(joined) % 2:
        raise InputError(f"{what}: odd number of hex digits ({len(joined)})")
    return bytes.fromhex(joined)


def _dump_hex(lines: list[str]) -> bytes:
    """Bytes of an offset-prefixed hex dump: Wireshark "Copy as Hex Dump", xxd, hexdump -C, od -A x.

    Each line is an offset, hex bytes and an optional ASCII column; a line holds as many bytes as the next
    offset says (the last one: until the ASCII column, at most as many as the line before it).
    """
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip() == "*":
            raise InputError(f"hex dump line {number}: '*' (repeated lines left out) is not supported; use hexdump -v")
        match = _DUMP_LINE.fullmatch(line)
        if not match:
            raise InputError(f"hex dump line {number} has no offset: {escape_terminal(line.strip()[:40])!r}")
        rest = re.split(r"[|>]", match.group(2))[0]  # hexdump -C |ascii|, od -z >ascii<
        rest = re.split(r"(?<=\S)\s{3,}", rest.strip(), maxsplit=1)[0]  # wide gap before the ASCII column
        rows.append((number, int(match.group(1), 16), rest))
    data = bytearray()
    width = 16
    for i, (number, offset, rest) in enumerate(rows):
        if offset != len(data):
            if i == len(rows) - 1 and not rest:  # xxd -r style dumps end with the total length alone
                break
            raise InputError(f"hex dump line {number}: offset {offset:#x}, but {len(data):#x} bytes came before it")
        expected = rows[i + 1][1] - offset if i + 1 < len(rows) else width
        line_bytes = bytearray()
        for token in rest.split():
            if len(line_bytes) >= expected or not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", token):
                break
            line_bytes += bytes.fromhex(token)
        if i + 1 < len(rows):
            if len(line_bytes) < expected:
                raise InputError(f"hex dump line {number}: {len(line_bytes)} bytes, but the next offset says {expected}")
            width = expected
        data += line_bytes[:expected]
    return bytes(data)


def parse_hex(text: str, what: str = "hex input") -> bytes:
    """Bytes of pasted hex: a plain hex string (any separators, ``0x``/``\\x`` prefixes), a C array
    (Wireshark's "Copy as C Arrays") or an offset dump (Wireshark's "Copy as Hex Dump", xxd, hexdump -C,
    od -A x). Raises InputError."""
    if "{" in text:  # C arrays: the bytes between the braces, comments dropped
        text = " ".join(re.findall(r"\{([^}]*)\}", re.sub(r"/\*.*?\*/", " ", text, flags=re.S)))
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and re.match(r"\s*(0{4,8}(:\s|\s\s)|0{6,8}\s)", lines[0] + "  "):
        return _dump_hex(lines)
    return _plain_hex(text, what)


def parse_base64(text: str) -> bytes:
    """Bytes of base64 (standard or URL-safe alphabet, whitespace ignored, padding optional)."""
    compact = re.sub(r"\s+", "", text)
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", compact):
        bad = next(c for c in compact if not (c.isascii() and (c.isalnum() or c in "+/_-=")))
        raise InputError(f"base64 input: {escape_terminal(bad)!r} is not a base64 character")
    stripped = compact.rstrip("=")
    if len(stripped) % 4 == 1:
        raise InputError(f"base64 input: {len(stripped)} characters cannot be base64 (length mod 4 is 1)")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error as exc:
        raise InputError(f"base64 input: {exc}") from None


def text_input(pieces: tuple[str, ...], is_base64: bool) -> bytes:
    """The bytes of HEX/base64 arguments; ``-`` reads the text from stdin (once)."""
    stdin_text = None
    texts = []
    for piece in pieces:
        if piece == "-":
            if stdin_text is None:
                raw = sys.stdin.buffer.read()
                try:
                    stdin_text = raw.decode("ascii")
                except UnicodeDecodeError:
                    raise InputError("stdin is not hex/base64 text (use --file - for raw bytes)") from None
            texts.append(stdin_text)
        else:
            texts.append(piece)
    text = "\n".join(texts)
    return parse_base64(text) if is_base64 else parse_hex(text)
