"""The `inspector` command line (click).

Commands: `decode` (hex/base64/raw frames -> annotated frames), `build` (craft a frame), `accept`
(Sec-WebSocket-Accept for a key), `analyze` (pcap/pcapng, HAR, mitmproxy flow files, inspector JSON Lines),
`report` (the same inputs as one self-contained HTML file), `live` (mitmdump with the addon).
Every input problem ends as one line ``inspector: <problem>`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import click

from inspector.cli.accept import accept
from inspector.cli.addon_path import addon_path
from inspector.cli.analyze import analyze
from inspector.cli.build import build
from inspector.cli.decode import decode
from inspector.cli.hexinput import parse_base64, parse_hex
from inspector.cli.live import live
from inspector.cli.report import report
from inspector.errors import InputError

__all__ = ["cli", "main", "parse_hex", "parse_base64"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inspector")
def cli() -> None:
    """Show what WebSocket, SSE and polling traffic puts on the wire, and whether it is right."""


for _command in (decode, build, accept, analyze, report, live, addon_path):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point: run the click group, turning InputError into a one-line error."""
    try:
        status = cli.main(standalone_mode=False)
    except InputError as exc:
        click.echo(f"inspector: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("inspector: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"inspector: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except OSError as exc:  # a full disk, an unreadable file: the OS's words, on one line
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"inspector:{where} {exc.strerror or exc}", err=True)
        sys.exit(2)
    # A command's int return value (or ctx.exit(n)) is the exit status.
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
