"""Classifier: patterns, features, frameworks and efficiency from exchanges recorded off real peers.

The servers and clients are real (aiohttp, python-socketio on 127.0.0.1, tests/helpers/servers.py); the
server-side recorder supplies the timings, heads and bodies.  Truth comes from what the peers were told
to do (a 1.2 s hold, a body that changes every 5th request) and what the recorder saw them do, never from
our own output; no assertion depends on how fast a loaded machine runs the peers.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from itertools import pairwise

import aiohttp
import pytest

from helpers.servers import (
    Recorder,
    conditional_poll,
    RecordingProxy,
    long_poll,
    polling_app,
    push_app,
    push_client,
    serve,
    short_poll,
    sockjs_app,
    sockjs_xhr_client,
    socketio_app,
    socketio_session,
    sse_client,
    stream_client,
    ws_client,
)
from inspector import records
from inspector.analysis import Analysis, Options
from inspector.classify import Thresholds, verdict

SHORT_COUNT, SHORT_INTERVAL, CHANGE_EVERY, HOLD = 10, 0.2, 5, 1.2


def _analyse(recorder: Recorder, **options) -> list:
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True, **options))
    recorder.feed(analysis)
    analysis.finish()
    return out


def _patterns(out: list) -> dict[str, records.Pattern]:
    return {p.endpoint.split(" ", 1)[1].split("/", 3)[3]: p for p in out if isinstance(p, records.Pattern)}


# Timings of live peers on a loaded machine vary without bound, so the live tests assert no tolerance
# around a configured interval: timing features are checked against the server-side recorder's own
# timestamps (what the requests really did), and holds against the delay the server sleeps before answering.

#: rounding of the timing features (ms) plus wall-clock timestamps around a monotonic sleep
_CLOCK = 0.005


def _loop(recorded: list) -> tuple[float, float]:
    """(mean interval between request starts, requests a minute) of one serial loop, from the recorder."""
    starts = sorted(r.exchange.ts_request for r in recorded)
    span = starts[-1] - starts[0]
    return span / (len(starts) - 1), (len(starts) - 1) / span * 60


def _first_data(r) -> float:
    """When a recorded response's data started: its first body chunk, else its head (as the classifier)."""
    return (r.chunks[0][0] if r.chunks else r.exchange.ts_response) - r.exchange.ts_request


