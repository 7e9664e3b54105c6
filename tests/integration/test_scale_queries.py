"""docs/scale.md's DuckDB queries, run as written over ``analyze --jsonl`` and ``--parquet`` output of
captures of real peers (interleaved fixture copies, one with RSV1 set on client frames), compared with
the records' own counts (the JSON Lines parsed here).  Also: the Parquet datasets hold exactly the
records, partitioned by input file, with the schema fixed by the record types."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")
pq = pytest.importorskip("pyarrow.parquet")

from helpers.pcap_fixtures import FIX  # noqa: E402
from helpers.sharded import mixed_capture, with_rsv1  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale.md"


def queries() -> dict[tuple[str, str], str]:
    """(jsonl|parquet, name) -> SQL, from the doc's ```sql blocks (first line: ``-- kind: name``)."""
    found = {}
    for block in re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S):
        kind, _, name = block.splitlines()[0].removeprefix("-- ").partition(": ")
        found[(kind, name)] = block
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queries")
    mixed = with_rsv1(mixed_capture(tmp / "mixed.pcap", copies=6), tmp / "violations.pcap")
    files = [mixed, FIX / "polling.pcap"]
    out, pq_dir = tmp / "records.jsonl", tmp / "pq"
    p = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--jsonl", "-o", str(out), "--jobs", "2",
                        "--parquet", str(pq_dir), *map(str, files)], capture_output=True, timeout=180)
    assert p.returncode == 0, p.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    return tmp, recs


def sql(tmp: Path, kind: str, name: str) -> list[tuple]:
    text = queries()[(kind, name)]
    text = text.replace("'records.jsonl'", f"'{tmp / 'records.jsonl'}'").replace("'pq/", f"'{tmp}/pq/")
    return duckdb.sql(text).fetchall()


def test_doc_has_every_query():
    assert {name for _, name in queries()} == {"messages per connection", "violations by name",
                                               "polling waste per endpoint", "p99 message size"}
    assert {kind for kind, _ in queries()} == {"jsonl", "parquet"}


def test_messages_per_connection(run):
    tmp, recs = run
    truth = sorted(Counter(r["conn"] for r in recs if r["type"] == "message").items())
    assert len(truth) == 6 * 2 and all(n > 0 for _, n in truth)  # ws_plain and ws_deflate copies
    assert sql(tmp, "jsonl", "messages per connection") == truth
    rows = sql(tmp, "parquet", "messages per connection")
    assert sorted((conn, n) for _, conn, n in rows) == truth
    assert {f for f, _, _ in rows} == {"violations.pcap"}


def test_violations_by_name(run):
    tmp, recs = run
    truth = sorted(Counter((r["type"], v) for r in recs if r["type"] in ("frame", "message")
                           for v in r["violations"]).items())
    assert ("frame", "rsv-without-extension") in dict(truth)
    assert sql(tmp, "jsonl", "violations by name") == [(*k, n) for k, n in truth]
    assert sql(tmp, "parquet", "violations by name") == [(*k, n) for k, n in truth]


def test_polling_waste_per_endpoint(run):
    tmp, recs = run
    truth = sorted((r["endpoint"], r["pattern"], r["requests"], r["efficiency"]["wasted_requests"],
                    r["efficiency"]["wasted_bytes"]) for r in recs if r["type"] == "pattern" and r["efficiency"])
    assert {row[1] for row in truth} == {"short-polling", "long-polling"}
    assert sql(tmp, "jsonl", "polling waste per endpoint") == truth
    assert sql(tmp, "parquet", "polling waste per endpoint") == truth


def _quantile(values: list[int], q: float) -> float:
    values = sorted(values)
    pos = (len(values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def test_p99_message_size(run):
    tmp, recs = run
    by_direction: dict[str, list[int]] = {}
    for r in recs:
        if r["type"] == "message":
            by_direction.setdefault(r["direction"], []).append(r["length"])
    truth = [(d, pytest.approx(_quantile(v, 0.99)), len(v)) for d, v in sorted(by_direction.items())]
    assert sql(tmp, "jsonl", "p99 message size") == truth
    assert sql(tmp, "parquet", "p99 message size") == truth


def test_parquet_holds_every_record_by_file(run):
    tmp, recs = run
    counts = Counter(r["type"] for r in recs)
    for kind, n in counts.items():
        table = pq.read_table(tmp / "pq" / kind)  # the partition column comes from the folder names
        assert table.num_rows == n, kind
    conns = pq.read_table(tmp / "pq" / "connection").to_pydict()
    files = dict(zip(conns["conn"], conns["source_file"]))
    assert {f for c, f in files.items() if c.startswith("1:")} == {"violations.pcap"}
    assert {f for c, f in files.items() if c.startswith("2:")} == {"polling.pcap"}
    # the fixed schema: every field of the record type, whether or not a value was seen
    from inspector.records import Message
    import msgspec

    fields = [f.encode_name for f in msgspec.inspect.type_info(Message).fields]
    schema = pq.read_schema(next((tmp / "pq" / "message").rglob("*.parquet")))
    assert schema.names == fields
    assert str(schema.field("violations").type) == "list<element: string>"
    assert (tmp / "pq" / "operation" / "source_file=_all_" / "part-0.parquet").exists()  # none seen: empty
