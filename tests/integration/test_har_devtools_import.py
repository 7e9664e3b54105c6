"""Our HAR export imported by Chrome DevTools' own HAR importer (the code behind Network panel > "Import
HAR file"), in the DevTools front-end of a real headless Chromium: every exchange becomes a request with
its status, a WebSocket's messages become its frames, an event stream is an eventsource request."""

from __future__ import annotations

import base64
import json
import time

import pytest

from helpers.browser import Browser, chromium
from helpers.offline import FIXTURES, cli
from inspector.analysis import Analysis, Options
from inspector.records import Exchange, Message
from inspector.sources import open_source

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed")

_READY = ("(async () => { const SDK = await import('./core/sdk/sdk.js');"
          " return SDK.TargetManager.TargetManager.instance().targets().length > 0; })()")
_IMPORT = """(async () => {
  const HAR = await import('./models/har/har.js');
  const root = new HAR.HARFormat.HARRoot(JSON.parse(%s));
  return HAR.Importer.Importer.requestsFromHARLog(root.log).map((r) => ({
    url: r.url(), type: r.resourceType().name(), status: r.statusCode,
    frames: r.frames().map((f) => ({type: f.type, text: f.text, opCode: f.opCode, time: f.time}))}));
})()"""


@pytest.fixture(scope="module")
def devtools():
    with Browser(flags=("--auto-open-devtools-for-tabs",), target="devtools") as b:
        deadline = time.monotonic() + 60
        while True:
            try:
                if b.evaluate(_READY):
                    break
            except RuntimeError:
                pass  # the front-end's modules are still loading
            assert time.monotonic() < deadline, "the DevTools front-end did not start"
            time.sleep(0.2)
        yield b


FILES = [FIXTURES / "har" / "chromium-devtools.har", FIXTURES / "pcap" / "ws_plain.pcap",
         FIXTURES / "pcap" / "sse.pcap", FIXTURES / "pcap" / "polling.pcap"]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_devtools_imports_the_export(devtools, tmp_path, path):
    target = tmp_path / "out.har"
    run = cli("analyze", str(path), "--har", str(target))
    assert run.returncode == 0, run.stderr
    requests = devtools.evaluate(_IMPORT % json.dumps(target.read_text()))
    records: list = []
    analysis = Analysis(records.append, source="test", options=Options())
    open_source(str(path)).run(analysis)
    analysis.finish()
    exchanges = [r for r in records if isinstance(r, Exchange)]
    assert sorted((r["url"], r["status"]) for r in requests) == sorted((e.url, e.status) for e in exchanges)
    sockets = [r for r in requests if r["type"] == "websocket"]
    messages = [m for m in records if isinstance(m, Message)]
    assert len(sockets) == (1 if messages else 0)
    if messages:
        frames = sockets[0]["frames"]
        assert [f["type"] for f in frames] == [("send", "receive")[m.direction == "server"] for m in messages]
        for frame, m in zip(frames, messages):
            assert abs(frame["time"] - m.ts) < 1e-6
            if m.opcode_name == "text":
                assert (frame["opCode"], frame["text"]) == (1, m.text)
            elif m.opcode_name == "binary":
                assert (frame["opCode"], base64.b64decode(frame["text"]).hex()) == (2, m.data)
    streams = [e for e in exchanges if (e.content_type or "").startswith("text/event-stream")]
    assert sum(r["type"] == "eventsource" for r in requests) == len(streams)
