"""The classifier on synthetic exchanges and timestamps: framework rules, volatile parameters, thresholds and
bounds, decided without real peers or real time."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector import records
from inspector.analysis import Analysis, Options
from inspector.classify import Classifier, Thresholds
from inspector.errors import InputError


def _ex(
    method: str, url: str, t: float, *, status=200, hold=0.01, body=b"{}", ctype="application/json", headers=(), conn="c"
):
    return records.Exchange(
        conn=conn, method=method, url=url, status=status, content_type=ctype, ts_request=t,
        ts_response=t + hold, ts_end=t + hold, request_body_bytes=0, response_body_bytes=len(body),
        response_sha256=hashlib.sha256(body).hexdigest(), response_headers=list(headers),
    )


_urls = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda host, path, query: f"http://{host}/{path}?{query}",
        st.sampled_from(["h", "[::1", "[::1]:8080", "h:99999", "H:80", "user@h"]),
        st.text(max_size=20),
        st.text(alphabet="ab=&_t0123456789;%", max_size=30),
    ),
)


_times = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 100))


def test_volatile_and_kept_parameters():
    c = Classifier()
    for i in range(6):
        # two loops (two connections) with a shared cursor; page selects the loop
        c.add(_ex("GET", f"http://h/api?page=1&since={1000 + i}&nocache=x{i}&rid={i * 7919 % 1000:03d}", i, conn="a"))
        c.add(_ex("GET", f"http://h/api?page=2&since={1000 + i}", i + 0.5, conn="b"))
    for i in range(6):  # one connection alternating between two resources: both kept
        c.add(_ex("GET", f"http://h/item?id={1 + i % 2}", i))
    labels = sorted(p.endpoint for p in c.patterns())
    assert labels == [
        "GET http://h/api?page=1&since=*&nocache=*&rid=*",
        "GET http://h/api?page=2&since=*",
        "GET http://h/item?id=1",
        "GET http://h/item?id=2",
    ]


def test_signalr_core_transports():
    c = Classifier()
    c.add(_ex("POST", "https://h/chathub/negotiate?negotiateVersion=1", 0.0))
    t = 1.0
    for i in range(4):  # long polling: GET <hub>?id=<token>&_=<ms>, held by the server
        c.add(_ex("GET", f"https://h/chathub?id=tok123&_={1000 + i}", t, hold=2.0, body=b"x%d" % i))
        t += 2.01
    c.add(_ex("POST", "https://h/chathub?id=tok123", t))
    c.add(_ex("GET", "https://h/chathub?id=tok999", t, status=101, body=b""))
    got = {(p.endpoint, p.pattern, p.transport) for p in c.patterns() if p.framework == "signalr"}
    assert got == {
        ("POST https://h/chathub/negotiate?negotiateVersion=1", "request-response", "negotiate"),
        ("GET https://h/chathub?id=*&_=*", "long-polling", "longPolling"),
        ("POST https://h/chathub?id=*", "request-response", "send"),
        ("GET https://h/chathub?id=*", "websocket", "webSockets"),
    }


def test_signalr_classic_and_sockjs_and_subprotocols():
    c = Classifier()
    for i in range(3):
        c.add(_ex("GET", f"http://h/signalr/poll?transport=longPolling&connectionToken=abc&messageId=m{i}", i * 3.0, hold=2.9))
    for i, session in enumerate(["aaaa1111", "bbbb2222"]):
        c.add(_ex("POST", f"http://h/echo/{100 + i}/{session}/xhr_streaming", i, body=b"h\n", ctype="application/javascript"))
    c.add(_ex("GET", "http://h/cable", 0, status=101, headers=[("Sec-WebSocket-Protocol", "actioncable-v1-json")]))
    c.add(_ex("GET", "http://h/graphql", 0, status=101, headers=[("Sec-WebSocket-Protocol", "graphql-transport-ws")]))
    c.add(_ex("GET", "http://h/mqtt", 0, status=101, headers=[("Sec-WebSocket-Protocol", "mqtt")]))
    c.add(_ex("GET", "http://h/socket/websocket?vsn=2.0.0", 0, status=101))
    found = {p.endpoint: (p.framework, p.transport, p.pattern) for p in c.patterns()}
    assert found == {
        "GET http://h/signalr/poll?transport=longPolling&connectionToken=*&messageId=*": ("signalr", "longPolling", "long-polling"),
        "POST http://h/echo/*/*/xhr_streaming": ("sockjs", "xhr_streaming", "request-response"),
        "GET http://h/cable": ("actioncable", "websocket", "websocket"),
        "GET http://h/graphql": ("graphql-transport-ws", "websocket", "websocket"),
        "GET http://h/mqtt": ("mqtt", "websocket", "websocket"),
        "GET http://h/socket/websocket?vsn=2.0.0": ("phoenix", "websocket", "websocket"),
    }


def test_thresholds_are_configurable():
    exchanges = [_ex("GET", f"http://h/lp?n={i}", i * 0.81, hold=0.8, body=b"%d" % i) for i in range(5)]
    default, tuned = Classifier(), Classifier(Thresholds.from_mapping({"long-poll-hold-s": "0.5"}))
    for ex in exchanges:
        default.add(ex)
        tuned.add(ex)
    assert default.patterns()[0].pattern == "short-polling"
    assert tuned.patterns()[0].pattern == "long-polling"
    with pytest.raises(InputError, match="unknown classifier threshold 'nope'"):
        Thresholds.from_mapping({"nope": 1})
    with pytest.raises(InputError, match="needs a number"):
        Thresholds.from_mapping({"short_poll_max_cv": "high"})


def test_samples_are_bounded():
    c = Classifier(Thresholds(max_samples=50))
    for i in range(500):
        c.add(_ex("GET", f"http://h/p?_={i}", i * 1.0, body=b"same"))
    (p,) = c.patterns()
    assert p.requests == 500
    assert p.pattern == "short-polling" and p.reason.endswith("(timings from the first 50 requests)")
    assert p.efficiency["wasted_requests"] == 499
    assert p.efficiency["poll_bytes"] == 500 * len(b"same")  # the 450 unsampled requests still count


def test_endpoints_are_bounded():
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True, thresholds=Thresholds(max_endpoints=3)))
    for i in range(10):
        analysis.begin_exchange(_ex("GET", f"http://h/item/{i}", i)).end()
    analysis.finish()
    assert len([p for p in out if isinstance(p, records.Pattern)]) == 3
    (w,) = [w for w in out if isinstance(w, records.WarningRecord)]
    assert (w.name, w.count) == ("classifier-endpoints-capped", 7)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GET", "POST", "get"]), _urls, _times, _times, _times,
            st.one_of(st.none(), st.integers(0, 999)), st.one_of(st.none(), st.sampled_from(["a", "b"])),
            st.one_of(st.none(), st.integers(0, 10**6)),
            st.sampled_from([None, "text/event-stream", "application/json", "application/x-ndjson"]),
        ),
        max_size=30,
    )
)
def test_any_exchanges_classify_without_error(items):
    c = Classifier()
    for method, url, t1, t2, t3, status, sha, size, ctype in items:
        c.add(records.Exchange(
            conn=str(len(url) % 3), method=method, url=url, status=status, content_type=ctype, ts_request=t1,
            ts_response=t2, ts_end=t3, request_body_bytes=size, response_body_bytes=size, response_sha256=sha,
        ), client="10.0.0.1:5")
    patterns = c.patterns()
    assert sum(p.requests for p in patterns) == len(items)
    for p in patterns:
        for ratio in (p.changed_ratio, p.empty_ratio):
            assert ratio is None or 0 <= ratio <= 1
        for value in (p.interval_s, p.interval_cv, p.hold_s, p.repoll_gap_s, p.duration_s):
            assert value is None or math.isfinite(value)
        for value in (p.efficiency or {}).values():
            assert value is None or math.isfinite(value)


def test_streaming_needs_flow_or_a_streaming_type():
    """One late burst after an early head (a held poll) is not a stream; chunks spread over time are."""
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))

    def exchange(path, ctype, chunks, t0):
        h = analysis.begin_exchange(records.Exchange(
            conn=path, method="GET", url=f"http://h{path}", status=200, content_type=ctype, ts_request=t0,
            ts_response=t0 + 0.01, ts_end=None, request_body_bytes=0, response_body_bytes=None,
        ))
        for dt in chunks:
            h.body(b"x\n", t0 + dt)
        h.end(ts_end=t0 + chunks[-1])

    exchange("/flow", "text/plain", [0.5, 1.5, 2.5, 3.5], 0.0)  # several chunks: a stream
    exchange("/nd", "application/x-ndjson", [3.0], 0.0)  # one piece, but a streaming type
    for i in range(3):  # head at once, body in one burst 3 s later, re-polled at once: long polling
        exchange("/held", "text/plain", [3.0], i * 3.01)
    analysis.finish()
    got = {p.endpoint: (p.pattern, p.hold_s) for p in out if isinstance(p, records.Pattern)}
    assert got["GET http://h/flow"][0] == "streaming"
    assert got["GET http://h/nd"][0] == "streaming"
    assert got["GET http://h/held"] == ("long-polling", 3.0)


def test_patterns_can_be_asked_while_running():
    """The live addon reports patterns periodically: an early call must not freeze later decisions."""
    c = Classifier()
    c.add(_ex("GET", "http://h/p?_=1", 0.0, conn="k"))
    assert c.patterns()[0].pattern == "request-response"
    for i in range(1, 6):
        c.add(_ex("GET", f"http://h/p?_={1 + i}", 1.5 + i * 1.0, conn="k"))
    again = c.patterns()
    # the first request is still part of the loop: intervals 2.5, 1, 1, 1, 1
    assert [(p.pattern, p.requests, p.interval_s) for p in again] == [("short-polling", 6, 1.3)]
    assert c.patterns() == again
