"""WebSocket opening handshake validator (sans-IO): request/response heads in, a `Handshake` record out.

`accept_for(key)` computes Sec-WebSocket-Accept (RFC 6455 section 4.2.2 item 5.4, example in section 1.3).
`validate(...)` checks one request/response pair and returns the `records.Handshake` record together with
the negotiated permessage-deflate parameters (`inspector.ws.deflate.DeflateParams`, or None when the
extension was not negotiated) that the message layer needs to inflate messages.

Two modes are recognised:

- ``rfc6455``: HTTP/1.1 ``GET`` with ``Upgrade: websocket`` answered by ``101 Switching Protocols``
  (RFC 6455 section 4).
- ``rfc8441``: HTTP/2 (or HTTP/3, RFC 9220) extended ``CONNECT`` with the ``:protocol: websocket``
  pseudo-header (pass it in ``request_headers`` as ``(":protocol", "websocket")``), answered by a 2xx.
  There is no Upgrade/Connection/Key/Accept in this mode (RFC 8441 sections 4 and 5); their absence is
  not a finding.

Findings are ``records.Finding(name, severity, message)``. The handshake is valid when no finding has
severity ``error``. Errors go to ``Handshake.findings`` (so it is empty exactly when the handshake is valid,
as spec/records.md says), warnings to ``Handshake.notes``. Names are stable (tools and tests rely on them):

Request (client), RFC 6455 section 4.1 and 4.2.1:

- ``request-method-not-get`` (error): the method is not GET (``CONNECT`` in rfc8441 mode) (4.1 item 2).
- ``request-http-version`` (error): the request is older than HTTP/1.1 (4.1 item 2).
- ``request-host-missing`` (error): no Host header (4.1 item 4, 4.2.1 item 2).
- ``request-upgrade-missing`` (error): no Upgrade header containing ``websocket`` (4.2.1 item 3).
- ``request-connection-missing-upgrade`` (error): no Connection header with the ``upgrade`` token
  (4.2.1 item 4; the token may be one of a comma-separated list, the header may repeat).
- ``request-key-missing`` (error): no Sec-WebSocket-Key (4.2.1 item 5).
- ``request-key-invalid`` (error): the key is not the base64 encoding of exactly 16 bytes, or appears more
  than once (4.1 item 7, 4.2.1 item 5, 11.3.1).
- ``request-version-missing`` (error): no Sec-WebSocket-Version (4.2.1 item 6).
- ``request-version-unsupported`` (error): Sec-WebSocket-Version is not 13 (4.1 item 9, 4.2.1 item 6).
- ``rfc8441-protocol-invalid`` (error): extended CONNECT whose ``:protocol`` is not ``websocket``
  (RFC 8441 section 4). A CONNECT over HTTP/2 or later without any ``:protocol`` (sources that drop
  pseudo-headers) is taken as RFC 8441 and not flagged.

Response (server), RFC 6455 section 4.1 (client's checks) and 4.2.2:

- ``no-response`` (error): there is no response to the handshake request.
- ``version-not-supported`` (error): ``426 Upgrade Required`` with the versions the server supports in
  Sec-WebSocket-Version (4.4); the message names them and the version the client asked for.
- ``unexpected-status`` (error): any other status than 101 (2xx in rfc8441 mode); the message names it,
  e.g. 403 Forbidden (4.1 item 1 of the client's response checks; 4.2.2 item 1).
- ``response-upgrade-missing`` (error): the 101 lacks ``Upgrade: websocket`` (4.1 response item 2).
- ``response-connection-missing-upgrade`` (error): the 101 lacks Connection with ``upgrade``
  (4.1 response item 3).
- ``accept-missing`` (error): no Sec-WebSocket-Accept in the 101 (4.1 response item 4).
- ``accept-mismatch`` (error): Sec-WebSocket-Accept differs from base64(SHA-1(key + GUID))
  (4.1 response item 4, 4.2.2 item 5.4).
- ``subprotocol-not-offered`` (error): the server chose a subprotocol the client did not offer, or chose one
  when none was offered (4.1 response item 6).
- ``subprotocol-multiple`` (error): the server's Sec-WebSocket-Protocol names more than one subprotocol
  (4.2.2 item 5.4 /subprotocol/ is a single value).
- ``subprotocol-not-selected`` (warning): the client offered subprotocols and the server chose none. Legal,
  but the client then talks without the protocol it asked for (4.2.2 item 5.4).
- ``extensions-header-invalid`` (error): a Sec-WebSocket-Extensions header does not follow the grammar
  of 9.1 (either side; the message says which).
- ``extension-not-offered`` (error): the server accepted an extension the client did not offer
  (4.1 response item 5, 9.1).
- ``extension-duplicated`` (error): the server accepted the same extension twice (RFC 7692 section 5).
- ``extension-not-understood`` (warning): an extension other than permessage-deflate was negotiated; its
  frames may carry RSV bits this tool does not interpret, and their payloads are shown as sent.
- ``deflate-offer-invalid`` (error): a permessage-deflate offer has unknown, duplicated or out-of-range
  parameters (RFC 7692 section 7.1); a server must decline such an offer (section 5.1).
- ``deflate-response-invalid`` (error): the accepted permessage-deflate parameters are invalid or do not
  accept any offer (RFC 7692 section 7.1: the server may add ``server_no_context_takeover``,
  ``client_no_context_takeover`` and ``server_max_window_bits``; ``client_max_window_bits`` only if the
  client offered it; must echo an offered ``server_no_context_takeover`` and answer an offered
  ``server_max_window_bits`` with the same or a smaller value; window bits are 8-15; no duplicates; no
  unknown parameters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import re

from inspector.records import Finding, Handshake
from inspector.ws.deflate import (
    DeflateParams,
    deflate_mismatch,
    deflate_params,
    deflate_problem,
)
from inspector.ws.extensions import (
    Extension,
    ExtensionHeaderError,
    format_extension,
    parse_extensions,
)

__all__ = [
    "GUID",
    "accept_for",
    "key_problem",
    "validate",
    "parse_extensions",
    "format_extension",
    "ExtensionHeaderError",
    "FINDING_NAMES",
]

#: RFC 6455 section 1.3 / 4.2.2: the GUID appended to the key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

FINDING_NAMES = (
    "request-method-not-get",
    "request-http-version",
    "request-host-missing",
    "request-upgrade-missing",
    "request-connection-missing-upgrade",
    "request-key-missing",
    "request-key-invalid",
    "request-version-missing",
    "request-version-unsupported",
    "rfc8441-protocol-invalid",
    "no-response",
    "version-not-supported",
    "unexpected-status",
    "response-upgrade-missing",
    "response-connection-missing-upgrade",
    "accept-missing",
    "accept-mismatch",
    "subprotocol-not-offered",
    "subprotocol-multiple",
    "subprotocol-not-selected",
    "extensions-header-invalid",
    "extension-not-offered",
    "extension-duplicated",
    "extension-not-understood",
    "deflate-offer-invalid",
    "deflate-response-invalid",
)

_DEFLATE = "permessage-deflate"


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2 item 5.4).

    The key is hashed as sent (its base64 text, not the decoded bytes), so any string has an accept
    value; whether the key itself is valid is `validate`'s business.
    """
    try:
        raw = key.encode("latin-1")  # header text decoded byte for byte (h11, pcap)
    except UnicodeEncodeError:
        raw = key.encode("utf-8", "surrogatepass")  # decoded as UTF-8 by the source: its bytes
    digest = hashlib.sha1(raw + GUID.encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid Sec-WebSocket-Key (base64 of exactly 16 bytes, RFC 6455 4.1 item 7), or None."""
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return "is not valid base64"
    if len(raw) != 16:
        return f"decodes to {len(raw)} bytes instead of 16"
    return None


class _Headers:
    """Case-insensitive view of a header list that keeps repeats (sans-IO: plain tuples in)."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._items = [(name.strip().lower(), value.strip()) for name, value in headers]

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated list elements of every occurrence (RFC 7230 section 7), stripped, non-empty."""
        return [part.strip() for value in self.all(name) for part in value.split(",") if part.strip()]


def _http_version(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of "HTTP/1.1", "1.1", "HTTP/2.0", "h2", "2", ...; None when unknown."""
    if version is None:
        return None
    text = version.strip().lower()
    for prefix in ("http/", "h"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    match = re.fullmatch(r"(\d)(?:\.(\d))?", text)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(message: str) -> str:
    """Finding messages quote untrusted header values: keep them one line, control characters escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", message)


def _status_text(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _status_explanation(status: int, response: _Headers) -> str:
    if 300 <= status < 400:
        location = response.first("location")
        return f"a redirect{f' to {location!r}' if location else ''}; WebSocket clients do not follow redirects"
    if status in (401, 407):
        return "authentication is required"
    if status == 403:
        return "the server refused it (often an Origin check or missing credentials)"
    if status == 404:
        return "no WebSocket endpoint at this path"
    if status == 400:
        return "the server rejected the handshake request as malformed"
    if 200 <= status < 300:
        return "the server answered as plain HTTP and did not switch protocols"
    if status >= 500:
        return "the server failed"
    return "the connection was not upgraded"


class _Check:
    """What the rules of one `validate` call read and write: the heads, the mode, what the request
    offered and the response accepted, the negotiated parameters and the findings so far, in order."""

    def __init__(self, method: str, http_version: str | None, request: _Headers, status: int | None,
                 response: _Headers) -> None:
        self.method = method
        self.http_version = http_version
        self.version = _http_version(http_version)
        self.request = request
        self.response = response
        self.status = status
        self.protocol = request.first(":protocol")
        self.rfc8441 = method.upper() == "CONNECT" and (
            self.protocol is not None or (self.version is not None and self.version >= (2, 0)))
        self.key = request.first("sec-websocket-key")
        self.versions = request.tokens("sec-websocket-version")
        self.offered_subprotocols = request.tokens("sec-websocket-protocol")
        self.offered: list[Extension] = []
        self.accept = response.first("sec-websocket-accept")
        self.expected_accept = accept_for(self.key) if self.key is not None and not self.rfc8441 else None
        self.switched = status is not None and (200 <= status < 300 if self.rfc8441 else status == 101)
        self.subprotocol: str | None = None
        self.accepted: list[Extension] = []
        self.deflate: DeflateParams | None = None
        self.findings: list[Finding] = []

    def error(self, name: str, message: str) -> None:
        self.findings.append(Finding(name=name, severity="error", message=_one_line(message)))

    def warning(self, name: str, message: str) -> None:
        self.findings.append(Finding(name=name, severity="warning", message=_one_line(message)))


# --- request rules (RFC 6455 4.1 / 4.2.1; RFC 8441 4-5) ------------------------------------------------


def _rfc8441_protocol(c: _Check) -> None:
    # a source that drops pseudo-headers (no :protocol at all) gives no evidence against it
    if c.protocol is not None and c.protocol.lower() != "websocket":
        c.error("rfc8441-protocol-invalid",
                f"extended CONNECT with :protocol {c.protocol!r} instead of 'websocket' (RFC 8441 4)")


def _request_method(c: _Check) -> None:
    if c.method.upper() != "GET":
        c.error("request-method-not-get", f"request method is {c.method}, must be GET (RFC 6455 4.1)")


def _request_http_version(c: _Check) -> None:
    if c.version is not None and c.version < (1, 1):
        c.error("request-http-version", f"request is {c.http_version}, must be HTTP/1.1 or later (RFC 6455 4.1)")


def _request_host(c: _Check) -> None:
    if not c.request.first("host"):
        c.error("request-host-missing", "request has no Host header (RFC 6455 4.1, 4.2.1)")


def _request_upgrade(c: _Check) -> None:
    if not any(t.lower() == "websocket" for t in c.request.tokens("upgrade")):
        got = ", ".join(c.request.all("upgrade"))
        c.error("request-upgrade-missing",
                f"request Upgrade is {got!r}, must contain websocket (RFC 6455 4.2.1)" if got
                else "request has no Upgrade: websocket header (RFC 6455 4.2.1)")


def _request_connection(c: _Check) -> None:
    if not any(t.lower() == "upgrade" for t in c.request.tokens("connection")):
        got = ", ".join(c.request.all("connection"))
        c.error("request-connection-missing-upgrade",
                f"request Connection is {got!r}, must contain the upgrade token (RFC 6455 4.2.1)" if got
                else "request has no Connection: Upgrade header (RFC 6455 4.2.1)")


def _request_key(c: _Check) -> None:
    keys = c.request.all("sec-websocket-key")
    if not keys:
        c.error("request-key-missing", "request has no Sec-WebSocket-Key (RFC 6455 4.2.1)")
    elif len(keys) > 1:
        c.error("request-key-invalid",
                f"request has {len(keys)} Sec-WebSocket-Key headers, must have one (RFC 6455 11.3.1)")
    elif (problem := key_problem(keys[0])) is not None:
        c.error("request-key-invalid", f"Sec-WebSocket-Key {keys[0]!r} {problem} (RFC 6455 4.1)")


def _request_version(c: _Check) -> None:
    if not c.versions:
        c.error("request-version-missing", "request has no Sec-WebSocket-Version (RFC 6455 4.2.1)")
    elif c.versions != ["13"]:
        c.error("request-version-unsupported",
                f"request Sec-WebSocket-Version is {', '.join(c.versions)}, must be 13 (RFC 6455 4.1)")


def _request_extensions(c: _Check) -> None:
    for value in c.request.all("sec-websocket-extensions"):
        try:
            c.offered.extend(parse_extensions(value))
        except ExtensionHeaderError as exc:
            c.error("extensions-header-invalid", f"request Sec-WebSocket-Extensions {value!r}: {exc}")
    for name, params in c.offered:
        if name.lower() == _DEFLATE and (problem := deflate_problem(params, response=False)):
            c.error("deflate-offer-invalid", f"permessage-deflate offer: {problem}")


# --- response rules (RFC 6455 4.1 client checks / 4.2.2) -----------------------------------------------


def _response_status(c: _Check) -> None:
    status = c.status
    if status is None:
        c.error("no-response", "the handshake request got no response")
    elif status == 426:
        supported = c.response.tokens("sec-websocket-version")
        asked = ", ".join(c.versions) or "none"
        if supported:
            c.error("version-not-supported",
                    f"server answered 426 Upgrade Required: it supports Sec-WebSocket-Version "
                    f"{', '.join(supported)}, the client asked for {asked} (RFC 6455 4.4)")
        else:
            c.error("version-not-supported",
                    f"server answered 426 Upgrade Required without listing supported versions; "
                    f"the client asked for {asked} (RFC 6455 4.2.2, 4.4)")
    elif not c.switched:
        wanted = "2xx" if c.rfc8441 else "101 Switching Protocols"
        c.error("unexpected-status",
                f"server answered {_status_text(status)} instead of {wanted}: "
                f"{_status_explanation(status, c.response)}")


def _response_upgrade(c: _Check) -> None:
    upgrade = c.response.all("upgrade")
    if len(upgrade) != 1 or upgrade[0].lower() != "websocket":
        c.error("response-upgrade-missing",
                f"response Upgrade is {', '.join(upgrade)!r}, must be websocket (RFC 6455 4.1)" if upgrade
                else "101 response has no Upgrade: websocket header (RFC 6455 4.1)")


def _response_connection(c: _Check) -> None:
    if not any(t.lower() == "upgrade" for t in c.response.tokens("connection")):
        c.error("response-connection-missing-upgrade",
                "101 response has no Connection header with the upgrade token (RFC 6455 4.1)")


def _response_accept(c: _Check) -> None:
    if c.accept is None:
        c.error("accept-missing", "101 response has no Sec-WebSocket-Accept (RFC 6455 4.1)")
    elif c.expected_accept is not None and c.accept != c.expected_accept:
        c.error("accept-mismatch",
                f"Sec-WebSocket-Accept is {c.accept!r}, expected {c.expected_accept!r} "
                f"= base64(SHA-1(key + GUID)) (RFC 6455 4.2.2)")


def _response_subprotocol(c: _Check) -> None:
    chosen = c.response.tokens("sec-websocket-protocol")
    offered = c.offered_subprotocols
    if len(chosen) > 1 or len(c.response.all("sec-websocket-protocol")) > 1:
        c.error("subprotocol-multiple",
                f"server chose several subprotocols ({', '.join(chosen)}), must choose one (RFC 6455 4.2.2)")
    if chosen:
        c.subprotocol = chosen[0]
        for name in chosen:
            if name not in offered:
                c.error("subprotocol-not-offered",
                        f"server chose subprotocol {name!r} which the client did not offer"
                        + (f" (offered: {', '.join(offered)})" if offered else " (none offered)")
                        + " (RFC 6455 4.1)")
    elif offered:
        c.warning("subprotocol-not-selected",
                  f"client offered {', '.join(offered)} and the server chose none (RFC 6455 4.2.2)")


def _response_extensions(c: _Check) -> None:
    for value in c.response.all("sec-websocket-extensions"):
        try:
            c.accepted.extend(parse_extensions(value))
        except ExtensionHeaderError as exc:
            c.error("extensions-header-invalid", f"response Sec-WebSocket-Extensions {value!r}: {exc}")
    offered_names = {name.lower() for name, _ in c.offered}
    seen: set[str] = set()
    for name, params in c.accepted:
        lname = name.lower()
        if lname not in offered_names:
            c.error("extension-not-offered",
                    f"server accepted extension {name} which the client did not offer (RFC 6455 9.1)")
        elif lname in seen:
            c.error("extension-duplicated", f"server accepted {name} more than once (RFC 7692 5)")
        elif lname != _DEFLATE:
            seen.add(lname)
            c.warning("extension-not-understood",
                      f"extension {name} negotiated: its frames are shown as sent, not decoded")
        else:
            seen.add(lname)
            _response_deflate(c, params)


def _response_deflate(c: _Check, params: list[tuple[str, str | None]]) -> None:
    """The accepted permessage-deflate parameters: valid, and accepting a valid offer (RFC 7692 7.1)."""
    problem = deflate_problem(params, response=True)
    if problem is None:
        offers = [p for n, p in c.offered if n.lower() == _DEFLATE and deflate_problem(p, response=False) is None]
        mismatches = [deflate_mismatch(offer, params) for offer in offers]
        if offers and all(mismatches):
            problem = mismatches[0]
    if problem is not None:
        c.error("deflate-response-invalid", f"permessage-deflate response: {problem}")
    else:
        c.deflate = deflate_params(params)


#: The rules in the order their findings appear, by mode; the switched rules run only when the
#: server switched protocols (101, or 2xx for RFC 8441).
_REQUEST_RULES = {
    "rfc6455": (_request_method, _request_http_version, _request_host, _request_upgrade, _request_connection,
                _request_key, _request_version, _request_extensions),
    "rfc8441": (_rfc8441_protocol, _request_version, _request_extensions),
}
_STATUS_RULES = (_response_status,)
_SWITCHED_RULES = {
    "rfc6455": (_response_upgrade, _response_connection, _response_accept, _response_subprotocol,
                _response_extensions),
    "rfc8441": (_response_subprotocol, _response_extensions),
}


def validate(
    conn: str,
    url: str,
    *,
    method: str,
    http_version: str | None,
    request_headers: list[tuple[str, str]],
    status: int | None,
    response_headers: list[tuple[str, str]],
) -> tuple[Handshake, DeflateParams | None]:
    """Validate one opening handshake (RFC 6455 section 4; RFC 8441 for HTTP/2 extended CONNECT).

    ``http_version`` is the request's ("HTTP/1.1", "HTTP/2.0", "h2", ...; None when the source does not
    know it). ``status`` is None when there is no response. Returns the record and the negotiated
    permessage-deflate parameters: None unless the server accepted a valid permessage-deflate offer. They
    are returned even when another finding makes the handshake invalid, because the frames that follow
    on the wire were still compressed with them.
    """
    c = _Check(method, http_version, _Headers(request_headers), status, _Headers(response_headers))
    mode = "rfc8441" if c.rfc8441 else "rfc6455"
    rules = _REQUEST_RULES[mode] + _STATUS_RULES + (_SWITCHED_RULES[mode] if c.switched else ())
    for rule in rules:
        rule(c)
    errors = [f for f in c.findings if f.severity == "error"]
    record = Handshake(
        conn=conn,
        url=url,
        valid=not errors,
        key=c.key,
        accept=c.accept,
        expected_accept=c.expected_accept,
        subprotocol=c.subprotocol,
        extensions=[format_extension(e) for e in c.accepted],
        findings=errors,
        notes=[f for f in c.findings if f.severity != "error"],
        status=status,
        mode=mode,
        offered_subprotocols=c.offered_subprotocols,
        offered_extensions=[format_extension(e) for e in c.offered],
    )
    return record, c.deflate
