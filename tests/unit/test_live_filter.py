"""The addon's ``inspector_filter``: checked like every option, applied to what RecordOutput writes and
logs (records of fixtures/pcap/ws_plain.pcap; the truth for its messages is ws_plain.expected.json)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

from inspector.mitm.options import check
from inspector.mitm.output import RecordOutput
from inspector.present.jsonl import JsonlWriter
from inspector.sources.pcap import records

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "pcap"


def test_a_malformed_filter_is_refused():
    assert check(SimpleNamespace(inspector_filter="~dir"), {"inspector_filter"}).startswith("inspector_filter:")
    assert check(SimpleNamespace(inspector_filter="~dir server ~websocket"), {"inspector_filter"}) is None


def test_only_matching_records_are_written_and_counted():
    truth = json.loads((FIX / "ws_plain.expected.json").read_text())
    out = RecordOutput()
    buffer = io.BytesIO()
    out.writer = JsonlWriter(buffer)
    out.set_log_level("off")
    out.set_filter("~t message ~dir server")
    for record in records(str(FIX / "ws_plain.pcap")):
        out(record)
    out.writer.flush()
    written = [json.loads(line) for line in buffer.getvalue().splitlines()]
    messages = [r for r in written if r["type"] == "message"]
    data = [m["sha256"] for m in messages if m["opcode_name"] in ("text", "binary")]
    assert data == [m["sha256"] for m in truth["sent"]["server"] if "sha256" in m]
    assert all(m["direction"] == "server" for m in messages)
    assert out.counts["message"] == len(messages) and "frame" not in out.counts
