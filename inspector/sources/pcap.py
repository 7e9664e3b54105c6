"""pcap and pcapng captures -> TCP reassembly -> HTTP/1.x or WebSocket -> `inspector.analysis.Analysis`.

Entry point: ``run(path, analysis, options)`` (``options``: `inspector.sources.SourceOptions`).

File formats.  Classic pcap (both byte orders, micro- and nanosecond timestamps) is read with `struct` in
1 MiB blocks: ``dpkt.pcap.Reader`` builds a header object per record and measured 2.4x slower on an
86 MB, 840,000-record capture (3.7 s against 1.5 s), more than the rest of the per-packet work.  pcapng
is read the same way (section headers in either byte order, interface descriptions with their link type,
``if_tsresol`` and ``if_tsoffset``, enhanced, simple and obsolete packet blocks): on the benchmark
capture as pcapng (131 MB, 405,470 records) ``dpkt.pcapng.Reader`` took 2.45 s CPU and this reader
0.67 s, and dpkt applies the first interface's link type to every packet.  gzip-compressed files of
either kind are decompressed on the fly.  A record whose header is implausible (caplen over 256 KiB or a
larger snaplen, never over 1 MiB, microseconds over 10**6; a pcapng block length under 12, over 16 MiB or not repeated at
the block's end) is skipped by scanning for the next plausible one (``pcap-corrupt-record``); a file
that ends inside a record gets ``pcap-truncated``; packets on interfaces with an unsupported link type
are skipped (``pcap-unsupported-linktype``; an input error when nothing else is left).

Link types: Ethernet (1; 802.1Q/802.1ad VLAN tags, any depth), Linux cooked v1 (113) and v2 (276),
BSD loopback/null (0) and OpenBSD loop (108), raw IP (101, 12, 14) and raw IPv4/IPv6 (228, 229).
Network: IPv4 (header options, Ethernet padding trimmed by the total length; fragments are counted and
skipped) and IPv6 (hop-by-hop, routing and destination-options headers walked; fragments skipped).  Only
the headers needed are decoded, with ``struct.unpack_from`` on the record buffer.

Connections.  A TCP 4-tuple seen with a SYN, or carrying data, opens a connection (ids ``c1``, ``c2``...
in order of appearance, stable whatever the filters; a new SYN on a 4-tuple still open ends the old one).
The client is the sender of the SYN; a capture that starts mid-connection decides by content (a request
line / status line), then by ``--ws``, then by masked frames (their sender is the client) or unmasked
ones (the server), then by ports (a port under 1024; else the one outside the ephemeral range
32768-65535; else the lower port).  Each direction goes through `inspector.net.reassembly.Direction`.
What the connection carries is decided by the client's first bytes, on any port:

- ``--ws PORT`` / ``--ws HOST:PORT`` matching the server: WebSocket frames from the first byte
  (``Connection.detected_by = "--ws"``), unless the client starts with an HTTP request line (the
  handshake is in the capture: it is validated and decides, as without ``--ws``);
- an HTTP/1.x request line: `inspector.http.http1.Http1Connection` (keep-alive, pipelining, chunked bodies;
  response bodies, gzip/deflate Content-Encoding decoded with a cap, go to ``ExchangeHandle.body``, so
  event streams reach the SSE parser); a 101 to a WebSocket upgrade hands the rest of both directions to
  ``Analysis.websocket(conn, handshake=exchange)`` (``detected_by = "handshake"``); other upgrades and
  CONNECT tunnels are reported as exchanges and the rest of the connection is not decoded;
- client bytes that parse as a run of masked WebSocket frames (at least two, or one that ends exactly
  where the data ends; valid opcodes; control frames <= 125 bytes), or, on a connection joined mid-way
  whose client is silent, server bytes that parse as at least three unmasked frames: WebSocket
  (``detected_by = "heuristic"``);
  a connection joined mid-way that matches nothing above is parsed as HTTP resyncing at the next request;
- a TLS handshake (joined mid-way: TLS records): `inspector.sources.pcap_tls` decrypts it with the key
  log and the plaintext goes through the same decisions as a cleartext connection's bytes; the connection
  record gets ``tls``, and one ``tls-encrypted`` warning (with its ``conn`` and the reason) when it could
  not be decrypted;
- the HTTP/2 connection preface (h2c by prior knowledge, or TLS), TLS that negotiated ALPN ``h2`` (joined
  mid-way: the decoder resyncs), or a 101 to ``Upgrade: h2c``: `inspector.sources.pcap_h2.H2Streams`
  (an exchange per stream, SSE over h2, RFC 8441 WebSockets);
- anything else: ``protocol = tcp`` and a warning ``tcp-not-http``.

UDP flows with port 443 that look like QUIC become ``protocol = quic`` connections (``quic-not-decoded``).

Gaps reported by reassembly go to ``WebSocketHandle.gap`` or ``Http1Connection.gap``.  A connection ends
(its records are flushed and its state dropped) when both directions have delivered their FIN, at an
RST, or at the end of the capture, so memory follows the open connections, not the capture's length.
Per-connection memory is bounded by the reassembly buffer, the HTTP head/hold limits, and the detection
buffer (`DETECT_LIMIT`).
"""

from __future__ import annotations

import struct
import zlib
from collections import OrderedDict
from typing import Any, Callable, Iterator

from inspector.app.base import APP_CAP
from inspector.http import http1
from inspector.http.encoding import BodyDecoder
from inspector.errors import InputError
from inspector.net.reassembly import DATA, GAP, RST, Direction
from inspector.net.tls import TlsSession, looks_like_tls
from inspector.records import Exchange
from inspector.sources import SourceOptions, open_binary
from inspector.sources.pcap_h2 import H2Streams
from inspector.sources.pcap_tls import QuicFlows, decrypt, load_keylog, tls_info
from inspector.http.http2 import looks_like_preface
from inspector.ws.header import plausible_header

__all__ = ["run", "records", "PcapReader", "looks_like_frames"]

DETECT_LIMIT = 64 * 1024  # bytes held per connection while deciding what it carries
BODY_DECODE_CAP = 16 << 20  # decoded bytes of one gzip/deflate response body
_MAX_CAPLEN = 262144
#: a record longer than this is corruption whatever the header's snaplen says (skipped, with a warning)
_MAX_RECORD = 4 * _MAX_CAPLEN
_MAX_BLOCK = 16 << 20  # pcapng block lengths beyond this are corruption
#: connections open at once; past it the one opened first is ended (``pcap-connections-evicted``)
MAX_CONNECTIONS = 50_000
_CLOSED_MEMORY = 4096  # recently closed 4-tuples remembered (late ACKs/retransmissions are not new conns)

