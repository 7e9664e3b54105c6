"""`inspector analyze`: captures and recordings (pcap/pcapng, HAR, mitmproxy flow files, inspector's own
JSON Lines; ``-`` for stdin) through `Analysis`.

The records go through one `inspector.filter.FilterSink`, then to ``--fail-on`` (`present.failon.FailOn`)
and to the output: the human renderer or ``--jsonl`` (and the exports).  Reading stdin, the output is
flushed after each chunk of input is analysed, so a growing capture (``tcpdump -U -w - | inspector
analyze -``) shows its traffic as it happens.
"""

from __future__ import annotations

import os
import sys

import click

from inspector.cli.exports import Exports, export_options
from inspector.errors import InputError
from inspector.present.escape import escape_terminal

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


_FILTER_OPTIONS = [
    click.option("--endpoint", "endpoints", multiple=True, metavar="TEXT",
                 help="Only connections with a URL containing TEXT, e.g. /chat (repeatable)."),
    click.option("--type", "types", multiple=True, metavar="TYPE",
                 help="Only these record types: exchange, handshake, frame, message, sse_event, sse_stream, "
                      "pattern, warning, connection, operation (repeatable)."),
    click.option("--direction", "directions", multiple=True, type=click.Choice(["client", "server"]),
                 help="Only frames and messages sent by this side."),
    click.option("--opcode", "opcodes", multiple=True, metavar="NAME",
                 help="Only frames and messages of this opcode: text, binary, close, ping, pong, continuation."),
    click.option("--name", "names", multiple=True, metavar="NAME",
                 help="Only records carrying this violation, finding or warning name (repeatable)."),
    click.option("--grep", metavar="REGEX",
                 help="Only records whose message text, hex payload, SSE data or URL matches."),
]


def filter_options(command):
    """The record filter's options beyond --conn and --host (inspector.filter)."""
    for option in reversed(_FILTER_OPTIONS):
        command = option(command)
    return command


def open_inputs(files):
    """A reader per input (``-``: stdin), every one checked before any output."""
    from inspector.sources import open_source
    from inspector.sources.stdin import open_stdin

    if list(files).count("-") > 1:
        raise InputError("- (stdin) can be given once")
    return [open_stdin(sys.stdin.buffer) if path == "-" else open_source(path) for path in files]


def _run(reader, analysis, options, progress) -> None:
    path = reader.path
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    show = progress if progress is not None else (sys.stderr.isatty() and size > (16 << 20))
    if show and size and not reader.compressed:
        with click.progressbar(length=size, file=sys.stderr, label=os.path.basename(path)) as bar:
            options.progress = bar.update
            reader.run(analysis, options)
    else:
        reader.run(analysis, options)


def run_readers(readers, sink, *, classifier_thresholds, view_cap, ws, conns, hosts, no_ws_heuristic,
                progress, keylogs=(), flt=None, idle=None):
    """Every reader into one `Analysis` feeding ``sink`` through one `FilterSink` (``flt``, by default
    --conn/--host); (the FilterSink with its counts, files that failed).  ``idle`` is called when the
    input read so far from stdin is analysed."""
    from inspector.analysis import Analysis, Options
    from inspector.filter import Filter, FilterSink
    from inspector.sources import SourceOptions

    flt = flt if flt is not None else Filter.build(conns=conns, hosts=hosts)
    filtered = FilterSink(sink, flt)
    analysis = Analysis(filtered, source="pcap", options=Options(view_cap=view_cap, thresholds=classifier_thresholds))
    failed = []
    for index, reader in enumerate(readers):
        analysis.source = reader.kind if reader.kind not in ("pcapng", "records") else "pcap"
        # the sources select connections and hosts themselves (they know addresses before any record)
        filtered.filter = flt.preselected()
        options = SourceOptions(
            ws=tuple(ws), conns=frozenset(conns), hosts=frozenset(h.lower() for h in hosts),
            heuristics=not no_ws_heuristic, conn_prefix=f"{index + 1}:" if len(readers) > 1 else "",
            keylog=tuple(keylogs), idle=idle if reader.path == "<stdin>" else None,
        )
        before = filtered.seen + analysis.open_connections()
        try:
            _run(reader, analysis, options, progress)
        except InputError as exc:
            if filtered.seen + analysis.open_connections() > before:  # part was read: keep it, say where
                click.echo(f"inspector: warning: {escape_terminal(str(exc))} (what came before is analysed)",
                           err=True)
                analysis.warning("source-damaged", f"{exc} (what came before is analysed)")
            else:
                click.echo(f"inspector: {escape_terminal(str(exc))}", err=True)
                failed.append(reader.path)
    analysis.finish()
    filtered.filter = flt
    return filtered, failed


def exit_status(tally, failed: list[str], readers: list, gate=None) -> int:
    """Say on stderr what matched nothing, the warnings, and what --fail-on found; the exit status: 2 when
    every file failed, 1 when --fail-on matched, 2 when one failed."""
    flt = tally.filter
    if flt.active and not tally.matched_connections:
        click.echo(f"inspector: nothing matched the filter ({flt.describe()})", err=True)
    if tally.warnings:
        summary = ", ".join(f"{name} x{count}" for name, count in tally.warnings.items())
        click.echo(f"inspector: warnings: {summary}", err=True)
    if failed and len(failed) == len(readers):
        return 2
    if gate:
        click.echo(gate.report(), err=True)
        return 1
    return 2 if failed else 0


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--jsonl", is_flag=True, help="Write the records as JSON Lines instead of the human summary.")
@click.option("-o", "--output", metavar="FILE", default="-", show_default=True,
              help="Where to write (the summary or, with --jsonl, the records); - is stdout.")
