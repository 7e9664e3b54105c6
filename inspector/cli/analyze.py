"""`inspector analyze`: captures and recordings (pcap/pcapng, HAR, mitmproxy flow files) through `Analysis`."""

from __future__ import annotations

import os
import sys

import click

from inspector.cli.exports import Exports, export_options
from inspector.errors import InputError
from inspector.present.escape import escape_terminal
from inspector.present.tally import Tally as _Tally


_INPUT_OPTIONS = [
    click.option("--conn", "conns", multiple=True, metavar="ID",
                 help="Only this connection, e.g. c3 (with several files 2:c3; repeatable)."),
    click.option("--host", "hosts", multiple=True, metavar="HOST",
                 help="Only connections with this IP, IP:PORT or HTTP Host (repeatable)."),
    click.option("--view-cap", type=click.IntRange(min=1), default=256, show_default=True,
                 help="Characters/bytes of each payload shown (text, data)."),
    click.option("--ws", "ws", multiple=True, metavar="PORT|HOST:PORT",
                 help="Decode TCP connections to this server as WebSocket frames, handshake or not (repeatable)."),
    click.option("--no-ws-heuristic", is_flag=True,
                 help="Do not offer WebSocket decoding for handshake-less connections that look like frames."),
    click.option("--progress/--no-progress", default=None,
                 help="Progress bar on stderr (default: when stderr is a terminal and the input is large)."),
    click.option("--keylog", "keylogs", multiple=True, metavar="FILE", callback=lambda ctx, param, value: _keylogs(value),
                 help="TLS key log (SSLKEYLOGFILE, NSS format) to decrypt TLS in captures (repeatable; keys in "
                      "a pcapng Decryption Secrets Block need no flag)."),
    click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
                 help="Override a classifier threshold (inspector.classify.Thresholds, e.g. "
                      "long_poll_hold_s=2; repeatable)."),
]


def _keylogs(paths: tuple[str, ...]) -> tuple[str, ...]:
    """``--keylog`` files, each checked before anything is read."""
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(f"--keylog {path}: no such file")
    return paths


def input_options(command):
    """The options that say what to read and how (analyze, report)."""
    for option in reversed(_INPUT_OPTIONS):
        command = option(command)
    return command


def _jobs(value: str) -> int:
    """``--jobs N|auto`` -> a number of processes."""
    if value == "auto":
        from inspector.scale.jobs import cores

        return cores()
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise InputError(f"--jobs {value}: expected a number of processes (1 or more) or auto")
    return number


def parse_thresholds(thresholds: tuple[str, ...]):
    """``--threshold NAME=VALUE`` items -> classify.Thresholds."""
    from inspector.classify import Thresholds

    overrides = {}
    for item in thresholds:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--threshold needs NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    return Thresholds.from_mapping(overrides)


def run_readers(readers, sink, *, classifier_thresholds, view_cap, ws, conns, hosts, no_ws_heuristic,
                progress, keylogs=()) -> tuple[_Tally, list[str]]:
    """Every reader into one `Analysis` feeding ``sink`` (through a `_Tally`); (tally, files that failed)."""
    from inspector.analysis import Analysis, Options
    from inspector.sources import SourceOptions

    tally = _Tally(sink)
    analysis = Analysis(tally, source="pcap", options=Options(view_cap=view_cap, thresholds=classifier_thresholds))
    failed = []
    for index, reader in enumerate(readers):
        analysis.source = reader.kind if reader.kind != "pcapng" else "pcap"
        options = SourceOptions(
            ws=tuple(ws), conns=frozenset(conns), hosts=frozenset(h.lower() for h in hosts),
            heuristics=not no_ws_heuristic, conn_prefix=f"{index + 1}:" if len(readers) > 1 else "",
            keylog=tuple(keylogs),
        )
        size = os.path.getsize(reader.path)
        show = progress if progress is not None else (sys.stderr.isatty() and size > (16 << 20))
        before = tally.records + analysis.open_connections()
        try:
            if show and not reader.compressed:
                with click.progressbar(length=size, file=sys.stderr, label=os.path.basename(reader.path)) as bar:
                    options.progress = bar.update
                    reader.run(analysis, options)
            else:
                reader.run(analysis, options)
        except InputError as exc:
            if tally.records + analysis.open_connections() > before:  # part was read: keep it, say where
                click.echo(f"inspector: warning: {escape_terminal(str(exc))} (what came before is analysed)",
                           err=True)
                analysis.warning("source-damaged", f"{exc} (what came before is analysed)")
            else:
                click.echo(f"inspector: {escape_terminal(str(exc))}", err=True)
                failed.append(reader.path)
    analysis.finish()
    return tally, failed