_u16 = struct.Struct("!H").unpack_from
_ipv4 = struct.Struct("!BxHHHBBxx4s4s").unpack_from  # vhl, total len, id, frag, ttl, proto, src, dst
_ipv6 = struct.Struct("!4xHBx16s16s").unpack_from  # payload len, next header, src, dst
_tcp = struct.Struct("!HHIIBB").unpack_from  # sport, dport, seq, ack, data offset, flags
# IPv4 header without options followed by TCP: vhl, total len, frag, proto, src, dst, sport, dport, seq,
# ack, data offset, flags
_ipv4tcp = struct.Struct("!BxH2xHxB2x4s4sHHIIBB").unpack_from

_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
#: warnings counted per packet, whatever its connection: a sharded run reports them from shard 0 only
_PACKET_NOTES = ("ip-fragment", "ip-truncated", "tcp-truncated")


def shard_of(key: tuple, shards: int) -> int:
    """The shard of a flow ``(ip, port, ip, port)`` (either direction): CRC-32 of its endpoints in a fixed
    order, so every process (and machine) agrees, unlike Python's salted ``hash``."""
    a, b = (key[0], key[1]), (key[2], key[3])
    if b < a:
        a, b = b, a
    return zlib.crc32(a[0] + a[1].to_bytes(2, "big") + b[0] + b[1].to_bytes(2, "big")) % shards


# -- file records ----------------------------------------------------------------------------------------


