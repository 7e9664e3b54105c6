"""Human renderer: what real traffic looks like on an 80-column terminal, colour rules, hostile text."""

from __future__ import annotations

import asyncio
import io
import re

import pytest

from helpers.servers import Recorder, polling_app, serve, short_poll, sse_client
from inspector import records
from inspector.analysis import Analysis, Options
from helpers.pipeline import feed_proxied, websocket_session
from helpers.render import SGR, Tty, _columns, _hostile_records, _render


@pytest.fixture(scope="module")
def real_records():
    """Records of a real run: short polling and SSE (aiohttp) plus a WebSocket's raw bytes (proxy)."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            await asyncio.gather(short_poll(base, count=6, interval=0.2), sse_client(base, connections=2))

    asyncio.run(scenario())
    proxy, upstream, _, _ = websocket_session(15)
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True))
    recorder.feed(analysis)
    feed_proxied(analysis, proxy.connections[0], upstream)
    analysis.finish()
    return out


@pytest.mark.parametrize("show_frames", [False, True])
def test_real_run_fits_80_columns_without_colour(real_records, show_frames, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = _render(real_records, show_frames=show_frames, width=80)
    lines = text.splitlines()
    assert all(_columns(line) <= 80 for line in lines), [line for line in lines if _columns(line) > 80]
    assert "\x1b" not in text  # not a TTY: no colour; and the payload's ESC is escaped
    if show_frames:
        assert " c->s message #2 text 12 B deflated: héllo" in text
        assert "héllo \\x1b" in _render(real_records, show_frames=True, width=120)
    assert "handshake valid  subprotocol chat" in text
    assert re.search(r"client +5 messages \(3 text, 1 binary, 1 close\)", text)
    assert "close 1000 (Normal Closure)" in text
    assert "sse 3 events (tick 3)" in text and "resumed after Last-Event-ID 3" in text
    assert "short-polling  6 requests" in text
    assert "=> worth replacing" in text
    frames = [line for line in lines if " frame #" in line]
    messages = [line for line in lines if " message #" in line]
    events = [line for line in lines if " sse #" in line]
    if show_frames:
        n_frames = sum(isinstance(r, records.Frame) for r in real_records)
        assert len(frames) == n_frames and len(messages) == sum(isinstance(r, records.Message) for r in real_records)
        assert len(events) == 6
    else:
        assert frames == messages == events == []


def test_colour_only_on_a_tty_and_never_with_no_color(real_records, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = _render(real_records, Tty())
    assert SGR.search(coloured)
    assert SGR.sub("", coloured) == _render(real_records, io.StringIO(), width=80)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in _render(real_records, Tty())
    assert "\x1b" not in _render(real_records, Tty(), color=True)


def test_closing_totals(real_records):
    text = _render(real_records)
    total = text[text.index("\nTotal: "):]
    n_conns = sum(isinstance(r, records.Connection) for r in real_records)
    n_frames = sum(isinstance(r, records.Frame) for r in real_records)
    assert f"Total: {n_conns} connections (" in total and f"{n_frames} frames" in total
    assert "6 SSE events" in total and "violations" not in total
    hostile = _render(_hostile_records())
    assert "4 frames/messages with violations" in hostile and "4 warnings" in hostile


@pytest.mark.parametrize("width", [40, 60, 120])
def test_any_width_is_respected(real_records, width):
    for recs in (real_records, _hostile_records()):
        for show_frames in (False, True):
            text = _render(recs, width=width, show_frames=show_frames)
            assert all(_columns(line) <= width for line in text.splitlines())
