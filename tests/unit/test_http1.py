"""Passive HTTP/1.1 parsing (inspector.http.http1).  Wire bytes come from h11 (an independent serialiser)."""

from __future__ import annotations

import random

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.http.http1 import (

    Http1Connection,

    HttpError,

    NotHttp,

    RequestEnd,

    RequestHead,

    ResponseBody,

    ResponseEnd,

    ResponseHead,

    Upgrade,

)


def h11_exchange(method, target, status, body=b"", chunks=None, req_body=b"", head_response=False):
    """Serialise one request and its response with h11 (client and server roles)."""
    client = h11.Connection(h11.CLIENT)
    server = h11.Connection(h11.SERVER)
    req_headers = [("Host", "example.test")]
    if req_body:
        req_headers.append(("Content-Length", str(len(req_body))))
    c = client.send(h11.Request(method=method, target=target, headers=req_headers))
    if req_body:
        c += client.send(h11.Data(data=req_body))
    c += client.send(h11.EndOfMessage())
    server.receive_data(c)
    while server.next_event() is not h11.NEED_DATA:
        pass
    if chunks is not None:
        headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "text/event-stream")]
    elif status in (204, 304) or status < 200:
        headers = []
    else:
        headers = [("Content-Length", str(len(body)))]
    s = server.send(h11.Response(status_code=status, headers=headers))
    for part in chunks or ([body] if body and method != "HEAD" else []):
        s += server.send(h11.Data(data=part))
    s += server.send(h11.EndOfMessage())
    return c, s


def run(conn, wire, rng=None, maxchunk=None):
    """Feed (direction, bytes) pieces, optionally split into random chunks; return all events."""
    events = []
    t = 0.0
    for direction, data in wire:
        i = 0
        while i < len(data):
            n = len(data) - i if rng is None else rng.randint(1, maxchunk)
            t += 0.001
            events += conn.feed(direction, data[i : i + n], t)
            i += n
    events += conn.end(t + 1)
    return events


def summary(events):
    out = []
    bodies = {}
    for e in events:
        if isinstance(e, ResponseHead):
            out.append(("response", e.request.method if e.request else None, e.request.target if e.request else None, e.status))
            bodies[id(e)] = b""
        elif isinstance(e, ResponseBody):
            bodies[id(e.response)] += e.data
        elif isinstance(e, ResponseEnd):
            out.append(("end", e.response.status, bodies[id(e.response)], e.response.complete))
    return out


def test_keep_alive_pipelined_head_204_304_chunked():
    exchanges = [
        h11_exchange("GET", "/a", 200, b"a" * 100),
        h11_exchange("HEAD", "/a", 200),
        h11_exchange("GET", "/empty", 204),
        h11_exchange("GET", "/notmod", 304),
        h11_exchange("GET", "/chunks", 200, chunks=[b"one", b"two", b"three"]),
        h11_exchange("POST", "/echo", 200, b"y" * 10, req_body=b"x" * 300),
    ]
    # HEAD's response carries Content-Length as for GET, but no body.
    exchanges[1] = (exchanges[1][0], exchanges[1][1].replace(b"HTTP/1.1 200 \r\n", b"HTTP/1.1 200 \r\nContent-Length: 100\r\n"))
    pipelined = [("client", b"".join(c for c, _ in exchanges)), ("server", b"".join(s for _, s in exchanges))]
    events = run(Http1Connection(), pipelined)
    assert summary(events) == [
        ("response", "GET", "/a", 200), ("end", 200, b"a" * 100, True),
        ("response", "HEAD", "/a", 200), ("end", 200, b"", True),
        ("response", "GET", "/empty", 204), ("end", 204, b"", True),
        ("response", "GET", "/notmod", 304), ("end", 304, b"", True),
        ("response", "GET", "/chunks", 200), ("end", 200, b"onetwothree", True),
        ("response", "POST", "/echo", 200), ("end", 200, b"y" * 10, True),
    ]
    posts = [e.request for e in events if isinstance(e, RequestEnd) and e.request.method == "POST"]
    assert posts[0].body_bytes == 300


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), maxchunk=st.integers(1, 64))
def test_any_chunking_gives_the_same_events(seed, maxchunk):
    rng = random.Random(seed)
    exchanges = [
        h11_exchange("GET", "/x", 200, chunks=[b"data: 1\n\n", b"data: 2\n\n"]),
        h11_exchange("GET", "/y", 200, b"z" * 50),
        h11_exchange("GET", "/z", 204),
    ]
    wire = []
    for c, s in exchanges:  # interleave as a keep-alive connection does
        wire += [("client", c), ("server", s)]
    expected = summary(run(Http1Connection(), wire))
    assert summary(run(Http1Connection(), wire, rng, maxchunk)) == expected
    assert len(expected) == 6


def test_interim_100_continue_is_skipped():
    c = b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    s = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    events = run(Http1Connection(), [("client", c), ("server", s)])
    heads = [e for e in events if isinstance(e, ResponseHead)]
    assert [h.status for h in heads] == [201] and heads[0].request.interim == 1


