"""Client sessions: which requests of an endpoint form one client's loop.

A session is a framework session id in the URL (Socket.IO ``sid``, SignalR ``id``, a SockJS session path
segment), else the connection when it carried several requests of the endpoint, else the client's
address; one client's requests spread over a pool of keep-alive connections are one session when only
merged they make a serial polling loop (`pool`).
"""

from __future__ import annotations

from inspector.classify.features import features, polling
from inspector.classify.samples import Sample
from inspector.classify.thresholds import Thresholds

__all__ = ["client_host", "group", "pool", "serial"]

_SESSION_PARAMS = ("sid", "connectiontoken", "id", "session", "sessionid")

#: (the kept query parameters, sorted; a WebSocket or not) -> the samples of one endpoint
Groups = dict[tuple[tuple[tuple[str, str], ...], bool], list[Sample]]


def client_host(client: str | None) -> str:
    """The host of a client address ("host", "host:port", "[v6]:port")."""
    if not client:
        return ""
    if client.startswith("["):
        return client[1 : client.find("]")] if "]" in client else client
    host, sep, port = client.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else client


def serial(samples: list[Sample]) -> bool:
    """Never two requests open at once: each starts at or after the previous one's end (all times known)."""
    if any(s.ts_request is None for s in samples):
        return False
    end = None
    for s in sorted(samples, key=lambda s: s.ts_request):
        if end is not None and s.ts_request < end:
            return False
        end = s.ts_end if s.ts_end is not None else s.ts_response if s.ts_response is not None else s.ts_request
    return True


def _session_id(s: Sample, volatile: set[str], framework: str | None) -> str:
    """The framework session id a request carries ("name=value"), "" if none."""
    if s.path_session:
        return s.path_session
    for k, v in s.params:
        if k.lower() in _SESSION_PARAMS and (k in volatile and (k.lower() != "id" or framework == "signalr")):
            return f"{k}={v}"
    return ""


def group(
    samples: list[Sample],
    by_conn: dict[str, list[Sample]],
    volatile: set[str],
    framework: str | None,
    t: Thresholds,
) -> Groups:
    """Samples grouped by their non-volatile parameters (WebSockets apart); sets each one's session."""
    groups: Groups = {}
    unnamed: dict[tuple, list[Sample]] = {}  # (group, client host) -> samples without a session id
    for s in samples:
        key = (tuple(sorted((k, v) for k, v in s.params if k not in volatile)), s.websocket)
        s.session = _session_id(s, volatile, framework)
        if not s.session:
            # no session id: the connection if it carried this loop, else the client's address
            s.session = f"conn={s.conn}" if len(by_conn[s.conn]) >= 2 else f"client={s.client}"
            unnamed.setdefault((key, s.client), []).append(s)
        groups.setdefault(key, []).append(s)
    for ((_, websocket), host), loop in unnamed.items():
        if not websocket:
            pool(loop, host, t)
    return groups


def pool(samples: list[Sample], host: str, t: Thresholds) -> None:
    """One client's requests without a session id, split by connection: merge them into one session
    (the client host) when they are one loop spread over a pool of keep-alive connections.

    A browser's fetch/XHR loop takes whichever pooled connection is idle (Chrome and Firefox keep up
    to 6 per origin), so each connection carries an irregular subset of the loop: 0.2 s polls read
    as 0.2/0.6/0.4 s per connection, and long polls as slow re-polls.  Merged, they are one serial
    loop.  Several independent pollers on their own connections from one address (tabs, processes,
    clients behind one NAT) must stay apart, and each is a loop on its own connection.  So the
    merge is taken only when (1) the requests used at least two connections, (2) the per-connection
    split shows no polling loop (`polling`), and (3) the merged sequence is one: never two
    requests open at once (a loop is serial; independent pollers overlap sooner or later) and
    polling by the same rules (regular intervals, or held requests re-polled at once).  Interleaved
    independent pollers fail (3): their merged intervals are irregular.  Not caught: a strict
    round-robin pool, whose connections each show a regular loop at k times the real interval
    (kept per connection; the request rate in the efficiency report is still right).
    """
    if len(samples) < t.short_poll_min_requests or len({s.conn for s in samples}) < 2 or not serial(samples):
        return
    if polling(features(samples, t, loop_only=True), len(samples), t):
        return
    split = [s.session for s in samples]
    for s in samples:
        s.session = f"client={host}"
    if not polling(features(samples, t, loop_only=True), len(samples), t):
        for s, session in zip(samples, split):
            s.session = session
