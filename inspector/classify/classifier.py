"""Per-endpoint traffic patterns: polling (short / long), SSE, WebSocket, streaming, request-response.

`Classifier` sees `records.Exchange` records (the 101 of a WebSocket handshake included) and a few facts
`inspector.analysis.Analysis` adds (the client of each connection, the `SseStream` summary of an event
stream, WebSockets without a handshake).  It is pure and bounded: per endpoint it keeps one small tuple
per request, at most `Thresholds.max_samples` of them (counts and bytes keep adding up past the cap).

Endpoint key
    method + scheme://host[:port] + path + the query parameters that matter.  Volatile parameters are
    normalised away so that a polling loop is one endpoint: cache busters and session ids by name
    (`VOLATILE_PARAMS`: ``t``, ``_``, ``ts``, ``sid``, ...), framework session ids (SignalR ``id``,
    SockJS server/session path segments), and any parameter whose value changes on (nearly) every
    request (a cursor such as ``since=``, a counter, a timestamp under another name: by distinct values
    overall, or by values a connection had not sent before, so that concurrent clients sharing a cursor
    still count).  Parameters that
    select behaviour are kept (`KEEP_PARAMS`: socket.io's ``EIO`` and ``transport``, ...).  The endpoint
    label shows a dropped parameter as ``name=*``.

Features (`Pattern` fields)
    ``requests``; ``interval_s`` / ``interval_cv``: mean and coefficient of variation of the time between
    request starts within one session (a framework session id, else the connection when it carried
    several requests of the endpoint, else the client's address; one client's requests spread over a
    pool of keep-alive connections are one session when only merged they make a serial polling loop,
    see `Classifier._pool`);
    ``hold_s``: median time from the request to the first response data: the first body byte when the
    pipeline saw it, else the response head (``ts_response - ts_request``); servers such as SockJS send
    the head at once and hold the body, so the head alone would hide the hold; ``repoll_gap_s``: median of "response end -> next request start" within a session;
    ``changed_ratio``: share of responses whose body (``response_sha256``) differs from the previous
    response of the same session (the first counts as changed); ``empty_ratio``: share of 204/304/empty
    answers; ``header_bytes_per_body_byte``: request+response header bytes per byte of useful response
    body; ``max_concurrent``: most requests open at once; ``duration_s``: first request to last byte.

Decision (first match; every threshold is a field of `Thresholds`)
    1. ``websocket``: a 101 upgrade (or a WebSocket reported without handshake).
    2. ``sse``: the responses are ``text/event-stream``.
    3. ``streaming``: other response bodies that keep flowing (median first-to-last body chunk, or head
       to end when the body came in one piece, >= ``streaming_body_s``) with a streaming media type
       (ndjson, ...), or seen flowing in several chunks without a Content-Length.
    (then) the upstream channel of a framework (Socket.IO/Engine.IO and Phoenix POSTs, SignalR send,
       SockJS xhr_send) is ``request-response`` whatever its rhythm: regular pongs are not polling.
    4. ``long-polling``: >= ``long_poll_min_requests`` requests, at least ``long_poll_held_share`` of them
       held >= ``long_poll_hold_s`` (a busy long-poll endpoint answers at once while data is queued, so
       the median alone misses it) and median re-poll gap <= ``long_poll_max_repoll_s`` (the client asks
       again at once).
    5. ``short-polling``: >= ``short_poll_min_requests`` requests in a session, interval CV <=
       ``short_poll_max_cv`` and answered at once (fewer than ``long_poll_held_share`` held).
    6. ``request-response`` otherwise.

Frameworks (`Pattern.framework`, `Pattern.transport`, `Pattern.upgrade`)
    Socket.IO / Engine.IO (``/socket.io/?EIO=4&transport=polling|websocket&sid=``; a session id seen on
    polling and then on websocket is reported as ``upgrade="polling->websocket"``), SignalR (classic
    ``/signalr/...?transport=longPolling|serverSentEvents|webSockets|foreverFrame``, ASP.NET Core hubs:
    ``POST <hub>/negotiate`` then ``<hub>?id=``), SockJS (``/<prefix>/<server>/<session>/xhr|
    xhr_streaming|eventsource|websocket...``), Phoenix (``/socket/websocket|longpoll?vsn=``), Pusher
    (``/app/<key>?protocol=``), and WebSocket subprotocols: ActionCable (``actioncable-v1-json``), GraphQL
    (``graphql-transport-ws``, legacy ``graphql-ws``), MQTT, STOMP, WAMP, Vite HMR.

Efficiency (`Pattern.efficiency`, polling endpoints only): see `efficiency()`; `verdict()` turns it into
the one-line answer to "is my polling worth replacing?".
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import statistics
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import unquote_plus

from inspector.errors import InputError
from inspector.records import Exchange, Pattern, SseStream
from inspector.http.headers import header as _header

__all__ = [
    "Thresholds",
    "Classifier",
    "efficiency",
    "verdict",
    "VOLATILE_PARAMS",
    "KEEP_PARAMS",
]


@dataclass(frozen=True)
class Thresholds:
    """The classifier's named constants.  Override with ``Thresholds.from_mapping({"name": value})``."""

    long_poll_hold_s: float = 1.0
    """Median hold (request sent -> first response byte) at or above which the server holds requests.
    Well above any LAN/WAN round trip; below it a request counts as "answered at once"."""

    long_poll_held_share: float = 0.25
    """Share of requests held >= ``long_poll_hold_s`` from which the server is holding requests."""

    long_poll_max_repoll_s: float = 1.0
    """Median gap (response end -> next request) at or below which the client re-polls at once."""

    long_poll_min_requests: int = 2
    """Fewest requests for long polling (one held request alone is just a slow request)."""

    short_poll_min_requests: int = 3
    """Fewest requests in one session for short polling ("several")."""

    short_poll_max_cv: float = 0.5
    """Largest coefficient of variation of the intervals between request starts for "regular"."""

    streaming_body_s: float = 2.0
    """Median first-to-last response byte at or above which a non-SSE body is a stream."""

    volatile_min_requests: int = 3
    """Fewest occurrences of a query parameter before "changes on every request" can make it volatile."""

    volatile_distinct_ratio: float = 0.8
    """Share of distinct values (per occurrence; or of values new on their connection) at or above which
    a query parameter is volatile."""

    replace_wasted_ratio: float = 0.5
    """`verdict`: polling is worth replacing when at least this share of requests carried no new data..."""

    replace_saving_ratio: float = 0.5
    """...or when push would save at least this share of the bytes."""

    replace_staleness_s: float = 1.0
    """...or when updates wait this long on average for the next poll (short polling)."""

    max_samples: int = 10000
    """Per endpoint, timing samples kept (bounded memory); counts and bytes keep adding up past it."""

    max_total_samples: int = 200000
    """Samples kept over all endpoints (about 100 MB at most); past it requests are only counted."""

    max_endpoints: int = 5000
    """Endpoints (method + origin + path) tracked; requests to further ones are counted, not classified."""

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any]) -> "Thresholds":
        """Thresholds with ``overrides`` (values may be strings, as from a CLI ``name=value``)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, raw in overrides.items():
            key = name.replace("-", "_")
            if key not in fields:
                raise InputError(f"unknown classifier threshold {name!r} (known: {', '.join(fields)})")
            kind = int if fields[key].type in ("int", int) else float
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise InputError(f"threshold {name} needs a number, got {raw!r}") from None
            if not math.isfinite(value) or value < 0:
                raise InputError(f"threshold {name} must be a finite number >= 0, got {raw!r}")
            values[key] = value
        return cls(**values)


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

_STREAM_TYPES = (
    "application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq",
    "application/stream+json", "application/x-json-stream", "multipart/x-mixed-replace",
)

def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


#: Response bodies that are a framework's keep-alive, not data.  Engine.IO v4 ping "2" and noop "6",
#: v3 "1:2" / "1:6" (length-prefixed), and "ok" (the answer to every POST).
_ENGINEIO_NO_DATA = frozenset(_sha(b) for b in (b"2", b"6", b"1:2", b"1:6", b"ok"))
#: SockJS: the open frame "o" and heartbeats "h" (each newline-terminated on xhr transports).
_SOCKJS_NO_DATA = frozenset(_sha(b) for b in (b"o", b"o\n", b"h", b"h\n"))
_NO_DATA_BODIES = {"socket.io": _ENGINEIO_NO_DATA, "engine.io": _ENGINEIO_NO_DATA, "sockjs": _SOCKJS_NO_DATA}

_SOCKJS_TRANSPORTS = "xhr|xhr_send|xhr_streaming|eventsource|htmlfile|jsonp|jsonp_send|websocket"
_SOCKJS = re.compile(rf"^(?P<prefix>.*)/(?P<server>[^/.]{{1,8}})/(?P<session>[^/.]{{4,}})/(?P<transport>{_SOCKJS_TRANSPORTS})$")
_SIGNALR_CLASSIC_TRANSPORTS = {"longpolling", "serversentevents", "websockets", "foreverframe"}
_PUSHER = re.compile(r"^(?:.*/)?app/[^/]+$")

#: WebSocket subprotocols (lower-cased, exact or prefix) -> framework name.
_SUBPROTOCOL_FRAMEWORKS = (
    ("actioncable-", "actioncable"),
    ("graphql-transport-ws", "graphql-transport-ws"),
    ("graphql-ws", "graphql-ws"),
    ("mqttv3.1", "mqtt"),
    ("mqtt", "mqtt"),
    ("v10.stomp", "stomp"),
    ("v11.stomp", "stomp"),
    ("v12.stomp", "stomp"),
    ("wamp.", "wamp"),
    ("vite-hmr", "vite-hmr"),
)


def _head_bytes(first_line_len: int, headers: list[tuple[str, str]]) -> int:
    """Bytes of an HTTP/1.1 head: start line + CRLF, each ``name: value`` + CRLF, the empty line."""
    return first_line_len + 2 + sum(len(k) + len(v) + 4 for k, v in headers) + 2


def _split_url(url: str) -> tuple[str, str, str]:
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


def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
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


def _request_header_bytes(ex: Exchange, path: str, query: str) -> int:
    if ex.request_header_bytes is not None:
        return ex.request_header_bytes
    if not ex.request_headers:
        return 0
    target = path + (f"?{query}" if query else "")
    return _head_bytes(len(ex.method) + len(target) + 10, ex.request_headers)


def _finite(ts: float | None) -> float | None:
    """A usable timestamp (epoch or relative seconds), else None: NaN, infinities and values beyond
    +-1e12 s (year 33658) are broken input and would overflow the statistics."""
    return ts if ts is not None and -1e12 < ts < 1e12 else None


def _response_header_bytes(ex: Exchange) -> int:
    if ex.response_header_bytes is not None:
        return ex.response_header_bytes
    if not ex.response_headers or ex.status is None:
        return 0
    return _head_bytes(13 + len(ex.reason or ""), ex.response_headers)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(slots=True)
class _Sample:
    """One request, as much as the classifier needs of it."""

    ts_request: float | None
    ts_response: float | None
    ts_end: float | None
    status: int | None
    sha: str | None
    body: int
    request_bytes: int  # request head + body
    response_header_bytes: int
    params: tuple[tuple[str, str], ...]
    path_session: str  # a session id in the path (SockJS)
    client: str
    content_type: str
    has_length: bool
    subprotocol: str | None
    websocket: bool
    conn: str
    sse_resumed: bool | None = None
    no_data: bool = False  # a framework's keep-alive body (Engine.IO ping/noop): never new data
    session: str = ""  # decided by `Classifier._split` at each `patterns()` call
    ts_body: float | None = None  # first body byte
    body_spread: float | None = None  # first to last body byte


@dataclass
class _Base:
    """All requests to one method + origin + (normalised) path, before the query split."""

    method: str
    origin: str
    path: str
    raw_path: str
    sockjs_transport: str | None
    samples: list[_Sample]
    overflow: int = 0  # requests past max_samples (counted, not sampled)
    overflow_bytes: int = 0


class Classifier:
    """Collects exchanges and decides one `Pattern` per endpoint.  See the module docstring."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._bases: dict[tuple[str, str, str], _Base] = {}
        self._samples = 0
        #: requests to endpoints past ``max_endpoints`` (not classified)
        self.unclassified = 0

    # -- input -----------------------------------------------------------------------------------------

    def add(
        self,
        exchange: Exchange,
        *,
        client: str | None = None,
        sse: SseStream | None = None,
        websocket: bool = False,
        ts_body: float | None = None,
        ts_body_last: float | None = None,
    ) -> None:
        """One finished exchange; ``client`` is the client's address (host, or "host:port").

        ``sse``: the summary of its event stream; ``websocket``: it opened a WebSocket although it is not a
        101 (an RFC 8441 extended CONNECT answered 200); ``ts_body`` / ``ts_body_last``: when the first and
        the last response body chunks arrived, if known, the last only when there were several (a server may send the head at once and hold the
        body: the hold lasts until the data)."""
        ex = exchange
        origin, raw_path, query = _split_url(ex.url)
        params = _parse_query(query)
        path, sockjs_transport, sockjs_session = raw_path, None, None
        match = _SOCKJS.match(raw_path)
        if match:
            path = f"{match['prefix']}/*/*/{match['transport']}"
            sockjs_transport, sockjs_session = match["transport"], match["session"]
        ctype = (ex.content_type or "").split(";", 1)[0].strip().lower()
        websocket = websocket or ex.status == 101
        subprotocol = _header(ex.response_headers, "sec-websocket-protocol") if websocket else None
        body = ex.response_body_bytes or 0
        sample = _Sample(
            ts_request=_finite(ex.ts_request),
            ts_response=_finite(ex.ts_response),
            ts_end=_finite(ex.ts_end),
            status=ex.status,
            sha=ex.response_sha256,
            body=body,
            request_bytes=_request_header_bytes(ex, raw_path, query) + (ex.request_body_bytes or 0),
            response_header_bytes=_response_header_bytes(ex),
            params=params,
            path_session=sockjs_session or "",
            client=_client_host(client),
            content_type=ctype,
            has_length=_header(ex.response_headers, "content-length") is not None,
            subprotocol=subprotocol.strip() if subprotocol else None,
            websocket=websocket,
            conn=ex.conn,
            sse_resumed=sse.resumed if sse is not None else None,
            ts_body=_finite(ts_body) if body else None,
            body_spread=(
                max(0.0, ts_body_last - ts_body)
                if body and _finite(ts_body) is not None and _finite(ts_body_last) is not None
                else None
            ),
        )
        self._add_sample(ex.method.upper(), origin, path, raw_path, sockjs_transport, sample)

    def add_websocket(
        self,
        url: str,
        conn: str,
        *,
        subprotocol: str | None = None,
        ts: float | None = None,
        client: str | None = None,
    ) -> None:
        """A WebSocket seen without its handshake exchange (forced with ``--ws``, or a mid-stream capture)."""
        headers = [("Sec-WebSocket-Protocol", subprotocol)] if subprotocol else []
        self.add(
            Exchange(
                conn=conn, method="GET", url=url, status=None, content_type=None, ts_request=ts,
                ts_response=None, ts_end=None, request_body_bytes=None, response_body_bytes=None,
                response_headers=headers,
            ),
            client=client,
            websocket=True,
        )

    def _add_sample(self, method: str, origin: str, path: str, raw_path: str, sockjs: str | None, s: _Sample) -> None:
        t = self.thresholds
        key = (method, origin, path)
        base = self._bases.get(key)
        if base is None:
            if len(self._bases) >= t.max_endpoints:
                self.unclassified += 1
                return
            base = self._bases[key] = _Base(method, origin, path, raw_path, sockjs, [])
        if len(base.samples) < t.max_samples and self._samples < t.max_total_samples:
            base.samples.append(s)
            self._samples += 1
        else:
            base.overflow += 1
            base.overflow_bytes += s.request_bytes + s.response_header_bytes + s.body

    # -- output ----------------------------------------------------------------------------------------

    def patterns(self) -> list[Pattern]:
        """One `Pattern` per endpoint, sorted by endpoint label."""
        signalr_hubs = {
            (_http_origin(b.origin), b.path[: -len("/negotiate")] or "/")
            for b in self._bases.values()
            if b.path.endswith("/negotiate")
        }
        sockjs_prefixes = {
            (_http_origin(b.origin), b.path.rsplit("/*/*/", 1)[0]) for b in self._bases.values() if b.sockjs_transport
        }
        endpoints: list[_Endpoint] = []
        for base in self._bases.values():
            framework = _framework(base, signalr_hubs, sockjs_prefixes)
            endpoints.extend(self._split(base, framework))
        _mark_upgrades(endpoints)
        patterns = [self._decide(ep) for ep in endpoints]
        patterns.sort(key=lambda p: p.endpoint)
        return patterns

    def _split(self, base: _Base, framework: str | None) -> list["_Endpoint"]:
        """Split a base by the non-volatile query parameters; set each sample's session."""
        t = self.thresholds
        session_names = set()
        if framework == "signalr":
            session_names = {"id", "connectiontoken"}
        occurrences: dict[str, int] = {}
        values: dict[str, set[str]] = {}
        order: list[str] = []
        for s in base.samples:
            for name, value in s.params:
                if name not in occurrences:
                    order.append(name)
                    occurrences[name] = 0
                    values[name] = set()
                occurrences[name] += 1
                if len(values[name]) <= t.max_samples:
                    values[name].add(value)
        # requests on one connection: does each bring a value not seen before (a cursor, a counter)?
        by_conn: dict[str, list[_Sample]] = {}
        for s in base.samples:
            by_conn.setdefault(s.conn, []).append(s)
        later: dict[str, int] = {}  # occurrences after a connection's first
        fresh: dict[str, int] = {}  # ... whose value the connection had not sent before
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
        groups: dict[tuple, list[_Sample]] = {}
        unnamed: dict[tuple, list[_Sample]] = {}  # (group, client host) -> samples without a session id
        keepalive = _NO_DATA_BODIES.get(framework or "", ())
        for s in base.samples:
            s.no_data = s.sha in keepalive
            kept = tuple(sorted((k, v) for k, v in s.params if k not in volatile))
            group = (kept, s.websocket)  # upgrades apart from plain requests
            s.session = s.path_session
            if not s.session:
                for k, v in s.params:
                    if k.lower() in ("sid", "connectiontoken", "id", "session", "sessionid") and (
                        k in volatile and (k.lower() != "id" or framework == "signalr")
                    ):
                        s.session = f"{k}={v}"
                        break
                else:
                    # no session id: the connection if it carried this loop, else the client's address
                    s.session = f"conn={s.conn}" if len(by_conn[s.conn]) >= 2 else f"client={s.client}"
                    unnamed.setdefault((group, s.client), []).append(s)
            groups.setdefault(group, []).append(s)
        for ((_, websocket), host), samples in unnamed.items():
            if not websocket:
                self._pool(samples, host)
        endpoints = []
        for (kept, _), samples in groups.items():
            kept_map = dict(kept)
            shown: list[str] = []
            seen: set[str] = set()
            for name in order:
                if name in seen:
                    continue
                if name in volatile:
                    if any(k == name for s in samples for k, _ in s.params):
                        shown.append(f"{name}=*")
                        seen.add(name)
                elif name in kept_map:
                    shown.append(f"{name}={kept_map[name]}")
                    seen.add(name)
            label = f"{base.method} {base.origin}{base.path}" + (f"?{'&'.join(shown)}" if shown else "")
            share = len(samples) / max(1, len(base.samples))
            endpoints.append(
                _Endpoint(
                    label=label,
                    base=base,
                    framework=framework,
                    params=kept_map,
                    samples=samples,
                    overflow=round(base.overflow * share),
                    overflow_bytes=round(base.overflow_bytes * share),
                )
            )
        return endpoints

    def _pool(self, samples: list[_Sample], host: str) -> None:
        """One client's requests without a session id, split by connection: merge them into one session
        (the client host) when they are one loop spread over a pool of keep-alive connections.

        A browser's fetch/XHR loop takes whichever pooled connection is idle (Chrome and Firefox keep up
        to 6 per origin), so each connection carries an irregular subset of the loop: 0.2 s polls read
        as 0.2/0.6/0.4 s per connection, and long polls as slow re-polls.  Merged, they are one serial
        loop.  Several independent pollers on their own connections from one address (tabs, processes,
        clients behind one NAT) must stay apart, and each is a loop on its own connection.  So the
        merge is taken only when (1) the requests used at least two connections, (2) the per-connection
        split shows no polling loop (`_polling`), and (3) the merged sequence is one: never two
        requests open at once (a loop is serial; independent pollers overlap sooner or later) and
        polling by the same rules (regular intervals, or held requests re-polled at once).  Interleaved
        independent pollers fail (3): their merged intervals are irregular.  Not caught: a strict
        round-robin pool, whose connections each show a regular loop at k times the real interval
        (kept per connection; the request rate in the efficiency report is still right).
        """
        t = self.thresholds
        if len(samples) < t.short_poll_min_requests or len({s.conn for s in samples}) < 2 or not _serial(samples):
            return
        if _polling(_features(samples, t, loop_only=True), len(samples), t):
            return
        split = [s.session for s in samples]
        for s in samples:
            s.session = f"client={host}"
        if not _polling(_features(samples, t, loop_only=True), len(samples), t):
            for s, session in zip(samples, split):
                s.session = session

    def _decide(self, ep: "_Endpoint") -> Pattern:
        t = self.thresholds
        f = _features(ep.samples, t)
        requests = len(ep.samples) + ep.overflow
        common = dict(
            endpoint=ep.label,
            requests=requests,
            framework=ep.framework,
            interval_s=_round(f.interval),
            interval_cv=_round(f.interval_cv),
            hold_s=_round(f.hold),
            repoll_gap_s=_round(f.repoll),
            changed_ratio=_round(f.changed_ratio),
            empty_ratio=_round(f.empty_ratio),
            header_bytes_per_body_byte=_round(f.header_per_body),
            max_concurrent=f.max_concurrent,
            duration_s=_round(f.duration),
        )
        websockets = [s for s in ep.samples if s.websocket]
        sse = [s for s in ep.samples if s.content_type == "text/event-stream" and s.status and 200 <= s.status < 300]
        answered = [s for s in ep.samples if s.status is not None and not s.websocket]
        # a body seen flowing in several chunks needs no Content-Length to be a stream; one that came in
        # one piece (HAR, flow files, or one late burst) only by a streaming media type
        streams = [
            s for s in answered
            if s.content_type in _STREAM_TYPES or (s.body_spread is not None and not s.has_length)
        ]
        fw_note = _framework_note(ep)
        if websockets:
            subs = sorted({s.subprotocol for s in websockets if s.subprotocol})
            upgrades = sum(s.status == 101 for s in websockets)
            kinds = []
            if upgrades:
                kinds.append(f"{upgrades} upgrade(s) answered 101 Switching Protocols")
            if len(websockets) > upgrades:
                kinds.append(f"{len(websockets) - upgrades} without a 101 (RFC 8441 extended CONNECT, or no handshake seen)")
            reason = f"WebSocket: {', '.join(kinds)}"
            if subs:
                reason += f", subprotocol {', '.join(subs)}"
            p = Pattern(pattern="websocket", reason=reason + fw_note, **common)
        elif sse and len(sse) * 2 >= len(answered):
            resumed = [s for s in sse if s.sse_resumed]
            reason = f"text/event-stream responses: {len(sse)} stream(s)"
            if len(sse) > 1:
                reason += f", {len(sse) - 1} reconnect(s)"
                if f.repoll is not None:
                    reason += f" after {f.repoll:.2f} s (median)"
            if resumed:
                reason += f", {len(resumed)} resumed with Last-Event-ID"
            p = Pattern(pattern="sse", reason=reason + fw_note, **common)
        elif f.body_time is not None and f.body_time >= t.streaming_body_s and streams and len(streams) * 2 >= len(answered):
            reason = (
                f"response bodies keep flowing for {f.body_time:.2f} s (median, >= {t.streaming_body_s:g} s)"
                f", streaming media type or several chunks without a Content-Length"
            )
            p = Pattern(pattern="streaming", reason=reason + fw_note, **common)
        elif ep.is_send():
            reason = f"{requests} client-to-server sends on the framework's upstream channel"
            p = Pattern(pattern="request-response", reason=reason + fw_note, **common)
        elif (polling := _polling(f, requests, t)) == "long-polling":
            reason = (
                f"server held {f.held} of {len(ep.samples)} requests >= {t.long_poll_hold_s:g} s (median hold"
                f" {f.hold:.2f} s) and the client re-polls after {f.repoll:.3f} s (median,"
                f" <= {t.long_poll_max_repoll_s:g} s)"
            )
            p = Pattern(pattern="long-polling", reason=reason + fw_note, **common)
        elif polling == "short-polling":
            reason = f"{requests} requests every {f.interval:.2f} s (cv {f.interval_cv:.2f} <= {t.short_poll_max_cv:g})"
            if f.hold is not None:
                reason += f", answered in {f.hold:.3f} s (median)"
            if f.changed_ratio is not None:
                reason += f", {f.changed_ratio:.0%} changed"
            p = Pattern(pattern="short-polling", reason=reason + fw_note, **common)
        else:
            reason = _why_not_polling(f, requests, t)
            p = Pattern(pattern="request-response", reason=reason + fw_note, **common)
        if ep.overflow:
            p.reason += f" (timings from the first {len(ep.samples)} requests)"
        p.transport = ep.transport(p.pattern)
        p.upgrade = ep.upgrade
        if p.pattern in ("short-polling", "long-polling"):
            p.efficiency = efficiency(p, ep.samples, overflow_bytes=ep.overflow_bytes)
        return p


