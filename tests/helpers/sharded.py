"""Captures with many connections for the sharded analysis (`inspector.scale`), and running its shards.

`mixed_capture` interleaves copies of real fixture captures (fixtures/pcap: WebSocket, deflate, SSE,
polling, all from real peers through tcpdump); each copy's ports are moved, so each copy's connections are
new 4-tuples that the shard hash spreads over the shards, and its timestamps are shifted a little, so the
copies' packets interleave.
"""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import msgspec

from helpers.pcap_fixtures import FIX

SOURCES = ("ws_plain.pcap", "ws_deflate.pcap", "sse.pcap", "polling.pcap")


def _moved(buf: bytes, offset: int) -> bytes:
    """An Ethernet/IPv4/TCP packet with both ports moved by ``offset`` (checksums are not checked)."""
    ihl = (buf[14] & 0x0F) * 4
    tcp = 14 + ihl
    sport, dport = struct.unpack_from("!HH", buf, tcp)
    moved = bytearray(buf)
    struct.pack_into("!HH", moved, tcp, 1024 + (sport + offset) % 64000, 1024 + (dport + offset) % 64000)
    return bytes(moved)


def mixed_capture(path: Path, copies: int, sources=SOURCES) -> Path:
    """Write a pcap of ``copies`` interleaved copies of each of ``sources``; returns ``path``."""
    packets = []
    for name in sources:
        with open(FIX / name, "rb") as f:
            original = list(dpkt.pcap.Reader(f))
        base = original[0][0]
        for copy in range(copies):
            shift = copy * 0.0007
            packets.extend((base + (ts - base) + shift, len(packets), _moved(buf, 101 * copy + 7))
                           for ts, buf in original)
    packets.sort()
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, _, buf in packets:
            writer.writepkt(buf, ts=ts)
    return path


def sharded_records(paths, shards: int, **settings) -> list:
    """What ``analyze --jobs`` outputs for ``paths``, every shard run in this process, merged."""
    from inspector.classify import Thresholds
    from inspector.present.tally import Tally
    from inspector.scale.shard import Settings, merge, plan, run_shard
    from inspector.sources import open_source

    paths = [str(p) for p in paths]
    readers = [open_source(p) for p in paths]
    config = Settings(files=len(paths), **settings)
    results = [run_shard(task, config) for task in plan(readers, shards)]
    out: list = []
    merge(results, Tally(out.append), Thresholds())
    return out


def unsharded_records(paths, **options) -> list:
    """What ``analyze`` (``--jobs 1``) outputs for ``paths`` (the CLI's own `run_readers`)."""
    from inspector.classify import Thresholds
    from inspector.cli.analyze import run_readers
    from inspector.sources import open_source

    out: list = []
    run_readers([open_source(str(p)) for p in paths], out.append, classifier_thresholds=Thresholds(),
                view_cap=256, ws=options.get("ws", ()), conns=options.get("conns", ()),
                hosts=options.get("hosts", ()), no_ws_heuristic=False, progress=False)
    return out


def encoded(recs) -> list[bytes]:
    """Records as sorted JSON lines: equal lists mean the same set (multiset) of records."""
    return sorted(msgspec.json.encode(r) for r in recs)


def with_rsv1(source: Path, path: Path) -> Path:
    """``source`` with RSV1 set on every segment that starts with a masked text frame (no extension
    negotiated it on ws_plain: each is an ``rsv-without-extension`` violation)."""
    with open(source, "rb") as f:
        packets = list(dpkt.pcap.Reader(f))
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, buf in packets:
            tcp = 14 + (buf[14] & 0x0F) * 4
            start = tcp + (buf[tcp + 12] >> 4) * 4
            if len(buf) > start + 2 and buf[start] == 0x81 and buf[start + 1] & 0x80:
                buf = buf[:start] + b"\xc1" + buf[start + 1 :]
            writer.writepkt(buf, ts=ts)
    return path
