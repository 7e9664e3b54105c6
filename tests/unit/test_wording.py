"""One wording for every terminal renderer (`inspector.present.text`): close text, plurals, and the same
close fragment from `analyze`'s HumanRenderer, `decode`'s DecodeRenderer and the addon's log lines."""

from __future__ import annotations

import io
import sys

import pytest

from inspector import records
from inspector.present.decode import DecodeRenderer
from inspector.present.loglines import LogLines, summary_line
from inspector.present.terminal import HumanRenderer
from inspector.present.text import close_text, direction_label, plural, record_counts


@pytest.mark.parametrize(
    ("code", "reason", "text"),
    [
        (1000, "bye", 'close 1000 (Normal Closure) "bye"'),
        (4000, None, "close 4000 (Private Use)"),
        (3001, "", "close 3001 (Library/Framework (IANA registered range))"),
        (None, None, "close (no status code)"),
        (999, "x", 'close 999 (invalid code) "x"'),
        (1005, None, "close 1005 (No Status Rcvd, invalid code)"),
        (1000, "\x1b[2J", 'close 1000 (Normal Closure) "\\x1b[2J"'),
    ],
)
def test_close_text(code, reason, text):
    assert close_text(code, None, reason) == text


def test_plurals_and_record_names():
    assert [plural(n, "request") for n in (0, 1, 2)] == ["0 requests", "1 request", "2 requests"]
    assert plural(3, "SSE event") == "3 SSE events" and plural(1, "SSE event") == "1 SSE event"
    assert record_counts({"connection": 9, "sse_event": 8, "pattern": 1}) == (
        "9 connections, 8 SSE events, 1 endpoint pattern"
    )
    assert summary_line({"warning": 1}) == "inspector summary: 1 warning"
    assert (direction_label("client"), direction_label("server")) == ("c->s", "s->c")


def _close(code, reason, name):
    return records.Message(
        conn="c1", direction="server", ts=2.0, index=3, opcode_name="close", length=2 + len(reason or ""),
        frames=1, compressed=False, sha256="00", close_code=code, close_code_name=name, close_reason=reason,
    )


def _human(message) -> str:
    out = io.StringIO()
    renderer = HumanRenderer(out, show_frames=True, width=200)
    renderer(message)
    renderer.close()
    return out.getvalue()


def _decode(message, monkeypatch) -> str:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    DecodeRenderer("server", False, None, False, 256)(message)
    return out.getvalue()


def _log(message) -> str:
    return "\n".join(line for _, line in LogLines()(message))


@pytest.mark.parametrize(
    ("code", "reason", "name", "fragment"),
    [
        (1001, "going", "Going Away", 'close 1001 (Going Away) "going"'),
        (4000, None, "Private Use", "close 4000 (Private Use)"),
        (None, None, None, "close (no status code)"),
        (1016, "\x1b]0;x\x07", None, 'close 1016 (invalid code) "\\x1b]0;x\\x07"'),
    ],
)
def test_three_renderers_print_the_same_close(code, reason, name, fragment, monkeypatch):
    message = _close(code, reason, name)
    shown = {"analyze": _human(message), "decode": _decode(message, monkeypatch), "addon": _log(message)}
    for where, text in shown.items():
        assert fragment in text, where
        assert "\x1b" not in text and "\x07" not in text, where
    assert "s->c message #3 " + fragment in shown["analyze"]
    assert "ws c1 s->c message #3 " + fragment in shown["addon"]
