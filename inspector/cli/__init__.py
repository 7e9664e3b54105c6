"""The `inspector` command line (click).

Commands: `decode` (hex/base64/raw frames -> annotated frames), `build` (craft a frame), `accept`
(Sec-WebSocket-Accept for a key), `analyze` (pcap/pcapng, HAR, mitmproxy flow files, inspector JSON Lines),
`report` (the same inputs as one self-contained HTML file), `live` (mitmdump with the addon).
Every input problem ends as one line ``inspector: <problem>`` on stderr and exit code 2, never a traceback;
a bug ends as one line ``inspector: internal error (...), please report`` and exit code 3 (the traceback
only with ``--debug``).
"""

from __future__ import annotations

import sys
import traceback

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
from inspector.present.escape import escape_terminal

__all__ = ["cli", "main", "parse_hex", "parse_base64"]


EXIT_CODES = """\b
Exit status:
  0  done (violations and warnings are reported, not failures)
  1  only a --fail-on (analyze) or --strict (decode) condition was met
  2  unusable input or usage: nothing could be read, a bad option
  3  internal error in inspector (a bug: please report it; --debug shows the traceback)
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(package_name="inspector")
@click.option("--debug", is_flag=True, help="On an internal error, print the Python traceback.")
def cli(debug: bool) -> None:
    """Show what WebSocket, SSE and polling traffic puts on the wire, and whether it is right."""


for _command in (decode, build, accept, analyze, report, live, addon_path):
    cli.add_command(_command)


def _error(text: str) -> None:
    click.echo(f"inspector: {escape_terminal(text)}", err=True)


def main(args: list[str] | None = None) -> None:
    """Console-script entry point: exit codes as in `EXIT_CODES`, one line on stderr for every error."""
    argv = sys.argv[1:] if args is None else list(args)
    debug = "--debug" in argv[: argv.index("--") if "--" in argv else len(argv)]
    try:
        status = cli.main(args=argv, prog_name="inspector", standalone_mode=False)
    except InputError as exc:
        _error(str(exc))
        sys.exit(2)
    except click.exceptions.Abort:
        _error("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        _error(exc.format_message())
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except MemoryError:
        _error("out of memory")
        sys.exit(3)
    except OSError as exc:  # a full disk, an unreadable file: the OS's words, on one line
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        sys.exit(2)
    except Exception as exc:  # a bug: one line (the traceback with --debug), a distinct exit code
        if debug:
            traceback.print_exc()
        _error(f"internal error ({type(exc).__name__}: {str(exc)[:200]}), please report")
        sys.exit(3)
    # A command's int return value (or ctx.exit(n)) is the exit status.
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
