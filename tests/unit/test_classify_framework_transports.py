"""Framework transports classified by their protocol's definition, on synthetic exchanges: Engine.IO
polling with holds far under the long-poll threshold, one new connection per poll; SignalR longPolling;
SockJS xhr / xhr_streaming; and the same timings without a framework, which the figures decide."""

from __future__ import annotations

import hashlib

import msgspec

from inspector import records
from inspector.classify import Classifier


def _ex(method: str, url: str, t: float, *, hold: float, body: bytes, conn: str) -> records.Exchange:
    return records.Exchange(
        conn=conn, method=method, url=url, status=200, content_type="text/plain; charset=UTF-8", ts_request=t,
        ts_response=t + hold, ts_end=t + hold, request_body_bytes=0, response_body_bytes=len(body),
        response_sha256=hashlib.sha256(body).hexdigest(), response_headers=[("Content-Length", str(len(body)))],
    )


def _engineio_loop(c: Classifier, polls: int = 8, hold: float = 0.3) -> None:
    """A handshake GET, then GETs each held ``hold`` s (a short ping interval), each on a new connection."""
    c.add(_ex("GET", "http://h/socket.io/?EIO=4&transport=polling&t=a0", 0.0, hold=0.001,
              body=b'0{"sid":"S1","pingInterval":300}', conn="c0"), client="10.0.0.1:40000")
    t = 0.01
    for i in range(polls):
        c.add(_ex("GET", f"http://h/socket.io/?EIO=4&transport=polling&t=a{i + 1}&sid=S1", t, hold=hold,
                  body=b"2", conn=f"c{i + 1}"), client=f"10.0.0.1:{40001 + i}")
        t += hold + 0.005
    c.add(_ex("POST", "http://h/socket.io/?EIO=4&transport=polling&t=p0&sid=S1", 0.5, hold=0.001, body=b"ok",
              conn="cp"), client="10.0.0.1:41000")


def _by_transport(c: Classifier) -> dict[tuple[str, str | None], records.Pattern]:
    return {(p.endpoint.split(" ", 1)[0], p.transport): p for p in c.patterns()}


def test_engineio_polling_is_long_polling_whatever_the_holds():
    c = Classifier()
    _engineio_loop(c, hold=0.3)  # under long_poll_hold_s (1 s): the figures alone would not say held
    found = _by_transport(c)
    get, post = found[("GET", "polling")], found[("POST", "polling")]
    assert get.pattern == "long-polling" and get.decided_by == "framework"
    assert get.reason.startswith("by the framework's definition: socket.io transport polling is long-polling")
    assert get.hold_s == 0.3  # the measured figures stay what they were
    assert get.efficiency is not None and get.efficiency["wasted_requests"] >= 8  # pings bring no data
    assert post.pattern == "request-response" and post.decided_by is msgspec.UNSET


def test_engineio_session_spans_new_connections():
    """Each poll on its own connection is still one loop: intervals and re-poll gaps within the sid."""
    c = Classifier()
    _engineio_loop(c, polls=6, hold=0.2)
    get = _by_transport(c)[("GET", "polling")]
    assert get.requests == 7
    assert get.interval_s == 0.205  # between the polls of sid S1, across six connections
    assert get.repoll_gap_s == 0.005


def test_same_timings_without_a_framework_are_decided_by_the_figures():
    c = Classifier()
    t = 0.0
    for i in range(8):
        c.add(_ex("GET", f"http://h/poll?t={i}", t, hold=0.3, body=b"2", conn="c"), client="10.0.0.1:40000")
        t += 0.305
    (p,) = c.patterns()
    assert p.pattern == "short-polling" and p.decided_by is msgspec.UNSET


def test_signalr_long_polling_and_sockjs_transports():
    c = Classifier()
    for i in range(4):  # classic SignalR longPolling answered at once (messages were queued)
        c.add(_ex("GET", f"http://h/signalr/poll?transport=longPolling&connectionToken=k&messageId=m{i}", i * 0.2,
                  hold=0.01, body=b'{"M":[]}', conn=f"s{i}"))
    c.add(_ex("GET", "http://h/signalr/start?transport=longPolling&connectionToken=k", 0.0, hold=0.01,
              body=b'{"Response":"started"}', conn="s9"))
    for i in range(3):
        c.add(_ex("POST", f"http://h/echo/000/sess{i}abc/xhr", i * 0.1, hold=0.02, body=b"h\n", conn=f"x{i}"))
    c.add(_ex("POST", "http://h/echo/000/sess0abc/xhr_streaming", 0.0, hold=0.01, body=b"h\n", conn="y"))
    c.add(_ex("POST", "http://h/echo/000/sess0abc/xhr_send", 0.0, hold=0.01, body=b"", conn="z"))
    found = {p.endpoint: (p.pattern, p.decided_by) for p in c.patterns()}
    unset = msgspec.UNSET
    assert found == {
        "GET http://h/signalr/poll?transport=longPolling&connectionToken=*&messageId=*": ("long-polling", "framework"),
        "GET http://h/signalr/start?transport=longPolling&connectionToken=*": ("request-response", unset),
        "POST http://h/echo/*/*/xhr": ("long-polling", "framework"),
        "POST http://h/echo/*/*/xhr_streaming": ("streaming", "framework"),
        "POST http://h/echo/*/*/xhr_send": ("request-response", unset),
    }


def test_decided_by_is_absent_from_the_json_when_the_figures_decided():
    c = Classifier()
    _engineio_loop(c)
    encoded = {p.transport + p.endpoint[:4]: msgspec.json.encode(p) for p in c.patterns()}
    assert b'"decided_by":"framework"' in encoded["pollingGET "]
    assert b"decided_by" not in encoded["pollingPOST"]