def _client_host(client: str | None) -> str:
    if not client:
        return ""
    if client.startswith("["):
        return client[1 : client.find("]")] if "]" in client else client
    host, sep, port = client.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else client


def _http_origin(origin: str) -> str:
    """ws://h -> http://h, wss://h -> https://h: a WebSocket URL belongs to the same site as its polling."""
    if origin.startswith("ws://"):
        return "http://" + origin[5:]
    if origin.startswith("wss://"):
        return "https://" + origin[6:]
    return origin


def _framework(base: _Base, signalr_hubs: set[tuple[str, str]], sockjs_prefixes: set[tuple[str, str]]) -> str | None:
    names = {k.lower(): v for s in base.samples[:50] for k, v in s.params}
    path = base.path.lower()
    if "/socket.io" in path:
        return "socket.io"
    if "eio" in names:
        return "engine.io"
    if "/signalr" in path or names.get("transport", "").lower() in _SIGNALR_CLASSIC_TRANSPORTS:
        return "signalr"
    if path.endswith("/negotiate") and ("negotiateversion" in names or base.method == "POST"):
        return "signalr"
    if (_http_origin(base.origin), base.path) in signalr_hubs and "id" in names:
        return "signalr"
    if base.sockjs_transport is not None:
        return "sockjs"
    prefix, _, last = base.path.rpartition("/")
    if last in ("info", "websocket") and (_http_origin(base.origin), prefix) in sockjs_prefixes:
        return "sockjs"  # the prefix's /info and raw /websocket, next to its session transports
    if "vsn" in names and (path.endswith("/websocket") or path.endswith("/longpoll")):
        return "phoenix"
    if _PUSHER.match(base.path) and "protocol" in names and "client" in names:
        return "pusher"
    for s in base.samples[:50]:
        if s.subprotocol:
            low = s.subprotocol.lower()
            for prefix, name in _SUBPROTOCOL_FRAMEWORKS:
                if low == prefix or (prefix.endswith((".", "-")) and low.startswith(prefix)):
                    return name
    if path.endswith("/cable") and any(s.websocket for s in base.samples[:50]):
        return "actioncable"
    return None


