"""A mutation corpus from ``fixtures/``: each fixture (pcap, pcapng, HAR, zip HAR, flow files) damaged the
ways files get damaged or are forged: bit flips, truncation, duplication, length fields set to extremes,
gzip damaged late in the stream."""

from __future__ import annotations

import gzip
import random
import re
import struct
from pathlib import Path

from .strategies import Case

__all__ = ["corpus", "mutations"]

ROOT = Path(__file__).resolve().parents[2] / "fixtures"
_GLOBS = ("pcap/*.pcap", "pcap/*.pcapng", "har/*.har", "har/*.zip", "flows/*.flow")
_EXTREMES = (0, 1, 0x7FFFFFFF, 0xFFFFFF00, 0xFFFFFFFF)


def corpus() -> list[Path]:
    return sorted(p for pattern in _GLOBS for p in ROOT.glob(pattern))


def _family(path: Path) -> str:
    return {".pcap": "pcap-mut", ".pcapng": "pcap-mut", ".har": "har-mut", ".zip": "har-zip-mut",
            ".flow": "flows-mut"}[path.suffix]


def _bit_flips(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 32)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _duplicate(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    piece = data[start : start + rng.randint(1, 4096)]
    at = rng.randrange(len(data))
    return data[:at] + piece * rng.randint(1, 50) + data[at:]


def _length_fields(rng: random.Random, data: bytes, suffix: str) -> bytes:
    """Length fields set to extremes: pcap record lengths, tnetstring lengths, JSON numbers."""
    out = bytearray(data)
    if suffix == ".pcap" and len(out) > 40:
        offsets, pos = [], 24
        while pos + 16 <= len(out) and len(offsets) < 500:
            offsets.append(pos)
            pos += 16 + struct.unpack_from("<I", out, pos + 8)[0]
        for offset in rng.sample(offsets, min(len(offsets), rng.randint(1, 3))):
            struct.pack_into("<I", out, offset + rng.choice((8, 12)), rng.choice(_EXTREMES))
        if rng.random() < 0.3:
            struct.pack_into("<I", out, 16, 0xFFFFFFFF)  # snaplen
        return bytes(out)
    if suffix in (".pcapng", ".zip"):
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(0, max(1, len(out) - 4)) & ~3
            struct.pack_into("<I", out, at, rng.choice(_EXTREMES))
        return bytes(out)
    pattern = rb"\d+(?=:)" if suffix == ".flow" else rb"(?<=: )-?\d+(?:\.\d+)?"
    matches = list(re.finditer(pattern, data))
    if not matches:
        return _bit_flips(rng, data)
    chosen = {m.start(): m for m in rng.sample(matches, min(len(matches), rng.randint(1, 4)))}
    pieces, last = [], 0
    for start in sorted(chosen):
        m = chosen[start]
        pieces += [data[last : m.start()], rng.choice([b"99999999999", b"0", b"-1", b"1e300", b"18446744073709551616"])]
        last = m.end()
    return b"".join(pieces) + data[last:]


def _gzip_late(rng: random.Random, data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    start = rng.randrange(len(packed) * 2 // 3, len(packed))
    for i in range(start, min(len(packed), start + rng.randint(1, 16))):
        packed[i] ^= 0xFF
    return bytes(packed)


def mutations(rng: random.Random, count: int) -> list[Case]:
    """``count`` damaged copies of fixtures, spread over fixtures and kinds of damage."""
    files = corpus()
    cases = []
    for _ in range(count):
        path = rng.choice(files)
        data = path.read_bytes()
        kind = rng.choice(["flip", "truncate", "duplicate", "lengths", "gzip-late"])
        if kind == "flip":
            damaged = _bit_flips(rng, data)
        elif kind == "truncate":
            damaged = _truncate(rng, data)
        elif kind == "duplicate":
            damaged = _duplicate(rng, data)
        elif kind == "lengths":
            damaged = _length_fields(rng, data, path.suffix)
        else:
            damaged = _gzip_late(rng, data)
        command = ("analyze", rng.choice(["--jsonl", "--jsonl", "--frames"]))
        cases.append(Case(_family(path), f"{path.stem}-{kind}{path.suffix}", damaged, command))
    return cases
