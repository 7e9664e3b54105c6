"""Classifier decisions on synthetic exchanges with fixed timestamps.

Every scenario is built here from `records.Exchange` records with chosen times and sizes, so the
expected features (interval, hold, re-poll gap, changed ratio) and efficiency figures are exact and
computed by hand from the scenario itself, never from the classifier's own output.
"""

from __future__ import annotations

import hashlib

import pytest

from inspector.classify import Classifier, Thresholds, verdict
from inspector.errors import InputError
from inspector.records import Exchange, Pattern

REQUEST_HEAD = 100  # request head bytes of every synthetic exchange
RESPONSE_HEAD = 80  # response head bytes


def exchange(
    url: str,
    start: float,
    *,
    conn: str = "c1",
    hold: float = 0.05,
    flow: float = 0.0,
    status: int = 200,
    body: bytes = b"{}",
    ctype: str | None = "application/json",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
) -> Exchange:
    """A request at ``start`` answered ``hold`` s later, its body flowing ``flow`` s more."""
    return Exchange(
        conn=conn,
        method=method,
        url=url,
        status=status,
        content_type=ctype,
        ts_request=start,
        ts_response=start + hold,
        ts_end=start + hold + flow,
        request_body_bytes=0,
        response_body_bytes=len(body),
        request_header_bytes=REQUEST_HEAD,
        response_header_bytes=RESPONSE_HEAD,
        response_sha256=hashlib.sha256(body).hexdigest(),
        response_headers=headers or [],
    )


def classify(*exchanges: Exchange, thresholds: Thresholds | None = None, **facts) -> dict[str, Pattern]:
    c = Classifier(thresholds)
    for ex in exchanges:
        c.add(ex, **facts)
    return {p.endpoint: p for p in c.patterns()}


def only(patterns: dict[str, Pattern]) -> Pattern:
    assert len(patterns) == 1, list(patterns)
    return next(iter(patterns.values()))


# -- short polling ---------------------------------------------------------------------------------------

#: ten polls, one a second; the body changes at polls 0, 3 and 7 (three updates)
SHORT_BODIES = [b'{"v":1}'] * 3 + [b'{"v":22}'] * 4 + [b'{"v":333}'] * 3


def short_poll() -> list[Exchange]:
    return [exchange(f"http://h/poll?t={i}", float(i), body=b) for i, b in enumerate(SHORT_BODIES)]


def test_short_polling_every_second():
    p = only(classify(*short_poll()))
    assert p.endpoint == "GET http://h/poll?t=*"  # the cache buster is volatile: one endpoint
    assert p.pattern == "short-polling"
    assert p.requests == 10
    assert p.interval_s == 1.0
    assert p.interval_cv == 0.0
    assert p.hold_s == 0.05
    assert p.repoll_gap_s == 0.95
    assert p.changed_ratio == 0.3
    assert p.empty_ratio == 0.0
    assert p.max_concurrent == 1
    assert p.duration_s == 9.05
    assert p.framework is None and p.transport is None


def test_short_polling_with_empty_answers():
    statuses = [204, 204, 200, 204, 204, 204]
    exchanges = [
        exchange("http://h/updates", float(i), status=s, body=b"" if s == 204 else b"news")
        for i, s in enumerate(statuses)
    ]
    p = only(classify(*exchanges))
    assert p.pattern == "short-polling" and p.interval_s == 1.0
    assert p.empty_ratio == round(5 / 6, 3)
    assert p.efficiency["useful"] == 1 and p.efficiency["wasted_requests"] == 5