class PcapReader:
    """Iterates ``(ts, data, interface)`` over a pcap or pcapng file object; counts problems.

    ``linktypes[interface]`` is the link type of each interface seen so far (pcap: one, interface 0;
    pcapng: one per interface description block, numbered across sections).
    """

    def __init__(self, f, kind: str, on_block: Callable[[], Any] | None = None) -> None:
        self.f = f
        self.kind = kind
        self.on_block = on_block  # called after each block read is processed (a pipe: the data so far)
        self._head = b""  # bytes read before the first block (pcapng's section header check)
        self.truncated = False
        self.corrupt_records = 0
        self.corrupt_bytes = 0
        self.consumed = 0  # bytes of the file read so far (progress)
        self.linktypes: list[int] = []
        self.keylog = None  # a KeyLog that Decryption Secrets Blocks (TLS key log lines) are added to
        if kind == "pcap":
            header = f.read(24)
            if len(header) < 24:
                raise InputError("pcap file header is truncated")
            magic = header[:4]
            self.endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
            self.nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
            _, _, _, _, snaplen, linktype = struct.unpack(self.endian + "HHiIII", header[4:])
            # Writers that put a small snaplen in the header and store bigger records exist: a record is
            # implausible only past the larger of the two.
            self.snaplen = min(max(snaplen, _MAX_CAPLEN), _MAX_RECORD)
            self.linktypes.append(linktype & 0x0FFFFFFF)
            self.consumed = 24
        else:
            head = f.read(12)
            if len(head) < 12 or head[8:12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise InputError("pcapng section header is truncated or has no byte-order magic")
            self._head = head

    def __iter__(self) -> Iterator[tuple[float, bytes, int]]:
        return self._pcap() if self.kind == "pcap" else self._pcapng()

    def _blocks(self, header: int):
        """Yields ``(buffer, position)`` at each record start; the caller advances ``self.pos``.

        Reads 1 MiB blocks with ``read1``: a gzip stream cut short still yields every block before the
        cut (``read()`` would lose it)."""
        read = getattr(self.f, "read1", self.f.read)
        buf = b""
        self.pos = 0
        while True:
            block = self._head + read(1 << 20)
            self._head = b""
            if not block:
                break
            self.consumed += len(block)
            buf = buf[self.pos :] + block if self.pos < len(buf) else block
            self.pos = 0
            self.end = len(buf)
            while self.pos + header <= self.end:
                before = self.pos
                yield buf
                if self.pos == before:  # the record is not complete in this buffer
                    break
            if self.on_block is not None:
                self.on_block()
        if self.pos < len(buf):
            self.truncated = True

    # -- classic pcap ---------------------------------------------------------------------------------

    def _plausible(self, buf: bytes, pos: int, prev_sec: int) -> bool:
        sec, frac, caplen, wirelen = struct.unpack_from(self.endian + "IIII", buf, pos)
        limit = 1_000_000_000 if self.nano else 1_000_000
        return (
            frac < limit
            and caplen <= self.snaplen
            and caplen <= wirelen <= 262144 * 4
            and (prev_sec == 0 or abs(sec - prev_sec) < 86400)
        )

    def _pcap(self) -> Iterator[tuple[float, bytes, int]]:
        unpack_from = struct.Struct(self.endian + "IIII").unpack_from
        scale = 1e-9 if self.nano else 1e-6
        limit = 1_000_000_000 if self.nano else 1_000_000
        snaplen = self.snaplen
        prev_sec = 0
        for buf in self._blocks(16):
            pos, end = self.pos, self.end
            while pos + 16 <= end:
                sec, frac, caplen, wirelen = unpack_from(buf, pos)
                if caplen > snaplen or frac >= limit or wirelen < caplen:
                    skipped = self._resync(buf, pos, prev_sec)
                    if skipped is None:  # need more data to find the next header
                        break
                    pos += skipped
                    continue
                stop = pos + 16 + caplen
                if stop > end:
                    break
                prev_sec = sec
                yield sec + frac * scale, buf[pos + 16 : stop], 0
                pos = stop
            self.pos = pos

    def _resync(self, buf: bytes, pos: int, prev_sec: int) -> int | None:
        """Bytes to skip to the next plausible record header (two in a row, or one that ends the data)."""
        end = len(buf)
        start = pos
        pos += 1
        while pos + 16 <= end:
            if self._plausible(buf, pos, prev_sec):
                nxt = pos + 16 + struct.unpack_from(self.endian + "I", buf, pos + 8)[0]
                if nxt == end or (nxt + 16 <= end and self._plausible(buf, nxt, prev_sec)):
                    self.corrupt_records += 1
                    self.corrupt_bytes += pos - start
                    return pos - start
                if nxt + 16 > end:
                    return None if end - start < 4 * _MAX_CAPLEN else pos - start
            pos += 1
        if end - start > 4 * _MAX_CAPLEN:  # nothing plausible in a large window: drop it
            self.corrupt_records += 1
            self.corrupt_bytes += end - start - 16
            return end - start - 16
        return None

    # -- pcapng ---------------------------------------------------------------------------------------

    def _pcapng(self) -> Iterator[tuple[float, bytes, int]]:
        """Section header, interface description, enhanced/simple/obsolete packet blocks; others skipped.

        Per interface: link type, ``if_tsresol`` (default microseconds) and ``if_tsoffset``.  A block
        whose length is implausible (under 12, not a multiple of 4, over 16 MiB, or not repeated at its
        end) is skipped by scanning for the next block whose two lengths agree."""
        endian = "<"
        lengths = struct.Struct("<II").unpack_from
        u32 = struct.Struct("<I").unpack_from
        epb = struct.Struct("<IIIII").unpack_from
        base = 0  # global number of this section's interface 0
        units: list[int] = []  # timestamp units per second, per global interface
        offsets: list[int] = []
        snaplens: list[int] = []
        ts = 0.0
        for buf in self._blocks(12):
            pos, end = self.pos, self.end
            while pos + 12 <= end:
                if buf[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
                    bom = buf[pos + 8 : pos + 12]
                    if bom in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                        endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                        lengths = struct.Struct(endian + "II").unpack_from
                        u32 = struct.Struct(endian + "I").unpack_from
                        epb = struct.Struct(endian + "IIIII").unpack_from
                        base = len(self.linktypes)
                btype, blen = lengths(buf, pos)
                if blen < 12 or blen & 3 or blen > _MAX_BLOCK:
                    skipped = self._ng_resync(buf, pos, endian)
                    if skipped is None:
                        break
                    pos += skipped
                    continue
                stop = pos + blen
                if stop > end:
                    break
                if u32(buf, stop - 4)[0] != blen:
                    skipped = self._ng_resync(buf, pos, endian)
                    if skipped is None:
                        break
                    pos += skipped
                    continue
                if btype == 6:  # enhanced packet block
                    iface, high, low, caplen, _ = epb(buf, pos + 8)
                    iface += base
                    if iface < len(units) and caplen <= blen - 32:
                        sec, frac = divmod((high << 32) | low, units[iface])
                        ts = sec + frac / units[iface] + offsets[iface]
                        yield ts, buf[pos + 28 : pos + 28 + caplen], iface
                    else:
                        self.corrupt_records += 1
                elif btype == 1:  # interface description block
                    linktype, _, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
                    unit, offset = self._ng_options(buf, pos + 16, stop - 4, endian)
                    self.linktypes.append(linktype)
                    units.append(unit)
                    offsets.append(offset)
                    snaplens.append(snaplen or _MAX_CAPLEN)
                elif btype == 10 and self.keylog is not None and blen >= 20:  # decryption secrets block
                    stype, slen = struct.unpack_from(endian + "II", buf, pos + 8)
                    if stype == 0x544C534B:  # "TLSK": NSS key log lines
                        self.keylog.add(buf[pos + 16 : pos + 16 + min(slen, blen - 20)])
                elif btype == 3 and base < len(units):  # simple packet block: interface 0, no timestamp
                    wirelen = u32(buf, pos + 8)[0]
                    caplen = min(wirelen, snaplens[base], blen - 16)
                    yield ts, buf[pos + 12 : pos + 12 + caplen], base
                elif btype == 2:  # obsolete packet block
                    iface, _, high, low, caplen, _ = struct.unpack_from(endian + "HHIIII", buf, pos + 8)
                    iface += base
                    if iface < len(units) and caplen <= blen - 32:
                        sec, frac = divmod((high << 32) | low, units[iface])
                        ts = sec + frac / units[iface] + offsets[iface]
                        yield ts, buf[pos + 28 : pos + 28 + caplen], iface
                pos = stop
            self.pos = pos

    @staticmethod
    def _ng_options(buf: bytes, pos: int, end: int, endian: str) -> tuple[int, int]:
        """``if_tsresol`` (as units per second) and ``if_tsoffset`` from an interface's options."""
        unit, offset = 1_000_000, 0
        while pos + 4 <= end:
            code, length = struct.unpack_from(endian + "HH", buf, pos)
            if code == 0:
                break
            if code == 9 and length >= 1:
                value = buf[pos + 4]
                unit = 2 ** (value & 0x7F) if value & 0x80 else 10 ** min(value, 18)
            elif code == 14 and length >= 8:
                offset = struct.unpack_from(endian + "q", buf, pos + 4)[0]
            pos += 4 + ((length + 3) & ~3)
        return unit, offset

    def _ng_resync(self, buf: bytes, pos: int, endian: str) -> int | None:
        """Bytes to skip to the next block whose leading and trailing lengths agree."""
        lengths = struct.Struct(endian + "II").unpack_from
        u32 = struct.Struct(endian + "I").unpack_from
        end = len(buf)
        start = pos
        pos += 4
        while pos + 12 <= end:
            btype, blen = lengths(buf, pos)
            if btype in (1, 2, 3, 5, 6) and 12 <= blen <= _MAX_BLOCK and not blen & 3:
                if pos + blen > end:
                    if end - start < _MAX_BLOCK:
                        return None
                elif u32(buf, pos + blen - 4)[0] == blen:
                    self.corrupt_records += 1
                    self.corrupt_bytes += pos - start
                    return pos - start
            pos += 4
        if end - start > _MAX_BLOCK:
            self.corrupt_records += 1
            self.corrupt_bytes += end - start - 12
            return end - start - 12
        return None


# -- link and network layers ---------------------------------------------------------------------------


def _eth(data: bytes):
    etype = _u16(data, 12)[0] if len(data) >= 14 else 0
    off = 14
    while etype in (0x8100, 0x88A8, 0x9100) and len(data) >= off + 4:  # 802.1Q / 802.1ad tags
        etype = _u16(data, off + 2)[0]
        off += 4
    return etype, off


def _link_offset(linktype: int):
    """A function (data) -> (ethertype_or_version, offset) for a link type, or None if unknown."""
    if linktype == 1:  # Ethernet
        return _eth
    if linktype == 113:  # Linux cooked v1
        return lambda data: (_u16(data, 14)[0] if len(data) >= 16 else 0, 16)
    if linktype == 276:  # Linux cooked v2
        return lambda data: (_u16(data, 0)[0] if len(data) >= 20 else 0, 20)
    if linktype in (0, 108):  # BSD null / OpenBSD loop: address family (host / network byte order)
        def null(data: bytes):
            if len(data) < 5:
                return 0, 4
            version = data[4] >> 4
            return (0x0800 if version == 4 else 0x86DD if version == 6 else 0), 4
        return null
    if linktype in (101, 12, 14, 228, 229):  # raw IP
        def raw(data: bytes):
            version = data[0] >> 4 if data else 0
            return (0x0800 if version == 4 else 0x86DD if version == 6 else 0), 0
        return raw
    return None


_IPV6_EXT = (0, 43, 60)


# -- connections -----------------------------------------------------------------------------------------


def _addr(ip: bytes, port: int) -> str:
    if len(ip) == 4:
        return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}:{port}"
    import ipaddress

    return f"[{ipaddress.IPv6Address(ip)}]:{port}"


def _ip_text(ip: bytes) -> str:
    if len(ip) == 4:
        return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}"
    import ipaddress

    return str(ipaddress.IPv6Address(ip))




