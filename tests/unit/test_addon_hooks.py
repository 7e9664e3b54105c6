"""The addon's hooks in-process, with mitmproxy's own test harness (`mitmproxy.test.taddons`, `tflow`).

What only a real proxy shows (bytes relayed unchanged, wire mode, timing) is in tests/test_addon.py.
"""

from __future__ import annotations

import json
import logging

import pytest
from mitmproxy import exceptions, websocket
from mitmproxy.test import taddons, tflow

from inspector.mitm.addon import Inspector

SSE_BODY = [b"id: 1\nevent: tick\ndata: first\n\n", b"data: sec", b"ond\n\n: keep-alive\n\n"]


@pytest.fixture
def addon(tmp_path):
    """A fresh addon loaded in a mitmproxy test context, writing records to tmp_path/records.jsonl."""
    inspector = Inspector()
    with taddons.context(inspector) as tctx:
        tctx.configure(inspector, inspector_jsonl=str(tmp_path / "records.jsonl"))
        inspector.tctx = tctx
        yield inspector
        inspector.done()


def records(tmp_path, kind: str | None = None) -> list[dict]:
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    out = [json.loads(line) for line in lines]
    return [r for r in out if kind is None or r["type"] == kind]


# --- options -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("inspector_ws_keep", -2, "inspector_ws_keep must be -1 (keep all) or a count >= 0"),
        ("inspector_report_interval", -1, "inspector_report_interval must be >= 0 seconds"),
        ("inspector_log", "verbose", "inspector_log must be one of summary, all, off"),
        ("inspector_view_cap", 0, "inspector_view_cap must be >= 1"),
        ("inspector_max_message", 0, "inspector_max_message must be >= 1 byte"),
        ("inspector_sse_max_line", 0, "inspector_sse_max_line must be >= 1 byte"),
        ("inspector_sse_max_event", 0, "inspector_sse_max_event must be >= 1 byte"),
        ("inspector_sse_keep", -1, "inspector_sse_keep must be >= 0 bytes"),
        ("inspector_thresholds", "hold", "inspector_thresholds: 'hold' is not name=value"),
        ("inspector_thresholds", "no_such_threshold=1", "inspector_thresholds: "),
    ],
)
def test_invalid_option_values_are_refused(addon, option, value, message):
    before = getattr(addon.tctx.options, option)
    with pytest.raises(exceptions.OptionsError) as raised:
        addon.tctx.configure(addon, **{option: value})
    assert str(raised.value).startswith(message)
    assert getattr(addon.tctx.options, option) == before  # mitmproxy rolled the value back


def test_jsonl_in_a_missing_directory_is_refused(addon, tmp_path):
    with pytest.raises(exceptions.OptionsError, match="does not exist"):
        addon.tctx.configure(addon, inspector_jsonl=str(tmp_path / "missing" / "out.jsonl"))


def test_valid_options_reach_the_analysis(addon, tmp_path):
    addon.tctx.configure(addon, inspector_view_cap=7, inspector_max_message=1000, inspector_ws_keep=3)
    assert addon.analysis.options.view_cap == 7 and addon.analysis.options.max_message == 1000
    flow = tflow.twebsocketflow(messages=False)
    flow.websocket.messages = []
    addon.websocket_start(flow)
    for n in range(5):
        flow.websocket.messages.append(websocket.WebSocketMessage(1, True, b"x" * 20 + str(n).encode(), 1.0 + n))
        addon.websocket_message(flow)
    assert [m.content[-1:] for m in flow.websocket.messages] == [b"2", b"3", b"4"]  # ws_keep=3
    addon.done()
    texts = [m["text"] for m in records(tmp_path, "message")]
    assert texts == ["x" * 7] * 5  # view_cap=7


# --- HTTP, SSE, WebSocket ----------------------------------------------------------------------------------


def test_http_flow_becomes_an_exchange_record(addon, tmp_path):
    flow = tflow.tflow(resp=True)
    addon.response(flow)
    addon.done()
    [exchange] = records(tmp_path, "exchange")
    assert exchange["method"] == flow.request.method
    assert exchange["url"] == flow.request.pretty_url
    assert exchange["status"] == flow.response.status_code
    assert exchange["response_body_bytes"] == len(flow.response.raw_content)
    assert exchange["conn"] == records(tmp_path, "connection")[0]["conn"]


