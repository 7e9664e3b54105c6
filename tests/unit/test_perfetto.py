"""The Perfetto / chrome://tracing export (inspector.present.perfetto) against the Trace Event Format's
rules (tests/helpers/trace_format.py) and against what the fixtures' senders sent."""

from __future__ import annotations

import io
import json

import pytest

from helpers.offline import FIXTURES, expected
from helpers.trace_format import check_trace
from inspector.analysis import Analysis, Options
from inspector.present.fanout import Fanout
from inspector.present.perfetto import PerfettoWriter
from inspector.records import Message
from inspector.sources import open_source

FILES = sorted(p for p in (FIXTURES / "pcap").iterdir() if p.suffix in (".pcap", ".pcapng")) + sorted(
    p for p in (FIXTURES / "har").iterdir() if p.suffix in (".har", ".zip"))


def trace_of(path) -> tuple[dict, list]:
    buffer = io.BytesIO()
    writer = PerfettoWriter(buffer)
    out: list = []
    analysis = Analysis(Fanout(out.append, writer), source="test", options=Options(strict=True))
    open_source(str(path)).run(analysis)
    analysis.finish()
    writer.close()
    return json.loads(buffer.getvalue()), out


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_fixture_follows_the_format(path):
    trace, records = trace_of(path)
    events = check_trace(trace)
    timed = [r for r in records if isinstance(r, Message) and r.ts is not None]
    # one instant per message; frames add one only when they carry a violation (fixtures/pcap/violations.pcap)
    instants = [e for e in events if e["ph"] == "i" and e["tid"] in (1, 2) and not e["name"].startswith("violation: ")]
    assert len(instants) == len(timed)
    counted = sum(sum(e["args"].values()) for e in events if e["ph"] == "C")
    assert counted == len(timed)


def test_websocket_messages_are_what_the_sender_sent():
    path = FIXTURES / "pcap" / "ws_plain.pcap"
    trace, _ = trace_of(path)
    events = check_trace(trace)
    truth = expected(path)["sent"]
    for tid, direction in ((1, "client"), (2, "server")):
        marks = [e for e in events if e["ph"] == "i" and e["tid"] == tid and e["name"] in ("text", "binary")]
        sent = [m for m in truth[direction] if m["opcode"] in ("text", "binary")]
        assert [e["name"] for e in marks] == [m["opcode"] for m in sent]
        assert [e["args"]["length"] for e in marks] == [m["length"] for m in sent]
        for e, m in zip(marks, sent):
            if "text" in m:
                assert e["args"]["text"] == m["text"][:120]
    close = [e for e in events if e["ph"] == "i" and e["name"] == "close" and e["tid"] == 1]
    assert close[0]["args"]["close_code"] == truth["client"][-1]["close_code"]
    names = [e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"]
    assert names == [f"c1 websocket 127.0.0.1:{expected(path)['port']}"]


def test_sse_events_and_stream_slice():
    path = FIXTURES / "pcap" / "sse.pcap"
    trace, _ = trace_of(path)
    events = check_trace(trace)
    truth = expected(path)["events"]
    marks = [e for e in events if e["ph"] == "i" and e["cat"] == "sse"]
    assert [(e["name"], e["args"]["data"], e["args"]["id"]) for e in marks] == [
        ("sse " + t["event"], t["data"], t["id"]) for t in truth]
    streams = [e for e in events if e["ph"] == "b" and e["cat"] == "sse"]
    assert len(streams) == 1 and streams[0]["args"]["events"] == len(truth)


def test_polling_exchanges_are_async_slices():
    path = FIXTURES / "pcap" / "polling.pcap"
    trace, records = trace_of(path)
    events = check_trace(trace)
    slices = [e for e in events if e["ph"] == "b" and e["cat"] == "http"]
    assert len(slices) == sum(1 for r in records if type(r).__name__ == "Exchange")
    assert len({e["id"] for e in events if e["ph"] == "b"}) == len([e for e in events if e["ph"] == "b"])
    assert trace["otherData"]["patterns"]