@dataclass
class _Endpoint:
    label: str
    base: _Base
    framework: str | None
    params: dict[str, str]
    samples: list[_Sample]
    overflow: int
    overflow_bytes: int
    upgrade: str | None = None

    def is_send(self) -> bool:
        """The framework's client-to-server channel (regular pongs there are not polling)."""
        fw, method, path = self.framework, self.base.method, self.base.path
        if fw in ("socket.io", "engine.io", "phoenix"):
            return method == "POST"
        if fw == "signalr":
            return (method == "POST" and not path.endswith("/negotiate")) or path.endswith("/send")
        if fw == "sockjs":
            return self.base.sockjs_transport in ("xhr_send", "jsonp_send")
        return False

    def transport(self, pattern: str) -> str | None:
        """The framework's own name for the transport of this endpoint."""
        fw = self.framework
        if fw is None:
            return None
        low = {k.lower(): v for k, v in self.params.items()}
        if fw in ("socket.io", "engine.io"):
            return low.get("transport") or ("websocket" if pattern == "websocket" else None)
        if fw == "signalr":
            if "transport" in low:
                return low["transport"]
            if self.base.path.endswith("/negotiate"):
                return "negotiate"
            if self.base.method == "POST":
                return "send"
            return {"websocket": "webSockets", "sse": "serverSentEvents", "long-polling": "longPolling"}.get(pattern)
        if fw == "sockjs":
            return self.base.sockjs_transport or self.base.path.rsplit("/", 1)[-1]
        if fw == "phoenix":
            return self.base.path.rsplit("/", 1)[-1]
        return "websocket" if pattern == "websocket" else None