def test_event_stream_is_parsed_while_it_streams(addon, tmp_path):
    flow = tflow.tflow(resp=True)
    flow.response.headers["content-type"] = "text/event-stream; charset=utf-8"
    flow.response.raw_content = None
    addon.responseheaders(flow)
    stream = flow.response.stream
    assert callable(stream)
    relayed = [stream(chunk) for chunk in SSE_BODY]
    assert relayed == SSE_BODY  # every chunk goes on unchanged
    addon.output.writer.flush()
    assert [e["data"] for e in records(tmp_path, "sse_event")] == ["first", "second"]  # before the end
    stream(b"")
    addon.response(flow)
    addon.done()
    [sse] = records(tmp_path, "sse_stream")
    assert (sse["events"], sse["comments"], sse["last_event_id"]) == (2, 1, "1")
    [exchange] = records(tmp_path, "exchange")
    assert exchange["response_body_bytes"] == sum(map(len, SSE_BODY))
    assert flow.response.raw_content == b"".join(SSE_BODY)  # the start kept for the views


def test_websocket_messages_become_message_records(addon, tmp_path):
    flow = tflow.twebsocketflow(messages=False, close_code=4001, close_reason="bye")
    flow.websocket.messages = []
    sent = [(True, 1, b"hello"), (False, 2, b"\x00\x01"), (True, 1, '{"a": "ü"}'.encode())]
    addon.websocket_start(flow)
    for i, (from_client, opcode, content) in enumerate(sent):
        flow.websocket.messages.append(websocket.WebSocketMessage(opcode, from_client, content, 10.0 + i))
        addon.websocket_message(flow)
    flow.websocket.closed_by_client = False
    addon.websocket_end(flow)
    addon.done()
    messages = records(tmp_path, "message")
    got = [(m["direction"], m["opcode_name"], m["length"]) for m in messages]
    assert got == [("client", "text", 5), ("server", "binary", 2), ("client", "text", 11), ("server", "close", 5)]
    assert messages[0]["text"] == "hello" and messages[2]["text"] == '{"a": "ü"}'
    assert (messages[3]["close_code"], messages[3]["close_reason"]) == (4001, "bye")
    [handshake] = records(tmp_path, "handshake")
    assert handshake["url"] == flow.request.pretty_url


# --- containment ---------------------------------------------------------------------------------------------


def _explode(*args, **kwargs):
    raise RuntimeError("injected fault")


def test_a_failing_conversion_leaves_the_flow_untouched_and_logs_one_line(addon, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(addon.analysis, "websocket", _explode)
    flow = tflow.twebsocketflow()
    state = flow.get_state()
    with caplog.at_level(logging.ERROR, logger="inspector"):
        addon.websocket_start(flow)
        addon.websocket_message(flow)
        addon.websocket_end(flow)
    assert flow.get_state() == state
    errors = [r for r in caplog.records if r.name == "inspector" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "internal error in websocket_start" in errors[0].getMessage() and flow.id in errors[0].getMessage()
    assert errors[0].exc_info[1].args == ("injected fault",)
    assert addon.containment.errors == 1
    other = tflow.tflow(resp=True)  # other flows are still analysed
    addon.response(other)
    addon.done()
    assert records(tmp_path, "exchange")[0]["url"] == other.request.pretty_url


def test_a_failing_event_stream_still_relays_every_chunk(addon, caplog, monkeypatch):
    flow = tflow.tflow(resp=True)
    flow.response.headers["content-type"] = "text/event-stream"
    flow.response.raw_content = None
    addon.responseheaders(flow)
    monkeypatch.setattr(addon.output, "writer", _Exploding())
    with caplog.at_level(logging.ERROR, logger="inspector"):
        relayed = [flow.response.stream(chunk) for chunk in SSE_BODY]
        addon.response(flow)
    assert relayed == SSE_BODY
    assert sum("internal error" in r.getMessage() for r in caplog.records) == 1


class _Exploding:
    def write(self, record):
        raise RuntimeError("injected fault")

    def flush(self):
        pass


def test_errors_are_counted_in_the_summary(addon, caplog, monkeypatch):
    monkeypatch.setattr(addon.analysis, "begin_exchange", _explode)
    with caplog.at_level(logging.INFO, logger="inspector"):
        for _ in range(2):
            addon.response(tflow.tflow(resp=True))
        addon.done()
    summary = [r.getMessage() for r in caplog.records if "inspector summary" in r.getMessage()]
    assert summary and "2 flows left unanalysed" in summary[-1]
