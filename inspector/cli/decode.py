"""`inspector decode`: WebSocket frames from pasted hex, base64 or a file, annotated."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

import click
import msgspec

from inspector.cli.hexinput import text_input
from inspector.errors import InputError
from inspector.present.decode import DecodeRenderer
from inspector.present.escape import escape_terminal
from inspector.present.jsonl import JsonlWriter, encode_value
from inspector.records import Frame, Message
from inspector.ws.deflate import EXTENSION_NAME, DeflateParams
from inspector.ws.stream import WebSocketStream

_CHUNK = 1 << 16


_START_LINE = re.compile(rb"(?:HTTP/1\.\d \d{3}|[A-Z]{3,10} \S+ HTTP/1\.\d)[^\r\n]*\r\n")


def _http_head(data: bytes, notes: list[str]) -> tuple[int, str, str, str | None] | None:
    """An HTTP/1.x head at the start of the input (e.g. one direction of a TCP stream saved from
    Wireshark): ``(length, first line, sender, Sec-WebSocket-Extensions value or None)``, else None."""
    if not _START_LINE.match(data, 0, 8192):
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0:
        notes.append(f"the input starts like an HTTP head but has no empty line in its first {len(data)} "
                     "bytes: decoded as frames")
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    extensions = [value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
                  if name.strip().lower() == "sec-websocket-extensions"]
    sender = "server" if lines[0].startswith("HTTP/") else "client"
    return end + 4, lines[0], sender, ", ".join(extensions) or None


def _head_deflate(head: tuple[int, str, str, str | None], notes: list[str]) -> DeflateParams | None:
    """The permessage-deflate parameters a 101 response head accepted (RFC 7692 7.1), with notes."""
    _, start_line, sender, extensions = head
    status = start_line.split(" ")[1] if sender == "server" and " " in start_line else None
    if status is not None and status != "101":
        notes.append(f"status {status}: not a WebSocket upgrade; the bytes after the head are decoded anyway")
    if extensions is None or EXTENSION_NAME not in extensions.lower():
        return None
    if sender == "client":
        notes.append("the client offered permessage-deflate: give what the server accepted with --deflate-params")
        return None
    params, errors = DeflateParams.parse(extensions)
    if errors:
        notes.append(f"permessage-deflate in the response is invalid ({'; '.join(errors)}): not inflating")
    return params


def _decode_direction(sender: str, first: bytes) -> tuple[str, bool]:
    if sender != "auto":
        return sender, False
    return ("client" if len(first) > 1 and first[1] & 0x80 else "server"), True


def _deflate_option(deflate: bool, params: str | None):
    if params is None:
        return DeflateParams() if deflate else None
    value = params.strip()
    if not value.lower().startswith(EXTENSION_NAME):
        value = f"{EXTENSION_NAME}; {value}" if value else EXTENSION_NAME
    parsed, errors = DeflateParams.parse(value)
    if errors or parsed is None:
        raise click.BadParameter("; ".join(errors) or "not permessage-deflate parameters",
                                 param_hint="'--deflate-params'")
    return parsed


def _write_json(records, strict: bool, meta: dict) -> int:
    """Write ``{**meta, "frames", "messages", "violations", "warnings"}`` as one JSON object, streaming:
    frames go out as they are decoded, messages and violations wait in spooled temporary files, so memory
    stays bounded on big inputs."""
    encoder = msgspec.json.Encoder()

    def encode(value) -> bytes:
        return encode_value(encoder, value)

    out = sys.stdout.buffer
    out.write(encode(meta)[:-1] + b',"frames":[')
    warnings: list = []
    frames = messages = violations = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool, \
            tempfile.SpooledTemporaryFile(max_size=8 << 20) as violation_spool:
        for record in records:
            if isinstance(record, Frame):
                out.write(b"," if frames else b"")
                out.write(encode(record))
                frames += 1
                for name in record.violations:
                    violation_spool.write(b"," if violations else b"")
                    violation_spool.write(encode({"name": name, "frame": record.index}))
                    violations += 1
            elif isinstance(record, Message):
                spool.write(b"," if messages else b"")
                spool.write(encode(record))
                messages += 1
            else:
                warnings.append(record)
        out.write(b'],"messages":[')
        spool.seek(0)
        shutil.copyfileobj(spool, out)
        out.write(b'],"violations":[')
        violation_spool.seek(0)
        shutil.copyfileobj(violation_spool, out)
    out.write(b'],"warnings":' + encode(warnings) + b"}\n")
    out.flush()
    return 1 if strict and violations else 0


@click.command()
@click.argument("hex_input", nargs=-1, metavar="[HEX]...")
@click.option("--file", "file", type=click.File("rb"), metavar="FILE",
              help="Read raw frame bytes from FILE ('-' for stdin) instead of hex.")
@click.option("--base64", "is_base64", is_flag=True, help="The input text is base64, not hex.")
@click.option("--from", "sender", type=click.Choice(["client", "server", "auto"]), default="auto",
              show_default=True,
              help="Which side sent the bytes (client frames must be masked, server frames must not). "
                   "auto: guessed from the first frame's MASK bit.")
@click.option("--deflate", is_flag=True, help="permessage-deflate was negotiated (RFC 7692): inflate RSV1 messages.")
@click.option("--deflate-params", metavar="PARAMS",
              help='Negotiated permessage-deflate parameters as in the handshake header, e.g. '
                   '"server_no_context_takeover; client_max_window_bits=10" (implies --deflate).')
@click.option("--view-cap", type=click.IntRange(min=1), default=256, show_default=True, metavar="N",
              help="Bytes/characters of each payload shown.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: frames, messages, violations.")
@click.option("--jsonl", "as_jsonl", is_flag=True,
              help="Stream Frame/Message records as JSON Lines as they are decoded (bounded memory for big files).")
@click.option("--strict", is_flag=True, help="Exit 1 when there are violations.")
def decode(hex_input, file, is_base64, sender, deflate, deflate_params, view_cap, as_json, as_jsonl, strict) -> int:
    """Decode WebSocket frames: annotated header fields, payload views, messages and RFC violations.

    HEX is the bytes one side sent, as hex: spaces, colons, 0x prefixes allowed, or a dump from
    Wireshark (Copy as Hex Dump / C Arrays), xxd, hexdump -C or od. Several HEX arguments are joined;
    '-' reads the text from stdin (also the default when stdin is not a terminal). A leading HTTP/1.1
    head (a saved TCP stream) is skipped and gives the direction and permessage-deflate parameters.
    Exit status: 0 when decoded (even with violations; 1 with --strict), 2 on unusable input.

    \b
    Examples:
      inspector decode 81 85 37 fa 21 3d 7f 9f 4d 51 58
      inspector build text Hello | inspector decode -
      inspector decode --from server --deflate c1 07 f2 48 cd c9 c9 07 00
      inspector decode --file frames.bin --json
    """
    if as_json and as_jsonl:
        raise click.UsageError("choose --json or --jsonl, not both")
    params = _deflate_option(deflate, deflate_params)
    if file is not None:
        if hex_input or is_base64:
            raise click.UsageError("--file reads raw bytes: give no HEX and no --base64")
        chunks = iter(lambda: file.read(_CHUNK), b"")
    else:
        if not hex_input:
            if sys.stdin.isatty():
                raise click.UsageError("no input: give HEX, '-' for stdin, or --file")
            hex_input = ("-",)
        chunks = iter([text_input(hex_input, is_base64)])
    first = next(chunks, b"")
    if not first:
        raise InputError("no input bytes to decode")
    notes: list[str] = []
    head = _http_head(first, notes)
    if head is not None:
        first = first[head[0]:] or next(chunks, b"")
        if sender == "auto":
            sender = head[2]
        if not deflate and deflate_params is None:
            params = _head_deflate(head, notes)
        notes.insert(0, f"skipped the HTTP head ({head[0]} bytes, {escape_terminal(head[1])!r}); "
                        "frame offsets count from the first byte after it")
    direction, guessed = _decode_direction(sender, first)
    stream = WebSocketStream("decode", deflate=params, view_cap=view_cap, frame_payloads=True)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def records():
        for record in stream.feed(direction, first):
            yield record
        for chunk in chunks:
            yield from stream.feed(direction, chunk)
        for record in stream.end():
            if isinstance(record, Frame) and (record.payload_len is None or record.masked and not record.masking_key):
                record.payload = None  # the header is cut off: no payload byte is known
            yield record

    if as_jsonl:
        writer = JsonlWriter(sys.stdout.buffer)
        violated = False
        for record in records():
            violated = violated or bool(isinstance(record, Frame) and record.violations)
            writer.write(record)
        writer.flush()
        return 1 if strict and violated else 0
    if as_json:
        return _write_json(records(), strict, {
            "direction": direction,
            "deflate": params.format() if params is not None else None,
            "http_head": None if head is None else {"length": head[0], "start_line": head[1]},
            "notes": notes,
        })
    human = DecodeRenderer(direction, guessed, params, color, view_cap)
    for note in notes:
        human.echo(f"Note: {note}")
    human.header()
    for record in records():
        human(record)
    human.summary()
    return 1 if strict and human.violations else 0
