"""The HAR export (inspector.present.har_export): HAR 1.2 as Chrome DevTools writes it, read back by
inspector's HAR reader to the same exchanges, messages and events, on every fixture."""

from __future__ import annotations

import base64
import io
import json

import mitmproxy.version
import pytest

from helpers.har_rules import check_har
from helpers.offline import FIXTURES, expected
from inspector.analysis import Analysis, Options
from inspector.present.fanout import Fanout
from inspector.present.har_export import HarWriter
from inspector.records import Exchange, Message, SseEvent
from inspector.sources import open_source

_MAJOR = mitmproxy.version.VERSION.split(".")[0]
FILES = sorted(
    p for kind in ("pcap", "har", "flows") for p in (FIXTURES / kind).iterdir()
    if p.suffix in (".pcap", ".pcapng", ".har", ".zip") or (p.suffix == ".flow" and p.stem.endswith(f"-{_MAJOR}"))
)


def _run(path) -> list:
    out: list = []
    analysis = Analysis(out.append, source="test", options=Options(strict=True))
    open_source(str(path)).run(analysis)
    analysis.finish()
    return out


def export(path, tmp_path) -> tuple[list, dict, list]:
    """(records of the fixture, the HAR written from them, the records of that HAR read back)."""
    buffer = io.BytesIO()
    writer = HarWriter(buffer)
    out: list = []
    analysis = Analysis(Fanout(out.append, writer), source="test", options=Options(strict=True))
    open_source(str(path)).run(analysis)
    analysis.finish()
    writer.close()
    target = tmp_path / "out.har"
    target.write_bytes(buffer.getvalue())
    return out, json.loads(buffer.getvalue()), _run(target)


def _exchanges(records) -> list[tuple]:
    return sorted((
        (r.method, r.url, r.status, _t(r.ts_request), _t(r.ts_response), _t(r.ts_end), r.request_body_bytes,
         r.response_body_bytes, r.content_type, r.http_version or "HTTP/1.1", r.request_headers, r.response_headers)
        for r in records if type(r) is Exchange
    ), key=lambda t: (t[0], t[1], t[3].ts or 0.0))


class _t:
    """A time equal to another within 2 microseconds (startedDateTime has microseconds)."""

    def __init__(self, ts):
        self.ts = ts

    def __eq__(self, other):
        if self.ts is None or other.ts is None:
            return self.ts is other.ts
        return abs(self.ts - other.ts) <= 2e-6

    def __repr__(self):
        return repr(self.ts)


def _messages(records) -> list[tuple]:
    return [(r.direction, r.opcode_name, _t(r.ts), r.text, r.data, r.close_code, r.close_reason)
            for r in records if type(r) is Message]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_round_trip_through_the_har_reader(path, tmp_path):
    original, har, again = export(path, tmp_path)
    check_har(har)
    assert _exchanges(again) == _exchanges(original)
    previews = {(m.direction, m.ts) for m in original if type(m) is Message and m.truncated}
    read = [m for m in again if type(m) is Message]
    assert len(read) == len([m for m in original if type(m) is Message])
    assert _messages(m for m in read if (m.direction, m.ts) not in previews) == _messages(
        m for m in original if type(m) is Message and not m.truncated)
    for m in read:  # a payload longer than the records keep comes back as its preview
        if (m.direction, m.ts) in previews:
            assert m.length <= 256
    assert [(e.event, e.data, e.id, _t(e.ts)) for e in again if type(e) is SseEvent] == [
        (e.event, e.data, e.id, _t(e.ts)) for e in original if type(e) is SseEvent]


def test_websocket_entry_as_chrome_writes_it(tmp_path):
    """The fixture Chrome DevTools wrote: our _webSocketMessages equal Chrome's, item by item."""
    path = FIXTURES / "har" / "chromium-devtools.har"
    chrome = [e for e in json.loads(path.read_text())["log"]["entries"] if e.get("_resourceType") == "websocket"]
    _, har, _ = export(path, tmp_path)
    ours = [e for e in har["log"]["entries"] if e.get("_resourceType") == "websocket"]
    assert len(ours) == len(chrome) == 1
    for mine, theirs in zip(ours[0]["_webSocketMessages"], chrome[0]["_webSocketMessages"]):
        assert mine.keys() == theirs.keys()
        assert (mine["type"], mine["opcode"], mine["data"]) == (theirs["type"], theirs["opcode"], theirs["data"])
        assert abs(mine["time"] - theirs["time"]) < 1e-6
    assert ours[0]["request"]["url"] == chrome[0]["request"]["url"]
    assert ours[0]["response"]["status"] == 101


def test_sse_body_is_the_events_the_server_sent(tmp_path):
    path = FIXTURES / "pcap" / "sse.pcap"
    _, har, _ = export(path, tmp_path)
    (entry,) = har["log"]["entries"]
    truth = expected(path)["events"]
    assert [(m["eventName"], m["data"], m["eventId"]) for m in entry["_eventSourceMessages"]] == [
        (t["event"], t["data"], t["id"]) for t in truth]
    assert entry["response"]["content"]["mimeType"].startswith("text/event-stream")
    for t in truth:
        assert "\n".join("data: " + line for line in t["data"].split("\n")) in entry["response"]["content"]["text"]


def test_binary_payloads_are_base64(tmp_path):
    path = FIXTURES / "pcap" / "ws_plain.pcap"
    _, har, _ = export(path, tmp_path)
    messages = har["log"]["entries"][0]["_webSocketMessages"]
    sent = [m for m in expected(path)["sent"]["client"] if m["opcode"] == "binary"]
    binary = [m for m in messages if m["type"] == "send" and m["opcode"] == 2]
    assert len(binary) == len(sent)
    assert base64.b64decode(binary[1]["data"]) == bytes(range(5))  # the 5-byte message, sent whole
    assert "payloads are previews" in har["log"]["comment"]