def _framework_note(ep: _Endpoint) -> str:
    if ep.framework is None:
        return ""
    note = f"; {ep.framework}"
    eio = next((v for k, v in ep.params.items() if k.lower() == "eio"), None)
    if eio:
        note += f" (Engine.IO v{eio})"
    if ep.upgrade:
        note += f", session upgraded {ep.upgrade}"
    return note


def _mark_upgrades(endpoints: list[_Endpoint]) -> None:
    """Engine.IO (Socket.IO): a WebSocket request carrying a ``sid`` upgrades a polling session.

    A client that starts on WebSocket has no session id yet; one that upgrades sends the sid its polling
    session got (Engine.IO protocol, "Upgrade").  The polling endpoints of the same origin are marked too.
    """
    groups: dict[tuple[str, str], list[_Endpoint]] = {}
    for ep in endpoints:
        if ep.framework in ("socket.io", "engine.io"):
            groups.setdefault((_http_origin(ep.base.origin), ep.base.path), []).append(ep)
    for group in groups.values():
        upgraded = [
            ep for ep in group
            if any(s.websocket and any(k.lower() == "sid" for k, _ in s.params) for s in ep.samples)
        ]
        if not upgraded:
            continue
        label = "polling->websocket"
        for ep in group:
            if ep in upgraded or (ep.transport("") or "") == "polling":
                ep.upgrade = label


