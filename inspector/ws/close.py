"""Close frames (RFC 6455 5.5.1, 7.4): code and reason, the IANA registry names, which codes may be sent.

`parse_close` splits a close payload into its 2-byte code and UTF-8 reason and names what is wrong with
it; `close_code_name` gives the name from the IANA "WebSocket Close Code Number Registry" (RFC 6455
11.7); `close_code_valid` says whether a code may appear on the wire (RFC 6455 7.4).
"""

from __future__ import annotations

from inspector.ws import violations as V

__all__ = ["CLOSE_CODE_NAMES", "close_code_name", "close_code_valid", "parse_close"]

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
