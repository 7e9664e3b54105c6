"""hypothesis strategies for hostile inputs; each draws a `Case` (a file and the command that reads it)."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from dataclasses import dataclass

from hypothesis import strategies as st

from .pcapgen import pcap

__all__ = ["Case", "FAMILIES"]


@dataclass
class Case:
    family: str
    name: str  # file name (its suffix is cosmetic: inspector detects by content)
    data: bytes
    command: tuple[str, ...] = ("analyze", "--jsonl")  # the file path is appended


_odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["caf\xe9", "\x1b[2J\x1b]0;owned\x07", "\u202e", "\ud800", "\U0010ffff", "\x00", "a" * 5000]),
)
_odd_bytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"caf\xe9", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x1b[2J", b"\r", b"\n\n"]),
)


@st.composite
def frame_bytes(draw) -> bytes:
    """One WebSocket frame whose header may lie about its length, with odd opcodes, RSV bits and masks."""
    fin = draw(st.booleans())
    rsv = draw(st.integers(0, 7))
    opcode = draw(st.sampled_from([0, 1, 2, 8, 9, 10, 3, 11, 15]))
    payload = draw(st.binary(max_size=300))
    masked = draw(st.booleans())
    claimed = draw(st.one_of(st.just(len(payload)), st.integers(0, 2**16), st.sampled_from([2**63 - 1, 2**64 - 1, 125, 126, 127])))
    head = bytes([(fin << 7) | (rsv << 4) | opcode])
    if claimed < 126:
        head += bytes([(masked << 7) | claimed])
    elif claimed < 2**16:
        head += bytes([(masked << 7) | 126]) + struct.pack("!H", claimed)
    else:
        head += bytes([(masked << 7) | 127]) + struct.pack("!Q", claimed)
    if masked:
        head += draw(st.binary(min_size=4, max_size=4))
    return head + payload


@st.composite
def frames_case(draw) -> Case:
    data = b"".join(draw(st.lists(frame_bytes(), min_size=1, max_size=12)))
    if draw(st.booleans()):
        data += b"\x00" * draw(st.integers(0, 200_000))  # runs of empty frames
    command = ("decode", draw(st.sampled_from(["--json", "--jsonl", "--deflate"])), "--file")
    return Case("frames", "frames.bin", data, command)


def _headers(draw, extra: list[tuple[bytes, bytes]]) -> bytes:
    names = draw(st.lists(st.tuples(st.sampled_from([b"X-L", b"Host", b"Content-Length", b"Transfer-Encoding",
                                                     b"Content-Encoding", b"Content-Type"]), _odd_bytes), max_size=4))
    return b"".join(n + b": " + v + b"\r\n" for n, v in extra + names)


@st.composite
def http1_case(draw) -> Case:
    """An HTTP/1.x exchange (odd headers, lying lengths, chunked, gzip, a Latin-1 path) in a capture."""
    path = draw(st.sampled_from([b"/", b"/caf\xe9", b"/\x1b[31m", b"/" + b"a" * 9000]))
    request = b"GET " + path + b" HTTP/1.1\r\n" + _headers(draw, [(b"Host", b"x")]) + b"\r\n"
    body = draw(st.binary(max_size=2000))
    kind = draw(st.sampled_from(["length", "chunked", "gzip", "lie", "close"]))
    extra = []
    if kind == "chunked":
        extra.append((b"Transfer-Encoding", b"chunked"))
        body = b"%x\r\n" % len(body) + body + b"\r\n" + draw(st.sampled_from([b"0\r\n\r\n", b"fffffffffff\r\n", b""]))
    elif kind == "gzip":
        extra += [(b"Content-Encoding", b"gzip")]
        body = gzip.compress(body or b"\0" * draw(st.integers(0, 10_000_000)))
        extra.append((b"Content-Length", str(len(body)).encode()))
    elif kind == "lie":
        extra.append((b"Content-Length", draw(st.sampled_from([b"99999999999999999999", b"-1", b"1e9", b"0x10"]))))
    elif kind == "length":
        extra.append((b"Content-Length", str(len(body)).encode()))
    response = b"HTTP/1.1 200 OK\r\n" + _headers(draw, extra) + b"\r\n" + body
    return Case("http1", "http1.pcap", pcap([("client", request), ("server", response)]))


@st.composite
def sse_case(draw) -> Case:
    """An event stream with odd line ends, fields and sizes, in a capture or a HAR body."""
    lines = draw(st.lists(st.one_of(
        st.sampled_from([b"data: x", b"event: \x1b[2J", b"id: 1\x00", b"retry: 99999999999999", b":", b"data",
                         b"data: caf\xe9"]),
        st.binary(max_size=100)), max_size=30))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    body = sep.join(lines) + sep * 2
    if draw(st.booleans()):
        body += b"data: " + b"x" * draw(st.integers(0, 3_000_000)) + b"\n\n"  # an oversize line
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    if draw(st.booleans()):
        request = b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        return Case("sse", "sse.pcap", pcap([("client", request), ("server", head + body)]))
    entry = _har_entry("http://x/events", {"mimeType": "text/event-stream",
                                            "text": body.decode("utf-8", "surrogateescape")}, 200)
    return Case("sse", "sse.har", _har_bytes([entry]))


def _har_entry(url: str, content: dict, status: int, **extra) -> dict:
    return {"startedDateTime": "2026-01-01T00:00:00Z", "time": 1,
            "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1", "headers": []},
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [],
                         "content": content},
            "timings": {"send": 0, "wait": 1, "receive": 1}, **extra}


def _har_bytes(entries: list) -> bytes:
    text = json.dumps({"log": {"version": "1.2", "creator": {"name": "fuzz", "version": "1"}, "entries": entries}})
    return text.encode("utf-8", "surrogatepass")


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                       st.floats(allow_nan=False), st.sampled_from([1e300, -1e300, 1e-300]), _odd_text)
_json = st.recursive(_json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=20)


@st.composite
def har_case(draw) -> Case:
    """HAR documents: odd values in every field, WebSocket messages, deep nesting, absurd timings."""
    entries = []
    for _ in range(draw(st.integers(1, 4))):
        ws = draw(st.booleans())
        entry = _har_entry(draw(st.sampled_from(["ws://x/ws", "http://x/", "http://[::1/", "\x1b[2J"])),
                           {"mimeType": draw(st.sampled_from(["text/plain", "x-unknown"])), "text": draw(_odd_text)},
                           draw(st.sampled_from([101, 200, 0, -5])))
        if ws:
            entry["_resourceType"] = "websocket"
            entry["_webSocketMessages"] = [
                {"type": draw(st.sampled_from(["send", "receive", "", "error", 7])),
                 "time": draw(st.one_of(st.floats(), st.just(1.7e9))), "opcode": draw(st.sampled_from([1, 2, 8, 99])),
                 "data": draw(st.one_of(_odd_text, st.just(base64.b64encode(b"\x00\xff").decode())))}
                for _ in range(draw(st.integers(0, 4)))]
        entry["timings"] = {k: draw(st.sampled_from([0, -1, 1e300, 5])) for k in ("send", "wait", "receive")}
        if draw(st.integers(0, 3)) == 0:
            entry[draw(st.sampled_from(["request", "response", "_x", "timings"]))] = draw(_json)
        entries.append(entry)
    data = _har_bytes(entries)
    if draw(st.integers(0, 4)) == 0:  # deep nesting under a key nobody reads
        depth = draw(st.integers(100, 60_000))
        data = data.replace(b'{"version"', b'{"x": ' + b"[" * depth + b"]" * depth + b', "version"', 1)
    return Case("har", "fuzz.har", data, ("analyze", draw(st.sampled_from(["--jsonl", "--frames"]))))


@st.composite
def pcap_case(draw) -> Case:
    """pcap structures: odd snaplen, link types and record lengths around frames and HTTP streams."""
    request = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
               b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    frames = b"".join(draw(st.lists(frame_bytes(), max_size=6)))
    data = pcap([("client", request), ("server", response + frames)],
                snaplen=draw(st.sampled_from([0, 65535, 262144, 0xFFFFFFFF])),
                linktype=draw(st.sampled_from([1, 1, 1, 0, 101, 113, 276, 147])))
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):  # a record length field set to an extreme
        offset = 24
        for _ in range(draw(st.integers(0, 6))):
            if offset + 16 > len(data):
                break
            offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
        if offset + 16 <= len(data):
            struct.pack_into("<I", data, offset + 8, draw(st.sampled_from([0, 0xFFFFFF00, 0xFFFFFFFF, 262145, 1 << 20])))
    return Case("pcap", "fuzz.pcap", bytes(data))


FAMILIES = {"frames": frames_case(), "http1": http1_case(), "sse": sse_case(), "har": har_case(),
            "pcap": pcap_case()}