@dataclass
class _Features:
    interval: float | None = None
    interval_cv: float | None = None
    hold: float | None = None
    repoll: float | None = None
    body_time: float | None = None
    changed_ratio: float | None = None
    empty_ratio: float | None = None
    header_per_body: float | None = None
    max_concurrent: int | None = None
    duration: float | None = None
    max_session_requests: int = 0
    held: int = 0  # requests held >= long_poll_hold_s
    held_share: float = 0.0


def _sessions(samples: list[_Sample]) -> dict[str, list[_Sample]]:
    sessions: dict[str, list[_Sample]] = {}
    for s in samples:
        sessions.setdefault(s.session, []).append(s)
    for group in sessions.values():
        group.sort(key=lambda s: (s.ts_request is None, s.ts_request or 0.0))
    return sessions


def _is_empty(s: _Sample) -> bool:
    return s.status in (204, 304) or (s.status is not None and s.body == 0)


def _changes(session: list[_Sample]) -> list[bool | None]:
    """Per sample: body differs from the previous known body of its session (None: body unknown)."""
    out: list[bool | None] = []
    previous: str | None = None
    for s in session:
        if s.sha is None or s.status is None:
            out.append(None)
            continue
        out.append(s.sha != previous)
        previous = s.sha
    return out


def _serial(samples: list[_Sample]) -> bool:
    """Never two requests open at once: each starts at or after the previous one's end (all times known)."""
    if any(s.ts_request is None for s in samples):
        return False
    end = None
    for s in sorted(samples, key=lambda s: s.ts_request):
        if end is not None and s.ts_request < end:
            return False
        end = s.ts_end if s.ts_end is not None else s.ts_response if s.ts_response is not None else s.ts_request
    return True


