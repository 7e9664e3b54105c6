"""inspector's JSON Lines read back (inspector.sources.records_jsonl): the same records, bad lines counted."""

from __future__ import annotations

import gzip
import io

import pytest

from helpers.offline import FIXTURES
from inspector.analysis import Analysis, Options
from inspector.present.jsonl import JsonlWriter
from inspector.records import Connection, Message, WarningRecord
from inspector.sources import SourceOptions, detect, open_source
from inspector.sources import har, pcap
from inspector.sources.records_jsonl import looks_like_records

CASES = [(pcap.run, FIXTURES / "pcap" / "ws_deflate.pcap"), (har.run, FIXTURES / "har" / "chromium-devtools.har"),
         (pcap.run, FIXTURES / "pcap" / "sse.pcap"), (pcap.run, FIXTURES / "pcap" / "polling.pcap")]


def _records(run, path, options=None) -> list:
    out: list = []
    analysis = Analysis(out.append, source="test", options=Options(strict=True))
    run(path, analysis, options)
    analysis.finish()
    return out


def _write(records, path) -> None:
    buffer = io.BytesIO()
    writer = JsonlWriter(buffer)
    writer.write_many(records)
    writer.flush()
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("run,fixture", CASES, ids=[c[1].name for c in CASES])
def test_round_trip_gives_the_same_records(tmp_path, run, fixture):
    original = _records(run, fixture)
    target = tmp_path / "records.jsonl"
    _write(original, target)
    assert detect(str(target)) == "records"
    reader = open_source(str(target))
    again = _records(lambda path, analysis, options: reader.run(analysis, options), target)
    assert again == original  # msgspec Structs compare field by field


def test_gzip_and_prefix_and_conn_filter(tmp_path):
    from inspector.sources.records_jsonl import run

    original = _records(pcap.run, FIXTURES / "pcap" / "ws_deflate.pcap")
    plain = tmp_path / "r.jsonl"
    _write(original, plain)
    packed = tmp_path / "r.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    conns = sorted({r.conn for r in original if isinstance(r, Connection)})
    got = _records(run, packed, SourceOptions(conn_prefix="2:", conns=frozenset({"2:" + conns[0]})))
    with_conn = [r for r in got if getattr(r, "conn", None) is not None]
    assert with_conn and {r.conn for r in with_conn} == {"2:" + conns[0]}
    assert len([r for r in got if isinstance(r, Message)]) == len(
        [r for r in original if isinstance(r, Message) and r.conn == conns[0]])


def test_bad_lines_are_one_counted_warning(tmp_path):
    from inspector.sources.records_jsonl import run

    original = _records(pcap.run, FIXTURES / "pcap" / "ws_plain.pcap")
    target = tmp_path / "r.jsonl"
    _write(original, target)
    with target.open("ab") as f:
        f.write(b'not json\n{"type":"message","conn":"c1"}\n{"type":"nonsense"}\n\n')
    got = _records(run, target)
    warnings = [r for r in got if isinstance(r, WarningRecord) and r.name == "records-bad-line"]
    assert len(warnings) == 1 and warnings[0].count == 3
    assert "line" in warnings[0].message
    assert [r for r in got if not isinstance(r, WarningRecord)] == [
        r for r in original if not isinstance(r, WarningRecord)]


def test_detection_needs_a_record_tag_first():
    assert looks_like_records(b'{"type":"connection","conn":"c1"}\n')
    assert not looks_like_records(b'{"type":"something-else"}\n')
    assert not looks_like_records(b'{"log": {"type": "connection"}}')
    assert not looks_like_records(b'[{"type":"connection"}]')


def test_host_filter_keeps_the_connections_to_that_server(tmp_path):
    from inspector.sources.records_jsonl import run

    original = _records(har.run, FIXTURES / "har" / "synthetic-edge-cases.har")
    target = tmp_path / "r.jsonl"
    _write(original, target)
    servers = {r.server for r in original if isinstance(r, Connection) and r.server}
    server = sorted(servers)[0]
    host = server.rsplit(":", 1)[0].strip("[]")
    got = _records(run, target, SourceOptions(hosts=frozenset({host.lower()})))
    kept = {r.conn for r in got if isinstance(r, Connection)}
    assert kept == {r.conn for r in original if isinstance(r, Connection) and r.server
                    and r.server.rsplit(":", 1)[0].strip("[]") == host}
    assert {r.conn for r in got if getattr(r, "conn", None)} <= kept
