"""What a person sees from the `inspector` command itself (a subprocess, real pipes and a real pty): full
lines when piped, the terminal's width on a terminal, --fail-on explained on stderr, filters that match
nothing said so, inspector's own JSON Lines read back from stdin.  Truth: what the senders sent
(fixtures/pcap/*.expected.json)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "pcap"


def _inspector(*args: str, env: dict | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True, input=stdin,
                          env={**os.environ, **(env or {})}, check=False)


def test_piped_output_has_full_lines_whatever_columns_says():
    truth = json.loads((FIX / "ws_plain.expected.json").read_text())
    greeting = next(m["text"] for m in truth["sent"]["client"] if m.get("text", "").startswith("{"))
    run = _inspector("analyze", "--frames", str(FIX / "ws_plain.pcap"), env={"COLUMNS": "40"})
    assert run.returncode == 0
    out = run.stdout.decode()
    assert any(line.endswith(f": {greeting}") for line in out.splitlines())  # not cut at 80 (or 40) columns
    assert max(len(line) for line in out.splitlines()) > 200
    cut = _inspector("analyze", "--frames", "--width", "60", str(FIX / "ws_plain.pcap")).stdout.decode()
    assert max(len(line) for line in cut.splitlines()) == 60


def test_a_terminal_gets_its_width_from_columns():
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "72", "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "inspector", "analyze", "--frames", str(FIX / "ws_plain.pcap")],
                            stdout=terminal, stderr=subprocess.DEVNULL, env=env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # the pty is closed once the child exits
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(controller)
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert len(lines) > 20 and max(len(line) for line in lines) == 72


def test_fail_on_says_what_failed():
    truth = json.loads((FIX / "violations.expected.json").read_text())
    run = _inspector("analyze", "--fail-on", "violations:invalid-utf8", "--fail-on", "invalid-handshake",
                     str(FIX / "violations.pcap"))
    assert run.returncode == 1
    err = run.stderr.decode()
    head, *examples = err.strip().splitlines()
    assert head.startswith("inspector: --fail-on: ")
    assert "violations: invalid-utf8 x1" in head and "invalid-handshake: accept-mismatch x1" in head
    assert "non-minimal-length" not in err  # only the named violation
    assert any(re.match(r"  c\d+ \d\d:\d\d:\d\d\.\d{6} s->c frame #\d+: invalid-utf8$", line) for line in examples)
    assert any(truth["bad_handshake"]["path"] in line and "accept-mismatch" in line for line in examples)
    clean = _inspector("analyze", "--fail-on", "violations", str(FIX / "ws_plain.pcap"))
    assert clean.returncode == 0 and "--fail-on" not in clean.stderr.decode()


def test_a_filter_that_matches_nothing_says_so():
    run = _inspector("analyze", "--frames", "--conn", "c99", str(FIX / "ws_plain.pcap"))
    assert run.returncode == 0
    assert "inspector: nothing matched the filter (connection c99)" in run.stderr.decode()
    assert " frame #" not in run.stdout.decode()


def test_jsonl_read_back_from_stdin_renders_like_the_capture():
    capture = FIX / "violations.pcap"
    records = _inspector("analyze", "--jsonl", str(capture)).stdout
    again = _inspector("analyze", "--frames", "-", stdin=records)
    direct = _inspector("analyze", "--frames", str(capture))
    assert again.returncode == direct.returncode == 0
    assert again.stdout == direct.stdout
