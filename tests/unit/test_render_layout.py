"""The analyze terminal renderer on synthetic records: helpers, pending connections, escaping of untrusted text."""

from __future__ import annotations

import io
import re

import pytest
from helpers.render import SGR, Tty, _columns, _hostile_records, _render

from inspector import records
from inspector.present.terminal import HumanRenderer, fit, format_bytes


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
