"""The one ``Sec-WebSocket-Extensions`` parser (RFC 6455 section 9.1), for the handshake checks
(`inspector.ws.handshake`) and the permessage-deflate parameters (`inspector.ws.deflate.DeflateParams`).

Grammar::

    Sec-WebSocket-Extensions = 1#extension
    extension = token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] )

Elements are separated by commas (empty elements are skipped, RFC 7230 section 7); commas and
semicolons inside a quoted-string separate nothing. Strict parsing (the default) raises
`ExtensionHeaderError` naming the position of the first problem, and a quoted value must be a token once
unescaped. ``lenient=True`` reads what a peer sent as well as it can, for a receiver that must still
inflate: names are lowercased, empty and malformed items are taken as written (parameter text before the
first ``=``, value after it, one pair of quotes removed), and nothing raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["Extension", "ExtensionHeaderError", "parse_extensions", "format_extension"]

#: ``(name, [(parameter, value or None), ...])``
Extension = tuple[str, list[tuple[str, str | None]]]

#: RFC 7230 section 3.2.6 tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = re.compile(r"[ \t]*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


class ExtensionHeaderError(ValueError):
    """A Sec-WebSocket-Extensions value that does not follow RFC 6455 section 9.1."""


def _split(value: str) -> Iterator[tuple[list[tuple[str, int]], int]]:
    """Each comma-separated element as its ``;``-separated items ``(text, position)`` and the element's
    position; separators inside a quoted-string (backslash escapes included) do not count."""
    items: list[tuple[str, int]] = []
    start = element = 0
    quoted = escaped = False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in ",;":
            items.append((value[start:i], start))
            start = i + 1
            if ch == ",":
                yield items, element
                items = []
                element = start
    items.append((value[start:], start))
    yield items, element


def _fail(text: str, at: int, pos: int, what: str) -> ExtensionHeaderError:
    found = repr(text[at]) if at < len(text) else "a separator or the end of header"
    return ExtensionHeaderError(f"expected {what} at position {pos + at}, found {found}")


def _token(text: str, at: int, pos: int, what: str) -> tuple[str, int]:
    """The token at ``text[at:]`` (after optional whitespace) and the position after it and after the
    whitespace that follows."""
    at = _OWS.match(text, at).end()
    match = _TOKEN.match(text, at)
    if not match:
        raise _fail(text, at, pos, what)
    return match.group(), _OWS.match(text, match.end()).end()


def _strict_param(text: str, pos: int) -> tuple[str, str | None]:
    """One ``token [ "=" ( token / quoted-string ) ]`` item, strictly."""
    param, at = _token(text, 0, pos, "a parameter name")
    value: str | None = None
    if at < len(text) and text[at] == "=":
        at = _OWS.match(text, at + 1).end()
        if at < len(text) and text[at] == '"':
            match = _QUOTED.match(text, at)
            if not match:
                raise ExtensionHeaderError(f"unterminated quoted string at position {pos + at}")
            value = re.sub(r"\\(.)", r"\1", match.group(1))
            if not _TOKEN.fullmatch(value):
                raise ExtensionHeaderError(f"quoted value of {param!r} is not a token (RFC 6455 9.1)")
            at = _OWS.match(text, match.end()).end()
        else:
            value, at = _token(text, at, pos, f"a value for {param!r}")
    if at < len(text):
        raise ExtensionHeaderError(f"unexpected {text[at]!r} at position {pos + at}")
    return param, value


def _lenient_param(text: str) -> tuple[str, str | None] | None:
    """One item as written (None for an empty one): lowercased name, value with one pair of quotes removed."""
    text = text.strip()
    if not text:
        return None
    name, eq, value = text.partition("=")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return name.strip().lower(), value if eq else None


def parse_extensions(value: str, *, lenient: bool = False) -> list[Extension]:
    """``Sec-WebSocket-Extensions`` value -> ``[(name, [(param, value or None), ...]), ...]`` (see the
    module docstring for the grammar and for ``lenient``)."""
    result: list[Extension] = []
    for items, element in _split(value):
        (first, first_pos), rest = items[0], items[1:]
        if not first.strip() and not rest:
            continue  # an empty element
        params: list[tuple[str, str | None]] = []
        if lenient:
            name = first.strip().lower()
            if not name:
                continue
            params = [p for p in (_lenient_param(text) for text, _ in rest) if p is not None]
        else:
            name, at = _token(first, 0, first_pos, "an extension name")
            if at < len(first):
                raise ExtensionHeaderError(f"unexpected {first[at]!r} at position {first_pos + at}")
            params = [_strict_param(text, pos) for text, pos in rest]
        result.append((name, params))
    return result


def format_extension(extension: Extension) -> str:
    """An extension element as it would appear in the header: ``name; param; param=value``."""
    name, params = extension
    parts = [name] + [p if v is None else f"{p}={v}" for p, v in params]
    return "; ".join(parts)
