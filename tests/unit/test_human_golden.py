"""Golden human output of ``inspector analyze --frames --width 0`` on every fixture, in-process (click's
runner), compared with tests/golden_human/<fixture>.txt; every timeline line's time is >= the one before.

After an intended change of the wording, regenerate with
``INSPECTOR_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_human_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspector.cli import cli

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden_human"
FIXTURES = sorted(
    p for pattern in ("pcap/**/*.pcap", "pcap/**/*.pcapng", "har/*.har", "har/*.zip", "flows/*.flow")
    for p in (ROOT / "fixtures").glob(pattern)
)
TIME = re.compile(r"^\s*(-?\d+\.\d{6}) \S+ ")


def _human(path: Path) -> str:
    keys = path.with_suffix(".keys.log")  # TLS fixtures: the key log their maker wrote
    keylog = ["--keylog", str(keys)] if keys.exists() else []
    result = CliRunner().invoke(cli, ["analyze", "--frames", "--width", "0", *keylog, str(path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def timeline(text: str) -> list[str]:
    """The timeline: the lines before the first blank line (the summaries follow it)."""
    return text.split("\n\n", 1)[0].splitlines()


def _name(path: Path) -> str:
    return "-".join(path.relative_to(ROOT / "fixtures").parts)


@pytest.mark.parametrize("path", FIXTURES, ids=_name)
def test_human_output_matches_golden_and_is_time_ordered(path: Path):
    text = _human(path)
    golden = GOLDEN / f"{_name(path)}.txt"
    if os.environ.get("INSPECTOR_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    lines = timeline(text)
    assert lines and not any(line.startswith("(the next line is earlier") for line in lines)
    times = [float(m.group(1)) for m in map(TIME.match, lines) if m]
    assert len(times) == len([line for line in lines if not line.lstrip().startswith("?")])
    assert all(b >= a for a, b in zip(times, times[1:])), times
    assert "\nConnections\n" in text or "\nEndpoints\n" in text
    assert "Connections" not in "\n".join(lines)  # summaries are not interleaved with the timeline