@pytest.fixture(scope="module")
def polling_run():
    """One run of every plain pattern at once: short polling, long polling, SSE, ndjson, WebSocket."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder, change_every=CHANGE_EVERY, hold=HOLD)) as base:
            results = await asyncio.gather(
                short_poll(base, count=SHORT_COUNT, interval=SHORT_INTERVAL),
                long_poll(base, count=3),
                sse_client(base, connections=2),
                stream_client(base, 1.0),
                ws_client(base, ["one", "two"]),
            )
            return base, results

    base, results = asyncio.run(scenario())
    out = _analyse(recorder, thresholds=Thresholds(streaming_body_s=0.5))
    return base, recorder, out, results


def test_short_polling(polling_run):
    base, recorder, out, _ = polling_run
    p = _patterns(out)["poll?_=*"]
    assert p.endpoint == f"GET {base}/poll?_=*"  # the cache buster is one endpoint, shown as _=*
    assert p.pattern == "short-polling"
    assert p.requests == SHORT_COUNT
    polls = [r for r in recorder.recorded if "/poll?" in r.exchange.url]
    interval, per_min = _loop(polls)
    assert p.interval_s == pytest.approx(interval, abs=1e-3)
    assert p.hold_s == pytest.approx(statistics.median(_first_data(r) for r in polls), abs=1e-3)
    # the body changes on requests 1 and 6 of 10
    assert p.changed_ratio == pytest.approx(2 / SHORT_COUNT)
    assert p.empty_ratio == 0.0
    assert p.max_concurrent == 1
    assert p.header_bytes_per_body_byte > 1
    eff = p.efficiency
    assert eff["useful"] == 2 and eff["wasted_requests"] == 8 and eff["useful_ratio"] == 0.2
    sizes = [
        r.exchange.request_header_bytes + r.exchange.response_header_bytes + r.exchange.response_body_bytes
        for r in polls
    ]
    assert eff["poll_bytes"] == sum(sizes)
    bodies = [b"".join(c for _, c in r.chunks) for r in polls]
    wasted = [size for size, body, prev in zip(sizes, bodies, [None] + bodies) if body == prev]
    assert eff["wasted_bytes"] == sum(wasted)
    assert eff["requests_per_min"] == pytest.approx(per_min, abs=0.1)
    assert eff["staleness_s"] == pytest.approx(p.interval_s / 2, abs=1e-3)
    useful_bodies = [len(b) for b, prev in zip(bodies, [None] + bodies) if b != prev]
    assert eff["sse_bytes"] > sum(useful_bodies)
    assert eff["push_bytes"] < eff["poll_bytes"] / 2
    assert eff["saving_ratio"] == pytest.approx(1 - eff["push_bytes"] / eff["poll_bytes"], abs=1e-3)
    assert verdict(p).startswith("worth replacing")


@pytest.mark.parametrize("kind", ["sse", "websocket"])
def test_push_estimate_matches_real_push(kind):
    """The efficiency report's push estimate against the bytes a real aiohttp server and client put on the
    wire (counted by a TCP proxy) delivering the same updates over one SSE stream or one WebSocket."""
    recorder = Recorder()

    async def poll():
        async with serve(polling_app(recorder, change_every=2)) as base:
            await short_poll(base, count=10, interval=0.1)

    asyncio.run(poll())
    (p,) = [p for p in _analyse(recorder) if isinstance(p, records.Pattern)]
    bodies = [b"".join(c for _, c in r.chunks) for r in sorted(recorder.recorded, key=lambda r: r.exchange.ts_request)]
    updates = [b for b, prev in zip(bodies, [None] + bodies) if b != prev]
    assert p.efficiency["useful"] == len(updates) == 5

    async def push():
        async with serve(push_app(updates)) as base:
            async with RecordingProxy(base.split("://", 1)[1]) as proxy:
                received = await push_client(f"http://{proxy.address}", "sse" if kind == "sse" else "ws")
                await asyncio.sleep(0.1)
        return received, sum(len(d) for c in proxy.connections for _, _, d in c.chunks)

    received, wire = asyncio.run(push())
    assert received >= sum(len(u) for u in updates)
    estimate = p.efficiency["sse_bytes" if kind == "sse" else "websocket_bytes"]
    assert abs(estimate - wire) / wire < 0.15, (estimate, wire)


def test_long_polling(polling_run):
    _, _, out, _ = polling_run
    p = _patterns(out)["longpoll?since=*"]  # the cursor changes each request: normalised away
    assert p.pattern == "long-polling"
    assert p.requests == 3
    assert p.hold_s >= HOLD - _CLOCK  # the server sleeps HOLD before each answer
    assert p.changed_ratio == 1.0
    assert p.efficiency["useful"] == 3 and p.efficiency["wasted_requests"] == 0
    assert p.efficiency["staleness_s"] == p.repoll_gap_s
    assert verdict(p).startswith("works: updates arrive at once")  # every answer carried an update
    assert "server held 3 of 3 requests" in p.reason


def test_sse_with_reconnect(polling_run):
    _, _, out, (_, _, seen, _, _) = polling_run
    p = _patterns(out)["events"]
    assert p.pattern == "sse" and p.requests == 2
    assert "1 resumed with Last-Event-ID" in p.reason
    assert p.repoll_gap_s >= 0.1 - _CLOCK  # the client waits 0.1 s after a stream ends
    assert re.search(r"1 reconnect\(s\) after \d+\.\d\d s", p.reason)
    assert p.efficiency is None
    assert [e["data"] for e in seen] == [e.data for e in out if isinstance(e, records.SseEvent)]


def test_streaming(polling_run):
    _, _, out, _ = polling_run
    p = _patterns(out)["stream?seconds=1.0"]
    assert p.pattern == "streaming"
    assert "keep flowing" in p.reason


def test_websocket(polling_run):
    _, _, out, (_, _, _, _, echoed) = polling_run
    assert echoed == ["one", "two"]
    p = _patterns(out)["ws"]
    assert p.pattern == "websocket" and p.requests == 1
    assert "subprotocol chat" in p.reason


@pytest.mark.parametrize(
    "path, protocol, framework",
    [
        ("/ws/cable", "actioncable-v1-json", "actioncable"),
        ("/ws/graphql", "graphql-transport-ws", "graphql-transport-ws"),
        ("/ws/subscriptions", "graphql-ws", "graphql-ws"),
        ("/ws/mqtt", "mqtt", "mqtt"),
        ("/ws/stomp", "v12.stomp", "stomp"),
        ("/ws/wamp", "wamp.2.json", "wamp"),
        ("/ws/hmr", "vite-hmr", "vite-hmr"),
    ],
)
def test_websocket_frameworks_from_the_negotiated_subprotocol(path, protocol, framework):
    """Real aiohttp handshakes: the framework comes from the subprotocol the server selected."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            return await ws_client(base, ["x"], path=path, protocol=protocol)

    assert asyncio.run(scenario()) == ["x"]
    (p,) = [p for p in _analyse(recorder) if isinstance(p, records.Pattern)]
    assert (p.pattern, p.framework, p.transport) == ("websocket", framework, "websocket")
    assert f"subprotocol {protocol}" in p.reason


