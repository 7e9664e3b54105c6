"""Endpoint keys: URL normalisation, volatile query parameters, endpoint labels, head sizes.

Endpoint key
    method + scheme://host[:port] + path + the query parameters that matter.  Volatile parameters are
    normalised away so that a polling loop is one endpoint: cache busters and session ids by name
    (`VOLATILE_PARAMS`: ``t``, ``_``, ``ts``, ``sid``, ...), framework session ids (SignalR ``id``,
    SockJS server/session path segments), and any parameter whose value changes on (nearly) every
    request (a cursor such as ``since=``, a counter, a timestamp under another name: by distinct values
    overall, or by values a connection had not sent before, so that concurrent clients sharing a cursor
    still count).  Parameters that select behaviour are kept (`KEEP_PARAMS`: socket.io's ``EIO`` and
    ``transport``, ...).  The endpoint label shows a dropped parameter as ``name=*``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from inspector.classify.samples import Base, Sample
from inspector.classify.thresholds import Thresholds
from inspector.records import Exchange

__all__ = [
    "KEEP_PARAMS",
    "VOLATILE_PARAMS",
    "endpoint_label",
    "http_origin",
    "parse_query",
    "request_header_bytes",
    "response_header_bytes",
    "sockjs_path",
    "split_url",
    "volatile_params",
]

#: Query parameters dropped from the endpoint key by name (lower-cased): cache busters and session ids.
VOLATILE_PARAMS = frozenset(
    {
        "t", "_", "ts", "timestamp", "time", "rand", "random", "rnd", "nocache", "no_cache", "cachebuster",
        "cache_buster", "cb", "nonce", "sid", "session", "sessionid", "session_id", "jsessionid",
        "phpsessid", "connectiontoken", "connectionid", "messageid", "groupstoken", "requestid", "request_id",
    }
)

#: Query parameters never dropped, even when their value changes (they select the protocol).
KEEP_PARAMS = frozenset(
    {"eio", "transport", "negotiateversion", "clientprotocol", "vsn", "protocol", "client", "version", "v"}
)

_SOCKJS_TRANSPORTS = "xhr|xhr_send|xhr_streaming|eventsource|htmlfile|jsonp|jsonp_send|websocket"
_SOCKJS = re.compile(rf"^(?P<prefix>.*)/(?P<server>[^/.]{{1,8}})/(?P<session>[^/.]{{4,}})/(?P<transport>{_SOCKJS_TRANSPORTS})$")


def split_url(url: str) -> tuple[str, str, str]:
    """(scheme://host[:port] lower-cased or "", path or "/", query) of an absolute or relative URL.

    By hand rather than `urllib.parse.urlsplit`: three times faster, and no ValueError on a broken host
    (an unclosed IPv6 bracket).  The fragment is dropped."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        path, _, query = url.partition("#")[0].partition("?")
        return "", path, query
    rest = rest.partition("#")[0]
    end = len(rest)
    for ch in "/?":
        at = rest.find(ch)
        if at != -1 and at < end:
            end = at
    path, _, query = rest[end:].partition("?")
    return f"{scheme.lower()}://{rest[:end].lower()}", path or "/", query


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """``a=1&b&c=%20`` -> (("a", "1"), ("b", ""), ("c", " ")), as `urllib.parse.parse_qsl` with blank
    values kept; percent-decoding only where there is something to decode."""
    params = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        params.append((name, value))
    return tuple(params)


def sockjs_path(raw_path: str) -> tuple[str, str | None, str | None]:
    """(path with the SockJS server and session segments as ``*``, SockJS transport, session id); the
    path itself and two Nones when it is not a SockJS session URL."""
    match = _SOCKJS.match(raw_path)
    if not match:
        return raw_path, None, None
    return f"{match['prefix']}/*/*/{match['transport']}", match["transport"], match["session"]


def http_origin(origin: str) -> str:
    """ws://h -> http://h, wss://h -> https://h: a WebSocket URL belongs to the same site as its polling."""
    if origin.startswith("ws://"):
        return "http://" + origin[5:]
    if origin.startswith("wss://"):
        return "https://" + origin[6:]
    return origin


def _head_bytes(first_line_len: int, headers: list[tuple[str, str]]) -> int:
    """Bytes of an HTTP/1.1 head: start line + CRLF, each ``name: value`` + CRLF, the empty line."""
    return first_line_len + 2 + sum(len(k) + len(v) + 4 for k, v in headers) + 2


def request_header_bytes(ex: Exchange, path: str, query: str) -> int:
    if ex.request_header_bytes is not None:
        return ex.request_header_bytes
    if not ex.request_headers:
        return 0
    target = path + (f"?{query}" if query else "")
    return _head_bytes(len(ex.method) + len(target) + 10, ex.request_headers)


def response_header_bytes(ex: Exchange) -> int:
    if ex.response_header_bytes is not None:
        return ex.response_header_bytes
    if not ex.response_headers or ex.status is None:
        return 0
    return _head_bytes(13 + len(ex.reason or ""), ex.response_headers)


def _param_values(samples: list[Sample], cap: int) -> tuple[list[str], dict[str, int], dict[str, set[str]]]:
    """Parameter names in first-seen order, their occurrences and their distinct values (up to ``cap``)."""
    occurrences: dict[str, int] = {}
    values: dict[str, set[str]] = {}
    order: list[str] = []
    for s in samples:
        for name, value in s.params:
            if name not in occurrences:
                order.append(name)
                occurrences[name] = 0
                values[name] = set()
            occurrences[name] += 1
            if len(values[name]) <= cap:
                values[name].add(value)
    return order, occurrences, values


def _fresh_values(by_conn: dict[str, list[Sample]]) -> tuple[dict[str, int], dict[str, int]]:
    """Per parameter: occurrences after a connection's first, and how many of them brought a value the
    connection had not sent before (a cursor, a counter)."""
    later: dict[str, int] = {}
    fresh: dict[str, int] = {}
    for group in by_conn.values():
        seen: dict[str, set[str]] = {}
        for s in group:
            for name, value in s.params:
                if name in seen:
                    later[name] = later.get(name, 0) + 1
                    fresh[name] = fresh.get(name, 0) + (value not in seen[name])
                    seen[name].add(value)
                else:
                    seen[name] = {value}
    return later, fresh


def volatile_params(
    samples: list[Sample], by_conn: dict[str, list[Sample]], t: Thresholds, session_names: set[str]
) -> tuple[list[str], set[str]]:
    """(parameter names in first-seen order, the volatile ones) of one base's samples."""
    order, occurrences, values = _param_values(samples, t.max_samples)
    later, fresh = _fresh_values(by_conn)
    volatile = set()
    for name in order:
        low = name.lower()
        if low in KEEP_PARAMS:
            continue
        n, distinct = occurrences[name], len(values[name])
        numeric = all(v.isdigit() for v in values[name])
        p = later.get(name, 0)
        if (
            low in VOLATILE_PARAMS
            or low in session_names
            or (numeric and n >= 2 and distinct == n)
            or (n >= t.volatile_min_requests and distinct >= t.volatile_distinct_ratio * n and distinct > 1)
            or (p >= 2 and fresh[name] >= t.volatile_distinct_ratio * p)
        ):
            volatile.add(name)
    return order, volatile


def endpoint_label(
    base: Base, order: list[str], volatile: set[str], kept: dict[str, str], samples: list[Sample]
) -> str:
    """``METHOD origin path?kept=value&volatile=*`` with the parameters in first-seen order."""
    shown: list[str] = []
    seen: set[str] = set()
    for name in order:
        if name in seen:
            continue
        if name in volatile:
            if any(k == name for s in samples for k, _ in s.params):
                shown.append(f"{name}=*")
                seen.add(name)
        elif name in kept:
            shown.append(f"{name}={kept[name]}")
            seen.add(name)
    return f"{base.method} {base.origin}{base.path}" + (f"?{'&'.join(shown)}" if shown else "")
