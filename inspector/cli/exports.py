"""``--perfetto FILE`` and ``--har FILE``: exports written next to the main output (analyze, report)."""

from __future__ import annotations

import click

from inspector.errors import InputError

__all__ = ["export_options", "Exports"]


def export_options(command):
    """The two export options, for every command that runs an analysis."""
    command = click.option("--har", "har", metavar="FILE",
                           help="Also write the run as HAR 1.2 (Chrome DevTools imports it).")(command)
    return click.option("--perfetto", "perfetto", metavar="FILE",
                        help="Also write the run as a Chrome Trace Event file (ui.perfetto.dev, chrome://tracing).")(
        command)


class Exports:
    """The export writers asked for; each is a sink, `close` ends and closes their files."""

    def __init__(self, perfetto: str | None, har: str | None) -> None:
        from inspector.present.har_export import HarWriter
        from inspector.present.perfetto import PerfettoWriter

        self.sinks: list = []
        self._files: list = []
        try:
            for path, writer in ((perfetto, PerfettoWriter), (har, HarWriter)):
                if path:
                    f = _open(path)
                    self._files.append(f)
                    self.sinks.append(writer(f))
        except BaseException:
            self.abort()
            raise

    def fanout(self, sink):
        """``sink`` alone, or in front of the exports."""
        if not self.sinks:
            return sink
        from inspector.present.fanout import Fanout

        return Fanout(sink, *self.sinks)

    def close(self) -> None:
        try:
            for sink in self.sinks:
                sink.close()
        finally:
            self.abort()

    def abort(self) -> None:
        for f in self._files:
            f.close()
        self._files = []


def _open(path: str):
    try:
        return open(path, "wb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
