"""Human renderer: what real traffic looks like on an 80-column terminal, colour rules, hostile text."""

from __future__ import annotations

import asyncio
import io
import re
import unicodedata

import pytest

from helpers.servers import Recorder, polling_app, serve, short_poll, sse_client
from test_analysis import _feed_proxied, _websocket_session
from inspector import records
from inspector.analysis import Analysis, Options
from inspector.present.terminal import HumanRenderer, fit, format_bytes

SGR = re.compile(r"\x1b\[[0-9;]*m")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in SGR.sub("", line))


@pytest.fixture(scope="module")
def real_records():
    """Records of a real run: short polling and SSE (aiohttp) plus a WebSocket's raw bytes (proxy)."""
    recorder = Recorder()

    async def scenario():
        async with serve(polling_app(recorder)) as base:
            await asyncio.gather(short_poll(base, count=6, interval=0.2), sse_client(base, connections=2))

    asyncio.run(scenario())
    proxy, upstream, _, _ = _websocket_session(15)
    out: list = []
    analysis = Analysis(out.append, source="live", options=Options(strict=True))
    recorder.feed(analysis)
    _feed_proxied(analysis, proxy.connections[0], upstream)
    analysis.finish()
    return out


def _render(recs, stream=None, **kw) -> str:
    stream = stream if stream is not None else io.StringIO()
    renderer = HumanRenderer(stream, **kw)
    for record in recs:
        renderer(record)
    renderer.close()
    return stream.getvalue()


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


HOSTILE = "\x1b[2J\x1b]0;owned\x07\r\x9b31m\u202e"


def _hostile_records() -> list:
    conn = f"c{HOSTILE}"
    url = f"http://h/{HOSTILE}?q={'長' * 60}"
    return [
        records.Exchange(
            conn=conn, method="GET", url=url, status=101, content_type=f"text/{HOSTILE}", ts_request=1.0,
            ts_response=1.1, ts_end=1.1, request_body_bytes=0, response_body_bytes=0,
        ),
        records.Handshake(
            conn=conn, url=url, valid=False, key="k", accept="a", expected_accept="b", subprotocol=HOSTILE,
            extensions=[HOSTILE],
            findings=[records.Finding(name="accept-mismatch", severity="error", message=f"got {HOSTILE} " * 8)],
        ),
        *[
            records.Frame(
                conn=conn, direction="client", ts=1.2 + i, index=i, fin=True, rsv1=False, rsv2=False, rsv3=False,
                opcode=1, opcode_name="text", masked=False, masking_key=None, payload_len=5,
                violations=["client-frame-unmasked"],
            )
            for i in range(3)
        ],
        records.Message(
            conn=conn, direction="server", ts=2.0, opcode_name="text", length=9, frames=1, compressed=False,
            sha256="00", text=HOSTILE,
        ),
        records.Message(
            conn=conn, direction="server", ts=2.1, opcode_name="close", length=9, frames=1, compressed=False,
            sha256="00", close_code=4000, close_reason=HOSTILE,
        ),
        records.SseEvent(conn=conn, ts=2.2, event=HOSTILE, data=HOSTILE, id=HOSTILE, retry=None),
        records.Connection(
            conn=conn, client=HOSTILE, server="h:80", ts_start=1.0, ts_end=3.0, source="pcap", protocol="websocket",
        ),
        records.Pattern(endpoint=f"GET {url}", pattern="websocket", requests=1, reason=HOSTILE * 5,
                        framework=HOSTILE, transport=HOSTILE),
        # records read back from an untrusted JSONL file: even the "names" may be hostile
        records.Frame(
            conn=conn, direction="server", ts=2.3, index=0, fin=True, rsv1=False, rsv2=False, rsv3=False,
            opcode=1, opcode_name=HOSTILE, masked=False, masking_key=None, payload_len=1, violations=[HOSTILE],
        ),
        records.Connection(
            conn="other", client=None, server=None, ts_start=None, ts_end=None, source="x", protocol=HOSTILE,
        ),
        records.WarningRecord(name="pcap-truncated", message=f"bad {HOSTILE}", count=4, conn=conn),
    ]


@pytest.mark.parametrize("tty", [False, True])
def test_untrusted_text_is_escaped(tty, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = _render(_hostile_records(), Tty() if tty else io.StringIO(), show_frames=True, width=80)
    plain = SGR.sub("", text)  # our own colour codes are the only escape sequences allowed
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", plain)
    assert "\\x1b" in plain and "\\r" in plain and "\\u202e" in plain
    assert all(_columns(line) <= 80 for line in text.splitlines())
    assert "handshake INVALID" in plain and "error accept-mismatch:" in plain
    assert "client-frame-unmasked x3  (first: client frame #0)" in plain
    assert plain.count("\\x1b") >= 20
    assert "pcap-truncated x4: bad" in plain


def test_pending_connections_printed_at_close():
    stream = io.StringIO()
    renderer = HumanRenderer(stream)
    renderer(records.SseStream(
        conn="s1", url="http://h/e", events=2, events_by_type={"message": 2}, comments=0, ts_start=1.0,
        ts_end=2.0, rate_per_s=2.0, gap_mean_s=0.5, gap_max_s=0.5, retry=None, last_event_id="",
        request_last_event_id=None, resumed=None, dropped=0, findings=[],
    ))
    assert stream.getvalue() == ""  # waits for the Connection record
    renderer.close()
    assert "s1" in stream.getvalue() and "sse 2 events (message 2)" in stream.getvalue()


def test_helpers():
    assert fit("abcdef", 5) == "ab..." and fit("abc", 5) == "abc" and fit("abcdef", 2) == "ab"
    assert fit("長長長長", 5) == "長..."
    assert [format_bytes(n) for n in (0, 999, 1000, 3_400_000)] == ["0 B", "999 B", "1.0 kB", "3.4 MB"]


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