def _features(samples: list[_Sample], t: Thresholds, *, loop_only: bool = False) -> _Features:
    """The `Pattern` features of one endpoint's samples; ``loop_only``: only what `_polling` needs."""
    f = _Features()
    intervals: list[float] = []
    gaps: list[float] = []
    known_changes: list[bool] = []
    for session in _sessions(samples).values():
        f.max_session_requests = max(f.max_session_requests, len(session))
        for prev, cur in zip(session, session[1:]):
            if prev.ts_request is not None and cur.ts_request is not None:
                intervals.append(cur.ts_request - prev.ts_request)
            end = prev.ts_end if prev.ts_end is not None else prev.ts_response
            if end is not None and cur.ts_request is not None:
                gaps.append(max(0.0, cur.ts_request - end))
        if not loop_only:
            known_changes.extend(c for c in _changes(session) if c is not None)
    if intervals:
        mean = statistics.fmean(intervals)
        f.interval = mean
        f.interval_cv = statistics.pstdev(intervals) / mean if mean > 0 else 0.0
    holds = []
    flows = []
    for s in samples:
        if s.websocket or s.ts_request is None:
            continue
        data = s.ts_body if s.ts_body is not None else s.ts_response
        if data is not None:
            holds.append(data - s.ts_request)
        if s.ts_end is not None and s.ts_response is not None:
            # how long data kept flowing: first to last body chunk, else head to end
            flow = s.ts_end - s.ts_response if s.body_spread is None else s.body_spread
            flows.append(flow)
    f.hold = _median([max(0.0, h) for h in holds])
    if holds:
        f.held = sum(h >= t.long_poll_hold_s for h in holds)
        f.held_share = f.held / len(holds)
    f.repoll = _median(gaps)
    if loop_only:
        return f
    f.body_time = _median([max(0.0, b) for b in flows])
    if known_changes:
        f.changed_ratio = sum(known_changes) / len(known_changes)
    answered = [s for s in samples if s.status is not None and not s.websocket]
    if answered:
        f.empty_ratio = sum(_is_empty(s) for s in answered) / len(answered)
    useful_body = sum(s.body for s in _useful(samples))
    header_bytes = sum(s.request_bytes + s.response_header_bytes for s in samples)
    if useful_body:
        f.header_per_body = header_bytes / useful_body
    events: list[tuple[float, int]] = []
    for s in samples:
        if s.ts_request is None:
            continue
        events.append((s.ts_request, 1))
        end = s.ts_end if s.ts_end is not None else s.ts_response
        if end is not None:
            events.append((end, -1))
    if events:
        events.sort(key=lambda e: (e[0], e[1]))  # an end at the same instant closes before a start opens
        open_now = peak = 0
        for _, delta in events:
            open_now += delta
            peak = max(peak, open_now)
        f.max_concurrent = peak
        starts = [s.ts_request for s in samples if s.ts_request is not None]
        ends = [e for s in samples for e in (s.ts_end, s.ts_response, s.ts_request) if e is not None]
        f.duration = max(0.0, max(ends) - min(starts))
    return f