def exit_status(tally: _Tally, failed: list[str], readers: list, fail_on=()) -> int:
    """Echo the warnings summary; 2 when every file failed, 1 when --fail-on matched, 2 when one failed."""
    if tally.warnings:
        summary = ", ".join(f"{name} x{count}" for name, count in tally.warnings.items())
        click.echo(f"inspector: warnings: {summary}", err=True)
    if failed and len(failed) == len(readers):
        return 2
    if ("violations" in fail_on and tally.violations) or (
        "invalid-handshake" in fail_on and tally.invalid_handshakes
    ):
        return 1
    return 2 if failed else 0


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--jsonl", is_flag=True, help="Write the records as JSON Lines instead of the human summary.")
@click.option("-o", "--output", metavar="FILE", default="-", show_default=True,
              help="Where to write (the summary or, with --jsonl, the records); - is stdout.")
@click.option("--frames", "show_frames", is_flag=True, help="Human output: list every WebSocket frame.")
@input_options
@click.option("--fail-on", "fail_on", multiple=True, type=click.Choice(["violations", "invalid-handshake"]),
              help="Exit 1 if any frame/message has a violation, or any handshake is invalid (repeatable).")
@click.option("--jobs", "jobs", default="1", show_default=True, metavar="N|auto", callback=lambda c, p, v: _jobs(v),
              help="Worker processes: each capture's connections are split into N shards analysed in "
                   "parallel (auto: one per core).  The same records as --jobs 1 (docs/scale.md).")
@click.option("--dask", "dask", metavar="ADDRESS", default=None,
              help="Analyse the shards on this Dask distributed scheduler (tcp://host:8786; needs "
                   "inspector[dask]; the workers must read FILE at the same path).")
@click.option("--parquet", "parquet", metavar="DIR", default=None,
              help="Also write the records as Parquet: one dataset per record type under DIR, partitioned "
                   "by input file (needs inspector[parquet]; docs/scale.md).")
@export_options
def analyze(files, jsonl, output, show_frames, conns, hosts, view_cap, ws, no_ws_heuristic, fail_on,
            progress, keylogs, thresholds, jobs, dask, parquet, perfetto, har) -> int:
    """Analyze captures and recordings: pcap/pcapng (also gzip-compressed), HAR, mitmproxy flow files,
    and inspector's own JSON Lines.

    Reports connections, HTTP exchanges, WebSocket handshakes, frames and messages, SSE events and the
    pattern of each endpoint (polling, SSE, WebSocket) with its cost.  The file type is detected by
    content.  Exit status: 0, 1 with --fail-on when it matched, 2 when a file could not be read at all.
    """
    from inspector.present.jsonl import JsonlWriter
    from inspector.sources import open_source

    classifier_thresholds = parse_thresholds(thresholds)
    readers = [open_source(path) for path in files]  # every file is checked before any output
    stdout = sys.stdout.buffer if jsonl else sys.stdout
    out = stdout if output == "-" else None
    if out is None:
        try:
            out = open(output, "wb") if jsonl else open(output, "w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{output}: {exc.strerror or exc}") from None
    exports = Exports(perfetto, har)
    if parquet is not None:
        from inspector.scale.parquet import ParquetSink

        exports.sinks.append(ParquetSink(parquet, list(files)))
    try:
        if jsonl:
            writer = JsonlWriter(out)
            sink, close = writer, writer.flush
        else:
            from inspector.present.terminal import HumanRenderer

            renderer = HumanRenderer(out, show_frames=show_frames, thresholds=classifier_thresholds)
            sink, close = renderer, renderer.close
        if jobs > 1 or dask is not None:
            from inspector.scale import Settings, run_sharded

            settings = Settings(view_cap=view_cap, ws=tuple(ws), conns=frozenset(conns),
                                hosts=frozenset(h.lower() for h in hosts), heuristics=not no_ws_heuristic,
                                keylog=tuple(keylogs), files=len(readers))
            tally = _Tally(exports.fanout(sink))
            failed = run_sharded(readers, tally, settings=settings, thresholds=classifier_thresholds, jobs=jobs,
                                 raw=out if jsonl and not exports.sinks else None, dask=dask)
        else:
            tally, failed = run_readers(
                readers, exports.fanout(sink), classifier_thresholds=classifier_thresholds, view_cap=view_cap,
                ws=ws, conns=conns, hosts=hosts, no_ws_heuristic=no_ws_heuristic, progress=progress,
                keylogs=keylogs)
        close()
        exports.close()
    finally:
        exports.abort()
        if out is not stdout:
            out.close()
    return exit_status(tally, failed, readers, fail_on)