def test_conditional_polling_with_304():
    """ETag polling: cheaper answers, but every 304 is still a request that brought nothing new."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder, change_every=CHANGE_EVERY)) as base:
            return await conditional_poll(base, count=SHORT_COUNT, interval=SHORT_INTERVAL)

    statuses = asyncio.run(scenario())
    assert statuses == [200, 304, 304, 304, 304, 200, 304, 304, 304, 304]
    p = _patterns(_analyse(recorder))["etag"]
    assert p.pattern == "short-polling"
    assert p.empty_ratio == 0.8 and p.efficiency["useful"] == 2 and p.efficiency["wasted_requests"] == 8
    not_modified = [r.exchange for r in recorder.recorded if r.exchange.status == 304]
    assert p.efficiency["wasted_bytes"] == sum(e.request_header_bytes + e.response_header_bytes for e in not_modified)
    assert verdict(p).startswith("worth replacing: 80% of requests brought nothing new")


def test_request_response_for_irregular_requests():
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            for pause in (0.0, 0.02, 0.4, 0.05):
                await asyncio.sleep(pause)
                await short_poll(base, count=1, interval=0.0, path="/empty")

    asyncio.run(scenario())
    p = _patterns(_analyse(recorder))["empty?_=*"]
    assert p.pattern == "request-response"
    assert p.empty_ratio == 1.0
    assert "irregular" in p.reason


def test_concurrent_long_polls_counted():
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder, hold=1.0)) as base:
            await asyncio.gather(*(long_poll(base, count=2) for _ in range(3)))

    asyncio.run(scenario())
    p = _patterns(_analyse(recorder))["longpoll?since=*"]
    assert p.max_concurrent == 3
    assert p.pattern == "long-polling" and p.requests == 6


def _socketio(transports: list[str], seconds: float) -> tuple[Recorder, dict[str, records.Pattern]]:
    recorder = Recorder()

    async def scenario():
        _, app = socketio_app(recorder, ping_interval=HOLD)
        async with serve(app) as base:
            await socketio_session(base, transports=transports, seconds=seconds)

    asyncio.run(scenario())
    out = _analyse(recorder)
    return recorder, {f"{p.endpoint.split(' ')[0]} {p.transport}": p for p in out if isinstance(p, records.Pattern)}


def test_socketio_polling_only():
    recorder, patterns = _socketio(["polling"], seconds=5 * HOLD)  # pings outnumber the immediate answers
    get, post = patterns["GET polling"], patterns["POST polling"]
    assert set(patterns) == {"GET polling", "POST polling"}
    for p in (get, post):
        assert p.framework == "socket.io"
        assert "EIO=4" in p.endpoint and "transport=polling" in p.endpoint and "sid=*" in p.endpoint
        assert p.upgrade is None
    assert get.pattern == "long-polling"
    gets = [r for r in recorder.recorded if r.exchange.method == "GET" and "/socket.io/" in r.exchange.url]
    assert get.hold_s == pytest.approx(statistics.median(_first_data(r) for r in gets), abs=1e-3)
    # every answer that is only an Engine.IO ping ("2") brought nothing new
    pings = [r for r in recorder.recorded if r.exchange.method == "GET" and b"".join(c for _, c in r.chunks) == b"2"]
    assert len(pings) >= 2 and get.efficiency["wasted_requests"] >= len(pings)
    gets = [e for e in recorder.exchanges("/socket.io/") if e.method == "GET"]
    assert get.requests == len(gets)
    assert post.pattern == "request-response"


def test_socketio_upgrade_to_websocket():
    recorder, patterns = _socketio(["polling", "websocket"], seconds=0.5)
    ws = patterns["GET websocket"]
    assert ws.pattern == "websocket" and ws.framework == "socket.io"
    assert ws.upgrade == "polling->websocket"
    assert "sid=*" in ws.endpoint
    assert patterns["GET polling"].upgrade == "polling->websocket"
    assert "upgraded polling->websocket" in ws.reason
    assert any(e.status == 101 for e in recorder.exchanges("/socket.io/"))


def test_socketio_websocket_only_is_not_an_upgrade():
    _, patterns = _socketio(["websocket"], seconds=0.2)
    assert set(patterns) == {"GET websocket"}
    assert patterns["GET websocket"].upgrade is None
    assert patterns["GET websocket"].framework == "socket.io"


@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")  # inside the sockjs package
def test_sockjs_xhr_polling():
    """A real SockJS server: the head of each xhr poll goes out at once, the body waits for data or a
    heartbeat, so the hold is measured to the first body byte."""
    recorder = Recorder()

    async def scenario():
        async with serve(sockjs_app(recorder, heartbeat=HOLD)) as base:
            return await sockjs_xhr_client(base, polls=5, messages=2)

    frames = asyncio.run(scenario())
    assert frames[0] == "o" and 'a["m0","m1"]' in frames and frames.count("h") >= 2
    found = {p.transport: p for p in _analyse(recorder) if isinstance(p, records.Pattern)}
    assert set(found) == {"info", "xhr", "xhr_send"}
    assert all(p.framework == "sockjs" for p in found.values())
    xhr = found["xhr"]
    assert xhr.endpoint.endswith("/echo/*/*/xhr")  # server and session ids normalised away
    assert xhr.pattern == "long-polling" and xhr.requests == 5
    assert xhr.efficiency["useful"] == 1  # only the a[...] frame: open and heartbeat frames carry no data
    assert verdict(xhr).startswith("worth replacing: 80% of requests brought nothing new")
    polls = [r for r in recorder.recorded if r.exchange.url.endswith("/xhr")]
    # heads really go out before the body: the heartbeat polls' bodies waited for the server's timer
    assert sum(r.chunks[0][0] > r.exchange.ts_response for r in polls if r.chunks) >= 2
    assert xhr.hold_s == pytest.approx(statistics.median(_first_data(r) for r in polls), abs=1e-3)
    assert found["xhr_send"].pattern == "request-response" and found["xhr_send"].empty_ratio == 1.0


# -- one loop over a pool of keep-alive connections vs independent pollers ---------------------------------

#: Other requests of the page (to /empty) before each poll: they take the idle connection at the head of
#: aiohttp's FIFO pool, so the poll lands on a connection that changes irregularly, as a browser's does.
POOL_SIDE_REQUESTS = [2, 1, 1, 0, 0, 0, 1, 2, 0, 1, 0, 2, 0, 2, 2]
POOL_SIZE = 3


async def _pooled_poll(base: str, *, interval: float, path: str = "/poll", polls: int | None = None) -> None:
    """A page's fetch loop on one aiohttp ClientSession whose TCPConnector pools POOL_SIZE keep-alive
    connections (opened by concurrent requests at load), polling ``path`` every ``interval`` (0: again as
    soon as the answer is in, as a long-poll loop does)."""
    connector = aiohttp.TCPConnector(limit_per_host=POOL_SIZE)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(path, **params):
            async with session.get(f"{base}{path}", params=params) as response:
                await response.read()

        await asyncio.gather(*(fetch("/empty") for _ in range(POOL_SIZE)))
        start = time.monotonic()
        for i, side in enumerate(POOL_SIDE_REQUESTS[:polls]):
            for _ in range(side):
                await fetch("/empty")
            await fetch(path, _=str(int(time.time() * 1000)))
            await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))


def _ports(recorder: Recorder, path: str) -> dict[str, int]:
    ports: dict[str, int] = {}
    for r in recorder.recorded:
        if f"/{path}?" in r.exchange.url:
            ports[r.client] = ports.get(r.client, 0) + 1
    return ports


def test_polling_over_a_pool_of_keep_alive_connections():
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            await _pooled_poll(base, interval=SHORT_INTERVAL)

    asyncio.run(scenario())
    ports = _ports(recorder, "poll")
    assert len(ports) >= 2 and all(n >= 2 for n in ports.values()), ports  # the loop really was spread
    p = _patterns(_analyse(recorder))["poll?_=*"]
    assert p.pattern == "short-polling", p.reason
    assert p.requests == len(POOL_SIDE_REQUESTS)
    # one session over all connections: the mean interval and rate of the merged loop
    interval, per_min = _loop([r for r in recorder.recorded if "/poll?" in r.exchange.url])
    assert p.interval_s == pytest.approx(interval, abs=1e-3)
    assert p.max_concurrent == 1
    assert p.efficiency["requests_per_min"] == pytest.approx(per_min, abs=0.1)


def test_independent_pollers_on_their_own_connections_stay_apart():
    """Near miss: two pollers from 127.0.0.1 at 0.3 s and 0.5 s, each on its own keep-alive connection,
    are two loops (merged they would be one irregular loop at ~0.19 s)."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            await asyncio.gather(short_poll(base, count=10, interval=0.3), short_poll(base, count=6, interval=0.5))

    asyncio.run(scenario())
    ports = _ports(recorder, "poll")
    assert sorted(ports.values()) == [6, 10]
    p = _patterns(_analyse(recorder))["poll?_=*"]
    assert p.pattern == "short-polling", p.reason
    assert p.requests == 16
    # two sessions: the mean interval over both loops' intervals, the sum of their rates
    loops = {}
    for r in recorder.recorded:
        if "/poll?" in r.exchange.url:
            loops.setdefault(r.client, []).append(r)
    spans = [_loop(rs)[0] * (len(rs) - 1) for rs in loops.values()]
    assert p.interval_s == pytest.approx(sum(spans) / 14, abs=1e-3)
    assert p.efficiency["requests_per_min"] == pytest.approx(sum(_loop(rs)[1] for rs in loops.values()), abs=0.1)


def test_long_polling_over_a_pool_of_keep_alive_connections():
    """Held polls re-polled at once, each on whichever pooled connection is idle: per connection the
    re-poll waits for other polls' holds; merged it is immediate."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder, hold=HOLD)) as base:
            await _pooled_poll(base, interval=0.0, path="/longpoll", polls=6)

    asyncio.run(scenario())
    ports = _ports(recorder, "longpoll")
    assert len(ports) >= 2 and max(ports.values()) >= 2, ports
    p = _patterns(_analyse(recorder))["longpoll?_=*"]
    assert p.pattern == "long-polling", p.reason
    assert p.requests == 6 and p.max_concurrent == 1
    assert p.hold_s >= HOLD - _CLOCK  # the server sleeps HOLD before each answer
    # merged into one loop: the re-poll gap is from one poll's end to the next poll on any connection
    polls = sorted((r.exchange for r in recorder.recorded if "/longpoll?" in r.exchange.url), key=lambda e: e.ts_request)
    gaps = [max(0.0, b.ts_request - a.ts_end) for a, b in pairwise(polls)]
    assert p.repoll_gap_s == pytest.approx(statistics.median(gaps), abs=1e-3)