def looks_like_frames(data: bytes, masked: bool = True, min_frames: int = 2) -> bool | None:
    """Conservative test: does ``data`` start with a run of WebSocket frames, masked (a client's) or
    unmasked (a server's)?  At least ``min_frames`` frames, or fewer that end exactly where the data ends,
    each header `plausible_header` with permessage-deflate unknown.  None: not enough data to tell yet."""
    pos = 0
    frames = 0
    end = len(data)
    mask = 0x80 if masked else 0
    while pos < end:
        if pos + 2 > end:
            return None
        b0, b1 = data[pos], data[pos + 1]
        if not plausible_header(b0, b1, None, mask, None):
            return False
        length = b1 & 0x7F
        head = 6 if masked else 2
        if length == 126:
            if pos + 4 > end:
                return None
            length = _u16(data, pos + 2)[0]
            head += 2
        elif length == 127:
            if pos + 10 > end:
                return None
            length = struct.unpack_from("!Q", data, pos + 2)[0]
            head += 8
        if not plausible_header(b0, b1, length, mask, None):
            return False
        pos += head + length
        frames += 1
        if frames >= min_frames and pos <= end:
            return True
    return True if frames and pos == end else None


class _Conn:
    __slots__ = (
        "id", "key", "client", "server", "dirs", "mode", "http", "ws", "handles", "held", "held_bytes",
        "syn_seen", "ts_start", "ts_last", "active", "host_checked", "gaps", "ws_forced", "ended",
        "announced", "fins", "number", "tls", "h2",
    )

    def __init__(self, cid: str, key: tuple, client: str, server: str, ts: float, syn_seen: bool, max_buffer: int):
        self.id = cid
        self.number = int(cid.rpartition("c")[2])
        self.key = key  # (client ip, client port, server ip, server port)
        self.client = client
        self.server = server
        self.dirs = (Direction(max_buffer), Direction(max_buffer))
        self.mode = "detect"  # detect | http | ws | tcp
        self.http: http1.Http1Connection | None = None
        self.ws = None
        self.handles: dict[int, Any] = {}
        self.held: list[tuple[str, Any, Any, float]] = []  # (direction, kind, data, ts) while detecting
        self.held_bytes = 0
        self.syn_seen = syn_seen
        self.ts_start = ts
        self.ts_last = ts
        self.active = True
        self.host_checked = True
        self.announced = False
        self.fins = 0  # FIN seen per direction (bit 0 client, bit 1 server), for dropped connections
        self.gaps = 0
        self.ws_forced = False
        self.ended = False
        self.tls: TlsSession | None = None  # a TLS connection: its bytes are decrypted before decoding
        self.h2: H2Streams | None = None  # an HTTP/2 connection's streams