def test_close_delimited_body_ends_at_end():
    c = b"GET /old HTTP/1.0\r\n\r\n"
    s = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 1000
    events = run(Http1Connection(), [("client", c), ("server", s)])
    assert summary(events) == [("response", "GET", "/old", 200), ("end", 200, b"x" * 1000, True)]


def test_upgrade_hands_over_the_bytes_of_both_directions():
    c = (b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x85abcd")
    s = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi")
    conn = Http1Connection()
    events = conn.feed("client", c, 1.0) + conn.feed("server", s, 2.0)
    upgrade = [e for e in events if isinstance(e, Upgrade)][0]
    assert upgrade.client_data == b"\x81\x85abcd" and upgrade.server_data == b"\x81\x02hi"
    assert upgrade.request.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert conn.feed("client", b"more", 3.0) == []


def test_refused_upgrade_resumes_http_on_the_held_bytes():
    c = (b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
         b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    s = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"
    events = run(Http1Connection(), [("client", c), ("server", s)])
    assert [x[:4] for x in summary(events)] == [
        ("response", "GET", "/chat", 400), ("end", 400, b"", True),
        ("response", "GET", "/next", 200), ("end", 200, b"!", True),
    ]


def test_not_http_is_recognised_by_content():
    conn = Http1Connection()
    events = conn.feed("client", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 1.0)
    assert isinstance(events[0], NotHttp) and conn.is_http is False
    assert conn.feed("server", b"HTTP/1.1 200 OK\r\n\r\n", 2.0) == []


def test_gap_inside_content_length_body_keeps_framing():
    conn = Http1Connection()
    conn.feed("client", b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 1.0)
    events = conn.feed("server", b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 100, 2.0)
    events += conn.gap("server", 500, 2.1)
    events += conn.feed("server", b"a" * 400 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 2.2)
    ends = [e.response for e in events if isinstance(e, ResponseEnd)]
    assert [(r.request.target, r.body_bytes, r.complete) for r in ends] == [("/", 1000, False), ("/2", 2, True)]


def test_gap_in_chunked_body_resyncs_at_next_status_line():
    conn = Http1Connection()
    conn.feed("client", b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 1.0)
    events = conn.feed("server", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 2.0)
    events += conn.gap("server", 77, 2.1)
    events += conn.feed("server", b"garbage\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 2.2)
    assert [(e.response.status, e.response.complete) for e in events if isinstance(e, ResponseEnd)] == [
        (200, False), (204, True)]


def test_gap_on_client_resyncs_at_next_request_line():
    conn = Http1Connection()
    events = conn.feed("client", b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab", 1.0)
    events += conn.gap("client", 10, 1.1)
    events += conn.feed("client", b"zzzz\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", 1.2)
    heads = [e.target for e in events if isinstance(e, RequestHead)]
    assert heads == ["/a", "/b"]


def test_oversized_head_is_an_error_not_unbounded_memory():
    conn = Http1Connection(max_head=1024)
    events = conn.feed("client", b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 500, 1.0)
    assert any(isinstance(e, HttpError) for e in events)
    assert conn.client.buf == b""


def test_malformed_chunk_size_is_an_error():
    conn = Http1Connection()
    conn.feed("client", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1.0)
    events = conn.feed("server", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 2.0)
    assert any(isinstance(e, HttpError) for e in events)


def test_content_length_must_be_ascii_digits():
    conn = Http1Connection()
    conn.feed("client", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1.0)
    events = conn.feed("server", b"HTTP/1.1 200 OK\r\nContent-Length: 2\xb2\r\n\r\nab", 2.0)
    (head,) = [e for e in events if isinstance(e, ResponseHead)]
    assert head.status == 200  # no exception; an unusable length means a close-delimited body
    assert not [e for e in events if isinstance(e, ResponseEnd)]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["client", "server", "gap"]),
                          st.one_of(st.binary(max_size=64),
                                    st.sampled_from([b"GET / HTTP/1.1\r\n", b"Host: h\r\n", b"\r\n",
                                                     b"HTTP/1.1 200 OK\r\n", b"Content-Length: 5\r\n",
                                                     b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n",
                                                     b"0\r\n\r\n", b"HTTP/1.1 101 S\r\n",
                                                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"]))),
                max_size=40))
def test_arbitrary_input_never_raises(pieces):
    conn = Http1Connection(max_head=256, max_hold=256)
    conn.feed("client", b"GET / HTTP/1.1\r\n", 0.0)
    for i, (direction, data) in enumerate(pieces):
        if direction == "gap":
            conn.gap("server" if i % 2 else "client", len(data), float(i))
        else:
            conn.feed(direction, data, float(i))
        # Bounded: a head up to max_head (plus the piece that overflowed it), a resync window, a hold.
        assert len(conn.client.buf) <= 8300 + 64 and len(conn.server.buf) <= 8300 + 64
    conn.end(99.0)
