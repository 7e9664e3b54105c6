"""The addon's file exports: the HTML report (``inspector_report``) and the HAR (``inspector_har``).

`LiveExports` is a record sink next to the addon's `output.RecordOutput`.  The report keeps its
bounded rows (`present.report.ReportBuilder`) and is written when mitmproxy exits and on the
``inspector.report`` command (then with the patterns as they stand); the HAR is streamed as
connections end (`present.har_export.HarWriter`) and completed at exit.  Files are written whole
(the report through a temporary file renamed into place), so a reader never sees half a report.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable

from inspector.classify import Thresholds
from inspector.errors import InputError

__all__ = ["LiveExports"]

logger = logging.getLogger("inspector")


def _target(option: str, path: str) -> Path:
    """``path`` expanded; InputError ("<option>: ...") when its directory does not exist."""
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise InputError(f"{option}: directory {str(target.parent)!r} does not exist")
    return target


class LiveExports:
    """The report and HAR files the options ask for (none by default); a sink for every record."""

    def __init__(self) -> None:
        self.report_path: Path | None = None
        self.har_path: Path | None = None
        self._builder: Any = None
        self._har: Any = None
        self._har_file: Any = None
        self._thresholds = Thresholds()

    def configure(self, report: str | None, har: str | None, thresholds: Thresholds) -> None:
        """Set the files (None or "": none).  The report collects from now on; a new HAR file starts
        empty (the previous one is completed first).  InputError when a directory does not exist."""
        self._thresholds = thresholds
        report_path = _target("inspector_report", report) if report else None
        har_path = _target("inspector_har", har) if har else None
        if report_path is None:
            self._builder = None
        elif self._builder is None:
            from inspector.present.report import ReportBuilder

            self._builder = ReportBuilder(title="inspector report: mitmproxy session", thresholds=thresholds)
        self.report_path = report_path
        if har_path != self.har_path:
            self._close_har()
            if har_path is not None:
                self._open_har(har_path)
            self.har_path = har_path

    def _open_har(self, path: Path) -> None:
        from inspector.present.har_export import HarWriter

        try:
            self._har_file = open(path, "wb")  # noqa: SIM115 (open until exit or the next file)
        except OSError as exc:
            raise InputError(f"inspector_har: cannot open {str(path)!r}: {exc.strerror}") from None
        self._har = HarWriter(self._har_file)

    def _close_har(self) -> None:
        har, f = self._har, self._har_file
        self._har = self._har_file = None
        if f is None:
            return
        try:
            har.close()
            logger.info(f"inspector: HAR written to {self.har_path}")
        except OSError as exc:
            logger.error(f"inspector: cannot write the HAR {str(self.har_path)!r}: {exc.strerror or exc}")
        finally:
            f.close()

    # -- records in -------------------------------------------------------------------------------------

    def __call__(self, record: Any) -> None:
        if self._builder is not None:
            self._builder(record)
        if self._har is not None:
            self._har(record)

    def write_many(self, batch: Iterable[Any]) -> None:
        for record in batch:
            self(record)

    # -- files out --------------------------------------------------------------------------------------

    def write_report(self, patterns: list | None = None) -> bool:
        """Write the report now (``patterns``: the current ones, mid-session); False when none is asked
        for or it could not be written (logged)."""
        builder, path = self._builder, self.report_path
        if builder is None or path is None:
            return False
        kept = builder.patterns
        if patterns is not None:
            builder.patterns = list(patterns)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as out:
                builder.write(out)
            os.replace(temporary, path)
        except OSError as exc:
            logger.error(f"inspector: cannot write the report {str(path)!r}: {exc.strerror or exc}")
            temporary.unlink(missing_ok=True)
            return False
        finally:
            builder.patterns = kept
        logger.info(f"inspector: report written to {path}")
        return True

    def close(self) -> None:
        """The session is over (every record is in): write the report, complete the HAR."""
        self.write_report()
        self._close_har()
        self._builder = None
        self.report_path = self.har_path = None