def _polling(f: _Features, requests: int, t: Thresholds) -> str | None:
    """Decision rules 4 and 5 (module docstring): ``long-polling``, ``short-polling`` or None."""
    if (
        requests >= t.long_poll_min_requests
        and f.held_share >= t.long_poll_held_share
        and f.repoll is not None
        and f.repoll <= t.long_poll_max_repoll_s
    ):
        return "long-polling"
    if (
        f.max_session_requests >= t.short_poll_min_requests
        and f.interval_cv is not None
        and f.interval_cv <= t.short_poll_max_cv
        and f.held_share < t.long_poll_held_share
    ):
        return "short-polling"
    return None


def _useful(samples: list[_Sample]) -> list[_Sample]:
    """Responses that carried new data: 2xx, non-empty, not a framework keep-alive, body changed (or not
    known to be unchanged)."""
    useful = []
    for session in _sessions(samples).values():
        for s, changed in zip(session, _changes(session)):
            if (
                s.status is not None
                and 200 <= s.status < 300
                and not _is_empty(s)
                and not s.no_data
                and changed is not False
            ):
                useful.append(s)
    return useful


def _why_not_polling(f: _Features, requests: int, t: Thresholds) -> str:
    if requests < 2 or f.max_session_requests < 2:
        return f"{requests} request(s), no repeated requests in one session"
    parts = []
    if f.interval_cv is not None and f.interval_cv > t.short_poll_max_cv:
        parts.append(f"irregular intervals (cv {f.interval_cv:.2f} > {t.short_poll_max_cv:g})")
    if f.held_share >= t.long_poll_held_share and (f.repoll or 0) > t.long_poll_max_repoll_s:
        parts.append(f"{f.held} requests held but the client re-polled only after {f.repoll:.2f} s (median)")
    if f.max_session_requests < t.short_poll_min_requests:
        parts.append(f"at most {f.max_session_requests} requests per session (< {t.short_poll_min_requests})")
    return ", ".join(parts) or "no polling pattern"


# -- efficiency ---------------------------------------------------------------------------------------

#: Bytes a WebSocket handshake adds to an ordinary request: Upgrade, Connection, Sec-WebSocket-Key and
#: -Version headers, and the 101 response with Sec-WebSocket-Accept (about what browsers send).
WS_HANDSHAKE_EXTRA = 105
WS_101_RESPONSE = 129
#: SSE framing per event: ``data: `` + payload + ``\n\n``.
SSE_EVENT_OVERHEAD = 8


def _sse_event(length: int) -> int:
    """Wire bytes of one SSE event of ``length`` payload bytes over HTTP/1.1: ``data: `` + payload +
    ``\n\n``, flushed as one chunk (hex size + CRLF, payload, CRLF)."""
    size = length + SSE_EVENT_OVERHEAD
    return size + len(f"{size:x}") + 4


def _ws_header(length: int) -> int:
    """Server-to-client frame header (unmasked): 2 bytes, +2 for 16-bit, +8 for 64-bit lengths."""
    return 2 if length < 126 else 4 if length < 65536 else 10