class _Pcap:
    """Packets in, Analysis calls out."""

    def __init__(self, analysis, options: SourceOptions, max_buffer: int = 1 << 20) -> None:
        self.analysis = analysis
        self.options = options
        self.max_buffer = max_buffer
        self.flows: dict[tuple, tuple[_Conn, int]] = {}
        self.closed: OrderedDict[tuple, None] = OrderedDict()
        self.count = 0
        self.not_ip = 0  # packets whose link layer named no IP: all of them means a wrong link type
        self.counts: dict[str, int] = {}
        self.keylog = load_keylog(options.keylog)
        self.quic = QuicFlows()
        self.ws_ports: set[int] = set()
        self.ws_endpoints: set[tuple[str, int]] = set()
        for spec in options.ws:
            host, _, port = str(spec).rpartition(":")
            try:
                number = int(port)
            except ValueError:
                raise InputError(f"--ws {spec}: expected PORT or HOST:PORT") from None
            if host:
                self.ws_endpoints.add((host.strip("[]"), number))
            else:
                self.ws_ports.add(number)

    def note(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    # -- packets -------------------------------------------------------------------------------------

    def packet(self, ts: float, data: bytes, link) -> None:
        """One link-layer packet (the per-packet hot path: keep it flat)."""
        size = len(data)
        if link is _eth and data[12:15] == b"\x08\x00\x45" and size >= 54:
            # Ethernet, IPv4 without options: IP and TCP headers in one unpack.
            _, total, frag, proto, src, dst, sport, dport, seq, ack, doff, flags = _ipv4tcp(data, 14)
            if proto != 6:
                if proto == 17 and not frag & 0x3FFF:
                    self.quic.packet(src, dst, data, 34, min(14 + total, size), ts, self._new_id)
                return
            if frag & 0x3FFF:
                self.note("ip-fragment")
                return
            ip_end = 14 + total if total >= 20 else size
            start = 34 + (doff >> 4) * 4
        else:
            parsed = self._headers(data, link, ts)
            if parsed is None:
                return
            src, dst, sport, dport, seq, ack, flags, start, ip_end = parsed
        lost = 0
        if ip_end > size:  # snaplen cut the packet: the rest of its payload is missing
            lost = ip_end - size
            ip_end = size
        key = (src, sport, dst, dport)
        entry = self.flows.get(key)
        if entry is not None:
            conn, index = entry
            if flags & _ACK and conn.dirs[1 - index]._pending and conn.active:
                # The peer may be acknowledging bytes the capture lacks.
                events = conn.dirs[1 - index].acked(ack, ts)
                if events:
                    self._deliver(conn, "server" if index == 0 else "client", events)
                    if conn.ended or (conn.dirs[0].fin_delivered and conn.dirs[1].fin_delivered):
                        self._end(conn, ts)
                        return
            if ip_end <= start and not flags & 0x07 and not lost:  # a pure ACK: nothing more to do
                conn.ts_last = ts
                return
            if flags & 0x12 == _SYN and conn.dirs[index].is_new_syn(seq):
                self._end(conn, conn.ts_last)  # the 4-tuple is reused: the old connection is over
                self.closed.pop(key, None)
                entry = None
        payload = data[start:ip_end] if ip_end > start else b""
        if entry is None:
            entry = self._open(key, src, sport, dst, dport, flags, payload, ts)
            if entry is None:
                return
            conn, index = entry
        if not conn.active:
            conn.fins |= (1 << index) if flags & _FIN else 3 if flags & _RST else 0
            if conn.fins == 3:
                self._forget(conn)
            return
        conn.ts_last = ts
        if flags & 0x07 or lost:
            events = conn.dirs[index].segment(seq, payload, ts, syn=bool(flags & _SYN), fin=bool(flags & _FIN),
                                              rst=bool(flags & _RST), lost=lost)
        else:
            events = conn.dirs[index].segment(seq, payload, ts)
        if events:
            self._deliver(conn, "client" if index == 0 else "server", events)
            # FIN and RST only ever arrive as events.
            if conn.ended or (conn.dirs[0].fin_delivered and conn.dirs[1].fin_delivered):
                self._end(conn, ts)

    def _headers(self, data: bytes, link, ts: float):
        """Link, IP and TCP headers of any supported packet: (src, dst, sport, dport, seq, ack, flags,
        payload start, IP end), or None for what is not TCP."""
        etype, off = link(data)
        if etype == 0x0800:
            if len(data) < off + 20:
                self.note("ip-truncated")
                return None
            vhl, total, _, frag, _, proto, src, dst = _ipv4(data, off)
            if proto != 6:
                if proto == 17 and not frag & 0x3FFF:
                    start = off + (vhl & 0x0F) * 4
                    self.quic.packet(src, dst, data, start, min(off + total, len(data)), ts, self._new_id)
                return None
            if frag & 0x3FFF:
                self.note("ip-fragment")
                return None
            ihl = (vhl & 0x0F) * 4
            ip_end = off + total if total >= ihl else len(data)
            tcp_off = off + ihl
        elif etype == 0x86DD:
            if len(data) < off + 40:
                self.note("ip-truncated")
                return None
            plen, nh, src, dst = _ipv6(data, off)
            tcp_off = off + 40
            ip_end = tcp_off + plen
            while nh in _IPV6_EXT and len(data) >= tcp_off + 8:
                nh, hlen = data[tcp_off], data[tcp_off + 1]
                tcp_off += (hlen + 1) * 8
            if nh == 44:
                self.note("ip-fragment")
                return None
            if nh != 6:
                if nh == 17:
                    self.quic.packet(src, dst, data, tcp_off, min(ip_end, len(data)), ts, self._new_id)
                return None
        else:
            self.not_ip += 1
            return None
        if len(data) < tcp_off + 20:
            self.note("tcp-truncated")
            return None
        sport, dport, seq, ack, doff, flags = _tcp(data, tcp_off)
        return src, dst, sport, dport, seq, ack, flags, tcp_off + (doff >> 4) * 4, ip_end

    def _open(self, key, src, sport, dst, dport, flags, payload, ts):
        syn = flags & _SYN
        if not syn and not payload:
            return None
        if not syn and key in self.closed:
            return None
        if syn and key in self.closed:
            del self.closed[key]
        # Who is the client?  The SYN's sender; SYN+ACK's receiver; otherwise by content, then ports.
        if syn:
            client_is_src = not flags & _ACK
        else:
            verdict_req = http1.looks_like_request(payload)
            if verdict_req:
                client_is_src = True
            elif http1.looks_like_response(payload):
                client_is_src = False
            elif self._ws_server(dst, dport) or self._ws_server(src, sport):
                client_is_src = self._ws_server(dst, dport)
            elif self.options.heuristics and looks_like_frames(payload):
                client_is_src = True
            elif self.options.heuristics and looks_like_frames(payload, masked=False, min_frames=1):
                client_is_src = False
            elif (sport < 1024) != (dport < 1024):
                client_is_src = dport < 1024
            elif (sport >= 32768) != (dport >= 32768):  # one side in the usual ephemeral range
                client_is_src = sport >= 32768
            else:
                client_is_src = dport < sport
        cid = self._new_id()
        if client_is_src:
            ckey = key
            client, server = _addr(src, sport), _addr(dst, dport)
        else:
            ckey = (dst, dport, src, sport)
            client, server = _addr(dst, dport), _addr(src, sport)
        conn = _Conn(cid, ckey, client, server, ts, bool(syn), self.max_buffer)
        self._selected(conn)
        conn.ws_forced = self._ws_server(ckey[2], ckey[3])
        self.flows[ckey] = (conn, 0)
        self.flows[(ckey[2], ckey[3], ckey[0], ckey[1])] = (conn, 1)
        while len(self.flows) > 2 * MAX_CONNECTIONS:  # the table is bounded in total: end the oldest
            oldest = next(iter(self.flows.values()))[0]
            self._end(oldest, oldest.ts_last)
            self.note("pcap-connections-evicted")
        return self.flows[key]

    def _new_id(self) -> str:
        self.count += 1
        return f"{self.options.conn_prefix}c{self.count}"

    def _ws_server(self, ip: bytes, port: int) -> bool:
        if port in self.ws_ports:
            return True
        return bool(self.ws_endpoints) and (_ip_text(ip), port) in self.ws_endpoints

    def _selected(self, conn: _Conn) -> None:
        """Apply --conn and --host: ``active`` False drops the connection; a --host that names no
        endpoint of it may still match the Host header of its first request (``host_checked`` False)."""
        options = self.options
        if options.conns and conn.id not in options.conns:
            conn.active = False
        elif options.shard is not None and shard_of(conn.key, options.shard[1]) != options.shard[0]:
            conn.active = False  # another shard's: numbered and tracked like a --conn filtered one
        elif options.hosts:
            names = {conn.client, conn.server, _ip_text(conn.key[0]), _ip_text(conn.key[2])}
            conn.host_checked = bool(names & options.hosts)

    def _announce(self, conn: _Conn) -> None:
        if not conn.announced and conn.active and conn.host_checked:
            conn.announced = True
            self.analysis.connection(conn.id, client=conn.client, server=conn.server, ts=conn.ts_start)

    def _host_header(self, conn: _Conn, request) -> None:
        host = (request.header("host") or "").strip().lower()
        if host in self.options.hosts or host.rsplit(":", 1)[0].strip("[]") in self.options.hosts:
            conn.host_checked = True
            self._announce(conn)
        else:
            conn.active = False

    # -- reassembled bytes ----------------------------------------------------------------------------

    def _deliver(self, conn: _Conn, direction: str, events: list) -> None:
        if conn.tls is not None:
            for side, plain in decrypt(conn.tls, direction, events):
                self._deliver_plain(conn, side, plain)
        else:
            self._deliver_plain(conn, direction, events)

    def _deliver_plain(self, conn: _Conn, direction: str, events: list) -> None:
        """Reassembled (or decrypted) bytes of one direction to what decodes the connection."""
        mode = conn.mode
        if mode == "ws":
            ws = conn.ws
            for kind, value, ts in events:
                if kind is DATA:
                    ws.data(direction, value, ts)
                elif kind is GAP:
                    conn.gaps += 1
                    ws.gap(direction)
                elif kind is RST:
                    conn.ended = True
            return
        for kind, value, ts in events:
            if conn.mode == "detect":
                self._detect(conn, direction, kind, value, ts)
            elif conn.mode == "http":
                self._http(conn, direction, kind, value, ts)
            elif conn.mode == "ws":
                self._ws_event(conn, direction, kind, value, ts)
            elif conn.mode == "h2":
                self._h2_event(conn, direction, kind, value, ts)
            elif kind is RST:
                conn.ended = True
            elif kind is GAP:
                conn.gaps += 1

    def _h2_event(self, conn: _Conn, direction: str, kind, value, ts) -> None:
        if kind is DATA:
            conn.h2.data(direction, value, ts)
        elif kind is GAP:
            conn.gaps += 1
            conn.h2.gap(direction)
        elif kind is RST:
            conn.ended = True

    def _ws_event(self, conn: _Conn, direction: str, kind, value, ts) -> None:
        if kind is DATA:
            conn.ws.data(direction, value, ts)
        elif kind is GAP:
            conn.gaps += 1
            conn.ws.gap(direction)
        elif kind is RST:
            conn.ended = True

    def _detect(self, conn: _Conn, direction: str, kind, value, ts) -> None:
        conn.held.append((direction, kind, value, ts))
        if kind is DATA:
            conn.held_bytes += len(value)
        elif kind is RST:
            conn.ended = True
        client = b"".join(v for d, k, v, _ in conn.held if d == "client" and k is DATA)
        if conn.tls is None and self._tls_start(conn, client):
            return
        if conn.ws_forced:
            # --ws: frames from the first byte, unless the capture holds the HTTP handshake after all.
            verdict = http1.looks_like_request(client) if client else False
            if verdict:
                self._start_http(conn, resync=not conn.syn_seen)
            elif verdict is False or conn.held_bytes > DETECT_LIMIT or conn.ended:
                self._start_ws(conn, None, "--ws")
            return
        if not client:
            # A server that pushes while the client is silent: a run of unmasked frames (three at least).
            server = b"".join(v for d, k, v, _ in conn.held if d == "server" and k is DATA)
            if not conn.syn_seen and self.options.heuristics and looks_like_frames(server, False, 3):
                self._start_ws(conn, None, "heuristic")
            elif conn.held_bytes > DETECT_LIMIT or conn.ended:
                self._start_tcp(conn)
            return
        preface = looks_like_preface(client)
        if preface or (conn.tls is not None and conn.tls.alpn == "h2" and preface is False):
            self._start_h2(conn, midway=not preface)
            return
        if any(d == "client" and k is GAP for d, k, _, _ in conn.held):
            self._start_http(conn, resync=True)
            return
        verdict = http1.looks_like_request(client)
        if verdict:
            # Joined mid-way, the server may be inside a response: both sides start by resyncing.
            self._start_http(conn, resync=not conn.syn_seen)
            return
        frames = looks_like_frames(client) if self.options.heuristics else False
        if frames:
            self._start_ws(conn, None, "heuristic")
        elif verdict is False and frames is False:
            if conn.syn_seen:
                self._start_tcp(conn)
            else:
                self._start_http(conn, resync=True)
        elif conn.held_bytes > DETECT_LIMIT or conn.ended:
            self._start_tcp(conn)

    def _tls_start(self, conn: _Conn, client: bytes) -> bool:
        """A TLS connection (a ClientHello; joined mid-way: TLS records either way): decrypt from here,
        decoding the plaintext like a cleartext connection's bytes."""
        if not looks_like_tls(client, handshake=False):  # a ClientHello, or records of a lost one
            if conn.syn_seen:
                return False
            first = next((v for _, k, v, _ in conn.held if k is DATA), b"")
            if not looks_like_tls(first, handshake=False):
                return False
        conn.tls = TlsSession(self.keylog)
        held, conn.held, conn.held_bytes = conn.held, [], 0
        for direction, kind, value, ts in held:
            self._deliver(conn, direction, [(kind, value, ts)])
        return True

    def _replay(self, conn: _Conn) -> None:
        held, conn.held, conn.held_bytes = conn.held, [], 0
        for direction, kind, value, ts in held:
            if conn.mode == "http":
                self._http(conn, direction, kind, value, ts)
            elif conn.mode == "ws":
                self._ws_event(conn, direction, kind, value, ts)

    def _start_ws(self, conn: _Conn, handshake, detected_by: str) -> None:
        conn.mode = "ws"
        self._announce(conn)
        if not conn.announced:  # --host names neither endpoint and WebSocket has no Host header
            conn.active = False
            return
        conn.ws = self.analysis.websocket(conn.id, handshake=handshake, detected_by=detected_by)
        self._replay(conn)

    def _start_tcp(self, conn: _Conn) -> None:
        conn.mode = "tcp"
        self._announce(conn)
        first = next((v for d, k, v, _ in conn.held if d == "client" and k is DATA), b"")
        conn.held, conn.held_bytes = [], 0
        if first[:1] == b"\x16" and first[1:2] == b"\x03":  # a TLS handshake record (RFC 8446 5.1)
            self.note("tls-encrypted")
        else:
            self.note("tcp-not-http")

    def _start_h2(self, conn: _Conn, midway: bool = False, upgrade=None) -> None:
        """HTTP/2: the preface (h2c prior knowledge, TLS), ALPN h2 (joined mid-way), or a 101 to h2c."""
        conn.mode = "h2"
        self._announce(conn)
        scheme = "https" if conn.tls is not None else "http"
        conn.h2 = H2Streams(self.analysis, conn.id, conn.server, scheme, self.note, midway=midway)
        if upgrade is not None:
            conn.h2.upgraded(upgrade.request, upgrade.ts)
            if upgrade.client_data:
                conn.h2.data("client", upgrade.client_data, upgrade.ts)
            if upgrade.server_data:
                conn.h2.data("server", upgrade.server_data, upgrade.ts)
            return
        held, conn.held, conn.held_bytes = conn.held, [], 0
        for direction, kind, value, ts in held:
            self._h2_event(conn, direction, kind, value, ts)

    def _start_http(self, conn: _Conn, resync: bool) -> None:
        conn.mode = "http"
        conn.http = http1.Http1Connection(resync=resync, keep_request_body=APP_CAP)
        self._announce(conn)
        self._replay(conn)

    # -- HTTP -----------------------------------------------------------------------------------------

    def _http(self, conn: _Conn, direction: str, kind, value, ts) -> None:
        parser = conn.http
        if kind is DATA:
            events = parser.feed(direction, value, ts)
        elif kind is GAP:
            conn.gaps += 1
            events = parser.gap(direction, value, ts)
        elif kind is RST:
            conn.ended = True
            return
        else:
            return
        for event in events:
            if conn.active:
                self._http_event(conn, event)

    def _http_event(self, conn: _Conn, event) -> None:
        kind = type(event)
        if kind is http1.RequestHead:
            if not conn.host_checked:
                self._host_header(conn, event)
        elif not conn.announced:
            return
        elif kind is http1.ResponseBody:
            entry = conn.handles.get(id(event.response))
            if entry is not None:
                handle, decoder = entry
                if decoder is None:
                    handle.body(event.data, event.ts)
                elif not decoder.failed:
                    try:
                        for piece in decoder.pieces(event.data):
                            handle.body(piece, event.ts)
                    except ValueError:  # corrupt, or over the cap: the rest of the body is not decoded
                        self.note("http-content-encoding")
        elif kind is http1.ResponseHead:
            if event.status != 101:
                handle = self.analysis.begin_exchange(self._exchange(conn, event.request, event))
                if event.request is not None and event.request.body_start:
                    handle.request_body(event.request.body_start, event.request.ts)
                    event.request.body_start = b""
                conn.handles[id(event)] = [handle, _body_decoder(event.header("content-encoding"))]
        elif kind is http1.ResponseEnd:
            entry = conn.handles.pop(id(event.response), None)
            if entry is not None:
                entry[0].end(ts_end=event.ts, response_body_bytes=event.response.body_bytes)
        elif kind is http1.Upgrade:
            exchange = self._exchange(conn, event.request, event.response, ts_end=event.ts)
            asked = (event.request.header("upgrade") if event.request is not None else None) or ""
            offered = event.response.header("upgrade") or ""
            if event.response.status == 101 and "websocket" in (asked or offered).lower():
                self._start_ws(conn, exchange, "handshake")
                if event.client_data:
                    conn.ws.data("client", event.client_data, event.ts)
                if event.server_data:
                    conn.ws.data("server", event.server_data, event.ts)
            elif event.response.status == 101 and "h2c" in (asked or offered).lower() and event.request is not None:
                self._start_h2(conn, upgrade=event)  # the request is stream 1's exchange
            else:  # a CONNECT tunnel or another protocol: reported, the rest is opaque
                self.analysis.begin_exchange(exchange).end()
                conn.mode = "tcp"
                self.note("http-upgrade-not-websocket")
        elif kind is http1.HttpError:
            self.note("http-parse-error")
        elif kind is http1.NotHttp:
            conn.mode = "tcp"
            self.note("tcp-not-http")

    def _exchange(self, conn: _Conn, request, response, ts_end=None) -> Exchange:
        if request is None:
            method, url, req_headers, ts_request, req_body, req_head = "GET", f"http://{conn.server}/", [], None, None, None
            self.note("http-response-without-request")
        else:
            method = request.method
            target = request.target
            if target.startswith(("http://", "https://")):
                url = target
            else:
                host = request.header("host") or conn.server
                scheme = "https" if conn.tls is not None else "http"
                url = f"{scheme}://{host}{target if target.startswith('/') else '/' + target}"
            req_headers, ts_request = request.headers, request.ts
            req_body, req_head = request.body_bytes, request.head_bytes
        status = response.status if response is not None else None
        return Exchange(
            conn=conn.id,
            method=method,
            url=url,
            status=status,
            content_type=response.header("content-type") if response is not None else None,
            ts_request=ts_request,
            ts_response=response.ts if response is not None else None,
            ts_end=ts_end,
            request_body_bytes=req_body,
            response_body_bytes=0 if ts_end is not None else None,
            http_version=f"HTTP/{(response or request).version}",
            reason=response.reason if response is not None else None,
            request_header_bytes=req_head,
            response_header_bytes=response.head_bytes if response is not None else None,
            request_headers=req_headers,
            response_headers=response.headers if response is not None else [],
        )

    # -- ends -----------------------------------------------------------------------------------------

    def _end(self, conn: _Conn, ts: float) -> None:
        if conn.active:
            self._announce(conn)
        if conn.announced and conn.active:
            for index, direction in enumerate(conn.dirs):
                events = direction.flush(ts)
                if events:
                    self._deliver(conn, "client" if index == 0 else "server", events)
            if conn.mode == "detect":
                if conn.ws_forced:
                    self._start_ws(conn, None, "--ws")
                elif any(d == "client" and k is DATA for d, k, _, _ in conn.held):
                    self._start_tcp(conn)
            if conn.mode == "http":
                for event in conn.http.end(ts):
                    self._http_event(conn, event)
                for handle, _ in conn.handles.values():
                    handle.end(ts_end=ts)
                conn.handles.clear()
                for request in conn.http.pending:
                    self.analysis.begin_exchange(self._exchange(conn, request, None)).end()
                conn.http.pending.clear()
            elif conn.mode == "ws":
                conn.ws.end(ts)
            elif conn.mode == "h2":
                conn.h2.end(ts)
            counters = dict(bytes_client=conn.dirs[0].bytes, bytes_server=conn.dirs[1].bytes, gaps=conn.gaps)
            if conn.mode == "tcp" and conn.http is None:
                counters["protocol"] = "tcp"
            if conn.tls is not None:
                counters["tls"] = info = tls_info(conn.tls)
                if not info.decrypted:
                    self.analysis.warning("tls-encrypted", f"TLS connection not decrypted: {info.reason}",
                                          conn.id, per_conn=True)
            self.analysis.connection_end(conn.id, ts, **counters)
        self._forget(conn)

    def _forget(self, conn: _Conn) -> None:
        key = conn.key
        for k in (key, (key[2], key[3], key[0], key[1])):
            if self.flows.get(k, (None,))[0] is conn:
                del self.flows[k]
                self.closed[k] = None
        while len(self.closed) > _CLOSED_MEMORY:
            self.closed.popitem(last=False)

    def finish(self) -> None:
        """End of the capture: end every open connection, in order of appearance."""
        open_conns = {id(conn): conn for conn, _ in self.flows.values()}
        for conn in sorted(open_conns.values(), key=lambda c: c.number):
            self._end(conn, conn.ts_last)
        self._quic_end()

    def _quic_end(self) -> None:
        """QUIC flows: a connection record each (``protocol = "quic"``), their payload not decoded."""
        options = self.options
        reported = 0
        for (cip, cport, sip, sport), (cid, start, last, sent, received) in self.quic.flows.items():
            client, server = _addr(cip, cport), _addr(sip, sport)
            if options.conns and cid not in options.conns:
                continue
            if options.hosts and not {client, server, _ip_text(cip), _ip_text(sip)} & options.hosts:
                continue
            if options.shard is not None and shard_of((cip, cport, sip, sport), options.shard[1]) != options.shard[0]:
                continue
            self.analysis.connection(cid, client=client, server=server, ts=start)
            self.analysis.connection_end(cid, last, protocol="quic", bytes_client=sent, bytes_server=received)
            reported += 1
        if reported:
            self.note("quic-not-decoded", reported)


def _body_decoder(content_encoding: str | None) -> BodyDecoder | None:
    """gzip/deflate bodies are decoded (capped) for hashes and SSE; other codings (br, zstd) pass as they
    are: the hash still changes when the content does."""
    try:
        return BodyDecoder.for_header(content_encoding, BODY_DECODE_CAP)
    except ValueError:
        return None


def run(path: str, analysis, options: SourceOptions | None = None) -> None:
    """Read the capture at ``path`` into ``analysis`` (see the module docstring)."""
    f = open_binary(path)
    try:
        head = f.read(4)
        f.seek(0)
        read_stream(f, "pcapng" if head == b"\x0a\x0d\x0d\x0a" else "pcap", path, analysis, options)
    finally:
        f.close()


def read_stream(f, kind: str, path: str, analysis, options: SourceOptions | None = None) -> None:
    """Read a pcap (``kind`` "pcap") or pcapng stream from ``f`` as it arrives (never seeks: a pipe from
    ``tcpdump -U -w -`` works); ``options.idle`` is called after each chunk read is analysed."""
    options = options or SourceOptions()
    reader = PcapReader(f, kind, on_block=options.idle)
    if kind == "pcap" and _link_offset(reader.linktypes[0]) is None:
        raise InputError(_unsupported(path, reader.linktypes[0]))
    state = _Pcap(analysis, options)
    reader.keylog = state.keylog
    progress = options.progress
    reported = 0
    packets = 0
    packet = state.packet if options.shard is None else _counted(state.packet, analysis)
    links: list = []  # link-layer decoder per interface (None: unsupported link type)
    unsupported: dict[int, int] = {}  # link type -> packets skipped
    current = -1
    link = None
    try:
        for ts, data, iface in reader:
            if iface != current:
                while len(links) < len(reader.linktypes):
                    links.append(_link_offset(reader.linktypes[len(links)]))
                current = iface
                link = links[iface]
            if link is None:
                linktype = reader.linktypes[iface]
                unsupported[linktype] = unsupported.get(linktype, 0) + 1
                continue
            packet(ts, data, link)
            packets += 1
            if progress is not None and reader.consumed - reported >= 1 << 20:
                progress(reader.consumed - reported)
                reported = reader.consumed
    except (OSError, EOFError) as exc:  # a corrupt gzip stream
        reader.truncated = True
        if options.shard is None or options.shard[0] == 0:
            analysis.warning("gzip-corrupt", f"compressed data is corrupt or truncated ({exc})")
    if progress is not None and reader.consumed > reported:
        progress(reader.consumed - reported)
    if options.shard is not None:
        analysis.position += 1  # the end of the capture: after every packet
    state.finish()
    if options.shard is not None:
        analysis.position += 1
    _report(analysis, reader, state, unsupported, packets, whole=options.shard is None or options.shard[0] == 0)
    if packets == 0 and unsupported:
        raise InputError(_unsupported(path, next(iter(unsupported))))
    if packets == 0:
        raise InputError(f"{path}: no packets could be read")
    if state.not_ip == packets:
        linktypes = sorted(set(reader.linktypes))
        raise InputError(f"{path}: none of the {packets} packets parsed as IP over link type "
                         f"{', '.join(map(str, linktypes))} (is the link type in the file header right?)")


def _counted(packet, analysis):
    """``packet`` that first advances ``analysis.position`` (a sharded run orders what its shards report
    by the packet that caused it: `inspector.scale.shard`)."""

    def counted(ts: float, data: bytes, link) -> None:
        analysis.position += 1
        packet(ts, data, link)

    return counted


def _report(analysis, reader: PcapReader, state: _Pcap, unsupported: dict[int, int], packets: int,
            whole: bool) -> None:
    """The reader's warnings at the end of the capture.  ``whole`` False (shards after the first): only
    what this shard's connections caused, the file's own problems are reported by shard 0."""
    if whole and reader.truncated:
        analysis.warning("pcap-truncated", "the capture ends inside a packet record")
    if whole and reader.corrupt_records:
        skipped = "the rest of the file" if reader.corrupt_bytes < 0 else f"{reader.corrupt_bytes} bytes"
        analysis.warning("pcap-corrupt-record", f"skipped {skipped} after implausible record headers",
                         count=reader.corrupt_records)
    for name, count in state.counts.items():
        if whole or name not in _PACKET_NOTES:
            analysis.warning(name, _WARNING_TEXT.get(name, name), count=count)
    if whole and unsupported and packets:
        analysis.warning("pcap-unsupported-linktype",
                         f"packets of interfaces with link types {sorted(unsupported)} skipped",
                         count=sum(unsupported.values()))


def _unsupported(path: str, linktype: int) -> str:
    return (f"{path}: link type {linktype} is not supported "
            "(Ethernet, Linux cooked v1/v2, BSD loopback, raw IP are)")


_WARNING_TEXT = {
    "tcp-not-http": "TCP connections that carry neither HTTP/1.x nor WebSocket frames (use --ws PORT to force)",
    "http2-gap": "HTTP/2 connections with missing bytes: frames resynced, header blocks after the gap may "
                 "not decode",
    "http2-headers-not-decoded": "HTTP/2 streams whose header blocks could not be decoded (HPACK state lost)",
    "quic-not-decoded": "QUIC connections (UDP port 443, HTTP/3): reported, not decoded",
    "http-parse-error": "HTTP/1.x that could not be parsed; the rest of that direction was skipped",
    "http-response-without-request": "responses whose request is not in the capture",
    "http-content-encoding": "response bodies whose gzip/deflate encoding is corrupt or over the size cap",
    "http-upgrade-not-websocket": "HTTP upgrades/tunnels to other protocols (CONNECT, ...): not decoded",
    "pcap-connections-evicted": f"connections ended early because more than {MAX_CONNECTIONS} were open at once "
                                "(memory is bounded in total)",
    "ip-fragment": "fragmented IP packets skipped (IP reassembly is not done)",
    "ip-truncated": "packets too short for their IP header",
    "tcp-truncated": "packets too short for their TCP header",
}


def records(path: str, options: SourceOptions | None = None, **analysis_options) -> list:
    """Every record a capture produces, as a list (tests and notebooks)."""
    from inspector.analysis import Analysis, Options

    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(**analysis_options))
    run(path, analysis, options)
    analysis.finish()
    return out
