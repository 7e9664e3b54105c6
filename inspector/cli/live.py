"""`inspector live`: mitmdump with the addon, for people who do not want to find the addon path.

``inspector live [--wire] [--port N] [--jsonl FILE] [--filter EXPR] [-- mitmdump args]`` runs (replacing
this process, so Ctrl-C and the exit status are mitmdump's)::

    mitmdump -s <inspector/mitm/addon.py> --listen-port N [--set inspector_wire=true] ... <mitmdump args>

The mitmdump next to the running Python is preferred (the one whose mitmproxy the package was installed
with), then the one on PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from inspector.errors import InputError

__all__ = ["live", "mitmdump_command"]


def _mitmdump() -> str:
    beside = Path(sys.executable).parent / "mitmdump"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("mitmdump")
    if found is None:
        raise InputError("mitmdump not found: install mitmproxy (pip install mitmproxy)")
    return found


def mitmdump_command(*, wire: bool, port: int, jsonl: str | None, filter_text: str | None,
                     extra: tuple[str, ...]) -> list[str]:
    """The mitmdump command line `live` runs."""
    addon = Path(__file__).resolve().parent.parent / "mitm" / "addon.py"
    cmd = [_mitmdump(), "-s", str(addon), "--listen-port", str(port)]
    if wire:
        cmd += ["--set", "inspector_wire=true"]
    if jsonl:
        cmd += ["--set", f"inspector_jsonl={jsonl}"]
    if filter_text:
        cmd += ["--set", f"inspector_filter={filter_text}"]
    return cmd + list(extra)


@click.command("live", context_settings={"ignore_unknown_options": True})
@click.option("--wire", is_flag=True,
              help="Wire mode: decode WebSocket frames exactly as sent (violations, masking keys, ping/pong).")
@click.option("-p", "--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="The proxy's port (point the browser or client at 127.0.0.1:PORT).")
@click.option("--jsonl", metavar="FILE", help="Also append the records to FILE as JSON Lines ('-': stdout).")
@click.option("--filter", "filter_text", metavar="EXPR",
              help="Only records matching EXPR (inspector_filter: ~d HOST, ~u URL-PART, ~websocket, ~b REGEX, ...).")
@click.option("--print-command", is_flag=True, help="Print the mitmdump command instead of running it.")
@click.argument("mitmdump_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- MITMDUMP ARGS]")
def live(wire, port, jsonl, filter_text, print_command, mitmdump_args) -> int | None:
    """Start mitmdump with the inspector addon: a proxy on 127.0.0.1:PORT logging every WebSocket message,
    SSE event and polling pattern through it.  Arguments after -- go to mitmdump (e.g. --mode reverse:URL,
    --mode upstream:URL, -w flows.mitm)."""
    if filter_text:
        from inspector.filter import Filter

        Filter.parse(filter_text)  # refused here, with one line, rather than by mitmdump at start-up
    cmd = mitmdump_command(wire=wire, port=port, jsonl=jsonl, filter_text=filter_text, extra=mitmdump_args)
    if print_command:
        click.echo(" ".join(cmd))
        return 0
    sys.stdout.flush()
    os.execv(cmd[0], cmd)  # replaces this process
