"""`inspector analyze --perfetto --har` and `inspector report` as a user runs them (subprocess): the
files are written next to the normal output, the JSON Lines round trip, bad paths are one line and exit 2."""

from __future__ import annotations

import json

from helpers.har_rules import check_har
from helpers.offline import FIXTURES, cli, expected
from helpers.trace_format import check_trace


def test_analyze_writes_both_exports_and_the_summary(tmp_path):
    path = FIXTURES / "pcap" / "ws_plain.pcap"
    trace, har = tmp_path / "t.json", tmp_path / "o.har"
    run = cli("analyze", str(path), "--perfetto", str(trace), "--har", str(har))
    assert run.returncode == 0, run.stderr
    assert "websocket" in run.stdout  # the human summary is still written
    events = check_trace(json.loads(trace.read_text()))
    truth = expected(path)["sent"]
    assert sum(1 for e in events if e["ph"] == "i" and e["tid"] == 1) == len(truth["client"])
    document = json.loads(har.read_text())
    check_har(document)
    sent = [m for m in document["log"]["entries"][0]["_webSocketMessages"] if m["type"] == "send"]
    assert [m["opcode"] for m in sent] == [{"text": 1, "binary": 2, "ping": 9, "close": 8}[m["opcode"]]
                                           for m in truth["client"]]


def test_jsonl_re_renders_like_the_capture(tmp_path):
    path = FIXTURES / "pcap" / "polling.pcap"
    records = tmp_path / "records.jsonl"
    first = cli("analyze", "--jsonl", "-o", str(records), str(path))
    assert first.returncode == 0, first.stderr
    again = cli("analyze", "--jsonl", str(records))
    assert again.stdout.encode() == records.read_bytes()
    assert cli("analyze", str(records)).stdout == cli("analyze", str(path)).stdout


def test_report_accepts_perfetto_and_several_inputs(tmp_path):
    html, trace = tmp_path / "r.html", tmp_path / "t.json"
    run = cli("report", str(FIXTURES / "pcap" / "sse.pcap"), str(FIXTURES / "pcap" / "ws_plain.pcap"),
              "-o", str(html), "--perfetto", str(trace))
    assert run.returncode == 0, run.stderr
    text = html.read_text()
    assert text.startswith("<!doctype html>") and "1:c1" in text and "2:c1" in text
    names = {e["args"]["name"].split()[0] for e in check_trace(json.loads(trace.read_text()))
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {"1:c1", "2:c1"}


def test_unwritable_paths_are_one_line(tmp_path):
    fixture = str(FIXTURES / "pcap" / "ws_plain.pcap")
    for args in (("analyze", fixture, "--har", str(tmp_path / "no" / "o.har")),
                 ("report", fixture, "-o", str(tmp_path / "no" / "r.html"))):
        run = cli(*args)
        assert run.returncode == 2
        assert run.stderr.startswith("inspector: ") and run.stderr.count("\n") == 1, run.stderr
