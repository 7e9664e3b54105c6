"""The `inspector` command line (click).

Commands: `decode` (hex/base64/raw frames -> annotated frames), `build` (craft a frame), `accept`
(Sec-WebSocket-Accept for a key), `analyze` (pcap/pcapng, HAR, mitmproxy flow files).
Every input problem ends as one line ``inspector: <problem>`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import sys
import tempfile
import zlib

import click
import msgspec

from inspector.deflate import EXTENSION_NAME, DeflateParams
from inspector.errors import InputError
from inspector.frames import LENGTH_ENCODINGS, OPCODE_NAMES, build_frame
from inspector.handshake import accept_for, key_problem
from inspector.records import Frame, JsonlWriter, Message
from inspector.records import Warning as RecordWarning
from inspector.views import escape_terminal, json_view, payload_views
from inspector.websocket import WebSocketStream


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inspector")
def cli() -> None:
    """Show what WebSocket, SSE and polling traffic puts on the wire, and whether it is right."""


# --- decode / build / accept: RFC 6455 frames and handshake values from the command line -------------

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


_DUMP_LINE = re.compile(r"\s*([0-9A-Fa-f]{4,8}):?(?=\s|$)(.*)")
_HEX_TOKEN = re.compile(r"(?:0[xX]|\\x)?([0-9A-Fa-f]+)")


def _plain_hex(text: str, what: str) -> bytes:
    """Bytes of a hex string with optional spaces, colons, commas, ``0x`` or ``\\x`` prefixes."""
    digits = []
    for token in re.split(r"[\s:,;]+", text):
        for part in re.split(r"(?=0[xX])|(?=\\x)", token):
            if not part:
                continue
            match = _HEX_TOKEN.fullmatch(part)
            if not match:
                bad = next(c for c in part if c not in "0123456789abcdefABCDEFxX\\")
                raise InputError(f"{what}: {escape_terminal(bad)!r} is not a hex digit")
            digits.append(match.group(1))
    joined = "".join(digits)
    if len(joined) % 2:
        raise InputError(f"{what}: odd number of hex digits ({len(joined)})")
    return bytes.fromhex(joined)


def _dump_hex(lines: list[str]) -> bytes:
    """Bytes of an offset-prefixed hex dump: Wireshark "Copy as Hex Dump", xxd, hexdump -C, od -A x.

    Each line is an offset, hex bytes and an optional ASCII column; a line holds as many bytes as the next
    offset says (the last one: until the ASCII column, at most as many as the line before it).
    """
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip() == "*":
            raise InputError(f"hex dump line {number}: '*' (repeated lines left out) is not supported; use hexdump -v")
        match = _DUMP_LINE.fullmatch(line)
        if not match:
            raise InputError(f"hex dump line {number} has no offset: {escape_terminal(line.strip()[:40])!r}")
        rest = re.split(r"[|>]", match.group(2))[0]  # hexdump -C |ascii|, od -z >ascii<
        rest = re.split(r"(?<=\S)\s{3,}", rest.strip(), maxsplit=1)[0]  # wide gap before the ASCII column
        rows.append((number, int(match.group(1), 16), rest))
    data = bytearray()
    width = 16
    for i, (number, offset, rest) in enumerate(rows):
        if offset != len(data):
            if i == len(rows) - 1 and not rest:  # xxd -r style dumps end with the total length alone
                break
            raise InputError(f"hex dump line {number}: offset {offset:#x}, but {len(data):#x} bytes came before it")
        expected = rows[i + 1][1] - offset if i + 1 < len(rows) else width
        line_bytes = bytearray()
        for token in rest.split():
            if len(line_bytes) >= expected or not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", token):
                break
            line_bytes += bytes.fromhex(token)
        if i + 1 < len(rows):
            if len(line_bytes) < expected:
                raise InputError(f"hex dump line {number}: {len(line_bytes)} bytes, but the next offset says {expected}")
            width = expected
        data += line_bytes[:expected]
    return bytes(data)


def parse_hex(text: str, what: str = "hex input") -> bytes:
    """Bytes of pasted hex: a plain hex string (any separators, ``0x``/``\\x`` prefixes), a C array
    (Wireshark's "Copy as C Arrays") or an offset dump (Wireshark's "Copy as Hex Dump", xxd, hexdump -C,
    od -A x). Raises InputError."""
    if "{" in text:  # C arrays: the bytes between the braces, comments dropped
        text = " ".join(re.findall(r"\{([^}]*)\}", re.sub(r"/\*.*?\*/", " ", text, flags=re.S)))
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and re.match(r"\s*(0{4,8}(:\s|\s\s)|0{6,8}\s)", lines[0] + "  "):
        return _dump_hex(lines)
    return _plain_hex(text, what)


def parse_base64(text: str) -> bytes:
    """Bytes of base64 (standard or URL-safe alphabet, whitespace ignored, padding optional)."""
    compact = re.sub(r"\s+", "", text)
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", compact):
        bad = next(c for c in compact if not (c.isascii() and (c.isalnum() or c in "+/_-=")))
        raise InputError(f"base64 input: {escape_terminal(bad)!r} is not a base64 character")
    stripped = compact.rstrip("=")
    if len(stripped) % 4 == 1:
        raise InputError(f"base64 input: {len(stripped)} characters cannot be base64 (length mod 4 is 1)")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error as exc:
        raise InputError(f"base64 input: {exc}") from None


#: one-line meanings of the violation names (../shared/spec/violations.md), for the human output
_VIOLATION_TEXT = {
    "truncated": "the input ends inside this frame",
    "rsv-without-extension": "RSV bit set but no negotiated extension defines it (RFC 6455 5.2)",
    "rsv1-on-control-or-continuation": "RSV1 on a control frame or a non-first fragment (RFC 7692 6.1)",
    "reserved-opcode": "opcode 0x3-0x7 or 0xB-0xF is reserved (RFC 6455 5.2)",
    "control-frame-too-long": "control frame payload over 125 bytes (RFC 6455 5.5)",
    "fragmented-control-frame": "control frame with FIN=0 (RFC 6455 5.4, 5.5)",
    "non-minimal-length": "payload length not in the minimal number of bytes (RFC 6455 5.2)",
    "length-msb-set": "64-bit payload length with its most significant bit set (RFC 6455 5.2)",
    "client-frame-unmasked": "client-to-server frame with MASK=0 (RFC 6455 5.1, 5.3)",
    "server-frame-masked": "server-to-client frame with MASK=1 (RFC 6455 5.1)",
    "continuation-without-start": "continuation frame with no fragmented message in progress (RFC 6455 5.4)",
    "new-message-while-fragmented": "new data frame while a fragmented message is in progress (RFC 6455 5.4)",
    "invalid-utf8": "text or close reason is not valid UTF-8 (RFC 6455 5.6, 8.1)",
    "close-payload-length-1": "close frame with a 1-byte payload (RFC 6455 5.5.1)",
    "invalid-close-code": "close code not allowed on the wire (RFC 6455 7.4)",
    "data-after-close": "data frame after this endpoint's close frame (RFC 6455 5.5.1)",
}

_CHUNK = 1 << 16


def _bits(byte: int, mask: int) -> str:
    """Wireshark-style bit picture of the ``mask`` bits of ``byte``: ``1... ....``, ``.... 0001``."""
    out = []
    for bit in range(7, -1, -1):
        out.append(("1" if byte >> bit & 1 else "0") if mask >> bit & 1 else ".")
        if bit == 4:
            out.append(" ")
    return "".join(out)


def _header_hex(f: Frame, b0: int) -> str:
    """The frame header's bytes as far as the input holds them (RFC 6455 5.2), e.g. ``81 85 | 37 fa 21 3d``."""
    if f.masked is None:
        return f"{b0:02x}"
    extra = {"16bit": 2, "64bit": 8}.get(f.length_encoding, 0)
    len7 = {"16bit": 126, "64bit": 127}.get(f.length_encoding, f.payload_len or 0)
    parts = [f"{b0:02x} {f.masked << 7 | len7:02x}"]
    if extra and f.payload_len is not None:
        parts.append(f.payload_len.to_bytes(extra, "big").hex(" "))
    if f.masking_key:
        parts.append(bytes.fromhex(f.masking_key).hex(" "))
    return " | ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Human:
    """Prints frames, messages and a summary as they are decoded, annotated like a dissector."""

    def __init__(self, direction: str, guessed: bool, deflate, color: bool, view_cap: int) -> None:
        self.direction = direction
        self.view_cap = view_cap
        self.guessed = guessed
        self.deflate = deflate
        self.color = color
        self.frames = 0
        self.messages = 0
        self.violations: list[tuple[str, int]] = []
        self._message_opcode: int | None = None  # data opcode of the fragmented message in progress
        self._message_compressed = False  # its first frame had RSV1 with permessage-deflate
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="backslashreplace")  # a non-UTF-8 terminal gets escapes, not errors
        self._write = sys.stdout.write

    def style(self, text: str, **kwargs) -> str:
        return click.style(text, **kwargs) if self.color else text

    def echo(self, text: str = "") -> None:
        # sys.stdout buffers (click.echo flushes every line: 5x slower on big inputs); no ANSI to strip,
        # since styles are only added when colour is on
        self._write(text + "\n")

    def header(self) -> None:
        peer = "server" if self.direction == "client" else "client"
        how = " (guessed from the first frame's MASK bit; set it with --from)" if self.guessed else ""
        self.echo(f"Direction: {self.direction} -> {peer}{how}")
        if self.deflate is not None:
            self.echo(f"Extension: {self.deflate.format()}")
        self.echo()

    def __call__(self, record) -> None:
        if isinstance(record, Frame):
            self.frame(record)
        elif isinstance(record, Message):
            self.message(record)
        elif isinstance(record, RecordWarning):
            self.echo(self.style(f"warning: {record.name}: {escape_terminal(record.message)}", fg="yellow"))

    def frame(self, f: Frame) -> None:
        self.frames += 1
        size = ""
        if f.complete and f.payload_len is not None:
            size = f", {2 + {'7bit': 0, '16bit': 2, '64bit': 8}[f.length_encoding] + 4 * bool(f.masked) + f.payload_len} bytes"
        state = "" if f.complete else self.style(" TRUNCATED", fg="red", bold=True)
        self.echo(self.style(f"Frame {f.index}: {f.opcode_name} at offset {f.offset}{size}", bold=True) + state)
        b0 = f.fin << 7 | f.rsv1 << 6 | f.rsv2 << 5 | f.rsv3 << 4 | f.opcode
        self.echo(f"    Header: {_header_hex(f, b0)}")
        self.echo(f"    {_bits(b0, 0x80)} = FIN: {f.fin}" + ("" if f.fin else " (more fragments follow)"))
        rsv = b0 >> 4 & 7
        names = [n for n, on in (("RSV1", f.rsv1), ("RSV2", f.rsv2), ("RSV3", f.rsv3)) if on]
        note = ""
        if names:
            note = f" ({', '.join(names)} set"
            if f.rsv1 and self.deflate is not None and f.opcode in (1, 2):
                note += ": message compressed, permessage-deflate"
            note += ")"
        self.echo(f"    {_bits(b0, 0x70)} = RSV: {rsv:#x}{note}")
        self.echo(f"    {_bits(b0, 0x0F)} = Opcode: {f.opcode_name} ({f.opcode})")
        if f.masked is None:
            self.echo("    (the input ends before the second header byte: MASK and payload length missing)")
        else:
            len7 = {"16bit": 126, "64bit": 127}.get(f.length_encoding, f.payload_len or 0)
            b1 = f.masked << 7 | len7
            self.echo(f"    {_bits(b1, 0x80)} = MASK: {f.masked}")
            if f.length_encoding == "7bit":
                self.echo(f"    {_bits(b1, 0x7F)} = Payload length: {f.payload_len} (7-bit)")
            else:
                width = 16 if f.length_encoding == "16bit" else 64
                self.echo(f"    {_bits(b1, 0x7F)} = Payload length: {len7} (a {width}-bit extended length follows)")
                shown = "(missing: input ends)" if f.payload_len is None else str(f.payload_len)
                self.echo(f"    Extended payload length ({width} bits): {shown}")
            if f.masked:
                self.echo(f"    Masking key: {f.masking_key or '(missing: input ends)'}")
        self.payload(f)
        for name in f.violations:
            self.violations.append((name, f.index))
            self.echo(self.style(f"    Violation: {name}: {_VIOLATION_TEXT.get(name, '')}", fg="red"))
        self.echo()

    def payload(self, f: Frame) -> None:
        if f.payload is None:
            return
        data = bytes.fromhex(f.payload)
        opcode = f.opcode
        if opcode in (1, 2):
            self._message_opcode = None if f.fin else opcode
            compressed = f.rsv1 and self.deflate is not None
            self._message_compressed = compressed
        elif opcode == 0:
            opcode = self._message_opcode or 2
            compressed = self._message_compressed
            if f.fin:
                self._message_opcode = None
        else:
            compressed = False
        if f.payload_len is None:
            return
        shown = len(data)
        what = "compressed, as on the wire" if compressed else "unmasked" if f.masked else "as sent"
        if not f.complete:
            if f.masked and f.masking_key is None:
                return
            cut = f", the input ends after {shown}" + (" or more" if shown >= self.view_cap else "")
        else:
            cut = f", first {shown} shown" if shown < f.payload_len else ""
        if f.payload_len == 0:
            self.echo("    Payload: none (0 bytes)")
            return
        self.echo(f"    Payload ({_plural(f.payload_len, 'byte')}, {what}{cut}):")
        views = payload_views(2 if compressed else opcode, data, len(data))
        if "text" in views:
            self.echo(f"      Text: \"{escape_terminal(views['text'])}\"" + (" ..." if shown < f.payload_len else ""))
        if "json" in views:
            self.echo("      JSON:")
            for line in escape_terminal(views["json"], keep_newlines=True).splitlines():
                self.echo(f"        {line}")
        if opcode == 8 and views.get("close_code") is not None:
            name = views["close_code_name"] or "unregistered"
            self.echo(f"      Close code: {views['close_code']} ({name})")
            reason = views["close_reason"]
            self.echo(f"      Reason: \"{escape_terminal(reason)}\"" if reason else "      Reason: none")
        elif opcode == 8:
            self.echo("      Close: no status code")
        elif opcode in (9, 10) and data:
            kind = "Ping" if opcode == 9 else "Pong"
            self.echo(f"      {kind} data: \"{escape_terminal(data.decode('utf-8', 'replace'))}\"")
        if data:
            for line in views["hex"].splitlines():
                self.echo(f"      {escape_terminal(line)}")

    def message(self, m: Message) -> None:
        self.messages += 1
        parts = [_plural(m.length, "byte")]
        if m.frames is not None:
            parts.append(_plural(m.frames, "frame"))
        if m.compressed:
            parts.append(f"inflated from {m.wire_length}" if m.wire_length is not None else "compressed")
        if not m.complete:
            parts.append("incomplete")
        if m.inflate_error:
            parts.append(f"not inflated: {m.inflate_error}")
        line = f"Message {m.index}: {m.opcode_name}, {', '.join(parts)}"
        if m.opcode_name == "text" and m.text is not None:
            line += f": \"{escape_terminal(m.text)}\"" + (" ..." if m.truncated else "")
        elif m.opcode_name == "close":
            if m.close_code is not None:
                line += f": {m.close_code} ({m.close_code_name or 'unregistered'})"
                if m.close_reason:
                    line += f" \"{escape_terminal(m.close_reason)}\""
        elif m.data:
            line += f": {m.data}" + (" ..." if m.truncated else "")
        self.echo(self.style(line, fg="cyan"))
        if m.text and not m.truncated and (m.compressed or (m.frames or 0) > 1):
            pretty = json_view(m.text)  # the frames showed compressed bytes or only pieces of it
            if pretty is not None:
                self.echo("    JSON:")
                for text_line in escape_terminal(pretty, keep_newlines=True).splitlines():
                    self.echo(f"      {text_line}")
        self.echo()

    def summary(self) -> None:
        counts = f"{_plural(self.frames, 'frame')}, {_plural(self.messages, 'message')}"
        if not self.violations:
            self.echo(counts + ", " + self.style("no violations", fg="green"))
            sys.stdout.flush()
            return
        listed = ", ".join(f"{name} (frame {index})" for name, index in self.violations)
        self.echo(counts + ", " + self.style(f"{_plural(len(self.violations), 'violation')}: {listed}", fg="red"))
        sys.stdout.flush()


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