@click.option("--frames", "show_frames", is_flag=True,
              help="Human output: a time-ordered timeline of every exchange, frame, message and SSE event.")
@click.option("--time", "time_mode", type=click.Choice(["rel", "abs", "delta"]), default="rel", show_default=True,
              help="Timeline times: seconds from the first line, ISO 8601 UTC, or seconds from the previous line.")
@click.option("--width", type=click.IntRange(min=0), default=None,
              help="Cut lines to N columns; 0 never cuts. Default: the terminal's width (COLUMNS), no cut when "
                   "piped.")
@input_options
@filter_options
@click.option("--fail-on", "fail_on", multiple=True, metavar="COND",
              help="Exit 1, explaining on stderr, when a record meets COND: violations[:NAME], invalid-handshake, "
                   "handshake-notes, sse-findings[:NAME], warnings[:NAME], wasteful-polling (repeatable).")
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
def analyze(files, jsonl, output, show_frames, time_mode, width, conns, hosts, view_cap, ws, no_ws_heuristic,
            progress, keylogs, thresholds, endpoints, types, directions, opcodes, names, grep, fail_on, jobs, dask,
            parquet, perfetto, har) -> int:
    """Analyze captures and recordings: pcap/pcapng (also gzip-compressed), HAR, mitmproxy flow files,
    and inspector's own JSON Lines; - reads stdin (a growing pcap stream is analysed as it arrives).

    Reports connections, HTTP exchanges, WebSocket handshakes, frames and messages, SSE events and the
    pattern of each endpoint (polling, SSE, WebSocket) with its cost.  The file type is detected by
    content.  Exit status: 0, 1 with --fail-on when it matched, 2 when a file could not be read at all.
    """
    from inspector.filter import Filter
    from inspector.present.failon import FailOn
    from inspector.present.fanout import Fanout

    classifier_thresholds = parse_thresholds(thresholds)
    flt = Filter.build(conns=conns, hosts=hosts, endpoints=endpoints, types=types, directions=directions,
                       opcodes=opcodes, names=names, grep=grep)
    gate = FailOn(fail_on, classifier_thresholds)
    readers = open_inputs(files)
    out, owned = _open_output(output, jsonl)
    exports = Exports(perfetto, har)
    if parquet is not None:
        from inspector.scale.parquet import ParquetSink

        exports.sinks.append(ParquetSink(parquet, list(files)))
    try:
        if jsonl:
            from inspector.present.jsonl import JsonlWriter

            writer = JsonlWriter(out)
            sink, close, idle = writer, writer.flush, writer.flush
        else:
            from inspector.present.terminal import HumanRenderer

            renderer = HumanRenderer(out, show_frames=show_frames, thresholds=classifier_thresholds,
                                     width=width, time=time_mode)
            sink, close, idle = renderer, renderer.close, renderer.idle
        target = Fanout(gate, exports.fanout(sink)) if fail_on else exports.fanout(sink)
        if jobs > 1 or dask is not None:
            tally, failed = _run_sharded(readers, target, flt, jobs=jobs, dask=dask, thresholds=classifier_thresholds,
                                         raw=out if jsonl and not exports.sinks and not fail_on else None,
                                         view_cap=view_cap, ws=ws, conns=conns, hosts=hosts,
                                         no_ws_heuristic=no_ws_heuristic, keylogs=keylogs)
        else:
            tally, failed = run_readers(
                readers, target, classifier_thresholds=classifier_thresholds,
                view_cap=view_cap, ws=ws, conns=conns, hosts=hosts, no_ws_heuristic=no_ws_heuristic,
                progress=progress, keylogs=keylogs, flt=flt, idle=idle)
        close()
        exports.close()
    finally:
        exports.abort()
        if owned:
            out.close()
    return exit_status(tally, failed, readers, gate)


def _open_output(output: str, jsonl: bool):
    stdout = sys.stdout.buffer if jsonl else sys.stdout
    if output == "-":
        return stdout, False
    try:
        return (open(output, "wb") if jsonl else open(output, "w", encoding="utf-8")), True
    except OSError as exc:
        raise InputError(f"{output}: {exc.strerror or exc}") from None


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


def _run_sharded(readers, target, flt, *, jobs, dask, thresholds, raw, view_cap, ws, conns, hosts, no_ws_heuristic,
                 keylogs):
    """``--jobs N`` / ``--dask``: the shards of `inspector.scale` merged into ``target`` through the one
    `FilterSink` (its counts, as `run_readers` returns them); (the FilterSink, files that failed)."""
    from inspector.filter import FilterSink
    from inspector.present.tally import Tally
    from inspector.scale import Settings, run_sharded

    if raw is not None and flt.active:
        raw = None  # records a filter drops must not be copied byte for byte
    filtered = FilterSink(target, flt)
    tally = Tally(filtered)
    settings = Settings(view_cap=view_cap, ws=tuple(ws), conns=frozenset(conns),
                        hosts=frozenset(h.lower() for h in hosts), heuristics=not no_ws_heuristic,
                        keylog=tuple(keylogs), files=len(readers))
    failed = run_sharded(readers, tally, settings=settings, thresholds=thresholds, jobs=jobs, raw=raw, dask=dask)
    if raw is not None:
        filtered.warnings.update(tally.warnings)
    return filtered, failed
