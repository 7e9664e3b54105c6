"""`inspector.filter`: the one filter for human output, --jsonl and --fail-on, against the records of real
fixtures (fixtures/pcap/ws_plain.pcap: what the sender sent is in its .expected.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inspector import records
from inspector.errors import InputError
from inspector.filter import Filter, FilterSink
from inspector.analysis import Analysis
from inspector.sources.har import run as har_run
from inspector.sources.pcap import records as pcap_records

FIX = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def ws_plain():
    return pcap_records(str(FIX / "pcap" / "ws_plain.pcap"))


def _kept(recs, flt: Filter) -> list:
    out: list = []
    sink = FilterSink(out.append, flt)
    for record in recs:
        sink(record)
    return out


def test_direction_and_opcode_compose(ws_plain):
    truth = json.loads((FIX / "pcap" / "ws_plain.expected.json").read_text())
    kept = _kept(ws_plain, Filter.build(directions=["server"], opcodes=["text"], types=["message"]))
    messages = [r for r in kept if type(r) is records.Message]
    assert [m.sha256 for m in messages] == [m["sha256"] for m in truth["sent"]["server"] if m["opcode"] == "text"]
    assert {type(r) for r in kept} <= {records.Message, records.Connection}
    assert any(type(r) is records.Connection for r in kept)  # its summary still has a heading


def test_grep_over_text_and_urls(ws_plain):
    kept = _kept(ws_plain, Filter.build(grep="frag-two"))
    texts = [r.text for r in kept if type(r) is records.Message]
    assert texts and all("frag-two" in t for t in texts)
    assert _kept(ws_plain, Filter.build(grep=r"/chat$", types=["exchange"]))


def test_host_and_endpoint_learnt_from_the_handshake(ws_plain):
    url = next(r.url for r in ws_plain if type(r) is records.Exchange)
    host = re.match(r"http://([^/]+)", url).group(1)
    frames = [r for r in _kept(ws_plain, Filter.build(hosts=[host], types=["frame"])) if type(r) is records.Frame]
    assert len(frames) == sum(type(r) is records.Frame for r in ws_plain)
    assert not [r for r in _kept(ws_plain, Filter.build(hosts=["example.org"])) if getattr(r, "conn", None)]
    assert not _kept(ws_plain, Filter.build(endpoints=["/nowhere"], types=["message"]))


def test_names_match_warnings_and_findings():
    recs: list = []
    analysis = Analysis(recs.append, source="har")
    har_run(str(FIX / "har" / "synthetic-edge-cases.har"), analysis)
    analysis.finish()
    kept = _kept(recs, Filter.build(names=["har-message-time-unknown"]))
    assert kept and all(type(r) in (records.WarningRecord, records.Connection) for r in kept)


def test_parse_uses_mitmproxy_style_terms(ws_plain):
    flt = Filter.parse("~websocket ~dir client ~b 'hello again'")
    kept = [r for r in _kept(ws_plain, flt) if type(r) is records.Message]
    assert kept and all(r.direction == "client" and "hello again" in r.text for r in kept)
    with pytest.raises(InputError):
        Filter.parse("~x nothing")
    with pytest.raises(InputError):
        Filter.build(grep="(unclosed")
