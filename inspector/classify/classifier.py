"""Per-endpoint traffic patterns: polling (short / long), SSE, WebSocket, streaming, request-response.

`Classifier` sees `records.Exchange` records (the 101 of a WebSocket handshake included) and a few facts
`inspector.analysis.Analysis` adds (the client of each connection, the `SseStream` summary of an event
stream, WebSockets without a handshake).  It is pure and bounded: per endpoint it keeps one small tuple
per request, at most `Thresholds.max_samples` of them (counts and bytes keep adding up past the cap).

The stages have their own modules: endpoint keys and volatile query parameters in
`inspector.classify.endpoints`, frameworks in `inspector.classify.frameworks`, client sessions and
pooled connections in `inspector.classify.sessions`, the `Pattern` features in
`inspector.classify.features`, the cost against push in `inspector.classify.efficiency`.

Decision (first match; every threshold is a field of `Thresholds`)
    1. ``websocket``: a 101 upgrade (or a WebSocket reported without handshake).
    2. ``sse``: the responses are ``text/event-stream``.
    3. ``streaming``: other response bodies that keep flowing (median first-to-last body chunk, or head
       to end when the body came in one piece, >= ``streaming_body_s``) with a streaming media type
       (ndjson, ...), or seen flowing in several chunks without a Content-Length.
    (then) the upstream channel of a framework (Socket.IO/Engine.IO and Phoenix POSTs, SignalR send,
       SockJS xhr_send) is ``request-response`` whatever its rhythm: regular pongs are not polling.
    (then) a framework transport whose protocol defines its pattern (Engine.IO ``transport=polling``
       GETs, SignalR ``longPolling``, SockJS ``xhr``/``xhr_streaming``/``eventsource``, Phoenix
       ``longpoll``: `frameworks.defined_pattern`) is that pattern whatever its measured holds, with
       ``Pattern.decided_by`` ``"framework"``: a short ping interval keeps Engine.IO holds under a second.
    4. ``long-polling``: >= ``long_poll_min_requests`` requests, at least ``long_poll_held_share`` of them
       held >= ``long_poll_hold_s`` (a busy long-poll endpoint answers at once while data is queued, so
       the median alone misses it) and median re-poll gap <= ``long_poll_max_repoll_s`` (the client asks
       again at once).
    5. ``short-polling``: >= ``short_poll_min_requests`` requests in a session, interval CV <=
       ``short_poll_max_cv`` and answered at once (fewer than ``long_poll_held_share`` held).
    6. ``request-response`` otherwise.
"""

from __future__ import annotations

from inspector.classify import endpoints, frameworks, sessions
from inspector.classify.efficiency import efficiency
from inspector.classify.features import Features, features, polling, why_not_polling
from inspector.classify.samples import Base, Endpoint, Sample, finite, rounded
from inspector.classify.thresholds import Thresholds
from inspector.http.headers import header as _header
from inspector.records import Exchange, Pattern, SseStream

__all__ = ["Classifier"]

#: how the reason of a pattern the framework's protocol decided begins
_DEFINED = "by the framework's definition"

_STREAM_TYPES = (
    "application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq",
    "application/stream+json", "application/x-json-stream", "multipart/x-mixed-replace",
)