def efficiency(pattern: Pattern, samples: list[_Sample], *, overflow_bytes: int = 0) -> dict[str, float | int | None]:
    """What a polling endpoint costs, and what the same updates would cost pushed.

    With ``R`` requests over the endpoint's sessions, ``bytes(x)`` = request head + body + response head +
    body of exchange ``x`` (heads measured by the source, else estimated from the header lists), and
    "useful" = 2xx responses that are non-empty, not a framework keep-alive (Engine.IO ping/noop) and
    whose body changed (see the module docstring):

    - ``requests_per_min`` = sum over sessions of (requests - 1) / (last start - first start) * 60;
    - ``useful`` and ``useful_ratio`` (= useful / R); ``wasted_requests`` = R - useful; ``wasted_bytes`` = sum of bytes(x) for wasted x;
    - ``poll_bytes`` = sum of bytes(x) over all R;
    - ``staleness_s``: how long an update waits on average before the client sees it: interval / 2 for
      short polling (it appears uniformly between two polls), the median re-poll gap for long polling
      (only updates arriving while no request is open wait);
    - ``sse_bytes`` = one request head + one response head (the means of this endpoint) + sum over useful
      responses of (body + 8 + chunk framing) ("data: " + payload + "\\n\\n", each event one HTTP/1.1
      chunk: hex size + 4 bytes; multi-line payloads add 6 bytes a line);
    - ``websocket_bytes`` = mean request head + 105 (upgrade headers) + 129 (the 101 response) + sum over
      useful responses of (body + 2/4/10) (server frames are unmasked; 16/64-bit lengths add 2/8 bytes);
    - ``push_bytes`` = min(sse_bytes, websocket_bytes); ``saving_bytes`` = poll_bytes - push_bytes;
      ``saving_ratio`` = saving_bytes / poll_bytes.

    Compression, TLS and TCP/IP overhead are ignored on both sides; heartbeats a push connection needs
    (SSE comments, WebSocket pings: a few bytes every 15-30 s) are not counted.
    """
    requests = pattern.requests
    useful = _useful(samples)
    useful_ids = {id(s) for s in useful}

    def size(s: _Sample) -> int:
        return s.request_bytes + s.response_header_bytes + s.body

    poll_bytes = sum(size(s) for s in samples) + overflow_bytes
    wasted_bytes = sum(size(s) for s in samples if id(s) not in useful_ids) + overflow_bytes
    rate = 0.0
    for session in _sessions(samples).values():
        starts = [s.ts_request for s in session if s.ts_request is not None]
        if len(starts) >= 2 and starts[-1] > starts[0]:
            rate += (len(starts) - 1) / (starts[-1] - starts[0]) * 60
    n = max(1, len(samples))
    mean_request = sum(s.request_bytes for s in samples) / n
    mean_response_head = sum(s.response_header_bytes for s in samples) / n
    sse_bytes = round(mean_request + mean_response_head + sum(_sse_event(s.body) for s in useful))
    ws_bytes = round(mean_request + WS_HANDSHAKE_EXTRA + WS_101_RESPONSE + sum(s.body + _ws_header(s.body) for s in useful))
    push = min(sse_bytes, ws_bytes)
    if pattern.pattern == "short-polling":
        staleness = pattern.interval_s / 2 if pattern.interval_s is not None else None
    else:
        staleness = pattern.repoll_gap_s
    saving = poll_bytes - push
    return {
        "requests_per_min": _round(rate if rate else None, 1),
        "useful": len(useful),
        "useful_ratio": _round(len(useful) / requests if requests else None),
        "wasted_requests": requests - len(useful),
        "wasted_bytes": wasted_bytes,
        "poll_bytes": poll_bytes,
        "staleness_s": _round(staleness),
        "sse_bytes": sse_bytes,
        "websocket_bytes": ws_bytes,
        "push_bytes": push,
        "saving_bytes": saving,
        "saving_ratio": _round(saving / poll_bytes if poll_bytes else None),
    }


def verdict(pattern: Pattern, thresholds: Thresholds | None = None) -> str | None:
    """One line answering "is this polling worth replacing with SSE or a WebSocket?" (None if not polling).

    Short polling is worth replacing when at least ``replace_wasted_ratio`` of its requests brought
    nothing new, when push would save at least ``replace_saving_ratio`` of its bytes, or when updates wait
    ``replace_staleness_s`` or more for the next poll.  Long polling already delivers at once; it is worth
    replacing when most answers are empty (timeouts, keep-alives), and otherwise the line says what push
    would still save (one request head per update).
    """
    eff = pattern.efficiency
    if not eff:
        return None
    t = thresholds or Thresholds()
    requests = max(1, pattern.requests)
    wasted = (eff.get("wasted_requests") or 0) / requests
    saving = eff.get("saving_ratio") or 0.0
    staleness = eff.get("staleness_s")
    reasons = []
    if wasted >= t.replace_wasted_ratio:
        reasons.append(f"{wasted:.0%} of requests brought nothing new")
    if pattern.pattern == "short-polling":
        if saving >= t.replace_saving_ratio:
            reasons.append(f"push would save {saving:.0%} of the bytes")
        if staleness is not None and staleness >= t.replace_staleness_s:
            reasons.append(f"updates wait ~{staleness:.1f} s for the next poll")
    elif reasons and saving > 0:
        reasons.append(f"push would save {saving:.0%} of the bytes")
    if reasons:
        return "worth replacing: " + "; ".join(reasons)
    if pattern.pattern == "long-polling":
        return f"works: updates arrive at once; push would still save {saving:.0%} of the bytes (a request per update)"
    return f"cheap enough: push would save {saving:.0%} of the bytes"
