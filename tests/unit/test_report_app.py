"""The HTML report's "Application layer" section: Socket.IO events by name with counts, ack latency
percentiles and unanswered acks, from records the pipeline makes of synthetic messages (no browser)."""

from __future__ import annotations

import html as htmllib
import io

from inspector.analysis import Analysis, Options
from inspector.present.report import ReportBuilder

EIO = "http://h/socket.io/?EIO=4&transport=polling"


def _poll(analysis, method, url, t, conn, request, response):
    from inspector import records

    analysis.connection(conn, "127.0.0.1:1", "127.0.0.1:80", t)
    handle = analysis.begin_exchange(records.Exchange(
        conn=conn, method=method, url=url, status=200, content_type="text/plain", ts_request=t, ts_response=t + 0.01,
        ts_end=t + 0.01, request_body_bytes=None, response_body_bytes=None))
    handle.request_body(request, t)
    handle.body(response, t + 0.01)
    handle.end()
    analysis.connection_end(conn, t + 0.01)


def test_socketio_events_acks_and_unanswered_acks_in_the_report():
    builder = ReportBuilder()
    analysis = Analysis(builder, source="pcap", options=Options(strict=True))
    _poll(analysis, "POST", f"{EIO}&sid=S", 1.0, "c1", b'421["chat","a"]\x1e422["chat","b"]\x1e423["<b>x</b>"]', b"ok")
    _poll(analysis, "GET", f"{EIO}&sid=S", 1.0, "c2", b"", b'431[1]\x1e432[2]')
    analysis.finish()
    out = io.StringIO()
    builder.write(out)
    html = out.getvalue()
    section = html.split('<section id="app">', 1)[1].split("</section>", 1)[0]
    assert "<b>" not in section  # untrusted names stay text
    text = htmllib.unescape(section)
    assert 'event "chat" x2' in text and "ack x2" in text
    assert 'event "chat": 2 (2 ok), latency p50 10.0 ms' in text
    assert 'event "<b>x</b>": 1 (1 never answered)' in text