def test_short_polling_efficiency_by_hand():
    p = only(classify(*short_poll()))
    eff = p.efficiency
    sizes = [REQUEST_HEAD + RESPONSE_HEAD + len(b) for b in SHORT_BODIES]
    useful = [SHORT_BODIES[i] for i in (0, 3, 7)]  # the polls whose body changed
    wasted = [sizes[i] for i in range(10) if i not in (0, 3, 7)]

    def sse_event(n: int) -> int:  # "data: " + payload + "\n\n" as one HTTP/1.1 chunk
        size = n + 8
        return size + len(f"{size:x}") + 4

    sse_bytes = REQUEST_HEAD + RESPONSE_HEAD + sum(sse_event(len(b)) for b in useful)
    ws_bytes = REQUEST_HEAD + 105 + 129 + sum(len(b) + 2 for b in useful)
    push = min(sse_bytes, ws_bytes)
    assert eff == {
        "requests_per_min": 60.0,  # 9 intervals over 9 s
        "useful": 3,
        "useful_ratio": 0.3,
        "wasted_requests": 7,
        "wasted_bytes": sum(wasted),
        "poll_bytes": sum(sizes),
        "staleness_s": 0.5,  # half the interval
        "sse_bytes": sse_bytes,
        "websocket_bytes": ws_bytes,
        "push_bytes": push,
        "saving_bytes": sum(sizes) - push,
        "saving_ratio": round((sum(sizes) - push) / sum(sizes), 3),
    }
    assert verdict(p).startswith("worth replacing: 70% of requests brought nothing new")


def test_irregular_requests_are_not_polling():
    starts = [0.0, 0.1, 5.0, 5.2, 30.0]
    p = only(classify(*(exchange("http://h/api", s) for s in starts)))
    assert p.pattern == "request-response"
    assert "irregular intervals" in p.reason
    assert p.efficiency is None


# -- long polling ----------------------------------------------------------------------------------------

HOLD = 25.0
REPOLL = 0.02


def long_poll(n: int = 4) -> list[Exchange]:
    """Each request held 25 s until data arrives, the next one sent 0.02 s after the answer."""
    return [
        exchange(f"http://h/lp?cursor={i}", i * (HOLD + REPOLL), hold=HOLD, body=f'{{"n":{i}}}'.encode())
        for i in range(n)
    ]


def test_long_polling_held_until_data():
    p = only(classify(*long_poll()))
    assert p.endpoint == "GET http://h/lp?cursor=*"  # a numeric cursor new on every request
    assert p.pattern == "long-polling"
    assert p.requests == 4
    assert p.hold_s == HOLD
    assert p.repoll_gap_s == REPOLL
    assert p.changed_ratio == 1.0
    assert p.efficiency["staleness_s"] == REPOLL
    assert p.efficiency["useful"] == 4 and p.efficiency["wasted_requests"] == 0
    assert verdict(p).startswith("works: updates arrive at once")


def test_hold_below_the_threshold_is_not_long_polling():
    t = Thresholds.from_mapping({"long_poll_hold_s": "30"})
    p = only(classify(*long_poll(), thresholds=t))
    assert p.pattern != "long-polling"
    assert p.hold_s == HOLD  # the features do not depend on the thresholds


def test_slow_repoll_after_held_requests_is_not_long_polling():
    exchanges = [exchange("http://h/lp", i * (HOLD + 10.0), hold=HOLD, body=bytes([65 + i])) for i in range(4)]
    p = only(classify(*exchanges))
    assert p.pattern == "request-response"
    assert p.repoll_gap_s == 10.0
    assert "re-polled only after 10.00 s" in p.reason


def test_threshold_overrides_are_checked():
    with pytest.raises(InputError, match="unknown classifier threshold"):
        Thresholds.from_mapping({"no_such_threshold": 1})
    with pytest.raises(InputError, match="needs a number"):
        Thresholds.from_mapping({"long_poll_hold_s": "soon"})
    assert Thresholds.from_mapping({"short-poll-min-requests": "5"}).short_poll_min_requests == 5


# -- push and streams ------------------------------------------------------------------------------------


def test_event_stream_is_sse():
    first = exchange("http://h/events", 0.0, hold=0.01, flow=60.0, ctype="text/event-stream", body=b"data: 1\n\n")
    again = exchange("http://h/events", 63.01, hold=0.01, flow=60.0, ctype="text/event-stream; charset=utf-8")
    p = only(classify(first, again))
    assert p.pattern == "sse"
    assert p.requests == 2
    assert p.repoll_gap_s == 3.0
    assert "2 stream(s), 1 reconnect(s) after 3.00 s" in p.reason
    assert p.efficiency is None


