"""docs/live.md's option table is the one the declarations print (`python -m inspector.mitm.options`)."""

from __future__ import annotations

from pathlib import Path

from inspector.mitm.options import OPTIONS, markdown

LIVE_MD = Path(__file__).resolve().parents[2] / "docs" / "live.md"


def _options_table(text: str) -> str:
    """The first Markdown table after the heading "## Options"."""
    section = text.split("\n## Options\n", 1)[1]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def test_docs_table_is_the_declarations():
    assert _options_table(LIVE_MD.read_text(encoding="utf-8")) == markdown()


def test_every_declared_option_has_a_row_with_its_default():
    table = markdown()
    for option in OPTIONS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{option.name}` |"))
        assert option.help in row
    assert "| `inspector_max_message` | int | 67108864 (64 MiB) |" in table
