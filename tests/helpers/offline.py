"""Helpers shared by the HAR and flow-file tests: run a reader into a list of records,
index them, and compare with a fixture's ``expected.json`` (what the fixture server really sent)."""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import subprocess
import sys
from collections import defaultdict

from inspector.analysis import Analysis, Options
from inspector.records import to_dict




FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures"


def analyse(run, path, source: str, options=None) -> list[dict]:
    """All records (as JSON dicts) of one file read by ``run`` (har.run or flows.run)."""
    out: list = []
    analysis = Analysis(out.append, source=source, options=Options(strict=True))
    run(path, analysis, options)
    analysis.finish()
    return [to_dict(r) for r in out]


def by_type(records: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for record in records:
        grouped[record["type"]].append(record)
    return grouped


def expected(path: pathlib.Path) -> dict:
    return json.loads(path.with_suffix(".expected.json").read_text())


def payload(message: dict) -> bytes:
    """The bytes of one truth message from expected.json."""
    if "data_b64" in message:
        return base64.b64decode(message["data_b64"])
    return message["data"].encode()


def check_messages(messages: list[dict], truth: dict) -> None:
    """Data messages per direction equal, in order, what the page sent and what the server sent."""
    for direction, key in (("client", "client_messages"), ("server", "server_messages")):
        got = [m for m in messages if m["direction"] == direction and m["opcode_name"] in ("text", "binary")]
        want = truth["websocket"][key]
        assert [m["opcode_name"] for m in got] == [w["type"] for w in want], direction
        for m, w in zip(got, want):
            data = payload(w)
            assert m["sha256"] == hashlib.sha256(data).hexdigest()
            assert m["length"] == len(data)
            if w["type"] == "text":
                assert m["text"] == w["data"]
            else:
                assert m["data"] == data.hex()


def patterns(records: list[dict]) -> dict[str, str]:
    """URL path (without query) -> pattern."""
    out = {}
    for p in by_type(records)["pattern"]:
        url = p["endpoint"].split(" ", 1)[1]
        path = "/" + url.split("://", 1)[1].split("/", 1)[1] if "://" in url else url
        out[path.split("?", 1)[0]] = p["pattern"]
    return out


def check_patterns(records: list[dict], truth: dict) -> None:
    """Each endpoint the fixture server offered is classified as what it was built to be."""
    got = patterns(records)
    assert got[truth["short_polling"]["path"]] == "short-polling"
    assert got[truth["long_polling"]["path"]] == "long-polling"
    assert got[truth["sse"]["path"]] == "sse"
    assert got[truth["websocket"]["path"]] == "websocket"


def cli(*args: str) -> subprocess.CompletedProcess:
    """`inspector ...` in a subprocess of this interpreter."""
    return subprocess.run(
        [sys.executable, "-c", "from inspector.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120,
    )


def records_of(out, kind):
    return [r for r in out if isinstance(r, kind)]
