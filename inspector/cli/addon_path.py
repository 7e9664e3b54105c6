"""`inspector addon-path`: where the mitmproxy addon script is."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("addon-path")
def addon_path() -> None:
    """Print the path of the mitmproxy addon script: mitmdump -s "$(inspector addon-path)"."""
    click.echo(str(Path(__file__).resolve().parent.parent / "mitm" / "addon.py"))
