"""`inspector report`: any input `analyze` reads, as one self-contained HTML file (present.report)."""

from __future__ import annotations

import os

import click

from inspector.cli.analyze import exit_status, input_options, parse_thresholds, run_readers
from inspector.cli.exports import Exports, export_options
from inspector.errors import InputError


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", metavar="FILE", default="report.html", show_default=True,
              help="The HTML file to write.")
@click.option("--title", metavar="TEXT", help="The report's title (default: the input file names).")
@click.option("--max-messages", type=click.IntRange(min=1000), default=250_000, show_default=True,
              help="Most messages the page holds; more are sampled evenly (the page says so).")
@input_options
@export_options
def report(files, output, title, max_messages, conns, hosts, view_cap, ws, no_ws_heuristic, progress, keylogs,
           thresholds, perfetto, har) -> int:
    """Draw captures and recordings (pcap/pcapng, HAR, mitmproxy flows, inspector JSON Lines) as one
    self-contained HTML file: a timeline per connection, endpoint cards with the polling cost, handshakes
    and findings, and a searchable message table.  It needs no network access when opened."""
    from inspector.present.report import ReportBuilder
    from inspector.sources import open_source

    classifier_thresholds = parse_thresholds(thresholds)
    readers = [open_source(path) for path in files]
    builder = ReportBuilder(title=title or "inspector report: " + ", ".join(os.path.basename(f) for f in files),
                            max_messages=max_messages, thresholds=classifier_thresholds)
    exports = Exports(perfetto, har)
    try:
        tally, failed = run_readers(
            readers, exports.fanout(builder), classifier_thresholds=classifier_thresholds, view_cap=view_cap,
            ws=ws, conns=conns, hosts=hosts, no_ws_heuristic=no_ws_heuristic, progress=progress, keylogs=keylogs)
        exports.close()
    finally:
        exports.abort()
    try:
        with open(output, "w", encoding="utf-8") as out:
            builder.write(out)
    except OSError as exc:
        raise InputError(f"{output}: {exc.strerror or exc}") from None
    return exit_status(tally, failed, readers)
