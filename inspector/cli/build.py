"""`inspector build`: one WebSocket frame, crafted field by field (invalid ones too)."""

from __future__ import annotations

import os
import sys
import zlib

import click

from inspector.cli.hexinput import parse_hex
from inspector.errors import InputError
from inspector.ws.header import OPCODE_NAMES
from inspector.ws.schema import LENGTH_ENCODINGS, build_frame

_OPCODE_NUMBERS = {name: number for number, name in OPCODE_NAMES.items()}


class _OpcodeType(click.ParamType):
    """An opcode by name (text, binary, close, ping, pong, continuation) or number (0-15, 0x8)."""

    name = "opcode"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = value.strip().lower()
        if text in _OPCODE_NUMBERS:
            return _OPCODE_NUMBERS[text]
        try:
            number = int(text, 0)
        except ValueError:
            self.fail(f"{value!r} is not an opcode: use text, binary, close, ping, pong, continuation or 0-15",
                      param, ctx)
        if not 0 <= number <= 15:
            self.fail(f"opcode {number} is not 0-15 (4 bits, RFC 6455 5.2)", param, ctx)
        return number


def _masking_key(value: str | None, sender: str) -> bytes | None:
    if value is None:
        value = "random" if sender == "client" else "none"
    text = value.strip().lower()
    if text == "random":
        return os.urandom(4)
    if text == "none":
        return None
    try:
        key = parse_hex(text, "--mask")
    except InputError:
        key = b""
    if len(key) != 4:
        raise click.BadParameter(f"{value!r} is not a masking key: 8 hex digits, random or none",
                                 param_hint="'--mask'")
    return key


def _deflate_message(payload: bytes) -> bytes:
    """Compress one message for permessage-deflate: raw DEFLATE, sync flush, tail removed (RFC 7692 7.2.1)."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4] if data.endswith(b"\x00\x00\xff\xff") else data


@click.command()
@click.argument("opcode", type=_OpcodeType(), required=False)
@click.argument("payload", required=False)
@click.option("--hex", "payload_hex", metavar="HEX", help="The payload as hex instead of text.")
@click.option("--payload-file", type=click.File("rb"), metavar="FILE",
              help="The payload's raw bytes from FILE ('-' for stdin), for payloads too big for an argument.")
@click.option("--from", "sender", type=click.Choice(["client", "server"]), default="client", show_default=True,
              help="The side sending the frame: decides the default mask.")
@click.option("--mask", metavar="KEY|random|none",
              help="Masking key (8 hex digits), random or none. Default: random from a client, none from a "
                   "server (RFC 6455 5.1, 5.3).")
@click.option("--no-fin", is_flag=True, help="Clear FIN (a non-final fragment).")
@click.option("--rsv1", is_flag=True, help="Set RSV1.")
@click.option("--rsv2", is_flag=True, help="Set RSV2.")
@click.option("--rsv3", is_flag=True, help="Set RSV3.")
@click.option("--length-encoding", type=click.Choice(LENGTH_ENCODINGS),
              help="Force the payload length encoding (a wider one than needed crafts a non-minimal length).")
@click.option("--close-code", type=click.IntRange(0, 0xFFFF), metavar="N",
              help="Make the payload a close code (any 0-65535, to craft invalid ones too); opcode defaults to close.")
@click.option("--reason", metavar="TEXT", help="UTF-8 close reason after --close-code (RFC 6455 5.5.1).")
@click.option("--deflate", "compress", is_flag=True,
              help="Compress the payload with permessage-deflate and set RSV1 (RFC 7692 7.2.1).")
@click.option("--raw", is_flag=True, help="Write the frame's bytes instead of hex.")
def build(opcode, payload, payload_hex, payload_file, sender, mask, no_fin, rsv1, rsv2, rsv3, length_encoding,
          close_code, reason, compress, raw) -> None:
    """Build one WebSocket frame and print it as hex (which `inspector decode` reads back).

    OPCODE is a name (text, binary, close, ping, pong, continuation) or a number 0-15; it defaults to
    close with --close-code and to text otherwise. PAYLOAD is text (UTF-8); use --hex or --payload-file
    for bytes.

    \b
    Examples:
      inspector build text Hello --mask 37fa213d
      inspector build --from server close --close-code 1000 --reason bye
      inspector build binary --hex 'de ad be ef' --length-encoding 64bit
    """
    if sum(given is not None for given in (payload, payload_hex, payload_file)) > 1:
        raise click.UsageError("give the payload once: as text, with --hex or with --payload-file")
    if reason is not None and close_code is None:
        raise click.UsageError("--reason needs --close-code (a close reason follows the code, RFC 6455 5.5.1)")
    if close_code is not None:
        if payload is not None or payload_hex is not None or payload_file is not None:
            raise click.UsageError("--close-code builds the payload: give no other payload")
        if opcode is None:
            opcode = _OPCODE_NUMBERS["close"]
        data = close_code.to_bytes(2, "big") + (reason or "").encode("utf-8")
    elif payload_hex is not None:
        data = parse_hex(payload_hex, "--hex payload")
    elif payload_file is not None:
        data = payload_file.read()
    else:
        data = (payload or "").encode("utf-8", "surrogateescape")
    if opcode is None:
        opcode = _OPCODE_NUMBERS["text"]
    if compress:
        data = _deflate_message(data)
    frame = build_frame(
        opcode, data, fin=not no_fin, rsv1=rsv1 or compress, rsv2=rsv2, rsv3=rsv3,
        mask=_masking_key(mask, sender), length_encoding=length_encoding,
    )
    if raw:
        sys.stdout.buffer.write(frame)
    else:
        click.echo(frame.hex())
