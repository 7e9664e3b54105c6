"""Where the addon's records go: the ``inspector_jsonl`` file (batched, each record written within
`FLUSH_INTERVAL`), mitmproxy's log (`inspector.present.loglines`) and the counts for the exit summary."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from inspector.errors import InputError
from inspector.present.escape import escape_terminal
from inspector.filter import Filter
from inspector.present.jsonl import JsonlWriter
from inspector.present.loglines import LogLines, summary_line, warning_line

__all__ = ["FLUSH_INTERVAL", "RecordOutput"]

logger = logging.getLogger("inspector")

FLUSH_INTERVAL = 0.05  # seconds a record may wait before it is written to inspector_jsonl


class RecordOutput:
    """The record sink of the addon's `Analysis`."""

    def __init__(self) -> None:
        self.writer: JsonlWriter | None = None
        self.counts: dict[str, int] = {}  # record type tag -> records emitted
        self.log_level = "all"
        self._lines = LogLines(everything=True)
        self.filter: Filter | None = None  # inspector_filter (None: every record)
        self._file: Any = None
        self._last_flush = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None

    def set_log_level(self, level: str) -> None:
        self.log_level = level
        self._lines.everything = level == "all"

    def open(self, path: str | None) -> None:
        """Write records to ``path`` from now on ('-': stdout; None or "": nowhere); InputError if it
        cannot be opened (the previous file stays)."""
        new_file = None
        if path == "-":
            new_file = sys.stdout.buffer
        elif path:
            target = Path(path).expanduser()
            if not target.parent.is_dir():
                raise InputError(f"inspector_jsonl: directory {str(target.parent)!r} does not exist")
            try:
                new_file = open(target, "ab")  # noqa: SIM115 (kept open until close or the next open)
            except OSError as exc:
                raise InputError(f"inspector_jsonl: cannot open {path!r}: {exc.strerror}") from None
        self.close()
        self._file = new_file
        self.writer = JsonlWriter(new_file) if new_file is not None else None

    def close(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self.writer is not None:
            self._write_out()
        if self._file is not None and self._file is not sys.stdout.buffer:
            self._file.close()
        self._file = self.writer = None

    def reset(self) -> None:
        self.counts.clear()
        self._lines.clear()

    def set_filter(self, text: str) -> None:
        """``inspector_filter``: only records it keeps are counted, written and logged ("" keeps all)."""
        self.filter = Filter.parse(text) if text.strip() else None

    def __call__(self, record: Any) -> None:
        if self.filter is not None and not self.filter(record):
            return
        tag = type(record).__struct_config__.tag
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if self.writer is not None:
            self.writer.write(record)
        if self.log_level != "off":
            for level, line in self._lines(record):
                logger.log(level, line)

    def first_warning(self, name: str, message: str) -> None:
        """First occurrence of a warning name (the WarningRecord with its count comes at the end)."""
        if self.log_level != "off":
            logger.log(*warning_line(name, message))

    def summary(self, internal_errors: int) -> None:
        if self.log_level != "off":
            logger.info(summary_line(self.counts, internal_errors))

    def flush(self) -> None:
        """Write pending records now if the last write is FLUSH_INTERVAL old, else within FLUSH_INTERVAL.

        A record reaches the file within FLUSH_INTERVAL seconds (at once when traffic is sparse), while
        a busy proxy writes a batch per interval rather than a syscall per message.
        """
        if self.writer is None:
            return
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self._write_out()
            self._last_flush = now
        elif self._flush_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write_out()
                return
            self._flush_timer = loop.call_later(FLUSH_INTERVAL, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        if self.writer is not None:
            self._write_out()
            self._last_flush = time.monotonic()

    def _write_out(self) -> None:
        """Flush the writer; a failing file (a full disk) loses that batch and is logged, never raised
        into mitmproxy (the writer keeps no batch it failed to write, so nothing piles up)."""
        try:
            self.writer.flush()
        except Exception as exc:  # the proxy goes on whatever the output file does
            logger.error(f"inspector: writing records failed ({escape_terminal(str(exc))[:200]}); "
                         "that batch is lost")
