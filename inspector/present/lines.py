"""Output primitives of the terminal renderers: styled segments on one line cut to a width, wrapped
paragraphs and item lists, section headings.

`LineWriter` holds the stream, the width and whether to colour (ANSI SGR only when the stream is a TTY or
``color=True``, never with ``NO_COLOR`` set).  Texts given to it are already escaped (`text.esc`).
"""

from __future__ import annotations

import os
import textwrap
from typing import IO

from inspector.present.text import fit, text_width

__all__ = ["UNLIMITED", "LineWriter", "terminal_width"]

_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "magenta": "35"}


#: the width of "never cut"
UNLIMITED = 1 << 30


def terminal_width(stream: IO[str]) -> int:
    """How wide lines on ``stream`` may be: on a terminal its width (``COLUMNS`` when set, as shells
    export it), otherwise `UNLIMITED` (piped or redirected output is never cut)."""
    try:
        if not stream.isatty():
            return UNLIMITED
    except (AttributeError, ValueError):
        return UNLIMITED
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80


class LineWriter:
    """Lines of (text, style) segments on ``stream``, cut to ``width`` columns (at least 40; 0 or
    `UNLIMITED`: never cut; None: `terminal_width`)."""

    def __init__(self, stream: IO[str], *, color: bool | None = None, width: int | None = None) -> None:
        self.stream = stream
        if "NO_COLOR" in os.environ:
            color = False
        elif color is None:
            isatty = getattr(stream, "isatty", None)
            color = bool(isatty and isatty())
        self.color = color
        if width is None:
            width = terminal_width(stream)
        self.width = UNLIMITED if width == 0 else max(40, width)
        self._section: str | None = None

    def _paint(self, text: str, style: str | None) -> str:
        if not self.color or not style:
            return text
        codes = ";".join(_STYLES[s] for s in style.split("+"))
        return f"\x1b[{codes}m{text}\x1b[0m"

    def _line(self, *segments: tuple[str, str | None] | str, indent: int = 0) -> None:
        """One output line of (text, style) segments (texts already escaped), cut to the width."""
        parts = [(s, None) if isinstance(s, str) else s for s in segments]
        budget = self.width - indent
        out = []
        for text, style in parts:
            if budget <= 0:
                break
            w = text_width(text)
            if w > budget:
                text = fit(text, budget)
                w = text_width(text)
            out.append(self._paint(text, style))
            budget -= w
        self.stream.write(" " * indent + "".join(out) + "\n")

    def _wrapped(
        self, text: str, *, indent: int, first: str = "", style: str | None = None, first_style: str = "dim"
    ) -> None:
        """A paragraph wrapped to the width; ``first`` prefixes the first line (continuations align)."""
        body = self.width - indent - len(first)
        lines = textwrap.wrap(text, width=max(20, body), break_on_hyphens=False) or [""]
        for i, line in enumerate(lines):
            prefix = first if i == 0 else " " * len(first)
            self._line((prefix, first_style), (line, style), indent=indent)

    def _items(
        self, items: list[str], *, indent: int, first: str = "", style: str | None = None, first_style: str = "dim",
        sep: str = ", ",
    ) -> None:
        """Items joined by ``sep`` and wrapped between items (an item is split only if it cannot fit)."""
        body = max(20, self.width - indent - len(first))
        lines: list[str] = []
        current = ""
        for item in items:
            candidate = f"{current}{sep}{item}" if current else item
            if text_width(candidate) + len(sep.rstrip()) <= body or not current:
                current = candidate
            else:
                lines.append(current + sep.rstrip())
                current = item
        if current:
            lines.append(current)
        wrapped = [piece for line in lines for piece in (textwrap.wrap(line, width=body) or [""])]
        for i, line in enumerate(wrapped or [""]):
            prefix = first if i == 0 else " " * len(first)
            self._line((prefix, first_style), (line, style), indent=indent)

    def _heading(self, name: str) -> None:
        if self._section != name:
            self._section = name
            self.stream.write("\n")
            self._line((name, "bold"))

