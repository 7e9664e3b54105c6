"""`inspector analyze`: captures and recordings (pcap/pcapng, HAR, mitmproxy flow files, inspector's own
JSON Lines; ``-`` for stdin) through `Analysis`.

The records go through one `inspector.filter.FilterSink`, then to ``--fail-on`` (`present.failon.FailOn`)
and to the output: the human renderer or ``--jsonl``.  Reading stdin, the output is flushed after each
chunk of input is analysed, so a growing capture (``tcpdump -U -w - | inspector analyze -``) shows its
traffic as it happens.
"""

from __future__ import annotations

import os
import sys

import click

from inspector.errors import InputError


class _Fanout:
    """One sink handing every record to several (``--fail-on`` and the output)."""

    def __init__(self, *sinks) -> None:
        self._many = [getattr(s, "write_many", None) or (lambda batch, s=s: [s(r) for r in batch]) for s in sinks]

    def __call__(self, record) -> None:
        self.write_many((record,))

    def write_many(self, batch) -> None:
        for write in self._many:
            write(batch)


def _thresholds(items):
    from inspector.classify import Thresholds

    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--threshold needs NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    return Thresholds.from_mapping(overrides)


def _readers(files):
    from inspector.sources import open_source
    from inspector.sources.stdin import open_stdin

    if list(files).count("-") > 1:
        raise InputError("- (stdin) can be given once")
    return [open_stdin(sys.stdin.buffer) if path == "-" else open_source(path) for path in files]


def _open_output(output: str, jsonl: bool):
    stdout = sys.stdout.buffer if jsonl else sys.stdout
    if output == "-":
        return stdout, False
    try:
        return (open(output, "wb") if jsonl else open(output, "w", encoding="utf-8")), True
    except OSError as exc:
        raise InputError(f"{output}: {exc.strerror or exc}") from None


def _run(reader, analysis, options, progress) -> None:
    path = reader.path
    size = os.path.getsize(path) if path != "-" and os.path.isfile(path) else 0
    show = progress if progress is not None else (sys.stderr.isatty() and size > (16 << 20))
    if show and size and not reader.compressed:
        with click.progressbar(length=size, file=sys.stderr, label=os.path.basename(path)) as bar:
            options.progress = bar.update
            reader.run(analysis, options)
    else:
        reader.run(analysis, options)


def _filter(conns, hosts, endpoints, types, directions, opcodes, names, grep):
    from inspector.filter import Filter

    return Filter.build(conns=conns, hosts=hosts, endpoints=endpoints, types=types, directions=directions,
                        opcodes=opcodes, names=names, grep=grep)


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
@click.option("--conn", "conns", multiple=True, metavar="ID",
              help="Only this connection, e.g. c3 (with several files 2:c3; repeatable).")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="Only connections with this IP, IP:PORT or HTTP Host (repeatable).")
@click.option("--endpoint", "endpoints", multiple=True, metavar="TEXT",
              help="Only connections with a URL containing TEXT, e.g. /chat (repeatable).")
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help="Only these record types: exchange, handshake, frame, message, sse_event, sse_stream, pattern, "
                   "warning, connection (repeatable).")
@click.option("--direction", "directions", multiple=True, type=click.Choice(["client", "server"]),
              help="Only frames and messages sent by this side.")
@click.option("--opcode", "opcodes", multiple=True, metavar="NAME",
              help="Only frames and messages of this opcode: text, binary, close, ping, pong, continuation.")
@click.option("--name", "names", multiple=True, metavar="NAME",
              help="Only records carrying this violation, finding or warning name (repeatable).")
@click.option("--grep", metavar="REGEX", help="Only records whose message text, hex payload, SSE data or URL matches.")
@click.option("--view-cap", type=click.IntRange(min=1), default=256, show_default=True,
              help="Characters/bytes of each payload shown (text, data).")
@click.option("--ws", "ws", multiple=True, metavar="PORT|HOST:PORT",
              help="Decode TCP connections to this server as WebSocket frames, handshake or not (repeatable).")
@click.option("--no-ws-heuristic", is_flag=True,
              help="Do not offer WebSocket decoding for handshake-less connections that look like frames.")
@click.option("--fail-on", "fail_on", multiple=True, metavar="COND",
              help="Exit 1, explaining on stderr, when a record meets COND: violations[:NAME], invalid-handshake, "
                   "handshake-notes, sse-findings[:NAME], warnings[:NAME], wasteful-polling (repeatable).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal and the input is large).")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a classifier threshold (inspector.classify.Thresholds, e.g. long_poll_hold_s=2; "
                   "repeatable).")
def analyze(files, jsonl, output, show_frames, time_mode, width, conns, hosts, endpoints, types, directions, opcodes,
            names, grep, view_cap, ws, no_ws_heuristic, fail_on, progress, thresholds) -> int:
    """Analyze captures and recordings: pcap/pcapng (also gzip-compressed), HAR, mitmproxy flow files,
    inspector's own JSON Lines; - reads stdin (a growing pcap stream is analysed as it arrives).

    Reports connections, HTTP exchanges, WebSocket handshakes, frames and messages, SSE events and the
    pattern of each endpoint (polling, SSE, WebSocket) with its cost.  The file type is detected by
    content.  Exit status: 0, 1 with --fail-on when it matched, 2 when a file could not be read at all.
    """
    from inspector.analysis import Analysis, Options
    from inspector.filter import FilterSink
    from inspector.present.failon import FailOn
    from inspector.sources import SourceOptions

    classifier_thresholds = _thresholds(thresholds)
    flt = _filter(conns, hosts, endpoints, types, directions, opcodes, names, grep)
    gate = FailOn(fail_on, classifier_thresholds)
    readers = _readers(files)  # every file is checked before any output
    out, owned = _open_output(output, jsonl)
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
        filtered = FilterSink(_Fanout(gate, sink), flt)
        analysis = Analysis(filtered, source="pcap", options=Options(view_cap=view_cap, thresholds=classifier_thresholds))
        failed = []
        for index, reader in enumerate(readers):
            analysis.source = reader.kind if reader.kind not in ("pcapng", "records") else "pcap"
            filtered.filter = flt if reader.kind == "records" else flt.preselected()
            options = SourceOptions(
                ws=tuple(ws), conns=frozenset(conns), hosts=frozenset(h.lower() for h in hosts),
                heuristics=not no_ws_heuristic, conn_prefix=f"{index + 1}:" if len(readers) > 1 else "",
                idle=idle if reader.path == "<stdin>" else None,
            )
            try:
                _run(reader, analysis, options, progress)
            except InputError as exc:
                click.echo(f"inspector: {exc}", err=True)
                failed.append(reader.path)
        analysis.finish()
        close()
    finally:
        if owned:
            out.close()
    return _status(flt, filtered, gate, failed, readers)


def _status(flt, filtered, gate, failed, readers) -> int:
    """Say on stderr what matched nothing or what failed; the exit status."""
    if flt.active and not filtered.matched_connections:
        click.echo(f"inspector: nothing matched the filter ({flt.describe()})", err=True)
    if filtered.warnings:
        summary = ", ".join(f"{name} x{count}" for name, count in filtered.warnings.items())
        click.echo(f"inspector: warnings: {summary}", err=True)
    if failed and len(failed) == len(readers):
        return 2
    if gate:
        click.echo(gate.report(), err=True)
        return 1
    return 2 if failed else 0
