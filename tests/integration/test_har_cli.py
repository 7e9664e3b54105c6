"""`inspector analyze` on HAR files in a subprocess, as a user runs it; truth from the fixtures' expected.json."""

from __future__ import annotations

import json

import pytest
from helpers.har_samples import HAR, MALFORMED
from helpers.offline import by_type, check_messages, cli, expected, patterns

CLI_MALFORMED = [m for m in MALFORMED if m[0] in ("truncated.har", "garbage.har", "no-entries.har", "no-url.har",
                                                   "status-string.har", "bad-base64.har")]


@pytest.mark.parametrize("name", ["chromium-playwright.har", "mitmproxy-11.har"])
def test_cli_analyze_har_human(name):
    result = cli("analyze", str(HAR / name))
    assert result.returncode == 0, result.stderr
    for text in ("short-polling", "long-polling", "sse", "websocket", "handshake valid"):
        assert text in result.stdout


def test_cli_analyze_har_jsonl():
    result = cli("analyze", "--jsonl", str(HAR / "mitmproxy-12.har"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert patterns(records)["/poll/long"] == "long-polling"
    check_messages(by_type(records)["message"], expected(HAR / "mitmproxy-12.har"))


@pytest.mark.parametrize("name,text,message", CLI_MALFORMED, ids=[m[0] for m in CLI_MALFORMED])
def test_cli_malformed_har_exit_2(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    result = cli("analyze", "--jsonl", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("inspector: ") and "HAR" in lines[0]


def test_cli_json_without_log_is_not_taken_for_a_har(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"foo": 1}')
    result = cli("analyze", "--jsonl", str(path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
