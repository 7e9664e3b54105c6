"""`inspector decode`'s human output: frames, payload views, messages and a summary, like a dissector."""

from __future__ import annotations

import sys

import click

from inspector.present.escape import escape_terminal
from inspector.present.text import close_text, esc, message_close_text, plural
from inspector.present.views import json_view, payload_views
from inspector.records import Frame, Message, WarningRecord

__all__ = ["DecodeRenderer"]

#: one-line meanings of the violation names (docs/violations.md), for the human output
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


#: violations named one by one in the summary line (the rest are counted by name: memory stays bounded)
LISTED = 20


class DecodeRenderer:
    """Prints frames, messages and a summary as they are decoded, annotated like a dissector."""

    def __init__(self, direction: str, guessed: bool, deflate, color: bool, view_cap: int) -> None:
        self.direction = direction
        self.view_cap = view_cap
        self.guessed = guessed
        self.deflate = deflate
        self.color = color
        self.frames = 0
        self.messages = 0
        self.violations = 0  # how many; the first `LISTED` are named in the summary, the rest counted by name
        self._listed: list[tuple[str, int]] = []
        self._more: dict[str, int] = {}
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
        elif isinstance(record, WarningRecord):
            self.echo(self.style(f"warning: {record.name}: {esc(record.message)}", fg="yellow"))

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
            self.violations += 1
            if len(self._listed) < LISTED:
                self._listed.append((name, f.index))
            else:
                self._more[name] = self._more.get(name, 0) + 1
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
        self.echo(f"    Payload ({plural(f.payload_len, 'byte')}, {what}{cut}):")
        views = payload_views(2 if compressed else opcode, data, len(data))
        if "text" in views:
            self.echo(f"      Text: \"{esc(views['text'])}\"" + (" ..." if shown < f.payload_len else ""))
        if "json" in views:
            self.echo("      JSON:")
            for line in escape_terminal(views["json"], keep_newlines=True).splitlines():
                self.echo(f"        {line}")
        for key, label in (("msgpack", "MessagePack"), ("protobuf_guess", "Protocol Buffers (a guess, no schema)")):
            if key in views:
                self.echo(f"      {label}:")
                for line in escape_terminal(views[key], keep_newlines=True).splitlines()[:40]:
                    self.echo(f"        {line}")
        if opcode == 8:
            self.echo(f"      {close_text(views['close_code'], None, views['close_reason'])}")
        elif opcode in (9, 10) and data:
            kind = "Ping" if opcode == 9 else "Pong"
            self.echo(f"      {kind} data: \"{esc(data.decode('utf-8', 'replace'))}\"")
        if data:
            for line in views["hex"].splitlines():
                self.echo(f"      {esc(line)}")

    def message(self, m: Message) -> None:
        self.messages += 1
        parts = [plural(m.length, "byte")]
        if m.frames is not None:
            parts.append(plural(m.frames, "frame"))
        if m.compressed:
            parts.append(f"inflated from {m.wire_length}" if m.wire_length is not None else "compressed")
        if not m.complete:
            parts.append("incomplete")
        if m.inflate_error:
            parts.append(f"not inflated: {m.inflate_error}")
        what = message_close_text(m) if m.opcode_name == "close" else m.opcode_name
        line = f"Message {m.index}: {what}, {', '.join(parts)}"
        if m.opcode_name == "text" and m.text is not None:
            line += f": \"{esc(m.text)}\"" + (" ..." if m.truncated else "")
        elif m.opcode_name != "close" and m.data:
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
        counts = f"{plural(self.frames, 'frame')}, {plural(self.messages, 'message')}"
        if not self.violations:
            self.echo(counts + ", " + self.style("no violations", fg="green"))
            sys.stdout.flush()
            return
        listed = ", ".join(f"{name} (frame {index})" for name, index in self._listed)
        if self._more:
            more = ", ".join(f"{name} x{count}" for name, count in self._more.items())
            listed += f", and {sum(self._more.values())} more: {more}"
        self.echo(counts + ", " + self.style(f"{plural(self.violations, 'violation')}: {listed}", fg="red"))
        sys.stdout.flush()
