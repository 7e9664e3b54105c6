"""HTTP/2 captures of real peers on 127.0.0.1, decoded by ``inspector analyze``: hypercorn serving an ASGI
app (an event stream and a polling endpoint) over TLS with ALPN h2 and over h2c (prior knowledge); httpx
with ``http2=True`` polling on the connection that carries the open event stream; tcpdump on
lo; the client's key log (``SSLContext.keylog_filename``).

Truth: what the ASGI app sent (events, bodies) and tshark with the same key log (``-Y http2``) for the
request streams and paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from helpers.offline import cli
from helpers.tls_peers import Tcpdump, make_cert

pytestmark = pytest.mark.skipif(shutil.which("tcpdump") is None or shutil.which("tshark") is None,
                                reason="needs tcpdump and tshark")

EVENTS = [{"id": str(n), "event": "tick", "data": f"h2 event {n}"} for n in range(4)]
POLLS = 5


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/events":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        for event in EVENTS:
            # one event split over two DATA frames, then a heartbeat
            text = f"id: {event['id']}\nevent: {event['event']}\ndata: {event['data']}\n\n".encode()
            await send({"type": "http.response.body", "body": text[:7], "more_body": True})
            await asyncio.sleep(0.02)
            await send({"type": "http.response.body", "body": text[7:] + b": heartbeat\n\n", "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    n = scope["query_string"].decode().partition("=")[2]
    await asyncio.sleep(0.05)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"poll": n}).encode()})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _scenario(folder: Path, tls: bool, mitm=None) -> None:
    """Serve the app with hypercorn and run the client against it; with ``mitm`` (a `helpers.mitm.Mitmdump`)
    the client goes through the proxy (TLS to mitmproxy with ALPN h2) and nothing is captured."""
    import httpx
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    port = _port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "warning"
    verify: object = False
    if tls:
        cert, key = make_cert(folder)
        config.certfile, config.keyfile = str(cert), str(key)
        ctx = ssl.create_default_context(cafile=str(mitm.ca_file if mitm is not None else cert))
        ctx.keylog_filename = str(folder / "keys.log")
        ctx.set_alpn_protocols(["h2"])
        verify = ctx
    shutdown = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
    await asyncio.sleep(0.5)
    scheme = "https" if tls else "http"
    capture = Tcpdump(folder / "capture.pcap", f"tcp port {port}") if mitm is None else contextlib.nullcontext()
    proxy = mitm.url if mitm is not None else None
    async with capture:
        async with httpx.AsyncClient(http2=True, http1=tls, verify=verify, proxy=proxy) as client:
            base = f"{scheme}://localhost:{port}" if tls else f"http://127.0.0.1:{port}"

            async def events():
                async with client.stream("GET", base + "/events", headers={"accept": "text/event-stream"}) as r:
                    assert r.http_version == "HTTP/2"
                    return b"".join([chunk async for chunk in r.aiter_bytes()])

            async def polls():
                await asyncio.sleep(0.05)
                got = []
                for n in range(POLLS):  # a polling loop, its streams interleaved with the event stream's
                    got.append(await client.get(f"{base}/poll?n={n}"))
                    await asyncio.sleep(0.1)
                assert all(r.http_version == "HTTP/2" for r in got)
                return got

            body, responses = await asyncio.gather(events(), polls())
            assert b"h2 event 3" in body and len(responses) == POLLS
    shutdown.set()
    await server


@pytest.fixture(scope="module", params=["tls", "h2c"])
def captured(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    asyncio.run(_scenario(folder, request.param == "tls"))
    return request.param, folder


def analyze(folder: Path, tls: bool) -> list[dict]:
    args = ["analyze", "--jsonl", str(folder / "capture.pcap")]
    if tls:
        args += ["--keylog", str(folder / "keys.log")]
    run = cli(*args)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def of(records, kind):
    return [r for r in records if r["type"] == kind]


def test_streams_are_exchanges_and_sse_events_are_what_the_app_sent(captured):
    kind, folder = captured
    records = analyze(folder, kind == "tls")
    exchanges = of(records, "exchange")
    assert {e["http_version"] for e in exchanges} == {"HTTP/2"}
    paths = sorted(e["url"].split("/", 3)[3] for e in exchanges)
    assert paths == ["events"] + [f"poll?n={n}" for n in range(POLLS)]
    assert len({e["conn"] for e in exchanges}) == 1  # multiplexed on one connection
    assert len({e["stream_id"] for e in exchanges}) == POLLS + 1
    assert all(e["stream_id"] % 2 == 1 for e in exchanges)
    polls = [e for e in exchanges if "/poll" in e["url"]]
    assert all(e["status"] == 200 and e["response_body_bytes"] == len(json.dumps({"poll": "0"})) for e in polls)
    assert all(e["request_header_bytes"] and e["response_header_bytes"] for e in exchanges)
    events = [{"id": e["id"], "event": e["event"], "data": e["data"]} for e in of(records, "sse_event")]
    assert events == EVENTS
    stream = of(records, "sse_stream")[0]
    assert stream["events"] == len(EVENTS) and stream["comments"] == len(EVENTS)
    conn = of(records, "connection")[0]
    assert conn["protocol"] == "sse"
    if kind == "tls":
        assert conn["tls"]["alpn"] == "h2" and conn["tls"]["decrypted"]
    assert not [w for w in of(records, "warning") if w["name"].startswith(("http2", "hpack", "tls"))]


def test_request_streams_agree_with_tshark(captured):
    kind, folder = captured
    records = analyze(folder, kind == "tls")
    args = ["tshark", "-r", str(folder / "capture.pcap"), "-Y", "http2.headers.path", "-T", "fields",
            "-e", "http2.streamid", "-e", "http2.headers.path", "-E", "occurrence=a", "-E", "aggregator=|"]
    if kind == "tls":
        args += ["-o", f"tls.keylog_file:{folder / 'keys.log'}"]
    else:
        port = of(records, "connection")[0]["server"].rpartition(":")[2]
        args += ["-d", f"tcp.port=={port},http2"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    paths, streams = [], set()
    for line in out.splitlines():
        sids, found = line.split("\t")
        paths += found.split("|")
        streams |= {int(s) for s in sids.split("|") if s}
    exchanges = of(records, "exchange")
    assert sorted("/" + e["url"].split("/", 3)[3] for e in exchanges) == sorted(paths)
    # a packet may hold several frames (tshark lists every frame's stream): ours are among them
    assert {e["stream_id"] for e in exchanges} <= streams


def test_live_addon_sees_the_same_streams_events_and_patterns(tmp_path):
    """The TLS scenario once through a real mitmdump with the addon and once captured with tcpdump and the
    key log: the same exchanges (one per stream), SSE events and patterns."""
    from helpers.mitm import Mitmdump

    offline = tmp_path / "offline"
    offline.mkdir()
    asyncio.run(_scenario(offline, True))
    captured = analyze(offline, True)
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    with Mitmdump(live_dir, mode="regular", options={"ssl_insecure": True}) as mitm:
        asyncio.run(_scenario(live_dir, True, mitm))
        live = asyncio.run(mitm.await_for(lambda r: len(of(r, "exchange")) >= POLLS + 1 and of(r, "sse_stream")))

    def exchanges(records):
        return sorted((e["method"], e["url"].split("/", 3)[3], e["status"], e["response_body_bytes"])
                      for e in of(records, "exchange"))

    def events(records):
        return [(e["id"], e["event"], e["data"]) for e in of(records, "sse_event")]

    def patterns(records):
        return sorted((p["endpoint"].split("/", 3)[-1], p["pattern"], p["requests"]) for p in of(records, "pattern"))

    assert exchanges(live) == exchanges(captured)
    assert events(live) == events(captured) == [(e["id"], e["event"], e["data"]) for e in EVENTS]
    assert {e["http_version"] for e in of(live, "exchange")} == {"HTTP/2.0"}
    final = mitm.records()  # the addon writes its patterns when mitmdump shuts down
    assert patterns(final) == patterns(captured) and patterns(captured)


def test_upgrade_h2c_from_curl(tmp_path):
    """curl --http2 on http:// asks for ``Upgrade: h2c``; hypercorn switches: the upgrading request is
    stream 1, answered over HTTP/2 (RFC 7540 3.2), and curl's later requests on the connection are
    streams 3, 5."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("needs curl")

    async def scenario():
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        port = _port()
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.loglevel = "warning"
        shutdown = asyncio.Event()
        server = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
        await asyncio.sleep(0.5)
        async with Tcpdump(tmp_path / "capture.pcap", f"tcp port {port}"):
            urls = [f"http://127.0.0.1:{port}/poll?n={n}" for n in range(3)]
            proc = await asyncio.create_subprocess_exec(curl, "-sS", "--http2", *urls,
                                                        stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
        shutdown.set()
        await server
        return out

    out = asyncio.run(scenario())
    assert out == b"".join(json.dumps({"poll": str(n)}).encode() for n in range(3))
    records = analyze(tmp_path, False)
    exchanges = sorted(of(records, "exchange"), key=lambda e: e["stream_id"])
    assert [(e["stream_id"], e["url"].rpartition("/")[2], e["status"], e["http_version"]) for e in exchanges] == [
        (1 + 2 * n, f"poll?n={n}", 200, "HTTP/2") for n in range(3)]
    assert [e["response_body_bytes"] for e in exchanges] == [len(json.dumps({"poll": str(n)})) for n in range(3)]