def _text_input(pieces: tuple[str, ...], is_base64: bool) -> bytes:
    stdin_text = None
    texts = []
    for piece in pieces:
        if piece == "-":
            if stdin_text is None:
                raw = sys.stdin.buffer.read()
                try:
                    stdin_text = raw.decode("ascii")
                except UnicodeDecodeError:
                    raise InputError("stdin is not hex/base64 text (use --file - for raw bytes)") from None
            texts.append(stdin_text)
        else:
            texts.append(piece)
    text = "\n".join(texts)
    return parse_base64(text) if is_base64 else parse_hex(text)


def _write_json(records, strict: bool, meta: dict) -> int:
    """Write ``{**meta, "frames", "messages", "violations", "warnings"}`` as one JSON object, streaming:
    frames go out as they are decoded and messages wait in a spooled temporary file, so memory stays
    bounded on big inputs."""
    encode = msgspec.json.Encoder().encode
    out = sys.stdout.buffer
    out.write(encode(meta)[:-1] + b',"frames":[')
    violations: list[dict] = []
    warnings: list = []
    frames = messages = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        for record in records:
            if isinstance(record, Frame):
                out.write(b"," if frames else b"")
                out.write(encode(record))
                frames += 1
                violations.extend({"name": name, "frame": record.index} for name in record.violations)
            elif isinstance(record, Message):
                spool.write(b"," if messages else b"")
                spool.write(encode(record))
                messages += 1
            else:
                warnings.append(record)
        out.write(b'],"messages":[')
        spool.seek(0)
        shutil.copyfileobj(spool, out)
    out.write(b'],"violations":' + encode(violations) + b',"warnings":' + encode(warnings) + b"}\n")
    out.flush()
    return 1 if strict and violations else 0


