"""Request bodies to the application layer: `ExchangeHandle.request_body` (JSON-RPC calls over HTTP,
Socket.IO packets in polling POSTs), the operations they start, and the sources that feed them (pcap's
HTTP/1 parser, HAR ``postData``), on synthetic input with synthetic timestamps."""

from __future__ import annotations

import json

import msgspec

from inspector import records
from inspector.analysis import Analysis, Options
from inspector.app.exchanges import MAX_SESSIONS, HttpApp
from inspector.http.http1 import Http1Connection, RequestHead
from inspector.sources import open_source

EIO = "http://h/socket.io/?EIO=4&transport=polling"


def _exchange(method: str, url: str, t: float, conn: str, *, ctype: str | None, req_ctype: str | None = None,
              hold: float = 0.01) -> records.Exchange:
    headers = [("Content-Type", req_ctype)] if req_ctype else []
    return records.Exchange(conn=conn, method=method, url=url, status=200, content_type=ctype, ts_request=t,
                            ts_response=t + hold, ts_end=t + hold, request_body_bytes=None,
                            response_body_bytes=None, request_headers=headers)


def _poll(analysis: Analysis, method: str, url: str, t: float, conn: str, request: bytes, response: bytes,
          hold: float = 0.01) -> None:
    analysis.connection(conn, f"127.0.0.1:{1000 + len(conn)}", "127.0.0.1:80", t)
    handle = analysis.begin_exchange(_exchange(method, url, t, conn, ctype="text/plain; charset=UTF-8",
                                               req_ctype="text/plain;charset=UTF-8", hold=hold))
    handle.request_body(request, t)
    handle.body(response, t + hold)
    handle.end()
    analysis.connection_end(conn, t + hold)


def test_jsonrpc_over_http_calls_answers_and_operations():
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    call = {"jsonrpc": "2.0", "method": "sum", "params": [1, 2], "id": 7}
    batch = [{"jsonrpc": "2.0", "method": "a", "id": "x"}, {"jsonrpc": "2.0", "method": "b", "id": "y"},
             {"jsonrpc": "2.0", "method": "note"}]
    answers = {json.dumps(call): {"jsonrpc": "2.0", "result": 3, "id": 7},
               json.dumps(batch): [{"jsonrpc": "2.0", "error": {"code": -1, "message": "no a"}, "id": "x"}]}
    for i, (request, response) in enumerate(answers.items()):
        handle = analysis.begin_exchange(_exchange("POST", "http://h/rpc", 10.0 * i, f"c{i}",
                                                   ctype="application/json", req_ctype="application/json"))
        handle.request_body(request.encode()[:5], 10.0 * i)  # any chunking
        handle.request_body(request.encode()[5:], 10.0 * i)
        handle.body(json.dumps(response).encode(), 10.0 * i + 0.25)
        handle.end()
    analysis.finish()
    exchanges = [r for r in out if type(r) is records.Exchange]
    assert (exchanges[0].request_app.kind, exchanges[0].request_app.name, exchanges[0].request_app.id) == (
        "request", "sum", "7")
    assert exchanges[0].request_app.args == [1, 2] and exchanges[0].app.kind == "result"
    assert [(m.kind, m.name) for m in exchanges[1].request_app.packets] == [
        ("request", "a"), ("request", "b"), ("notification", "note")]
    ops = [(o.conn, o.kind, o.name, o.id, o.outcome, o.latency_s, o.error) for o in out if type(o) is records.Operation]
    assert ops == [("c0", "call", "sum", "7", "ok", 0.25, None), ("c1", "call", "a", "x", "error", 0.25, "no a"),
                   ("c1", "call", "b", "y", "never answered", None, None)]
    # each operation follows the exchange that ended it
    kinds = [type(r).__name__ for r in out if type(r) in (records.Exchange, records.Operation)]
    assert kinds == ["Exchange", "Operation", "Exchange", "Operation", "Operation"]


def test_socketio_over_polling_one_session_across_connections():
    """Each request on its own connection: the emits of POST bodies end with acks in later GET responses."""
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    _poll(analysis, "GET", f"{EIO}&t=a", 1.0, "c1", b"", b'0{"sid":"S","pingInterval":1000}')
    _poll(analysis, "POST", f"{EIO}&t=b&sid=S", 1.1, "c2", b"40", b"ok")
    _poll(analysis, "GET", f"{EIO}&t=c&sid=S", 1.15, "c3", b"", b'40{"sid":"n"}', hold=0.05)
    _poll(analysis, "POST", f"{EIO}&t=d&sid=S", 2.0, "c4", b'420["chat","hi"]\x1e421["lost"]', b"ok")
    _poll(analysis, "GET", f"{EIO}&t=e&sid=S", 2.1, "c5", b"", b'430[{"seen":"hi"}]\x1e2', hold=0.4)
    _poll(analysis, "POST", f"{EIO}&t=f&sid=OTHER", 2.2, "c6", b'425["elsewhere"]', b"ok")
    analysis.finish()
    posts = [r for r in out if type(r) is records.Exchange and r.method == "POST"]
    sent = [[(p.protocol, p.kind, p.name, p.id) for p in post.request_app.packets] for post in posts]
    assert sent == [[("socket.io", "connect", None, None)],
                    [("socket.io", "event", "chat", "0"), ("socket.io", "event", "lost", "1")],
                    [("socket.io", "event", "elsewhere", "5")]]
    assert all(p.app is msgspec.UNSET for p in posts)  # a POST's answer "ok" is not a payload
    ops = [(o.conn, o.kind, o.name, o.outcome, o.latency_s) for o in out if type(o) is records.Operation]
    assert ops[:2] == [("c2", "connect", "/", "ok", 1.15 + 0.05 - 1.1), ("c4", "event", "chat", "ok", 2.5 - 2.0)]
    # never answered: at the end of the input (the latest exchange end seen)
    assert sorted(ops[2:]) == [("c4", "event", "lost", "never answered", None),
                               ("c6", "event", "elsewhere", "never answered", None)]
    assert {o.ts_end for o in out if type(o) is records.Operation and o.outcome == "never answered"} == {2.5}