def test_101_is_websocket_with_its_subprotocol_framework():
    ws = exchange(
        "ws://h/graphql", 0.0, status=101, body=b"", ctype=None,
        headers=[("Sec-WebSocket-Protocol", "graphql-transport-ws")],
    )
    p = only(classify(ws))
    assert p.pattern == "websocket"
    assert p.framework == "graphql-transport-ws" and p.transport == "websocket"
    assert "1 upgrade(s) answered 101" in p.reason


def test_websocket_without_handshake():
    c = Classifier()
    c.add_websocket("ws://h/live", "c9", ts=5.0)
    (p,) = c.patterns()
    assert p.pattern == "websocket" and p.requests == 1
    assert "1 without a 101" in p.reason


def test_chunked_stream_without_content_length():
    ex = exchange("http://h/feed", 0.0, hold=0.1, flow=10.0, body=b"x" * 600)
    p = only(classify(ex, ts_body=0.1, ts_body_last=10.1))
    assert p.pattern == "streaming"
    assert "keep flowing for 10.00 s" in p.reason


def test_ndjson_body_in_one_piece_is_a_stream():
    ex = exchange("http://h/feed", 0.0, hold=0.1, flow=5.0, ctype="application/x-ndjson", body=b"{}\n" * 50)
    assert only(classify(ex)).pattern == "streaming"


def test_slow_download_with_content_length_is_not_a_stream():
    ex = exchange("http://h/file", 0.0, hold=0.1, flow=10.0, body=b"x" * 600, headers=[("Content-Length", "600")])
    p = only(classify(ex, ts_body=0.1, ts_body_last=10.1))
    assert p.pattern == "request-response"


def test_one_off_request_response():
    p = only(classify(exchange("http://h/api/user?id=7", 0.0)))
    assert p.endpoint == "GET http://h/api/user?id=7"
    assert p.pattern == "request-response"
    assert p.reason == "1 request(s), no repeated requests in one session"
    assert p.interval_s is None and p.efficiency is None


# -- sessions --------------------------------------------------------------------------------------------

#: a one-second loop whose requests take whichever of three keep-alive connections is idle
POOL = ["c1", "c1", "c2", "c2", "c3", "c1", "c3", "c3", "c2"]


def test_loop_spread_over_pooled_keep_alive_connections():
    c = Classifier()
    for i, conn in enumerate(POOL):
        port = 50000 + int(conn[1])
        c.add(exchange("http://h/poll", float(i), conn=conn, body=bytes([i])), client=f"10.0.0.1:{port}")
    (p,) = c.patterns()
    assert p.pattern == "short-polling"  # per connection the intervals are 1-5 s apart: irregular
    assert p.requests == 9
    assert p.interval_s == 1.0 and p.interval_cv == 0.0
    assert p.efficiency["requests_per_min"] == 60.0  # one session, not three


def test_independent_pollers_from_one_address_stay_apart():
    c = Classifier()
    for i in range(5):
        c.add(exchange("http://h/poll", float(i), conn="c1", body=bytes([i])), client="10.0.0.1:50001")
        c.add(exchange("http://h/poll", i + 0.3, conn="c2", body=bytes([i])), client="10.0.0.1:50002")
    (p,) = c.patterns()
    assert p.pattern == "short-polling"
    assert p.interval_s == 1.0  # each connection's own loop, not the merged 0.3/0.7 s
    assert p.efficiency["requests_per_min"] == 120.0  # two loops of 60 a minute


# -- frameworks ------------------------------------------------------------------------------------------


