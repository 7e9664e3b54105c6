"""SSE streams read three ways: by our parser (events), by HTML 9.2.6 read literally (reference_events),
and as Chromium reads a BOM followed by a line break (chromium_bom_quirk); the findings of a stream."""

from __future__ import annotations

import re

from inspector import records
from inspector.sse.parser import ParsedEvent, SseParser


def parse(stream: bytes, chunks: list[int] | None = None, **kw) -> tuple[SseParser, list]:
    """All items of `stream` fed whole, or split at the given offsets, then ended."""
    parser = SseParser(**kw)
    items: list = []
    cuts = [0, *(chunks or []), len(stream)]
    for a, b in zip(cuts, cuts[1:]):
        items += parser.feed(stream[a:b], float(a))
    items += parser.end(float(len(stream)))
    return parser, items


def events(stream: bytes, chunks: list[int] | None = None, **kw) -> list[tuple[str, str, str]]:
    return [(e.event, e.data, e.id) for e in parse(stream, chunks, **kw)[1] if isinstance(e, ParsedEvent)]


def reference_events(stream: bytes) -> list[tuple[str, str, str]]:
    """HTML 9.2.6 read literally: decode the whole stream, split lines, process them in order."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\n|\r", text)
    lines.pop()  # what follows the last line end is not a line: discarded at end of stream
    out = []
    data, type_, last_id_buffer = "", "", ""
    for line in lines:
        if line == "":
            last_id = last_id_buffer
            if data == "":
                data, type_ = "", ""
                continue
            if data.endswith("\n"):
                data = data[:-1]
            out.append((type_ or "message", data, last_id))
            data, type_ = "", ""
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            type_ = value
        elif field == "data":
            data += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_id_buffer = value
    return out


SSE_HEADERS = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]


def names(stream: records.SseStream) -> set[str]:
    return {f.name for f in stream.findings}


def chromium_bom_quirk(stream: bytes) -> bytes:
    """The stream as Chromium reads it: a line break right after the BOM joins the next line.

    Chromium's parser skips the line-break byte that follows a recognised BOM but keeps it in the next
    line, so that line's field name starts with CR or LF and is ignored.  A control character in its
    place has the same effect in a spec parser.
    """
    if stream.startswith(b"\xef\xbb\xbf") and stream[3:4] in (b"\n", b"\r"):
        return b"\xef\xbb\xbf\x01" + stream[4:]
    return stream


BOM_LINE_BREAK = [
    [b"\xef\xbb\xbf\nid: 1\ndata: a\n\n"],
    [b"\xef\xbb\xbf", b"\rid: 2\ndata: b\n\n"],
    [b"\xef\xbb\xbf\r", b"data: lost\n\ndata: c\n\n"],
    [b"\xef\xbb\xbf\nevent: e\ndata: d\n\n"],
]