def test_a_close_packet_ends_the_session_and_sessions_are_bounded():
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(strict=True))
    _poll(analysis, "POST", f"{EIO}&sid=S", 1.0, "c1", b'421["q"]', b"ok")
    _poll(analysis, "GET", f"{EIO}&sid=S", 1.1, "c2", b"", b"1")  # the server closes the session
    ops = [(o.name, o.outcome, o.ts_end) for o in out if type(o) is records.Operation]
    assert ops == [("q", "never answered", 1.11)]
    app = HttpApp()
    for i in range(MAX_SESSIONS + 5):
        app._polling(_exchange("POST", f"{EIO}&sid=s{i}", float(i), "c", ctype=None),
                     records.AppLayer(protocol="engine.io", kind="payload", packets=[]), None, None)
    assert len(app._sessions) == MAX_SESSIONS


def test_request_bodies_nobody_decodes_are_not_kept():
    analysis = Analysis([].append, source="pcap", options=Options(strict=True))
    get = analysis.begin_exchange(_exchange("GET", f"{EIO}&sid=S", 0.0, "c", ctype=None))
    upload = analysis.begin_exchange(_exchange("POST", "http://h/upload", 0.0, "c", ctype=None,
                                               req_ctype="application/octet-stream"))
    for handle in (get, upload):
        handle.request_body(b"x" * 1000, 0.0)
        assert handle._tap.request is None and handle._tap.request_bytes == 0
    rpc = analysis.begin_exchange(_exchange("POST", "http://h/rpc", 0.0, "c", ctype=None, req_ctype="application/json"))
    rpc.request_body(b'{"jsonrpc":"2.0","method":"put","params":"' + b"a" * (1 << 20) + b'"}', 0.0)
    assert len(rpc._tap.request) == 1 << 18  # capped at the application layer's cap
    layer = rpc.end().request_app
    assert (layer.protocol, layer.kind) == ("jsonrpc", "invalid") and layer.error.startswith("not JSON")
    other = analysis.begin_exchange(_exchange("POST", "http://h/api", 0.0, "c", ctype=None, req_ctype="application/json"))
    other.request_body(b'{"query": "not JSON-RPC"}', 0.0)
    assert other.end().request_app is msgspec.UNSET


def test_http1_keeps_the_start_of_request_bodies_de_chunked():
    parser = Http1Connection(keep_request_body=8)
    events = parser.feed("client", b"POST /rpc HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"5\r\n{\"a\":\r\n7\r\n1234567\r\n0\r\n\r\n", 1.0)
    (request,) = [e for e in events if type(e) is RequestHead]
    assert request.body_start == b'{"a":123' and request.body_bytes == 12
    assert Http1Connection().feed("client", b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 1.0)[0].body_start == b""


def test_har_post_data_reaches_the_app_layer(tmp_path):
    entry = {
        "startedDateTime": "2024-01-01T00:00:00.000Z", "time": 30,
        "request": {"method": "POST", "url": "http://h/rpc", "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "application/json"}], "queryString": [],
                    "cookies": [], "headersSize": -1, "bodySize": 52,
                    "postData": {"mimeType": "application/json",
                                 "text": '{"jsonrpc":"2.0","method":"ping","params":[],"id":1}'}},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [{"name": "Content-Type", "value": "application/json"}],
                     "content": {"size": 36, "mimeType": "application/json",
                                 "text": '{"jsonrpc":"2.0","result":"pong","id":1}'},
                     "redirectURL": "", "headersSize": -1, "bodySize": 36},
        "cache": {}, "timings": {"send": 0, "wait": 30, "receive": 0},
    }
    path = tmp_path / "rpc.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": [entry]}}))
    out: list = []
    analysis = Analysis(out.append, source="har", options=Options(strict=True))
    open_source(str(path)).run(analysis)
    analysis.finish()
    (ex,) = [r for r in out if type(r) is records.Exchange]
    assert (ex.request_app.kind, ex.request_app.name, ex.app.args) == ("request", "ping", "pong")
    (op,) = [r for r in out if type(r) is records.Operation]
    assert (op.kind, op.name, op.outcome) == ("call", "ping", "ok")