def test_socketio_polling_upgraded_to_websocket():
    base = "http://h/socket.io/?EIO=4&transport=polling"
    polls = [exchange(f"{base}&t=N{i}&sid=abc", i * 0.5, hold=0.01, body=b"2") for i in range(4)]
    send = exchange(f"{base}&t=P1&sid=abc", 0.2, method="POST", body=b"ok")
    ws = exchange("ws://h/socket.io/?EIO=4&transport=websocket&sid=abc", 2.5, status=101, body=b"", ctype=None)
    patterns = classify(*polls, send, ws)
    poll = patterns["GET http://h/socket.io/?EIO=4&transport=polling&t=*&sid=*"]
    assert poll.framework == "socket.io" and poll.transport == "polling"
    assert poll.upgrade == "polling->websocket"
    assert poll.efficiency["useful"] == 0  # Engine.IO pings are keep-alives, not data
    post = patterns["POST http://h/socket.io/?EIO=4&transport=polling&t=*&sid=*"]
    assert post.pattern == "request-response" and post.framework == "socket.io"
    upgrade = patterns["GET ws://h/socket.io/?EIO=4&transport=websocket&sid=*"]
    assert upgrade.pattern == "websocket" and upgrade.transport == "websocket"
    assert upgrade.upgrade == "polling->websocket"
    assert "Engine.IO v4" in upgrade.reason


def test_sockjs_session_urls():
    info = exchange("http://h/echo/info?t=1", 0.0)
    xhr = [
        exchange(f"http://h/echo/123/s{s}ession/xhr", 0.1 + i * (HOLD + REPOLL), hold=HOLD, method="POST",
                 body=b'a["x"]\n')
        for i, s in enumerate("abc")
    ]
    send = exchange("http://h/echo/123/saession/xhr_send", 1.0, method="POST", status=204, body=b"")
    patterns = classify(info, *xhr, send)
    assert set(patterns) == {
        "GET http://h/echo/info?t=*", "POST http://h/echo/*/*/xhr", "POST http://h/echo/*/*/xhr_send",
    }
    assert {p.framework for p in patterns.values()} == {"sockjs"}
    assert patterns["GET http://h/echo/info?t=*"].transport == "info"
    xhr_p = patterns["POST http://h/echo/*/*/xhr"]
    assert xhr_p.transport == "xhr" and xhr_p.requests == 3
    assert patterns["POST http://h/echo/*/*/xhr_send"].pattern == "request-response"


def test_signalr_core_negotiate_then_websocket():
    negotiate = exchange("http://h/chat/negotiate?negotiateVersion=1", 0.0, method="POST")
    ws = exchange("ws://h/chat?id=Xy12", 0.1, status=101, body=b"", ctype=None)
    patterns = classify(negotiate, ws)
    neg = patterns["POST http://h/chat/negotiate?negotiateVersion=1"]
    assert neg.framework == "signalr" and neg.transport == "negotiate"
    hub = patterns["GET ws://h/chat?id=*"]  # the connection id is a session id, not part of the key
    assert hub.framework == "signalr" and hub.pattern == "websocket" and hub.transport == "webSockets"


def test_signalr_classic_long_polling():
    exchanges = [
        exchange(f"http://h/signalr/poll?transport=longPolling&connectionToken=tok&messageId={i}",
                 i * (HOLD + REPOLL), hold=HOLD, body=f"m{i}".encode())
        for i in range(3)
    ]
    p = only(classify(*exchanges))
    assert p.endpoint == "GET http://h/signalr/poll?transport=longPolling&connectionToken=*&messageId=*"
    assert p.pattern == "long-polling"
    assert p.framework == "signalr" and p.transport == "longPolling"


def test_pusher_websocket():
    ws = exchange("wss://ws.example/app/KEY1?protocol=7&client=js&version=8.3.0", 0.0, status=101, body=b"")
    p = only(classify(ws))
    assert p.framework == "pusher" and p.pattern == "websocket"


def test_no_framework_for_a_plain_api():
    exchanges = [exchange("http://h/api/poll", float(i)) for i in range(3)]
    assert only(classify(*exchanges)).framework is None
