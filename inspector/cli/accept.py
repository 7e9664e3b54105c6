"""`inspector accept`: the Sec-WebSocket-Accept value for a key (RFC 6455 4.2.2)."""

from __future__ import annotations

import click

from inspector.errors import InputError
from inspector.present.escape import escape_terminal
from inspector.ws.handshake import accept_for, key_problem


@click.command()
@click.argument("key")
def accept(key: str) -> None:
    """Print the Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 4.2.2).

    KEY must be the base64 encoding of 16 bytes, as a client sends it
    (e.g. dGhlIHNhbXBsZSBub25jZQ== -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=).
    """
    key = key.strip()  # as in a header value: surrounding whitespace is not part of it (RFC 7230 3.2.4)
    problem = key_problem(key)
    if problem is not None:
        raise InputError(f"Sec-WebSocket-Key {escape_terminal(key)!r} {problem} (RFC 6455 4.1)")
    click.echo(accept_for(key))