@cli.command()
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
        chunks = iter([_text_input(hex_input, is_base64)])
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
    human = _Human(direction, guessed, params, color, view_cap)
    for note in notes:
        human.echo(f"Note: {note}")
    human.header()
    for record in records():
        human(record)
    human.summary()
    return 1 if strict and human.violations else 0


@cli.command()
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


@cli.command()
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


@cli.command("addon-path")
def addon_path() -> None:
    """Print the path of the mitmproxy addon script: mitmdump -s "$(inspector addon-path)"."""
    from pathlib import Path

    click.echo(str(Path(__file__).resolve().with_name("addon.py")))


# --- analyze: offline captures and recordings (inspector.sources) -------------------------------------


class _Tally:
    """A sink in front of the real one: counts what --fail-on and the stderr summary need."""

    def __init__(self, sink) -> None:
        from inspector.records import Handshake

        self._handshake = Handshake
        self.sink = sink
        self._sink_many = getattr(sink, "write_many", None)
        self.violations = 0
        self.invalid_handshakes = 0
        self.warnings: dict[str, int] = {}

    def __call__(self, record) -> None:
        self.write_many((record,))

    def write_many(self, records) -> None:
        """Several records at once (`Analysis` hands over an analyser's output in one call)."""
        for record in records:
            kind = type(record)
            if kind is Frame or kind is Message:
                if record.violations:
                    self.violations += 1
            elif kind is self._handshake:
                if not record.valid:
                    self.invalid_handshakes += 1
            elif kind is RecordWarning:
                self.warnings[record.name] = self.warnings.get(record.name, 0) + record.count
        if self._sink_many is not None:
            self._sink_many(records)
        else:
            for record in records:
                self.sink(record)


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--jsonl", is_flag=True, help="Write the records as JSON Lines instead of the human summary.")
@click.option("-o", "--output", metavar="FILE", default="-", show_default=True,
              help="Where to write (the summary or, with --jsonl, the records); - is stdout.")