class Classifier:
    """Collects exchanges and decides one `Pattern` per endpoint.  See the module docstring."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._bases: dict[tuple[str, str, str], Base] = {}
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
        the last response body chunks arrived, if known, the last only when there were several (a server
        may send the head at once and hold the body: the hold lasts until the data)."""
        ex = exchange
        origin, raw_path, query = endpoints.split_url(ex.url)
        path, sockjs_transport, sockjs_session = endpoints.sockjs_path(raw_path)
        websocket = websocket or ex.status == 101
        subprotocol = _header(ex.response_headers, "sec-websocket-protocol") if websocket else None
        body = ex.response_body_bytes or 0
        sample = Sample(
            ts_request=finite(ex.ts_request),
            ts_response=finite(ex.ts_response),
            ts_end=finite(ex.ts_end),
            status=ex.status,
            sha=ex.response_sha256,
            body=body,
            request_bytes=endpoints.request_header_bytes(ex, raw_path, query) + (ex.request_body_bytes or 0),
            response_header_bytes=endpoints.response_header_bytes(ex),
            params=endpoints.parse_query(query),
            path_session=sockjs_session or "",
            client=sessions.client_host(client),
            content_type=(ex.content_type or "").split(";", 1)[0].strip().lower(),
            has_length=_header(ex.response_headers, "content-length") is not None,
            subprotocol=subprotocol.strip() if subprotocol else None,
            websocket=websocket,
            conn=ex.conn,
            sse_resumed=sse.resumed if sse is not None else None,
            ts_body=finite(ts_body) if body else None,
            body_spread=(
                max(0.0, ts_body_last - ts_body)
                if body and finite(ts_body) is not None and finite(ts_body_last) is not None
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

    def _add_sample(self, method: str, origin: str, path: str, raw_path: str, sockjs: str | None, s: Sample) -> None:
        t = self.thresholds
        key = (method, origin, path)
        base = self._bases.get(key)
        if base is None:
            if len(self._bases) >= t.max_endpoints:
                self.unclassified += 1
                return
            base = self._bases[key] = Base(method, origin, path, raw_path, sockjs, [])
        if len(base.samples) < t.max_samples and self._samples < t.max_total_samples:
            base.samples.append(s)
            self._samples += 1
        else:
            base.overflow += 1
            base.overflow_bytes += s.request_bytes + s.response_header_bytes + s.body

    # -- output ----------------------------------------------------------------------------------------

    def patterns(self) -> list[Pattern]:
        """One `Pattern` per endpoint, sorted by endpoint label."""
        known = frameworks.sites(self._bases.values())
        found: list[Endpoint] = []
        for base in self._bases.values():
            found.extend(self._split(base, frameworks.detect(base, known)))
        frameworks.mark_upgrades(found)
        patterns = [self._decide(ep) for ep in found]
        patterns.sort(key=lambda p: p.endpoint)
        return patterns

    def _split(self, base: Base, framework: str | None) -> list[Endpoint]:
        """Split a base by the non-volatile query parameters; set each sample's session."""
        t = self.thresholds
        session_names = {"id", "connectiontoken"} if framework == "signalr" else set()
        by_conn: dict[str, list[Sample]] = {}
        for s in base.samples:
            by_conn.setdefault(s.conn, []).append(s)
        order, volatile = endpoints.volatile_params(base.samples, by_conn, t, session_names)
        keepalive = frameworks.no_data_bodies(framework)
        for s in base.samples:
            s.no_data = s.sha in keepalive
        groups = sessions.group(base.samples, by_conn, volatile, framework, t)
        found = []
        for (kept, _), samples in groups.items():
            kept_map = dict(kept)
            share = len(samples) / max(1, len(base.samples))
            found.append(
                Endpoint(
                    label=endpoints.endpoint_label(base, order, volatile, kept_map, samples),
                    base=base,
                    framework=framework,
                    params=kept_map,
                    samples=samples,
                    overflow=round(base.overflow * share),
                    overflow_bytes=round(base.overflow_bytes * share),
                )
            )
        return found

    def _decide(self, ep: Endpoint) -> Pattern:
        t = self.thresholds
        f = features(ep.samples, t)
        requests = len(ep.samples) + ep.overflow
        name, reason = _decision(ep, f, requests, t)
        p = Pattern(
            pattern=name,
            reason=reason + frameworks.note(ep),
            endpoint=ep.label,
            requests=requests,
            framework=ep.framework,
            interval_s=rounded(f.interval),
            interval_cv=rounded(f.interval_cv),
            hold_s=rounded(f.hold),
            repoll_gap_s=rounded(f.repoll),
            changed_ratio=rounded(f.changed_ratio),
            empty_ratio=rounded(f.empty_ratio),
            header_bytes_per_body_byte=rounded(f.header_per_body),
            max_concurrent=f.max_concurrent,
            duration_s=rounded(f.duration),
        )
        if ep.overflow:
            p.reason += f" (timings from the first {len(ep.samples)} requests)"
        p.transport = frameworks.transport(ep, p.pattern)
        p.upgrade = ep.upgrade
        if p.pattern in ("short-polling", "long-polling"):
            p.efficiency = efficiency(p, ep.samples, overflow_bytes=ep.overflow_bytes)
        if reason.startswith(_DEFINED):
            p.decided_by = "framework"
        return p


def _decision(ep: Endpoint, f: Features, requests: int, t: Thresholds) -> tuple[str, str]:
    """(pattern, reason) by the rules of the module docstring, first match."""
    samples = ep.samples
    websockets = [s for s in samples if s.websocket]
    sse = [s for s in samples if s.content_type == "text/event-stream" and s.status and 200 <= s.status < 300]
    answered = [s for s in samples if s.status is not None and not s.websocket]
    # a body seen flowing in several chunks needs no Content-Length to be a stream; one that came in
    # one piece (HAR, flow files, or one late burst) only by a streaming media type
    streams = [s for s in answered if s.content_type in _STREAM_TYPES or (s.body_spread is not None and not s.has_length)]
    if websockets:
        return "websocket", _websocket_reason(websockets)
    if sse and len(sse) * 2 >= len(answered):
        return "sse", _sse_reason(sse, f)
    if f.body_time is not None and f.body_time >= t.streaming_body_s and streams and len(streams) * 2 >= len(answered):
        return "streaming", (
            f"response bodies keep flowing for {f.body_time:.2f} s (median, >= {t.streaming_body_s:g} s)"
            f", streaming media type or several chunks without a Content-Length"
        )
    if frameworks.is_send(ep):
        return "request-response", f"{requests} client-to-server sends on the framework's upstream channel"
    defined = frameworks.defined_pattern(ep)
    if defined is not None:
        return defined[0], _defined_reason(ep, defined, f)
    found = polling(f, requests, t)
    if found == "long-polling":
        return found, (
            f"server held {f.held} of {len(samples)} requests >= {t.long_poll_hold_s:g} s (median hold"
            f" {f.hold:.2f} s) and the client re-polls after {f.repoll:.3f} s (median,"
            f" <= {t.long_poll_max_repoll_s:g} s)"
        )
    if found == "short-polling":
        reason = f"{requests} requests every {f.interval:.2f} s (cv {f.interval_cv:.2f} <= {t.short_poll_max_cv:g})"
        if f.hold is not None:
            reason += f", answered in {f.hold:.3f} s (median)"
        if f.changed_ratio is not None:
            reason += f", {f.changed_ratio:.0%} changed"
        return found, reason
    return "request-response", why_not_polling(f, requests, t)


def _defined_reason(ep: Endpoint, defined: tuple[str, str], f: Features) -> str:
    """Why a framework's transport is its protocol's pattern, with what was measured."""
    pattern, name = defined
    what = {"long-polling": "holds each request until it has data (or a heartbeat is due)"}.get(
        pattern, "keeps the response open and pushes data down it"
    )
    reason = f"{_DEFINED}: {ep.framework} transport {name} is {pattern} (the server {what})"
    measured = []
    if f.hold is not None:
        measured.append(f"median hold {f.hold:.3f} s")
    if f.repoll is not None:
        measured.append(f"re-poll after {f.repoll:.3f} s")
    return reason + (f"; measured {', '.join(measured)}" if measured else "")


def _websocket_reason(websockets: list[Sample]) -> str:
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
    return reason


def _sse_reason(sse: list[Sample], f: Features) -> str:
    resumed = [s for s in sse if s.sse_resumed]
    reason = f"text/event-stream responses: {len(sse)} stream(s)"
    if len(sse) > 1:
        reason += f", {len(sse) - 1} reconnect(s)"
        if f.repoll is not None:
            reason += f" after {f.repoll:.2f} s (median)"
    if resumed:
        reason += f", {len(resumed)} resumed with Last-Event-ID"
    return reason
