"""The addon's ``inspector_report`` / ``inspector_har`` options and the ``inspector.report`` command, and
request bodies reaching the application layer, in-process with mitmproxy's test harness (`taddons`,
`tflow`).  The real-mitmdump run (files written at exit) is tests/integration/test_live_exports.py."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow

from inspector.mitm.addon import Inspector


@pytest.fixture
def addon(tmp_path):
    inspector = Inspector()
    with taddons.context(inspector) as tctx:
        tctx.configure(inspector, inspector_jsonl=str(tmp_path / "records.jsonl"),
                       inspector_report=str(tmp_path / "live.html"), inspector_har=str(tmp_path / "live.har"))
        inspector.tctx = tctx
        yield inspector
        inspector.done()


def _rpc_flow(body: bytes, answer: bytes, encoding: str | None = None):
    flow = tflow.tflow(resp=True)
    flow.request.method = "POST"
    flow.request.path = "/rpc"
    flow.request.headers["content-type"] = "application/json"
    if encoding:
        flow.request.headers["content-encoding"] = encoding
    flow.request.raw_content = body
    flow.response.headers["content-type"] = "application/json"
    flow.response.raw_content = answer
    return flow


def _report_data(path) -> dict:
    html = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])


def test_the_command_writes_the_report_now_and_exit_completes_both(addon, tmp_path):
    report, har = tmp_path / "live.html", tmp_path / "live.har"
    addon.response(tflow.tflow(resp=True))
    assert not report.exists()
    addon.report()  # the inspector.report command
    assert len(_report_data(report)["exchanges"]) == 1
    addon.response(tflow.tflow(resp=True))
    addon.done()
    assert len(_report_data(report)["exchanges"]) == 2
    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    assert len(entries) == 2 and {e["request"]["url"] for e in entries} == {"http://address:22/path"}
    assert not list(tmp_path.glob(".live.html.*"))  # no temporary file left behind


def test_a_har_in_a_missing_directory_is_refused(addon, tmp_path):
    with pytest.raises(exceptions.OptionsError, match="inspector_har: directory"):
        addon.tctx.configure(addon, inspector_har=str(tmp_path / "nowhere" / "x.har"))


def test_request_bodies_reach_the_app_layer_live(addon, tmp_path):
    call = b'{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}'
    addon.response(_rpc_flow(call, b'{"jsonrpc":"2.0","result":5,"id":1}'))
    addon.response(_rpc_flow(gzip.compress(call.replace(b'"id":1', b'"id":2')), b'{"jsonrpc":"2.0","result":5,"id":2}',
                             encoding="gzip"))
    addon.done()
    lines = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    calls = [(r["request_app"]["name"], r["request_app"]["id"]) for r in lines if r["type"] == "exchange"]
    assert calls == [("add", "1"), ("add", "2")]  # the gzip body decoded first
    ops = [(r["name"], r["id"], r["outcome"]) for r in lines if r["type"] == "operation"]
    assert ops == [("add", "1", "ok"), ("add", "2", "ok")]