@click.option("--frames", "show_frames", is_flag=True, help="Human output: list every WebSocket frame.")
@click.option("--conn", "conns", multiple=True, metavar="ID",
              help="Only this connection, e.g. c3 (with several files 2:c3; repeatable).")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="Only connections with this IP, IP:PORT or HTTP Host (repeatable).")
@click.option("--view-cap", type=click.IntRange(min=1), default=256, show_default=True,
              help="Characters/bytes of each payload shown (text, data).")
@click.option("--ws", "ws", multiple=True, metavar="PORT|HOST:PORT",
              help="Decode TCP connections to this server as WebSocket frames, handshake or not (repeatable).")
@click.option("--no-ws-heuristic", is_flag=True,
              help="Do not offer WebSocket decoding for handshake-less connections that look like frames.")
@click.option("--fail-on", "fail_on", multiple=True, type=click.Choice(["violations", "invalid-handshake"]),
              help="Exit 1 if any frame/message has a violation, or any handshake is invalid (repeatable).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal and the input is large).")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a classifier threshold (inspector.classify.Thresholds, e.g. long_poll_hold_s=2; "
                   "repeatable).")
def analyze(files, jsonl, output, show_frames, conns, hosts, view_cap, ws, no_ws_heuristic, fail_on,
            progress, thresholds) -> int:
    """Analyze captures and recordings: pcap/pcapng (also gzip-compressed), HAR, mitmproxy flow files.

    Reports connections, HTTP exchanges, WebSocket handshakes, frames and messages, SSE events and the
    pattern of each endpoint (polling, SSE, WebSocket) with its cost.  The file type is detected by
    content.  Exit status: 0, 1 with --fail-on when it matched, 2 when a file could not be read at all.
    """
    from inspector.analysis import Analysis, Options
    from inspector.classify import Thresholds
    from inspector.records import JsonlWriter
    from inspector.sources import SourceOptions, open_source

    overrides = {}
    for item in thresholds:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--threshold needs NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    classifier_thresholds = Thresholds.from_mapping(overrides)
    readers = [open_source(path) for path in files]  # every file is checked before any output
    stdout = sys.stdout.buffer if jsonl else sys.stdout
    out = stdout if output == "-" else None
    if out is None:
        try:
            out = open(output, "wb") if jsonl else open(output, "w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{output}: {exc.strerror or exc}") from None
    try:
        if jsonl:
            writer = JsonlWriter(out)
            sink, close = writer, writer.flush
        else:
            from inspector.render import HumanRenderer

            renderer = HumanRenderer(out, show_frames=show_frames, thresholds=classifier_thresholds)
            sink, close = renderer, renderer.close
        tally = _Tally(sink)
        analysis = Analysis(tally, source="pcap", options=Options(view_cap=view_cap, thresholds=classifier_thresholds))
        failed = []
        for index, reader in enumerate(readers):
            analysis.source = reader.kind if reader.kind != "pcapng" else "pcap"
            options = SourceOptions(
                ws=tuple(ws), conns=frozenset(conns), hosts=frozenset(h.lower() for h in hosts),
                heuristics=not no_ws_heuristic, conn_prefix=f"{index + 1}:" if len(readers) > 1 else "",
            )
            size = os.path.getsize(reader.path)
            show = progress if progress is not None else (sys.stderr.isatty() and size > (16 << 20))
            try:
                if show and not reader.compressed:
                    with click.progressbar(length=size, file=sys.stderr, label=os.path.basename(reader.path)) as bar:
                        options.progress = bar.update
                        reader.run(analysis, options)
                else:
                    reader.run(analysis, options)
            except InputError as exc:
                click.echo(f"inspector: {exc}", err=True)
                failed.append(reader.path)
        analysis.finish()
        close()
    finally:
        if out is not stdout:
            out.close()
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
